// The floors of the network section (scripts/bench/network.ts): what touching every file of an archive costs on
// storage where each operation is a round trip, with no parsing at all and many operations in flight. Walks the
// folders concurrently (every folder listed as soon as its parent is) and, for every regular file, either opens
// it, reads its first 8 KiB (the converter's first read window) and closes it (`read`), or lstats it (`lstat`,
// what an incremental run's "what changed" scan needs). At most `--depth` operations are in flight (default 64),
// on libuv's thread pool: run it with UV_THREADPOOL_SIZE at least that (network.ts does). Prints one JSON line:
// {"files", "folders", "seconds", "bytesRead"}.
//
//   UV_THREADPOOL_SIZE=64 node network-floor.js read|lstat <folder> [depth]   (network.ts runs it transpiled)
import { type Dirent, close, lstat, open, read, readdir } from "node:fs";
import { join } from "node:path";

const READ_BYTES = 8 * 1024;

async function floor(mode: "read" | "lstat", root: string, depth: number): Promise<{ files: number; folders: number; seconds: number; bytesRead: number }> {
  const started = performance.now();
  let files = 0;
  let folders = 0;
  let bytesRead = 0;
  let inFlight = 0;
  const waiting: Array<() => void> = [];
  const buffers: Buffer[] = Array.from({ length: depth }, () => Buffer.allocUnsafe(READ_BYTES));
  // A slot is one operation chain in flight (a listing, or a file's open/read/close): at most `depth` at once.
  const slot = () => (inFlight < depth ? (inFlight++, Promise.resolve()) : new Promise<void>((resolve) => waiting.push(resolve)));
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else inFlight--;
  };
  const touch = (path: string): Promise<void> =>
    new Promise((resolve) => {
      if (mode === "lstat") {
        lstat(path, () => resolve());
        return;
      }
      open(path, "r", (error, fd) => {
        if (error) return resolve();
        const buffer = buffers.pop()!;
        read(fd, buffer, 0, READ_BYTES, 0, (_e, n) => {
          bytesRead += n ?? 0;
          buffers.push(buffer);
          close(fd, () => resolve());
        });
      });
    });
  const pending: Array<Promise<void>> = [];
  const walk = async (dir: string): Promise<void> => {
    await slot();
    const entries = await new Promise<Dirent[]>((resolve) => readdir(dir, { withFileTypes: true }, (error, list) => resolve(error ? [] : list)));
    release();
    folders++;
    const work: Array<Promise<void>> = [];
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) work.push(walk(path));
      else if (entry.isFile()) {
        files++;
        work.push(slot().then(() => touch(path).then(release)));
      }
    }
    await Promise.all(work);
  };
  pending.push(walk(root));
  await Promise.all(pending);
  return { files, folders, seconds: Math.round(performance.now() - started) / 1000, bytesRead };
}

const [mode, root, depth] = process.argv.slice(2);
if ((mode !== "read" && mode !== "lstat") || !root) {
  process.stderr.write("usage: network-floor read|lstat <folder> [depth]\n");
  process.exitCode = 2;
} else {
  process.stdout.write(`${JSON.stringify(await floor(mode, root, Number(depth ?? 64)))}\n`);
}
