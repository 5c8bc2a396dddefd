// Entry point of a reader thread (a piscina task): reads the headers of a batch of files.
import type { FilePath } from "../reasons.js";
import { DicomFileReader } from "./readFile.js";
import { type WireRead, pathFromWire, toWire } from "./wire.js";

const reader = new DicomFileReader();

export default function readBatch(paths: ReadonlyArray<FilePath | Uint8Array>): WireRead[] {
  return paths.map((p) => toWire(reader.read(pathFromWire(p))));
}
