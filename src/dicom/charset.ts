// Decoding of text values by Specific Character Set (0008,0005), PS3.5 6.1 and Annexes H-K.
// Node's WHATWG decoders do the byte-to-character work; this module only knows which decoder a DICOM
// defined term means and how ISO 2022 escape sequences switch between them.

/**
 * Decodes the bytes of one value, given as a latin1 string (one character per byte, as the parser keeps them).
 * `kind` decides where ISO 2022 designations return to their initial state.
 */
export type TextDecoderFn = (bytes: string, kind: TextKind) => string;
/** PN resets at `^` and `=`; multi-valued strings at `\`; free text (ST, LT, UT) at line breaks (PS3.5 6.1.2.5.3). */
export type TextKind = "PN" | "multi" | "text";

type SingleByte = { readonly kind: "single"; readonly decode: (b: Buffer) => string };
type G0Set = "ascii" | "jis-x-0201-romaji" | "jis-x-0208" | "jis-x-0212";
type G1Set = SingleByte | "jis-x-0201-katakana" | "ks-x-1001" | "gb2312" | undefined;

const whatwg = (label: string): SingleByte => {
  const decoder = new TextDecoder(label);
  return { kind: "single", decode: (b) => decoder.decode(b) };
};
// WHATWG maps "iso-8859-1" to windows-1252; DICOM's ISO_IR 100 is real ISO 8859-1, which Buffer's latin1 is.
const LATIN1: SingleByte = { kind: "single", decode: (b) => b.toString("latin1", 0, b.length) };

const SINGLE_BYTE_G1: Record<string, SingleByte> = {
  "100": LATIN1,
  "101": whatwg("iso-8859-2"),
  "109": whatwg("iso-8859-3"),
  "110": whatwg("iso-8859-4"),
  "144": whatwg("iso-8859-5"),
  "127": whatwg("iso-8859-6"),
  "126": whatwg("iso-8859-7"),
  "138": whatwg("iso-8859-8"),
  "148": whatwg("iso-8859-9"),
  "203": whatwg("iso-8859-15"),
  // TIS 620-2533; windows-874 is its superset.
  "166": whatwg("windows-874"),
};

/** Defined terms without code extensions: the whole value is one encoding. */
const WHOLE_VALUE: Record<string, (b: Buffer) => string> = {
  ISO_IR_6: LATIN1.decode,
  ISO_IR_13: whatwg("shift_jis").decode,
  ISO_IR_192: whatwg("utf-8").decode,
  GB18030: whatwg("gb18030").decode,
  GBK: whatwg("gbk").decode,
};
for (const [ir, set] of Object.entries(SINGLE_BYTE_G1)) WHOLE_VALUE[`ISO_IR_${ir}`] = set.decode;

const eucJp = new TextDecoder("euc-jp");
const eucKr = new TextDecoder("euc-kr");
const gbk = new TextDecoder("gbk");

/** Escape sequences of PS3.5 Table 6.1-2 / 6.2-1: bytes after ESC → the set they designate. */
const ESCAPES: ReadonlyArray<{ bytes: number[]; g0?: G0Set; g1?: G1Set }> = [
  { bytes: [0x28, 0x42], g0: "ascii" }, // ESC ( B
  { bytes: [0x28, 0x4a], g0: "jis-x-0201-romaji" }, // ESC ( J
  { bytes: [0x29, 0x49], g1: "jis-x-0201-katakana" }, // ESC ) I
  { bytes: [0x24, 0x42], g0: "jis-x-0208" }, // ESC $ B
  { bytes: [0x24, 0x40], g0: "jis-x-0208" }, // ESC $ @ (JIS C 6226-1978, decoded as its successor)
  { bytes: [0x24, 0x28, 0x44], g0: "jis-x-0212" }, // ESC $ ( D
  { bytes: [0x24, 0x29, 0x43], g1: "ks-x-1001" }, // ESC $ ) C
  { bytes: [0x24, 0x29, 0x41], g1: "gb2312" }, // ESC $ ) A
  ...(
    [
      ["A", "100"],
      ["B", "101"],
      ["C", "109"],
      ["D", "110"],
      ["L", "144"],
      ["G", "127"],
      ["F", "126"],
      ["H", "138"],
      ["M", "148"],
      ["T", "166"],
      ["b", "203"],
    ] as const
  ).map(([final, ir]) => ({ bytes: [0x2d, final.charCodeAt(0)], g1: SINGLE_BYTE_G1[ir] })), // ESC - F
];

const ESC = 0x1b;
const delimitersOf: Record<TextKind, ReadonlySet<number>> = {
  PN: new Set([0x5e, 0x3d, 0x5c]),
  multi: new Set([0x5c]),
  text: new Set([0x0a, 0x0c, 0x0d, 0x09]),
};

interface Designation {
  g0: G0Set;
  g1: G1Set;
}

function initialDesignation(firstTerm: string): Designation {
  const ir = /^ISO 2022 IR (\d+)$/.exec(firstTerm)?.[1];
  if (ir === "13") return { g0: "jis-x-0201-romaji", g1: "jis-x-0201-katakana" };
  if (ir === "149") return { g0: "ascii", g1: "ks-x-1001" };
  if (ir === "58") return { g0: "ascii", g1: "gb2312" };
  return { g0: "ascii", g1: ir ? SINGLE_BYTE_G1[ir] : undefined };
}

