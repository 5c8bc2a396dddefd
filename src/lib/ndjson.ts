import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { open } from "node:fs/promises";

/** Appends lines to a file through a buffer: one system call per megabyte, not per resource. */
export class LineWriter {
  private readonly fd: number;
  private chunks: Array<string | Uint8Array> = [];
  private pending = 0;
  lines = 0;

  constructor(path: string) {
    this.fd = openSync(path, "w", 0o644);
  }

  /**
   * Text, or bytes already encoded (a line copied from another NDJSON file goes through without being decoded and
   * encoded again). Bytes are held until the next flush, not copied: a line from ndjsonLines, valid only until the
   * next one is read, is the caller's to copy.
   */
  write(text: string | Uint8Array): void {
    this.chunks.push(text);
    this.pending += text.length;
    if (this.pending >= 1 << 20) this.flush();
  }

  /** One JSON value per line: NDJSON. JSON.stringify escapes line breaks inside strings, so a line is a record. */
  writeJsonLine(value: unknown): void {
    this.write(`${JSON.stringify(value)}\n`);
    this.lines++;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }

  private flush(): void {
    if (this.chunks.length === 0) return;
    try {
      // A write can be short (a disk that fills up in the middle of it): the rest is written, or fails, next.
      const chunks = this.chunks;
      const data = chunks.every((c) => typeof c === "string")
        ? Buffer.from(chunks.join(""))
        : Buffer.concat(chunks.map((c) => (typeof c === "string" ? Buffer.from(c) : c)));
      for (let written = 0; written < data.length; ) written += writeSync(this.fd, data, written);
    } catch (error) {
      // A full disk: the run stops, and its staging folder is removed; an open descriptor would keep the space.
      closeSync(this.fd);
      throw error;
    }
    this.chunks = [];
    this.pending = 0;
  }
}

// Reading: one line splitter, behind a synchronous reader (the write stage, changes/, the index build, errors.ndjson)
// and an asynchronous one (load). Lines end at LF, CRLF or a lone CR, as Node's readline ends them: load numbers
// lines for its checkpoint, and a file that was ever read by readline must keep its numbers.
const LF = 0x0a;
const CR = 0x0d;

/**
 * Cuts chunks of bytes into lines, without their line ends. A line is a view of the chunk it lies in whole, or a
 * copy where a chunk's end cut it; `starts` (when given) receives each line's offset in the file.
 */
class LineSplitter {
  /** The start of a line the last chunk cut, and where it began in the file. */
  private rest: Buffer | undefined;
  private restAt = 0;
  /** The last chunk ended with CR: an LF first in this one belongs to it. */
  private crBefore = false;
  /** The file offset of the next chunk. */
  private offset = 0;

  push(data: Buffer, lines: Buffer[], starts?: number[]): void {
    const offset = this.offset;
    this.offset += data.length;
    let start = this.crBefore && data[0] === LF ? 1 : 0;
    this.crBefore = false;
    if (this.rest) {
      // Only the cut line is copied, not the chunk.
      const lf = data.indexOf(LF);
      const cr = data.indexOf(CR);
      const end = cr >= 0 && (lf < 0 || cr < lf) ? cr : lf;
      if (end < 0) {
        this.rest = Buffer.concat([this.rest, data]);
        return;
      }
      lines.push(Buffer.concat([this.rest, data.subarray(0, end)]));
      starts?.push(this.restAt);
      this.rest = undefined;
      if (end === cr && end + 1 === data.length) {
        this.crBefore = true;
        return;
      }
      start = end === cr && data[end + 1] === LF ? end + 2 : end + 1;
    }
    let nextCr = data.indexOf(CR, start);
    for (;;) {
      let end = data.indexOf(LF, start);
      if (nextCr >= 0 && (end < 0 || nextCr < end)) {
        // A CR ends the line too (CRLF counts once).
        end = nextCr;
        lines.push(data.subarray(start, end));
        starts?.push(offset + start);
        if (end + 1 === data.length) {
          this.crBefore = true;
          start = end + 1;
          break;
        }
        start = data[end + 1] === LF ? end + 2 : end + 1;
        nextCr = data.indexOf(CR, start);
        continue;
      }
      if (end < 0) break;
      lines.push(data.subarray(start, end));
      starts?.push(offset + start);
      start = end + 1;
    }
    if (start < data.length) {
      this.rest = Buffer.from(data.subarray(start));
      this.restAt = offset + start;
    }
  }

