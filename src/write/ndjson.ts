import { closeSync, openSync, writeSync } from "node:fs";

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
