// Hand-built DICOM bytes, for cases no writer would produce: lying lengths, deep nesting, broken structure.
const LONG = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);
export const UNDEFINED = 0xffffffff;

const tagBytes = (group: number, element: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt16LE(group, 0);
  b.writeUInt16LE(element, 2);
  return b;
};

const pad = (value: Buffer | string, vr: string) => {
  const b = typeof value === "string" ? Buffer.from(value, "latin1") : value;
  return b.length % 2 === 0 ? b : Buffer.concat([b, Buffer.from([vr === "UI" ? 0 : 0x20])]);
};

/** An explicit VR little endian element; `length` overrides the real one (to lie). */
export function el(group: number, element: number, vr: string, value: Buffer | string, length?: number): Buffer {
  const v = pad(value, vr);
  if (LONG.has(vr)) {
    const h = Buffer.alloc(8);
    h.write(vr, 0, "latin1");
    h.writeUInt32LE(length ?? v.length, 4);
    return Buffer.concat([tagBytes(group, element), h, v]);
  }
  const h = Buffer.alloc(4);
  h.write(vr, 0, "latin1");
  h.writeUInt16LE(length ?? v.length, 2);
  return Buffer.concat([tagBytes(group, element), h, v]);
}

/** An implicit VR little endian element. */
export function implicitEl(group: number, element: number, value: Buffer | string, length?: number): Buffer {
  const v = pad(value, "");
  const h = Buffer.alloc(4);
  h.writeUInt32LE(length ?? v.length, 0);
  return Buffer.concat([tagBytes(group, element), h, v]);
}

export function item(content: Buffer, undefinedLength = true): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32LE(undefinedLength ? UNDEFINED : content.length, 0);
  return Buffer.concat([tagBytes(0xfffe, 0xe000), h, content, undefinedLength ? Buffer.concat([tagBytes(0xfffe, 0xe00d), Buffer.alloc(4)]) : Buffer.alloc(0)]);
}

export function sq(group: number, element: number, items: Buffer[], undefinedLength = true): Buffer {
  const content = Buffer.concat(items);
  const body = undefinedLength ? Buffer.concat([content, tagBytes(0xfffe, 0xe0dd), Buffer.alloc(4)]) : content;
  return el(group, element, "SQ", body, undefinedLength ? UNDEFINED : content.length);
}

/** Preamble, DICM and a File Meta group naming the transfer syntax. */
export function part10(dataSet: Buffer, transferSyntax = "1.2.840.10008.1.2.1"): Buffer {
  const meta = Buffer.concat([el(0x0002, 0x0001, "OB", Buffer.from([0, 1])), el(0x0002, 0x0010, "UI", transferSyntax)]);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(meta.length);
  return Buffer.concat([Buffer.alloc(128), Buffer.from("DICM"), el(0x0002, 0x0000, "UL", groupLength), meta, dataSet]);
}

/** The four UIDs an instance needs, in tag order, around `middle` elements (which must sort between them). */
export function minimalDataSet(extra: { before?: Buffer; middle?: Buffer; after?: Buffer } = {}): Buffer {
  return Buffer.concat([
    extra.before ?? Buffer.alloc(0),
    el(0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.7"),
    el(0x0008, 0x0018, "UI", "1.2.3.4.5.6.1"),
    extra.middle ?? Buffer.alloc(0),
    el(0x0020, 0x000d, "UI", "1.2.3.4.5"),
    el(0x0020, 0x000e, "UI", "1.2.3.4.5.6"),
    extra.after ?? Buffer.alloc(0),
  ]);
}

/** `depth` undefined-length sequences (tag `group,element`), each holding one undefined-length item, around `inner`; built in linear time. */
export function nestedSequences(group: number, element: number, depth: number, inner: Buffer): Buffer {
  const open = Buffer.concat([el(group, element, "SQ", Buffer.alloc(0), UNDEFINED), tagBytes(0xfffe, 0xe000), Buffer.from([0xff, 0xff, 0xff, 0xff])]);
  const close = Buffer.concat([tagBytes(0xfffe, 0xe00d), Buffer.alloc(4), tagBytes(0xfffe, 0xe0dd), Buffer.alloc(4)]);
  return Buffer.concat([...Array<Buffer>(depth).fill(open), inner, ...Array<Buffer>(depth).fill(close)]);
}
