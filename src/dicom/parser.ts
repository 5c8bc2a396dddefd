import { type ByteSource, InflateSource } from "./byteSource.js";
import { DicomReadError } from "./errors.js";
import * as T from "./tags.js";
import { ByteWindow } from "./byteWindow.js";
import { type ParseOptions, type ParsedHeader, type Spec, type Values, hexTag } from "./header.js";
import { KeyArena, NO_KEYS, keyArenas, keyCountOf } from "./keys.js";
import { DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_BIG_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN, IS_VR, UNDEFINED_LENGTH, VR_FORM, VR_UN } from "./vr.js";

/** No value we keep is longer than this; a longer one is skipped, so a lying length never becomes an allocation. */
const MAX_KEPT_VALUE_BYTES = 1024 * 1024;
const MAX_KEPT_ITEMS = 256;

const META_SPEC: Spec = new Map([
  [T.MediaStorageSOPClassUID, "UI"],
  [T.MediaStorageSOPInstanceUID, "UI"],
  [T.TransferSyntaxUID, "UI"],
]);

/** An element larger than this is not copied into a key (the key is then undefined: no caching). */
const MAX_KEY_ELEMENT_BYTES = 256 * 1024;

/**
 * Reads the header of a DICOM stream: Part 10 file or raw data set, any of the uncompressed, deflated or
 * compressed-pixel transfer syntaxes, optionally gzipped. Parsing stops at the first top-level tag after
 * `T.LastNeededTag`, so pixel data and everything after it is never read.
 */
export function parseHeader(source: ByteSource, top: Spec, options: ParseOptions): ParsedHeader {
  return new HeaderParser(source, options.firstWindowBytes, options.keyTags).parse(top);
}

const wantedCache = new WeakMap<Spec, WeakMap<ReadonlyMap<number, number>, ReadonlySet<number>>>();

class HeaderParser extends ByteWindow {
  private implicit = false;
  private readonly meta: Values = new Map();
  private readonly dataSet: Values = new Map();
  private readonly warnings: string[] = [];
  private transferSyntaxUID: string | undefined;
  private isMediaDirectory = false;
  // Set by readElementHeader (and `tag`, in ByteWindow).
  private group = 0;
  /** Two VR letters as one number (0 where the encoding has none). */
  private vr = 0;
  private length = 0;

  private readonly keys: KeyArena[] = [];

  constructor(
    source: ByteSource,
    window: number,
    private readonly keyTags?: ReadonlyMap<number, number>,
  ) {
    super(source, window);
  }

  parse(top: Spec): ParsedHeader {
    let stoppedEarly: DicomReadError | undefined;
    try {
      this.readPreambleAndMeta();
      if (this.keyTags) {
        const keyCount = keyCountOf(this.keyTags);
        // The encoding is part of every key: the same bytes mean other values in another transfer syntax.
        const encoding = (this.implicit ? 1 : 0) | (this.littleEndian ? 0 : 2);
        for (let k = 0; k < keyCount; k++) (this.keys[k] = keyArenas[k] ??= new KeyArena()).reset(encoding);
      }
      this.readDataSet(top, this.dataSet, UNDEFINED_LENGTH, true);
    } catch (error) {
      if (!(error instanceof DicomReadError)) throw error;
      stoppedEarly = error;
    }
    return {
      meta: this.meta,
      keys: this.keys.map((k) => k.view()),
      dataSet: this.dataSet,
      transferSyntaxUID: this.transferSyntaxUID,
      isMediaDirectory: this.isMediaDirectory,
      stoppedEarly,
      warnings: this.warnings,
    };
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
    while (this.has(4) && this.u16(0) === 0x0002) {
      this.readElementHeader();
      this.readOrSkipValue(META_SPEC, this.meta);
    }
  }

  private enterDataSet(): void {
    const declared = this.meta.get(T.TransferSyntaxUID);
    // UI values are padded with NUL to an even length.
    const uid = typeof declared === "string" ? declared.replace(/[\0 ]+$/, "") : "";
    this.transferSyntaxUID = uid !== "" ? uid : undefined;
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
    const explicit = this.vrAt(this.at());
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
    const explicit = this.vrAt(i);
    if (be && !le) return explicit ? { littleEndian: false, implicit: false } : undefined;
    if (explicit) return { littleEndian: true, implicit: false };
    // Implicit VR: the 32-bit length must be even or undefined to be believable.
    const length = this.buf.readUInt32LE(i + 4);
    return length === UNDEFINED_LENGTH || length % 2 === 0 ? { littleEndian: true, implicit: true } : undefined;
  }

  /** Whether bytes 4-5 of the element at buffer index `i` name a VR: the mark of explicit VR encoding. */
  private vrAt(i: number): boolean {
    return i + 6 <= this.buf.length && IS_VR[(this.buf[i + 4]! << 8) | this.buf[i + 5]!] === 1;
  }

  // ---- elements ----------------------------------------------------------------------------------------

