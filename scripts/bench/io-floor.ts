// The I/O floor: what touching every file costs with no parsing at all. Walks the archive depth-first and, for
// each file, opens it, reads its first 8 KiB (the converter's first read window) and closes it: single-threaded,
// synchronous fs. Prints one JSON line: {"files", "seconds", "bytesRead"}.
//
//   node io-floor.js <folder>      (scripts/bench.ts runs it transpiled, so no loader adds start-up time)
import { type Dirent, closeSync, openSync, readSync, readdirSync } from "node:fs";
import { join } from "node:path";

const READ_BYTES = 8 * 1024;

function ioFloor(root: string): { files: number; seconds: number; bytesRead: number } {
  const started = performance.now();
  const buffer = Buffer.allocUnsafe(READ_BYTES);
  let files = 0;
  let bytesRead = 0;
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        stack.push(path);
        continue;
      }
      if (!entry.isFile()) continue;
      files++;
      let fd: number;
      try {
        fd = openSync(path, "r");
      } catch {
        continue;
      }
      try {
        bytesRead += readSync(fd, buffer, 0, READ_BYTES, 0);
      } finally {
        closeSync(fd);
      }
    }
  }
  return { files, seconds: Math.round(performance.now() - started) / 1000, bytesRead };
}

const root = process.argv[2];
if (!root) {
  process.stderr.write("usage: io-floor <folder>\n");
  process.exitCode = 2;
} else {
  process.stdout.write(`${JSON.stringify(ioFloor(root))}\n`);
}
