import type { FileFailure, FilePath } from "../reasons.js";
import type { InstanceRecord } from "./instance.js";
import type { FileRead } from "./readFile.js";

/** An instance record without its study and series attributes, which travel as JSON (see WireRead). */
export type InstanceCore = Omit<InstanceRecord, "study" | "series" | "studyJSON" | "seriesJSON">;

/**
 * What a reader sends back for one file. Study and series attributes travel as JSON text: the grouping stage
 * keys variants by exactly that text, and parses it only for a variant it has not seen (a few per series)
 * rather than for every instance.
 */
export type WireRead =
  | { readonly bytesRead: number; readonly failure: FileFailure }
  | { readonly bytesRead: number; readonly instance: InstanceCore; readonly studyJSON: string; readonly seriesJSON: string };

export function toWire({ result, bytesRead }: FileRead): WireRead {
  if ("reason" in result) return { bytesRead, failure: result };
  const { study, series, studyJSON, seriesJSON, ...instance } = result;
  return { bytesRead, instance, studyJSON, seriesJSON };
}

// ---- between processes ------------------------------------------------------------------------------------

/** A path as JSON carries it: names that are not valid UTF-8 go as base64 of their bytes. */
export type PackedPath = string | { readonly base64: string };

export const packPath = (path: FilePath): PackedPath => (typeof path === "string" ? path : { base64: path.toString("base64") });
export const unpackPath = (path: PackedPath): FilePath => (typeof path === "string" ? path : Buffer.from(path.base64, "base64"));

/**
 * A batch of reads as a reader process sends it, in the order of the paths it was given: the paths stay
 * behind (the receiver has them), and the study and series JSON of an instance, the same text for every
 * instance of a series, goes once per reader as an entry of a dictionary both sides grow in step.
 */
export interface PackedBatch {
  /** The receiver drops its dictionary first (the sender's reached its bound). */
  readonly reset?: true;
  /** Texts new to the dictionary, taking the next ids in this order. */
  readonly texts: readonly string[];
  readonly reads: readonly PackedRead[];
}

/** [bytesRead, reason, message] for a failure; [bytesRead, study text id, series text id, the record's other fields] for an instance. */
type PackedRead = readonly [number, FileFailure["reason"], string] | readonly [number, number, number, Omit<InstanceCore, "path">];

/** Bounds the dictionary on both sides: an archive of a million series must not keep every variant's text twice. */
const MAX_TEXTS = 8192;

/** The sending side, one per reader process. */
export class BatchPacker {
  private readonly ids = new Map<string, number>();

  pack(reads: readonly FileRead[]): PackedBatch {
    let reset: true | undefined;
    if (this.ids.size + 2 * reads.length > MAX_TEXTS) {
      this.ids.clear();
      reset = true;
    }
    const texts: string[] = [];
    const idOf = (text: string) => {
      let id = this.ids.get(text);
      if (id === undefined) {
        this.ids.set(text, (id = this.ids.size));
        texts.push(text);
      }
      return id;
    };
    const packed = reads.map(({ result, bytesRead }): PackedRead => {
      if ("reason" in result) return [bytesRead, result.reason, result.message];
      const { path, study, series, studyJSON, seriesJSON, ...rest } = result;
      return [bytesRead, idOf(studyJSON), idOf(seriesJSON), rest];
    });
    return reset ? { reset, texts, reads: packed } : { texts, reads: packed };
  }
}

/** The receiving side, one per reader process (their dictionaries are their own). */
export class BatchUnpacker {
  private texts: string[] = [];

  unpack(paths: readonly FilePath[], batch: PackedBatch): WireRead[] {
    if (batch.reset) this.texts = [];
    this.texts.push(...batch.texts);
    if (batch.reads.length !== paths.length) throw new Error(`internal: a reader answered ${batch.reads.length} reads for ${paths.length} paths`);
    return batch.reads.map((read, i): WireRead => {
      const path = paths[i]!;
      if (typeof read[1] === "string") return { bytesRead: read[0], failure: { path, reason: read[1], message: read[2] as string } };
      const [bytesRead, study, series, rest] = read as readonly [number, number, number, Omit<InstanceCore, "path">];
      return { bytesRead, instance: { path, ...rest }, studyJSON: this.texts[study]!, seriesJSON: this.texts[series]! };
    });
  }
}
