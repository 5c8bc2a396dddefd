// Entry point of a reader process (see readerPool.ts): reads the headers of the batches of paths its parent
// sends over the IPC channel and answers each with a packed batch, in order. It exits when the channel closes,
// which is also what happens when the parent dies.
import { DicomFileReader } from "./readFile.js";
import { BatchPacker, type PackedPath, unpackPath } from "./wire.js";

/** What the parent sends: a batch to read. */
export interface ReadRequest {
  readonly id: number;
  readonly paths: readonly PackedPath[];
}

const reader = new DicomFileReader();
const packer = new BatchPacker();

process.on("message", ({ id, paths }: ReadRequest) => {
  process.send!({ id, batch: packer.pack(paths.map((p) => reader.read(unpackPath(p)))) });
});
process.on("disconnect", () => process.exit(0));
// Ready: the parent sends batches only from now on, so none waits for this process to start.
process.send!({ ready: true });
