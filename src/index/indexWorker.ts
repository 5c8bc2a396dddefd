// Entry point of the thread that reads and parses a large folder's NDJSON for the index build (indexThread.ts).
import { workerData } from "node:worker_threads";
import { readIndexRecords } from "./indexRecords.js";
import { AHEAD, POSTED, TAKEN, type WorkerInput, type WorkerMessage } from "./indexThread.js";

const { files, zone, port, counters } = workerData as WorkerInput;

function post(message: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
  Atomics.add(counters, POSTED, 1);
  Atomics.notify(counters, POSTED);
}

try {
  const { skipped, figures } = readIndexRecords(files, zone, (batch, transfer) => {
    for (let taken = Atomics.load(counters, TAKEN); Atomics.load(counters, POSTED) - taken >= AHEAD; taken = Atomics.load(counters, TAKEN)) {
      Atomics.wait(counters, TAKEN, taken);
    }
    post({ batch }, transfer);
  });
  post({ skipped, figures });
} catch (error) {
  post({ failed: error instanceof Error ? error.message : String(error) });
}
