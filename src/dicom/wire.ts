import type { FileFailure, FilePath } from "../reasons.js";
import type { InstanceRecord } from "./instance.js";
import type { FileRead } from "./readFile.js";

/** An instance record without its study and series attributes, which travel as JSON (see WireRead). */
export type InstanceCore = Omit<InstanceRecord, "study" | "series" | "studyJSON" | "seriesJSON">;

/**
 * What a reader thread sends back for one file. Study and series attributes travel as JSON text: copying a
 * string between threads is cheap, the grouping stage keys variants by exactly that text, and parses it only
 * for a variant it has not seen (a few per series) rather than for every instance.
 */
export type WireRead =
  | { readonly bytesRead: number; readonly failure: FileFailure }
  | { readonly bytesRead: number; readonly instance: InstanceCore; readonly studyJSON: string; readonly seriesJSON: string };

export function toWire({ result, bytesRead }: FileRead): WireRead {
  if ("reason" in result) return { bytesRead, failure: result };
  const { study, series, studyJSON, seriesJSON, ...instance } = result;
  return { bytesRead, instance, studyJSON, seriesJSON };
}

/** Buffers cross threads as plain Uint8Arrays; paths that were bytes become Buffers again. */
export function pathFromWire(path: FilePath | Uint8Array): FilePath {
  return typeof path === "string" || Buffer.isBuffer(path) ? path : Buffer.from(path.buffer, path.byteOffset, path.byteLength);
}
