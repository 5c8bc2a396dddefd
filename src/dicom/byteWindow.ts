// The parser's view of its input: a window of bytes at a stream position, grown or moved only when a read goes
// past it, with the reads the parser makes in the data set's byte order.
import type { ByteSource } from "./byteSource.js";
import { DicomReadError } from "./errors.js";
import { hexTag } from "./header.js";

/** The window never grows past this: a header is kilobytes; what lies beyond is skipped, not buffered. */
const MAX_WINDOW_BYTES = 4 * 1024 * 1024;

export abstract class ByteWindow {
  protected buf: Buffer = Buffer.alloc(0);
  /** Stream offset of buf[0]. */
  protected base = 0;
  protected pos = 0;
  protected littleEndian = true;
  /** The element being read, for messages. */
  protected tag = 0;

  constructor(
    protected source: ByteSource,
    protected window: number,
  ) {}

  /** Makes `n` bytes at `pos` available; false where the data ends first. */
  protected has(n: number): boolean {
    if (this.pos + n <= this.base + this.buf.length) return true;
    this.buf = this.source.read(this.pos, Math.max(n, this.window));
    this.base = this.pos;
    this.window = Math.min(this.window * 2, MAX_WINDOW_BYTES);
    return this.buf.length >= n;
  }

  /** `what` is a constant: the message is built only when the data really ends. */
  protected need(n: number, what: "an element header" | "a value" | "a sequence item header"): void {
    if (!this.has(n)) {
      const of = what === "a value" ? ` of ${hexTag(this.tag)}` : "";
      throw new DicomReadError("truncated", `data ends inside ${what}${of} at byte ${this.pos} (needed ${n} bytes, ${this.buf.length} left)`, this.pos);
    }
  }

  /** Skipping moves past values without reading them; only here, at the end, do we learn whether the last one was whole. */
  protected endsExactlyHere(): boolean {
    const whole = this.pos === 0 || this.source.read(this.pos - 1, 1).length === 1;
    this.buf = Buffer.alloc(0);
    this.base = this.pos;
    return whole;
  }

  protected at(): number {
    return this.pos - this.base;
  }

  protected u16(offset: number): number {
    const i = this.pos - this.base + offset;
    return this.littleEndian ? this.buf.readUInt16LE(i) : this.buf.readUInt16BE(i);
  }

  protected u32(offset: number): number {
    const i = this.pos - this.base + offset;
    return this.littleEndian ? this.buf.readUInt32LE(i) : this.buf.readUInt32BE(i);
  }
}
