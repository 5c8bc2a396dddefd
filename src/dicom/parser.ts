import { type ByteSource, InflateSource } from "./byteSource.js";
import { DEFAULT_TEXT_DECODER, type TextDecoderFn, type TextKind, textDecoderFor } from "./charset.js";
import { DicomReadError } from "./errors.js";
import * as T from "./tags.js";

/**
 * What to read from a data set: a tag mapped to the VR of a value to keep, or to the spec of the items of a
 * sequence to descend into. Every other element is skipped without being read.
 */
export type Spec = ReadonlyMap<number, string | Spec>;
/** Decoded, trimmed string values (multiple values still joined by `\`), and the items of sequences. */
export type Values = Map<number, string | Values[]>;

export interface ParsedHeader {
  readonly meta: Values;
  readonly dataSet: Values;
  readonly transferSyntaxUID: string | undefined;
  /** Group 0004 (Directory Information) seen: a DICOMDIR. */
  readonly isMediaDirectory: boolean;
  /** Set when the data ended, or stopped making sense, before parsing reached its stop tag; the values read so far are kept. */
  readonly stoppedEarly: DicomReadError | undefined;
  readonly warnings: readonly string[];
}

export const IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2";
export const EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2";
export const DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99";

const UNDEFINED_LENGTH = 0xffffffff;
/** VRs whose explicit encoding has 2 reserved bytes and a 32-bit length (PS3.5 7.1.2). */
const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);
const KNOWN_VRS = new Set([
  ...LONG_VRS,
  ...["AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "PN", "SH", "SL", "SS", "ST", "TM", "UI", "UL", "US"],
]);
const TEXT_VRS = new Set(["SH", "LO", "PN", "ST", "LT", "UT", "UC"]);
/** No value we keep is longer than this; a longer one is skipped, so a lying length never becomes an allocation. */
const MAX_KEPT_VALUE_BYTES = 1024 * 1024;
const MAX_KEPT_ITEMS = 256;
const MAX_WINDOW_BYTES = 4 * 1024 * 1024;

export interface ParseOptions {
  /** Bytes read first; the window grows only when the header goes beyond it. */
  readonly firstWindowBytes: number;
}

/**
 * Reads the header of a DICOM stream: Part 10 file or raw data set, any of the uncompressed, deflated or
 * compressed-pixel transfer syntaxes, optionally gzipped. Parsing stops at the first top-level tag after
 * `T.LastNeededTag`, so pixel data and everything after it is never read.
 */
export function parseHeader(source: ByteSource, top: Spec, options: ParseOptions): ParsedHeader {
  return new HeaderParser(source, options.firstWindowBytes).parse(top);
}

class HeaderParser {
  private buf: Buffer = Buffer.alloc(0);
  /** Stream offset of buf[0]. */
  private base = 0;
  private pos = 0;
  private littleEndian = true;
  private implicit = false;
  private decoder: TextDecoderFn = DEFAULT_TEXT_DECODER;
  private readonly meta: Values = new Map();
  private readonly dataSet: Values = new Map();
  private readonly warnings: string[] = [];
  private transferSyntaxUID: string | undefined;
  private isMediaDirectory = false;
  // Set by readElementHeader.
  private group = 0;
  private tag = 0;
  private vr = "";
  private length = 0;

  constructor(
    private source: ByteSource,
    private window: number,
  ) {}

  parse(top: Spec): ParsedHeader {
    let stoppedEarly: DicomReadError | undefined;
    try {
      this.readPreambleAndMeta();
      this.readDataSet(top, this.dataSet, UNDEFINED_LENGTH, true);
    } catch (error) {
      if (!(error instanceof DicomReadError)) throw error;
      stoppedEarly = error;
    }
    return {
      meta: this.meta,
      dataSet: this.dataSet,
      transferSyntaxUID: this.transferSyntaxUID,
      isMediaDirectory: this.isMediaDirectory,
      stoppedEarly,
      warnings: this.warnings,
    };
  }

  // ---- bytes -------------------------------------------------------------------------------------------

  /** Makes `n` bytes at `pos` available; false where the data ends first. */
  private has(n: number): boolean {
    if (this.pos + n <= this.base + this.buf.length) return true;
    this.buf = this.source.read(this.pos, Math.max(n, this.window));
    this.base = this.pos;
    this.window = Math.min(this.window * 2, MAX_WINDOW_BYTES);
    return this.buf.length >= n;
  }

  private need(n: number, what: string): void {
    if (!this.has(n)) {
      throw new DicomReadError("truncated", `data ends inside ${what} at byte ${this.pos} (needed ${n} bytes, ${this.buf.length} left)`, this.pos);
    }
  }

  /** Skipping moves past values without reading them; only here, at the end, do we learn whether the last one was whole. */
  private endsExactlyHere(): boolean {
    const whole = this.pos === 0 || this.source.read(this.pos - 1, 1).length === 1;
    this.buf = Buffer.alloc(0);
    this.base = this.pos;
    return whole;
  }

  private at(): number {
    return this.pos - this.base;
  }

  private u16(offset: number): number {
    const i = this.pos - this.base + offset;
    return this.littleEndian ? this.buf.readUInt16LE(i) : this.buf.readUInt16BE(i);
  }

  private u32(offset: number): number {
    const i = this.pos - this.base + offset;
    return this.littleEndian ? this.buf.readUInt32LE(i) : this.buf.readUInt32BE(i);
  }

  // ---- layout ------------------------------------------------------------------------------------------

  private readPreambleAndMeta(): void {
    const looksPart10 = this.has(132) && this.buf.toString("latin1", 128, 132) === "DICM";
    if (!looksPart10 && this.has(2) && this.buf[0] === 0x1f && this.buf[1] === 0x8b) {
      this.source = new InflateSource(this.source, 0, "gzip");
      this.buf = Buffer.alloc(0);
      this.base = 0;
      this.warnings.push("gzipped");
      return this.readPreambleAndMeta();
    }
    if (looksPart10) {
      this.pos = 132;
    } else if (this.has(4) && this.buf.toString("latin1", 0, 4) === "DICM") {
      this.pos = 4; // a preamble-less writer that kept the prefix
    } else {
      // No File Meta Information: a raw data set, as some archives and PACS exports hold them.
      const encoding = this.detectEncoding();
      if (!encoding) {
        throw new DicomReadError("not-dicom", "no DICM prefix at byte 128 and no plausible data element at byte 0", 0);
      }
      ({ littleEndian: this.littleEndian, implicit: this.implicit } = encoding);
      this.warnings.push("no-file-meta");
      return;
    }
    this.readMeta();
    this.enterDataSet();
  }

  /** File Meta Information (group 0002) is always explicit VR little endian (PS3.10 7.1). */
  private readMeta(): void {
    this.littleEndian = true;
    this.implicit = false;
    const metaSpec: Spec = new Map([
      [T.MediaStorageSOPClassUID, "UI"],
      [T.MediaStorageSOPInstanceUID, "UI"],
      [T.TransferSyntaxUID, "UI"],
    ]);
    while (this.has(4) && this.u16(0) === 0x0002) {
      this.readElementHeader();
      this.readOrSkipValue(metaSpec, this.meta);
    }
  }

  private enterDataSet(): void {
    const declared = this.meta.get(T.TransferSyntaxUID);
    this.transferSyntaxUID = typeof declared === "string" && declared !== "" ? declared : undefined;
    if (this.transferSyntaxUID === DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN) {
      this.source = new InflateSource(this.source, this.pos, "deflate-raw");
      this.buf = Buffer.alloc(0);
      this.base = 0;
      this.pos = 0;
    }
    this.implicit = this.transferSyntaxUID === IMPLICIT_VR_LITTLE_ENDIAN;
    this.littleEndian = this.transferSyntaxUID !== EXPLICIT_VR_BIG_ENDIAN;
    if (!this.has(8)) return; // file meta and nothing else
    // Writers do mislabel data sets, or leave the transfer syntax out: trust the first element's bytes.
    const i = this.at();
    const explicit = KNOWN_VRS.has(this.buf.toString("latin1", i + 4, i + 6));
    if (explicit === this.implicit) {
      if (this.transferSyntaxUID !== undefined) this.warnings.push("transfer-syntax-mismatch");
      this.implicit = !explicit;
      if (this.implicit) this.littleEndian = true;
    }
  }

  /**
   * Whether the bytes at `pos` can start a data set without File Meta Information, and in which encoding,
   * judged as pydicom does: a low even group in one byte order, explicit VR showing as a VR's two letters.
   */
  private detectEncoding(): { littleEndian: boolean; implicit: boolean } | undefined {
    if (!this.has(8)) return undefined;
    const i = this.at();
    const plausibleGroup = (g: number) => g >= 0x0002 && g <= 0x0010 && g % 2 === 0;
    const le = plausibleGroup(this.buf.readUInt16LE(i));
    const be = plausibleGroup(this.buf.readUInt16BE(i));
    if (!le && !be) return undefined;
    const explicit = KNOWN_VRS.has(this.buf.toString("latin1", i + 4, i + 6));
    if (be && !le) return explicit ? { littleEndian: false, implicit: false } : undefined;
    if (explicit) return { littleEndian: true, implicit: false };
    // Implicit VR: the 32-bit length must be even or undefined to be believable.
    const length = this.buf.readUInt32LE(i + 4);
    return length === UNDEFINED_LENGTH || length % 2 === 0 ? { littleEndian: true, implicit: true } : undefined;
  }

  // ---- elements ----------------------------------------------------------------------------------------

  /** Reads tag, VR and length at `pos` and moves past them. */
  private readElementHeader(): void {
    this.need(8, "an element header");
    this.group = this.u16(0);
    this.tag = ((this.group << 16) | this.u16(2)) >>> 0;
    if (this.group === 0xfffe || this.implicit) {
      this.vr = "";
      this.length = this.u32(4);
      this.pos += 8;
      return;
    }
    const i = this.at();
    const c0 = this.buf[i + 4]!;
    const c1 = this.buf[i + 5]!;
    if (c0 < 0x41 || c0 > 0x5a || c1 < 0x41 || c1 > 0x5a) {
      throw new DicomReadError(
        "corrupt-header",
        `expected a VR at byte ${this.pos + 4} for tag ${hexTag(this.tag)}, found bytes 0x${c0.toString(16)} 0x${c1.toString(16)}`,
        this.pos,
      );
    }
    this.vr = String.fromCharCode(c0, c1);
    // Unknown VRs use the long form, so future VRs stay skippable (PS3.5 6.2).
    if (LONG_VRS.has(this.vr) || !KNOWN_VRS.has(this.vr)) {
      this.need(12, "an element header");
      this.length = this.u32(8);
      this.pos += 12;
    } else {
      this.length = this.u16(6);
      this.pos += 8;
    }
  }

  /**
   * Reads elements until `end` (a position, or UNDEFINED_LENGTH for a delimited item or the top level).
   * At the top level, stops at the first tag after the last one we need: pixel data is never reached.
   */
  private readDataSet(spec: Spec, out: Values, end: number, topLevel: boolean): void {
    for (;;) {
      if (end !== UNDEFINED_LENGTH && this.pos >= end) return;
      if (!this.has(8)) {
        if (topLevel && this.buf.length === 0) {
          if (this.endsExactlyHere()) return;
          throw new DicomReadError("truncated", `data ends before byte ${this.pos}, inside the value of the element before it`, this.pos);
        }
        this.need(8, "an element header");
      }
      const peekGroup = this.u16(0);
      const peekTag = ((peekGroup << 16) | this.u16(2)) >>> 0;
      if (topLevel) {
        if (peekGroup === T.FileSetGroup) {
          this.isMediaDirectory = true;
          return;
        }
        if (peekTag > T.LastNeededTag) return;
      }
      this.readElementHeader();
      if (this.tag === T.ItemDelimitationItem && end === UNDEFINED_LENGTH && !topLevel) return;
      if (this.group === 0xfffe) {
        // A stray item or delimiter outside its sequence: skip its header and go on, as dcmtk does.
        this.warnings.push("stray-delimiter");
        if (this.length !== UNDEFINED_LENGTH && this.tag === T.Item) this.pos += this.length;
        continue;
      }
      this.readOrSkipValue(spec, out);
    }
  }

  private readOrSkipValue(spec: Spec, out: Values): void {
    const wanted = spec.get(this.tag);
    const encodedAsUN = this.vr === "UN";
    if (wanted === undefined) return this.skipValue();
    if (typeof wanted !== "string") {
      if (this.length !== UNDEFINED_LENGTH && this.length === 0) return void out.set(this.tag, []);
      // A sequence re-encoded as UN holds implicit VR little endian items (PS3.5 6.2.2).
      out.set(this.tag, this.readSequence(wanted, encodedAsUN || this.implicit));
      return;
    }
    if (this.length === UNDEFINED_LENGTH) {
      this.warnings.push("undefined-length-value");
      return this.skipUndefinedLength(encodedAsUN);
    }
    if (this.length > MAX_KEPT_VALUE_BYTES) {
      this.warnings.push("value-too-long");
      this.pos += this.length;
      return;
    }
    const tag = this.tag;
    this.need(this.length, `the value of ${hexTag(tag)}`);
    const value = this.decodeValue(wanted, this.at(), this.at() + this.length);
    this.pos += this.length;
    out.set(tag, value);
    if (tag === T.SpecificCharacterSet && out === this.dataSet) this.decoder = textDecoderFor(value.split("\\"));
  }

  private decodeValue(vr: string, start: number, end: number): string {
    const raw = TEXT_VRS.has(vr)
      ? this.decoder(this.buf, start, end, vr === "PN" ? "PN" : vr === "ST" || vr === "LT" || vr === "UT" ? "text" : ("multi" satisfies TextKind))
      : this.buf.toString("latin1", start, end);
    return trimPadding(raw);
  }

  private skipValue(): void {
    if (this.length === UNDEFINED_LENGTH) return this.skipUndefinedLength(this.vr === "UN");
    this.pos += this.length;
  }

  private readSequence(itemSpec: Spec, implicitItems: boolean): Values[] {
    const length = this.length;
    const end = length === UNDEFINED_LENGTH ? Infinity : this.pos + length;
    const saved = { implicit: this.implicit, littleEndian: this.littleEndian };
    if (implicitItems && !this.implicit) Object.assign(this, { implicit: true, littleEndian: true });
    const items: Values[] = [];
    try {
      while (this.pos < end) {
        this.need(8, "a sequence item header");
        const itemTag = ((this.u16(0) << 16) | this.u16(2)) >>> 0;
        const itemLength = this.u32(4);
        this.pos += 8;
        if (itemTag === T.SequenceDelimitationItem) return items;
        if (itemTag !== T.Item) {
          throw new DicomReadError("corrupt-header", `expected an item (FFFE,E000) at byte ${this.pos - 8}, found ${hexTag(itemTag)}`, this.pos - 8);
        }
        if (items.length >= MAX_KEPT_ITEMS) {
          this.warnings.push("too-many-items");
          if (itemLength === UNDEFINED_LENGTH) this.skipUndefinedLength(false, true);
          else this.pos += itemLength;
          continue;
        }
        const item: Values = new Map();
        items.push(item);
        this.readDataSet(itemSpec, item, itemLength === UNDEFINED_LENGTH ? UNDEFINED_LENGTH : this.pos + itemLength, false);
      }
      return items;
    } finally {
      Object.assign(this, saved);
    }
  }

  /**
   * Skips an element of undefined length (a sequence, or encapsulated pixel data) by walking to its matching
   * delimiter. Iterative with an explicit stack, so sequences nested thousands deep cannot overflow the call
   * stack; every step consumes at least 8 bytes, so it ends at the end of the data at the latest.
   */
  private skipUndefinedLength(contentImplicit: boolean, isItem = false): void {
    const outer = { implicit: this.implicit, littleEndian: this.littleEndian };
    // One entry per open container: the encoding its content uses (a UN container switches to implicit VR LE).
    const open: Array<{ implicit: boolean; littleEndian: boolean }> = [];
    const enter = (implicit: boolean) => {
      const mode = implicit ? { implicit: true, littleEndian: true } : { implicit: this.implicit, littleEndian: this.littleEndian };
      open.push(mode);
      Object.assign(this, mode);
    };
    enter(contentImplicit || this.implicit);
    try {
      while (open.length > 0) {
        this.readElementHeader();
        if (this.tag === T.ItemDelimitationItem || this.tag === T.SequenceDelimitationItem) {
          open.pop();
          Object.assign(this, open[open.length - 1] ?? outer);
          if (isItem && open.length === 0 && this.tag !== T.ItemDelimitationItem) this.warnings.push("mismatched-delimiter");
          continue;
        }
        if (this.length !== UNDEFINED_LENGTH) this.pos += this.length;
        else enter(this.group !== 0xfffe && this.vr === "UN");
      }
    } finally {
      Object.assign(this, outer);
    }
  }
}

export const hexTag = (tag: number): string => {
  const hex = tag.toString(16).toUpperCase().padStart(8, "0");
  return `(${hex.slice(0, 4)},${hex.slice(4)})`;
};

/** Strips the space and NUL padding of DICOM values (PS3.5 6.2) and surrounding white space. */
function trimPadding(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isPad(s.charCodeAt(start))) start++;
  while (end > start && isPad(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

const isPad = (c: number) => c === 0x20 || c === 0x00 || c === 0x09 || c === 0x0a || c === 0x0d;
