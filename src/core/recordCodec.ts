// How an instance record is stored, wherever it is stored: the incremental state (runState.ts) and the record
// files of shard parts and large runs (recordFile.ts) keep the same encoding, so a record read back is the one
// a header read made. Study and series attributes travel beside the record as their JSON text, which a store
// keeps once per distinct text (the same for every file of a series).
import type { InstanceCore, HeaderRead } from "./record.js";
import type { FileFailure, FilePath, Reason } from "./reasons.js";

/** What an entry gave: a header read (an instance or a reasoned failure), or the crawl's refusal (a FIFO, a link). */
export type EntryResult = { readonly read: HeaderRead } | { readonly unread: FileFailure };

/** The failure an EntryResult that is not an instance holds. */
export const failureOf = (result: EntryResult): FileFailure => ("unread" in result ? result.unread : (result.read as { failure: FileFailure }).failure);

/** An EntryResult as stored: equal encodings mean equal results. The path is kept apart (see pathKey). */
export interface EncodedResult {
  readonly bytes: number;
  readonly record: string;
  readonly studyJSON: string | null;
  readonly seriesJSON: string | null;
}

/** A store contradicts itself although its digest matched: a bug, not a damaged file; the run stops. */
export class StateError extends Error {
  override readonly name = "StateError";
}

export function encodeResult(result: EntryResult): EncodedResult {
  if ("unread" in result) return { bytes: 0, record: JSON.stringify({ u: [result.unread.reason, result.unread.message] }), studyJSON: null, seriesJSON: null };
  const read = result.read;
  if ("failure" in read)
    return { bytes: read.bytesRead, record: JSON.stringify({ f: [read.failure.reason, read.failure.message] }), studyJSON: null, seriesJSON: null };
  const { path: _path, ...core } = read.instance;
  return { bytes: read.bytesRead, record: JSON.stringify({ i: core }), studyJSON: read.studyJSON, seriesJSON: read.seriesJSON };
}

export function decodeResult(path: FilePath, encoded: EncodedResult): EntryResult {
  let record: { u?: [Reason, string]; f?: [Reason, string]; i?: Omit<InstanceCore, "path"> };
  try {
    record = JSON.parse(encoded.record);
  } catch (error) {
    throw new StateError(`a stored result cannot be read: ${(error as Error).message}`);
  }
  if (record.u) return { unread: { path, reason: record.u[0], message: record.u[1] } };
  if (record.f) return { read: { bytesRead: encoded.bytes, failure: { path, reason: record.f[0], message: record.f[1] } } };
  if (!record.i || encoded.studyJSON === null || encoded.seriesJSON === null) throw new StateError("a row holds neither a failure nor an instance");
  return { read: { bytesRead: encoded.bytes, instance: { ...record.i, path }, studyJSON: encoded.studyJSON, seriesJSON: encoded.seriesJSON } };
}

/**
 * A path as a store keys it: as it is, or, for a name that is not UTF-8 (which the crawl keeps as bytes),
 * NUL and its bytes as Latin-1. No path contains NUL, so the two never meet.
 */
export const pathKey = (path: FilePath): string => (typeof path === "string" ? path : `\0${path.toString("latin1")}`);

export const pathFromKey = (key: string): FilePath => (key.startsWith("\0") ? Buffer.from(key.slice(1), "latin1") : key);
