import { readSync } from "node:fs";
import { constants as zlibConstants, gunzipSync, inflateRawSync } from "node:zlib";
import { DicomReadError } from "./errors.js";

/**
 * Random access to the bytes of one DICOM stream: a file, a buffer, or an inflated view of either.
 * The parser asks only for what it is about to interpret, so skipping a value never reads it.
 */
export interface ByteSource {
  /** Up to `length` bytes starting at `offset`; fewer only where the data ends. The result is valid until the next call. */
  read(offset: number, length: number): Buffer;
}

const EMPTY = Buffer.alloc(0);

export class BufferSource implements ByteSource {
  constructor(private readonly bytes: Buffer) {}

  read(offset: number, length: number): Buffer {
    if (offset >= this.bytes.length) return EMPTY;
    return this.bytes.subarray(offset, Math.min(this.bytes.length, offset + length));
  }
}

/**
 * A file read with positioned reads, as it is now (it may have grown or shrunk since it was listed): a read
 * that returns nothing is the end of the data. Its size is not asked for: most headers are read in one call.
 */
export class FileSource implements ByteSource {
  bytesRead = 0;

  constructor(
    private readonly fd: number,
    /** Reused across files by one reader; safe because a window is dropped before the next read. */
    private readonly scratch: Buffer,
    /**
     * The first window, already read (asynchronously, by a reader keeping many files in flight): from offset 0,
     * what reading `wanted` bytes gave, or the error it raised, thrown at the first read as it would have been.
     */
    first?: { readonly bytes: Buffer; readonly wanted: number } | { readonly error: unknown },
  ) {
    if (!first) return;
    if ("error" in first) {
      this.firstError = first;
      return;
    }
    this.last = first.bytes;
    this.bytesRead = first.bytes.length;
    if (first.bytes.length < first.wanted) this.end = first.bytes.length;
  }

  private firstError: { readonly error: unknown } | undefined;

  /** Where a read came back empty: there is nothing to read from there on. */
  private end = Infinity;

  /** The last read into `scratch`: reading the header a second time (see readInstance) costs no system call. */
  private last: Buffer | undefined;
  private lastOffset = 0;
  /**
   * Earlier windows of a header that took more than one: kept so that the second pass reads nothing either, and
   * a file costs the same bytes whether or not its study and series were seen before (by this thread, in this
   * process): bytesRead in report.json is then a property of the files, the same for any split into threads,
   * processes or shards.
   */
  private readonly kept: Array<{ readonly offset: number; readonly bytes: Buffer }> = [];

  read(offset: number, length: number): Buffer {
    if (this.firstError) throw this.firstError.error;
    const wanted = Math.min(length, this.end - offset);
    if (wanted <= 0) return EMPTY;
    const last = this.last;
    if (last && offset >= this.lastOffset && offset + wanted <= this.lastOffset + last.length) {
      return last.subarray(offset - this.lastOffset, offset - this.lastOffset + wanted);
    }
    for (const window of this.kept) {
      if (offset >= window.offset && offset + wanted <= window.offset + window.bytes.length)
        return window.bytes.subarray(offset - window.offset, offset - window.offset + wanted);
    }
    if (last) this.kept.push({ offset: this.lastOffset, bytes: last.buffer === this.scratch.buffer ? Buffer.from(last) : last });
    const target = wanted <= this.scratch.length ? this.scratch : Buffer.allocUnsafe(wanted);
    let got = 0;
    while (got < wanted) {
      const n = readSync(this.fd, target, got, wanted - got, offset + got);
      if (n === 0) {
        this.end = offset + got;
        break;
      }
      got += n;
    }
    this.bytesRead += got;
    const result = target.subarray(0, got);
    this.last = result;
    this.lastOffset = offset;
    return result;
  }
}

/** Bounds the memory a decompression bomb can make us allocate for one header. */
export const MAX_INFLATED_HEADER_BYTES = 64 * 1024 * 1024;
const FIRST_COMPRESSED_CHUNK = 16 * 1024;

/**
 * The inflated bytes of a deflated data set (transfer syntax 1.2.840.10008.1.2.1.99, PS3.5 A.5) or of a
 * gzipped file. Only as much compressed data is read as the parser needs: a sync flush of a prefix of
 * the stream yields every byte that prefix encodes.
 */
export class InflateSource implements ByteSource {
  private compressed = EMPTY;
  private inflated = EMPTY;
  private innerEnded = false;
  private nextChunk = FIRST_COMPRESSED_CHUNK;

  constructor(
    private readonly inner: ByteSource,
    private readonly innerOffset: number,
    private readonly format: "deflate-raw" | "gzip",
  ) {}

  read(offset: number, length: number): Buffer {
    while (this.inflated.length < offset + length && !this.innerEnded) this.inflateMore();
    if (offset >= this.inflated.length) return EMPTY;
    return this.inflated.subarray(offset, Math.min(this.inflated.length, offset + length));
  }

  private inflateMore(): void {
    const chunk = this.inner.read(this.innerOffset + this.compressed.length, this.nextChunk);
    if (chunk.length < this.nextChunk) this.innerEnded = true;
    this.compressed = Buffer.concat([this.compressed, chunk]);
    this.nextChunk *= 2;
    const options = {
      finishFlush: zlibConstants.Z_SYNC_FLUSH,
      maxOutputLength: MAX_INFLATED_HEADER_BYTES,
    };
    try {
      this.inflated = this.format === "gzip" ? gunzipSync(this.compressed, options) : inflateRawSync(this.compressed, options);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ERR_BUFFER_TOO_LARGE") {
        throw new DicomReadError(
          "header-too-large",
          `the ${this.format === "gzip" ? "gzipped file" : "deflated data set"} inflates to more than ${MAX_INFLATED_HEADER_BYTES} bytes before the header ends`,
          this.innerOffset,
        );
      }
      throw new DicomReadError(
        "bad-compression",
        `the ${this.format === "gzip" ? "gzip" : "deflate"} stream is corrupt (${(error as Error).message})`,
        this.innerOffset,
      );
    }
  }
}
