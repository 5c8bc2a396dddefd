// Value Representations as the parser meets them (PS3.5 6.2, 7.1.2): which two-letter codes are VRs, and which
// have a 32-bit length in explicit encoding; and the transfer syntaxes it treats apart.

export const IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2";
export const EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2";
export const DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99";

export const UNDEFINED_LENGTH = 0xffffffff;
/** VRs whose explicit encoding has 2 reserved bytes and a 32-bit length (PS3.5 7.1.2). */
const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);
const KNOWN_VRS = new Set([
  ...LONG_VRS,
  ...["AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "PN", "SH", "SL", "SS", "ST", "TM", "UI", "UL", "US"],
]);
export const vrCode = (vr: string) => (vr.charCodeAt(0) << 8) | vr.charCodeAt(1);
export const VR_UN = vrCode("UN");
/** Per two-letter code: 1 a VR with a 16-bit length, 2 one with a 32-bit length. Unknown codes read as 2 (PS3.5 6.2). */
export const VR_FORM = new Uint8Array(65536).fill(2);
for (const vr of KNOWN_VRS) VR_FORM[vrCode(vr)] = LONG_VRS.has(vr) ? 2 : 1;
/** Per two-letter code: 1 where it names a VR. */
export const IS_VR = new Uint8Array(65536);
for (const vr of KNOWN_VRS) IS_VR[vrCode(vr)] = 1;