  /** The last line, when the file does not end with a line end. */
  end(lines: Buffer[], starts?: number[]): void {
    if (!this.rest) return;
    lines.push(this.rest);
    starts?.push(this.restAt);
    this.rest = undefined;
  }
}

/**
 * The non-empty lines of an NDJSON file as bytes, a megabyte read at a time: lines are hashed and their ids read
 * from their first bytes, so only the few that are needed whole become strings (an ImagingStudy line is tens of
 * kB). A line is valid until the next one is asked for; `at` is where it starts in the file, `number` its line
 * number (from 1, blank lines counted).
 */
export function* ndjsonLines(path: string): Generator<{ readonly line: Buffer; readonly at: number; readonly number: number }> {
  const fd = openSync(path, "r");
  try {
    const chunk = Buffer.allocUnsafe(1 << 20);
    const splitter = new LineSplitter();
    let number = 0;
    for (let done = false; !done; ) {
      const n = readSync(fd, chunk, 0, chunk.length, null);
      const lines: Buffer[] = [];
      const starts: number[] = [];
      if (n === 0) {
        splitter.end(lines, starts);
        done = true;
      } else splitter.push(chunk.subarray(0, n), lines, starts);
      for (let i = 0; i < lines.length; i++) {
        number++;
        if (lines[i]!.length > 0) yield { line: lines[i]!, at: starts[i]!, number };
      }
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Every line of a file (blank ones too), a chunk's worth at a time, read asynchronously. Each chunk is a buffer of
 * its own, never reused: a line stays valid as long as it is held (load sends lines' bytes as they are).
 */
export async function* ndjsonLinesAsync(path: string, chunkBytes: number): AsyncGenerator<Buffer[]> {
  const file = await open(path, "r");
  try {
    const splitter = new LineSplitter();
    for (;;) {
      const chunk = Buffer.allocUnsafeSlow(chunkBytes);
      const { bytesRead } = await file.read(chunk, 0, chunkBytes, null);
      const lines: Buffer[] = [];
      if (bytesRead === 0) {
        splitter.end(lines);
        if (lines.length > 0) yield lines;
        return;
      }
      splitter.push(chunk.subarray(0, bytesRead), lines);
      if (lines.length > 0) yield lines;
    }
  } finally {
    await file.close();
  }
}

// Lines dcm2fhir writes begin with resourceType and id; anything else is parsed.
const HEAD = /^\{"resourceType":"[A-Za-z]+","id":"([A-Za-z0-9\-.]{1,64})"/;

/** The id of the resource a line holds; undefined for a line that holds none. */
export function resourceIdOf(line: Buffer): string | undefined {
  const m = HEAD.exec(line.toString("latin1", 0, 128));
  if (m) return m[1]!;
  try {
    const id = (JSON.parse(line.toString("utf8")) as { id?: unknown }).id;
    return typeof id === "string" ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * An NDJSON file's lines found by resource id, each read when asked for: an index of where they lie, not the lines.
 * The file stays open from the first line asked for until `close`: a run may ask for a line per study it keeps.
 */
export class LinesById {
  private readonly lines = new Map<string, { readonly at: number; readonly length: number }>();
  private fd: number | undefined;

  constructor(private readonly path: string) {
    for (const { line, at } of ndjsonLines(path)) {
      const id = resourceIdOf(line);
      if (id !== undefined) this.lines.set(id, { at, length: line.length });
    }
  }

  /** The line's bytes, without its line break. */
  get(id: string): Buffer | undefined {
    const where = this.lines.get(id);
    if (!where) return undefined;
    const bytes = Buffer.allocUnsafe(where.length);
    this.fd ??= openSync(this.path, "r");
    for (let read = 0; read < where.length; ) {
      const n = readSync(this.fd, bytes, read, where.length - read, where.at + read);
      if (n === 0) throw new Error("internal: an output file became shorter while it was read");
      read += n;
    }
    return bytes;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
