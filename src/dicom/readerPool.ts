import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Piscina } from "piscina";
import type { FilePath } from "../reasons.js";
import { DicomFileReader } from "./readFile.js";
import { type WireRead, pathFromWire, toWire } from "./wire.js";

/** Reads headers in batches, in this thread or in a pool of reader threads; results come back in batch order. */
export interface HeaderReader {
  read(batch: readonly FilePath[]): Promise<WireRead[]>;
  close(): Promise<void>;
}

/** `threads` 0 reads in the calling thread (small runs, tests); otherwise a piscina pool of that many threads. */
export function createHeaderReader(threads: number): HeaderReader {
  if (threads === 0) {
    const reader = new DicomFileReader();
    return {
      read: async (batch) => batch.map((path) => toWire(reader.read(path))),
      close: async () => {},
    };
  }
  const pool = new Piscina({ filename: workerFile(), minThreads: threads, maxThreads: threads, idleTimeout: 60_000 });
  return {
    read: async (batch) => {
      const results = (await pool.run(batch)) as WireRead[];
      // Paths that were bytes arrive as plain Uint8Arrays.
      return results.map((r) =>
        "failure" in r ? { ...r, failure: { ...r.failure, path: pathFromWire(r.failure.path) } } : { ...r, instance: { ...r.instance, path: pathFromWire(r.instance.path) } },
      );
    },
    close: () => pool.destroy(),
  };
}

/** The compiled worker; when this module runs from TypeScript sources (tests), the build's copy. */
function workerFile(): string {
  const beside = fileURLToPath(new URL("./readerWorker.js", import.meta.url));
  if (existsSync(beside)) return beside;
  const built = fileURLToPath(new URL("../../dist/dicom/readerWorker.js", import.meta.url));
  if (existsSync(built)) return built;
  throw new Error("the reader thread's compiled code is missing: run npm run build");
}
