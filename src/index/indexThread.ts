// A large folder's NDJSON is read and parsed on a thread of its own (indexWorker.ts) while the building thread
// writes SQLite. The build stays synchronous: this thread sleeps on a shared counter until the next batch is
// posted and takes it off the port directly, and the reading thread stays at most a few batches ahead.
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from "node:worker_threads";
import { compiledEntry } from "../lib/entryFile.js";
import type { IndexedType, ReadSummary, RecordBatch } from "./indexRecords.js";

/** Indices into the shared counters. */
export const POSTED = 0;
export const TAKEN = 1;
/** Batches the reading thread may have posted and not yet seen taken. */
export const AHEAD = 3;

export interface WorkerInput {
  readonly files: Partial<Record<IndexedType, string>>;
  readonly zone: string;
  readonly port: MessagePort;
  readonly counters: Int32Array;
}

/** What the reading thread posts: a batch, then either what it skipped and counted or why it stopped. */
export type WorkerMessage = { readonly batch: RecordBatch } | ReadSummary | { readonly failed: string };

/** Nothing posted for this long: the reading thread is gone (out of memory, say), not slow. */
const SILENCE_MS = 60_000;

export function* readOnThread(files: Partial<Record<IndexedType, string>>, zone: string): Generator<RecordBatch, ReadSummary> {
  const counters = new Int32Array(new SharedArrayBuffer(8));
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(compiledEntry(import.meta.url, "index/indexWorker.js", "the index reader thread"), {
    workerData: { files, zone, port: port2, counters } satisfies WorkerInput,
    transferList: [port2],
  });
  // It ends on its own after its last message; nothing here waits for that.
  worker.unref();
  try {
    for (let received = 0; ; received++) {
      const since = performance.now();
      while (Atomics.load(counters, POSTED) === received) {
        if (Atomics.wait(counters, POSTED, received, 1000) === "timed-out" && performance.now() - since > SILENCE_MS) {
          throw new Error("the thread reading the NDJSON stopped without a word");
        }
      }
      const message = receiveMessageOnPort(port1)!.message as WorkerMessage;
      if ("skipped" in message) return message;
      if ("failed" in message) throw new Error(`reading the NDJSON failed: ${message.failed}`);
      yield message.batch;
      Atomics.add(counters, TAKEN, 1);
      Atomics.notify(counters, TAKEN);
    }
  } finally {
    port1.close();
    void worker.terminate();
  }
}
