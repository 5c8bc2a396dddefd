import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Piscina } from "piscina";
import type { FilePath } from "../reasons.js";
import { DicomFileReader } from "./readFile.js";
import { type WireRead, pathFromWire, toWire } from "./wire.js";

/** Reads headers in batches; results come back in batch order. */
export interface HeaderReader {
  read(batch: readonly FilePath[]): Promise<WireRead[]>;
  close(): Promise<void>;
}

/** Batches a reader thread holds at once: the next ones are waiting when it finishes, so it never idles on a round trip. */
const BATCHES_PER_THREAD = 4;
/**
 * Batches read here before the pool is started. A reader thread takes about a quarter of a second to start
 * (measured here: first result ~250 ms after creation), which a small run never earns back.
 */
const BATCHES_BEFORE_POOL = 8;

/**
 * `threads` threads read headers, the calling one included: 1 reads only here; with more, once the run has
 * shown itself large enough, a piscina pool of `threads - 1` reader threads takes batches while it has room
 * and this thread reads the others itself, so the cores are used without one more thread competing for them.
 */
export function createHeaderReader(threads: number): HeaderReader {
  const here = new DicomFileReader();
  const readHere = (batch: readonly FilePath[]) => batch.map((path) => toWire(here.read(path)));
  if (threads <= 1) return { read: async (batch) => readHere(batch), close: async () => {} };

  const size = threads - 1;
  let pool: Piscina | undefined;
  let batches = 0;
  let inPool = 0;
  return {
    read: async (batch) => {
      if (++batches === BATCHES_BEFORE_POOL) {
        pool = new Piscina({ filename: workerFile(), minThreads: size, maxThreads: size, concurrentTasksPerWorker: BATCHES_PER_THREAD, idleTimeout: 60_000 });
      }
      if (!pool || inPool >= size * BATCHES_PER_THREAD) {
        const results = readHere(batch);
        // Let the pool's finished batches in before reading another here, or its threads starve meanwhile.
        await new Promise((resolve) => setImmediate(resolve));
        return results;
      }
      inPool++;
      try {
        let results: WireRead[];
        try {
          results = (await pool.run(batch)) as WireRead[];
        } catch {
          // A reader thread died (out of memory, say): piscina replaces it; this batch is read here instead,
          // where every file's failure is caught and reported on its own.
          return readHere(batch);
        }
        // Paths that were bytes arrive as plain Uint8Arrays; the rest (nearly all) pass through untouched.
        return results.map((r) => {
          const path = "failure" in r ? r.failure.path : r.instance.path;
          if (typeof path === "string") return r;
          return "failure" in r ? { ...r, failure: { ...r.failure, path: pathFromWire(path) } } : { ...r, instance: { ...r.instance, path: pathFromWire(path) } };
        });
      } finally {
        inPool--;
      }
    },
    close: async () => {
      await pool?.destroy();
    },
  };
}

/** The compiled worker, beside this module (dist/, dist/bin/); from TypeScript sources (tests), the build's copy. */
function workerFile(): string {
  const beside = fileURLToPath(new URL("./readerWorker.js", import.meta.url));
  if (existsSync(beside)) return beside;
  const built = fileURLToPath(new URL("../../dist/dicom/readerWorker.js", import.meta.url));
  if (existsSync(built)) return built;
  throw new Error("the reader thread's compiled code is missing: run npm run build");
}