/**
 * The decoder for a Specific Character Set value (its backslash-separated defined terms, as in the file).
 * Unknown terms fall back to ISO 8859-1 so that a misspelled term still yields readable ASCII.
 */
export function textDecoderFor(specificCharacterSet: string): TextDecoderFn {
  let decoder = decoders.get(specificCharacterSet);
  if (!decoder) {
    decoder = makeDecoder(specificCharacterSet.split("\\").map((t) => t.trim().toUpperCase()));
    if (decoders.size < 64) decoders.set(specificCharacterSet, decoder);
  }
  return decoder;
}

/** An archive uses a handful of character sets: one decoder each, made once per process (bounded: junk values vary). */
const decoders = new Map<string, TextDecoderFn>();

function makeDecoder(terms: readonly string[]): TextDecoderFn {
  const usesExtensions = terms.length > 1 || terms.some((t) => t.startsWith("ISO 2022"));
  if (!usesExtensions) {
    const whole = WHOLE_VALUE[(terms[0] || "ISO_IR 6").replace(/[ -]/g, "_")] ?? LATIN1.decode;
    return (bytes) => (isAscii(bytes) ? bytes : whole(Buffer.from(bytes, "latin1")));
  }
  const initial = initialDesignation(terms[0] ?? "");
  return (bytes, kind) => (isAscii(bytes) && initial.g0 === "ascii" ? bytes : decodeIso2022(Buffer.from(bytes, "latin1"), initial, delimitersOf[kind]));
}

/** Printable ASCII without ESC decodes to itself in every character set DICOM allows as a default (G0). */
const NOT_PLAIN_ASCII = /[^\u0000-\u001a\u001c-\u007f]/;
const isAscii = (bytes: string) => !NOT_PLAIN_ASCII.test(bytes);

function decodeIso2022(bytes: Buffer, initial: Designation, delimiters: ReadonlySet<number>): string {
  let state: Designation = { ...initial };
  let out = "";
  let segmentStart = 0;
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b === ESC) {
      out += decodeSegment(bytes.subarray(segmentStart, i), state);
      const designation = ESCAPES.find((e) => e.bytes.every((x, k) => bytes[i + 1 + k] === x));
      if (designation) {
        state = { g0: designation.g0 ?? state.g0, g1: designation.g1 !== undefined ? designation.g1 : state.g1 };
        i += 1 + designation.bytes.length;
      } else {
        i += 1; // an unknown escape: drop the ESC, keep what follows readable
      }
      segmentStart = i;
      continue;
    }
    // Delimiters only occur while G0 is a single-byte set; in JIS X 0208 a 0x5C byte is half of a character.
    if (delimiters.has(b) && (state.g0 === "ascii" || state.g0 === "jis-x-0201-romaji")) {
      out += decodeSegment(bytes.subarray(segmentStart, i + 1), state);
      state = { ...initial };
      segmentStart = i + 1;
    }
    i++;
  }
  return out + decodeSegment(bytes.subarray(segmentStart), state);
}

/** Bytes below 0x80 are in the G0 set, bytes from 0x80 in the G1 set (PS3.5 6.1.2.5.2). */
function decodeSegment(segment: Buffer, state: Designation): string {
  let out = "";
  let runStart = 0;
  for (let i = 1; i <= segment.length; i++) {
    if (i === segment.length || segment[i]! >= 0x80 !== segment[runStart]! >= 0x80) {
      const run = segment.subarray(runStart, i);
      out += run[0]! >= 0x80 ? decodeG1(run, state.g1) : decodeG0(run, state.g0);
      runStart = i;
    }
  }
  return out;
}

function decodeG0(run: Buffer, set: G0Set): string {
  switch (set) {
    case "ascii":
      return run.toString("latin1", 0, run.length);
    case "jis-x-0201-romaji":
      return run.toString("latin1", 0, run.length).replace(/\\/g, "\u00a5").replace(/~/g, "\u203e");
    case "jis-x-0208":
      return eucJp.decode(Buffer.from(run).map((b) => b | 0x80));
    case "jis-x-0212": {
      const euc = Buffer.alloc((run.length >> 1) * 3);
      for (let k = 0; k + 1 < run.length; k += 2) {
        euc[(k >> 1) * 3] = 0x8f;
        euc[(k >> 1) * 3 + 1] = run[k]! | 0x80;
        euc[(k >> 1) * 3 + 2] = run[k + 1]! | 0x80;
      }
      return eucJp.decode(euc);
    }
  }
}

function decodeG1(run: Buffer, set: G1Set): string {
  if (set === undefined) return LATIN1.decode(run);
  if (set === "jis-x-0201-katakana") return Array.from(run, (b) => String.fromCharCode(0xff61 + b - 0xa1)).join("");
  if (set === "ks-x-1001") return eucKr.decode(run);
  if (set === "gb2312") return gbk.decode(run);
  return set.decode(run);
}
