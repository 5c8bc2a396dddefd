// Writes DICOM files with dcmjs for fixtures and benchmark archives, in every layout the converter reads:
// Part 10 in explicit/implicit VR little endian, explicit VR big endian and deflated; raw data sets without
// File Meta Information; gzipped files; and text encoded in a Specific Character Set other than UTF-8.
import { deflateRawSync, gzipSync } from "node:zlib";
import dcmjs from "dcmjs";

const { DicomDict, DicomMetaDictionary, WriteBufferStream } = dcmjs.data;

export const TRANSFER_SYNTAX = {
  "explicit-le": "1.2.840.10008.1.2.1",
  "implicit-le": "1.2.840.10008.1.2",
  "explicit-be": "1.2.840.10008.1.2.2",
  deflated: "1.2.840.10008.1.2.1.99",
} as const;
export type TransferSyntax = keyof typeof TRANSFER_SYNTAX;

export interface WriteOptions {
  readonly transferSyntax?: TransferSyntax;
  /** "no-meta": the data set alone, without preamble, DICM prefix or File Meta Information. */
  readonly layout?: "part10" | "no-meta";
  readonly gzip?: boolean;
  /** Encodes text values (SH, LO, PN, ST, LT, UT, UC); dcmjs itself only writes UTF-8. */
  readonly encodeText?: (text: string) => Buffer;
  /** Media Storage SOP Class/Instance UID of the file meta, when not the data set's (a DICOMDIR has none). */
  readonly mediaStorage?: { readonly sopClassUID: string; readonly sopInstanceUID: string };
}

/** A naturalized data set (dcmjs keywords) as file bytes. */
export function writeDicom(dataset: Record<string, unknown>, options: WriteOptions = {}): Buffer {
  const syntax = options.transferSyntax ?? "explicit-le";
  const media = options.mediaStorage ?? { sopClassUID: dataset.SOPClassUID as string, sopInstanceUID: dataset.SOPInstanceUID as string };
  const written = part10(dataset, media, syntax === "deflated" ? TRANSFER_SYNTAX["explicit-le"] : TRANSFER_SYNTAX[syntax], options.encodeText);
  const dataSetStart = 132 + 12 + written.readUInt32LE(140);
  let bytes = written;
  if (syntax === "deflated") {
    const metaOnly = part10({}, media, TRANSFER_SYNTAX.deflated, undefined, true);
    bytes = Buffer.concat([metaOnly, deflateRawSync(written.subarray(dataSetStart))]);
  }
  if (options.layout === "no-meta") bytes = bytes.subarray(syntax === "deflated" ? bytes.length : dataSetStart);
  // Node writes gzip headers without a timestamp, so the same input gives the same bytes.
  return options.gzip ? gzipSync(bytes, { level: 9 }) : bytes;
}

function part10(
  dataset: Record<string, unknown>,
  media: { sopClassUID: string; sopInstanceUID: string },
  transferSyntaxUID: string,
  encodeText?: (text: string) => Buffer,
  metaOnly = false,
): Buffer {
  const meta = {
    "00020001": { vr: "OB", Value: [new Uint8Array([0, 1]).buffer] },
    "00020002": { vr: "UI", Value: [media.sopClassUID] },
    "00020003": { vr: "UI", Value: [media.sopInstanceUID] },
    "00020010": { vr: "UI", Value: [transferSyntaxUID] },
    "00020012": { vr: "UI", Value: ["1.2.826.0.1.3680043.10.1513"] },
    "00020013": { vr: "SH", Value: ["DCM2FHIR_FIXTURE"] },
  };
  const dict = new DicomDict(meta);
  // `_raw` holds elements by tag, as written: retired attributes dcmjs does not know, and invalid values it would fix.
  const { _raw: raw, ...natural } = dataset as { _raw?: Record<string, unknown> };
  dict.dict = metaOnly ? {} : { ...DicomMetaDictionary.denaturalizeDataset(natural), ...raw };
  type Stream = { writeUint8: (byte: number) => number };
  const proto = Object.getPrototypeOf(WriteBufferStream.prototype) as { writeUTF8String: (this: Stream, v: string) => number };
  const utf8 = proto.writeUTF8String;
  if (encodeText) {
    // dcmjs writes every text value through writeUTF8String; route it through the charset's encoder.
    proto.writeUTF8String = function (this: Stream, value: string) {
      let n = 0;
      for (const byte of encodeText(value)) n += this.writeUint8(byte);
      return n;
    };
  }
  try {
    return Buffer.from(dict.write({ allowInvalidVRLength: true }));
  } finally {
    proto.writeUTF8String = utf8;
  }
}
