// Entry point of a reader process (see readerPool.ts): reads the headers of the batches of paths its parent
// sends over the IPC channel and answers each with a packed batch, in order. It exits when the channel closes,
// which is also what happens when the parent dies.
import { IoPace, parseIoDepth } from "../lib/ioPace.js";
import { DicomFileReader } from "./readFile.js";
import { BatchPacker, type PackedPath, unpackPath } from "./wire.js";

/** What the parent sends: a batch to read; `concurrent` once the parent found the storage slow (lib/ioPace.ts). */
export interface ReadRequest {
  readonly id: number;
  readonly paths: readonly PackedPath[];
  readonly concurrent?: true;
}

// Arguments: the run's --io-depth and the number of readers sharing it.
const pace = new IoPace(parseIoDepth(process.argv[2]) ?? "auto", Number(process.argv[3]) || 1);
const reader = new DicomFileReader(undefined, pace);
const packer = new BatchPacker();

process.on("message", ({ id, paths, concurrent }: ReadRequest) => {
  if (concurrent) pace.goConcurrent();
  // Batches read concurrently can finish out of order: each answer names its batch, and the dictionary of the
  // packer grows in the order answers are sent, which is the order the parent unpacks them in.
  void reader.readAll(paths.map(unpackPath)).then((reads) => process.send!({ id, batch: packer.pack(reads) }));
});
process.on("disconnect", () => process.exit(0));
// Ready: the parent sends batches only from now on, so none waits for this process to start.
process.send!({ ready: true });
