// Encoders for Specific Character Sets, for writing fixtures (dcmjs writes only UTF-8). Built by inverting
// the WHATWG decoders over every code of each set, then checked against the byte examples of PS3.5
// Annexes H-K in test/dicom/dicom.test.ts, so that they do not merely mirror the converter's decoder.

type Bytes = number[];
const inverted = new Map<string, Map<string, Bytes>>();

function invert(label: string, codes: Iterable<Bytes>): Map<string, Bytes> {
  const key = label;
  let table = inverted.get(key);
  if (table) return table;
  table = new Map();
  const decoder = new TextDecoder(label, { fatal: true });
  for (const bytes of codes) {
    try {
      const char = decoder.decode(new Uint8Array(bytes));
      if ([...char].length === 1 && !table.has(char)) table.set(char, bytes);
    } catch {
      // not a character of this set
    }
  }
  inverted.set(key, table);
  return table;
}

function* singleBytes(): Generator<Bytes> {
  for (let b = 0x80; b <= 0xff; b++) yield [b];
}
function* doubleBytes(lead: [number, number], trail: [number, number]): Generator<Bytes> {
  for (let a = lead[0]; a <= lead[1]; a++) for (let b = trail[0]; b <= trail[1]; b++) yield [a, b];
}

const SINGLE_BYTE: Record<string, string> = {
  "100": "latin1-real",
  "101": "iso-8859-2",
  "109": "iso-8859-3",
  "110": "iso-8859-4",
  "144": "iso-8859-5",
  "127": "iso-8859-6",
  "126": "iso-8859-7",
  "138": "iso-8859-8",
  "148": "iso-8859-9",
  "203": "iso-8859-15",
  "166": "windows-874",
};
const FINAL_BYTE: Record<string, string> = {
  "100": "A",
  "101": "B",
  "109": "C",
  "110": "D",
  "144": "L",
  "127": "G",
  "126": "F",
  "138": "H",
  "148": "M",
  "166": "T",
  "203": "b",
};

function singleByteTable(ir: string): Map<string, Bytes> {
  if (SINGLE_BYTE[ir] === "latin1-real") return new Map([...singleBytes()].map((b) => [String.fromCharCode(b[0]!), b]));
  return invert(SINGLE_BYTE[ir]!, singleBytes());
}

const ESC = 0x1b;

/** Text → bytes for the value of a data set whose Specific Character Set (0008,0005) is `specificCharacterSet`. */
export function encoderFor(specificCharacterSet: string): (text: string) => Buffer {
  const terms = specificCharacterSet.split("\\").map((t) => t.trim());
  const first = terms[0] ?? "";
  if (terms.length === 1 && !first.startsWith("ISO 2022")) {
    if (first === "ISO_IR 192") return (t) => Buffer.from(t, "utf8");
    if (first === "GB18030" || first === "GBK") {
      const table = invert("gbk", doubleBytes([0x81, 0xfe], [0x40, 0xfe]));
      return (t) => Buffer.from([...t].flatMap((c) => (c.charCodeAt(0) < 0x80 ? [c.charCodeAt(0)] : need(table.get(c), c, first))));
    }
    const ir = /^ISO_IR (\d+)$/.exec(first)?.[1];
    if (!ir || ir === "6") return (t) => Buffer.from(t, "latin1");
    if (ir === "13") {
      return (t) => Buffer.from([...t].flatMap((c) => (c.charCodeAt(0) < 0x80 ? [c.charCodeAt(0)] : [c.charCodeAt(0) - 0xff61 + 0xa1])));
    }
    const table = singleByteTable(ir);
    return (t) => Buffer.from([...t].flatMap((c) => (c.charCodeAt(0) < 0x80 ? [c.charCodeAt(0)] : need(table.get(c), c, first))));
  }
  return iso2022Encoder(terms);
}

function need(bytes: Bytes | undefined, char: string, set: string): Bytes {
  if (!bytes) throw new Error(`${JSON.stringify(char)} is not in ${set}`);
  return bytes;
}

/**
 * ISO 2022 with code extensions (PS3.5 6.1.2.5): each character is written in the first listed set that has
 * it, designating that set by its escape sequence when it is not the current one; designations return to
 * their initial state at the delimiters ^ = \ and at the end of the value, as PS3.5 requires.
 */
function iso2022Encoder(terms: string[]): (text: string) => Buffer {
  const irs = terms.map((t) => /^ISO 2022 IR (\d+)$/.exec(t)?.[1] ?? "6");
  type Set = { name: string; escape: Bytes; g: 0 | 1; table: Map<string, Bytes> };
  const sets: Set[] = [];
  for (const ir of irs) {
    if (ir === "87") sets.push({ name: ir, escape: [ESC, 0x24, 0x42], g: 0, table: jisX0208() });
    else if (ir === "159") sets.push({ name: ir, escape: [ESC, 0x24, 0x28, 0x44], g: 0, table: new Map() });
    else if (ir === "149") sets.push({ name: ir, escape: [ESC, 0x24, 0x29, 0x43], g: 1, table: invert("euc-kr", doubleBytes([0xa1, 0xfe], [0xa1, 0xfe])) });
    else if (ir === "58") sets.push({ name: ir, escape: [ESC, 0x24, 0x29, 0x41], g: 1, table: invert("gbk", doubleBytes([0xa1, 0xfe], [0xa1, 0xfe])) });
    else if (ir === "13")
      sets.push({ name: ir, escape: [ESC, 0x29, 0x49], g: 1, table: new Map([...Array(63).keys()].map((i) => [String.fromCharCode(0xff61 + i), [0xa1 + i]])) });
    else if (SINGLE_BYTE[ir]) sets.push({ name: ir, escape: [ESC, 0x2d, FINAL_BYTE[ir]!.charCodeAt(0)], g: 1, table: singleByteTable(ir) });
  }
  const initialG1 = irs[0] === "6" ? undefined : sets.find((s) => s.name === irs[0] && s.g === 1)?.name;
  return (text) => {
    const out: number[] = [];
    let g0 = "ascii";
    let g1 = initialG1;
    for (const c of text) {
      const code = c.charCodeAt(0);
      if (code < 0x80) {
        if (g0 !== "ascii") out.push(ESC, 0x28, 0x42), (g0 = "ascii");
        out.push(code);
        if (c === "^" || c === "=" || c === "\\") g1 = initialG1;
        continue;
      }
      const set = sets.find((s) => s.table.has(c));
      if (!set) throw new Error(`${JSON.stringify(c)} is in none of ${terms.join("\\")}`);
      if (set.g === 0 && g0 !== set.name) out.push(...set.escape), (g0 = set.name);
      if (set.g === 1 && g1 !== set.name) out.push(...set.escape), (g1 = set.name);
      out.push(...set.table.get(c)!);
    }
    if (g0 !== "ascii") out.push(ESC, 0x28, 0x42);
    return Buffer.from(out);
  };
}

/** JIS X 0208 in its 7-bit form: EUC-JP's two bytes without their high bits. */
function jisX0208(): Map<string, Bytes> {
  const euc = invert("euc-jp", doubleBytes([0xa1, 0xfe], [0xa1, 0xfe]));
  return new Map([...euc.entries()].map(([c, [a, b]]) => [c, [a! & 0x7f, b! & 0x7f]]));
}