  /** Reads tag, VR and length at `pos` and moves past them. */
  private readElementHeader(): void {
    this.need(8, "an element header");
    this.group = this.u16(0);
    this.tag = ((this.group << 16) | this.u16(2)) >>> 0;
    if (this.group === 0xfffe || this.implicit) {
      this.vr = 0;
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
    this.vr = (c0 << 8) | c1;
    if (VR_FORM[this.vr] === 2) {
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
    const wanted = topLevel && this.littleEndian ? this.wantedAtTop(spec) : undefined;
    for (;;) {
      if (wanted) this.skipUnwantedLittleEndian(wanted);
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
      const elementStart = this.pos;
      this.readElementHeader();
      if (topLevel && this.keyTags) {
        const mask = this.keyTags.get(this.tag);
        if (mask !== undefined) {
          this.copyElementIntoKeys(elementStart, mask);
          continue;
        }
      }
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

  /** Tags the top level must stop at: those of the spec and of the keys. */
  private wantedAtTop(spec: Spec): ReadonlySet<number> {
    const cacheKey = this.keyTags ?? NO_KEYS;
    let bySpec = wantedCache.get(spec);
    if (!bySpec) wantedCache.set(spec, (bySpec = new WeakMap()));
    let wanted = bySpec.get(cacheKey);
    if (!wanted) bySpec.set(cacheKey, (wanted = new Set([...spec.keys(), ...cacheKey.keys()])));
    return wanted;
  }

  /**
   * The hot loop: most top-level elements are neither wanted nor special, and a header is 160 or so of them.
   * This skips those with plain byte arithmetic; anything else (a wanted tag, an undefined length, a delimiter,
   * the stop tag, the end of the window) is left to the general code.
   */
  private skipUnwantedLittleEndian(wanted: ReadonlySet<number>): void {
    const implicit = this.implicit;
    for (;;) {
      const b = this.buf;
      const i = this.pos - this.base;
      if (i + 12 > b.length) return;
      const group = b[i]! | (b[i + 1]! << 8);
      const tag = ((group << 16) | b[i + 2]! | (b[i + 3]! << 8)) >>> 0;
      if (tag > T.LastNeededTag || group === T.FileSetGroup || ((group & 1) === 0 && wanted.has(tag))) return;
      let length: number;
      let header: number;
      if (implicit) {
        length = b.readUInt32LE(i + 4);
        header = 8;
      } else {
        const c0 = b[i + 4]!;
        const c1 = b[i + 5]!;
        if (c0 < 0x41 || c0 > 0x5a || c1 < 0x41 || c1 > 0x5a) return;
        if (VR_FORM[(c0 << 8) | c1] === 2) {
          length = b.readUInt32LE(i + 8);
          header = 12;
        } else {
          length = b[i + 6]! | (b[i + 7]! << 8);
          header = 8;
        }
      }
      if (length === UNDEFINED_LENGTH) return;
      this.pos += header + length;
    }
  }

  /** Appends the whole element that starts at `start` (header read, value not) to the keys in `mask`. */
  private copyElementIntoKeys(start: number, mask: number): void {
    this.skipValue();
    const end = this.pos;
    const tooLarge = end - start > MAX_KEY_ELEMENT_BYTES;
    if (!tooLarge) {
      this.pos = start;
      this.need(end - start, "a value");
    }
    for (let k = 0; k < this.keys.length; k++) {
      if ((mask & (1 << k)) === 0) continue;
      if (tooLarge) this.keys[k]!.valid = false;
      else this.keys[k]!.append(this.buf, start - this.base, end - this.base);
    }
    this.pos = end;
  }

  private readOrSkipValue(spec: Spec, out: Values): void {
    const wanted = spec.get(this.tag);
    const encodedAsUN = this.vr === VR_UN;
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
    this.need(this.length, "a value");
    // Kept as bytes (one char per byte); decoding waits until the character set is known and the value is needed.
    const start = this.at();
    out.set(tag, this.buf.toString("latin1", start, start + this.length));
    this.pos += this.length;
  }

  private skipValue(): void {
    if (this.length === UNDEFINED_LENGTH) return this.skipUndefinedLength(this.vr === VR_UN);
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
    const outerImplicit = this.implicit;
    const outerLittleEndian = this.littleEndian;
    // Open containers, and from which depth on their content is implicit VR little endian (a UN container's is,
    // and so is everything inside it); above that depth it is in the outer encoding.
    let depth = 0;
    let implicitFrom = -1;
    const enter = (implicit: boolean) => {
      depth++;
      if (implicit && implicitFrom < 0) implicitFrom = depth;
      this.encodingAt(implicitFrom >= 0, outerImplicit, outerLittleEndian);
    };
    enter(contentImplicit || this.implicit);
    try {
      while (depth > 0) {
        this.readElementHeader();
        if (this.tag === T.ItemDelimitationItem || this.tag === T.SequenceDelimitationItem) {
          if (implicitFrom === depth) implicitFrom = -1;
          depth--;
          this.encodingAt(implicitFrom >= 0, outerImplicit, outerLittleEndian);
          if (isItem && depth === 0 && this.tag !== T.ItemDelimitationItem) this.warnings.push("mismatched-delimiter");
          continue;
        }
        if (this.length !== UNDEFINED_LENGTH) this.pos += this.length;
        else enter(this.vr === VR_UN);
      }
    } finally {
      this.implicit = outerImplicit;
      this.littleEndian = outerLittleEndian;
    }
  }

  private encodingAt(implicitLittleEndian: boolean, outerImplicit: boolean, outerLittleEndian: boolean): void {
    this.implicit = implicitLittleEndian || outerImplicit;
    this.littleEndian = implicitLittleEndian || outerLittleEndian;
  }
}
