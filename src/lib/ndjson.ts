import { closeSync, openSync, readSync, writeSync } from "node:fs";

/** Appends lines to a file through a buffer: one system call per megabyte, not per resource. */
export class LineWriter {
  private readonly fd: number;
  private chunks: string[] = [];
  private pending = 0;
  lines = 0;

  constructor(path: string) {
    this.fd = openSync(path, "w", 0o644);
  }

  write(text: string): void {
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
      const data = Buffer.from(this.chunks.join(""));
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

/**
 * The lines of an NDJSON file as bytes, a megabyte read at a time: lines are hashed and their ids read from
 * their first bytes, so only the few that are needed whole become strings (an ImagingStudy line is tens of kB).
 * A line is valid until the next one is asked for; `at` is where it starts in the file.
 */
export function* ndjsonLines(path: string): Generator<{ readonly line: Buffer; readonly at: number }> {
  const fd = openSync(path, "r");
  try {
    const chunk = Buffer.allocUnsafe(1 << 20);
    let carry: Buffer[] = [];
    let offset = 0;
    let lineStart = 0;
    for (let n; (n = readSync(fd, chunk, 0, chunk.length, null)) > 0; offset += n) {
      const data = chunk.subarray(0, n);
      let start = 0;
      for (let end = data.indexOf(10); end !== -1; end = data.indexOf(10, start)) {
        const line = carry.length > 0 ? Buffer.concat([...carry, data.subarray(start, end)]) : data.subarray(start, end);
        carry = [];
        start = end + 1;
        if (line.length > 0) yield { line, at: lineStart };
        lineStart = offset + start;
      }
      if (start < n) carry.push(Buffer.from(data.subarray(start)));
    }
    const last = Buffer.concat(carry);
    if (last.length > 0) yield { line: last, at: lineStart };
  } finally {
    closeSync(fd);
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

  get(id: string): string | undefined {
    const where = this.lines.get(id);
    if (!where) return undefined;
    const bytes = Buffer.allocUnsafe(where.length);
    this.fd ??= openSync(this.path, "r");
    for (let read = 0; read < where.length; ) {
      const n = readSync(this.fd, bytes, read, where.length - read, where.at + read);
      if (n === 0) throw new Error("internal: an output file became shorter while it was read");
      read += n;
    }
    return bytes.toString("utf8");
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
