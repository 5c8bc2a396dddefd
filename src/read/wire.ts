import type { FileFailure, FilePath } from "../core/reasons.js";
import type { HeaderRead, InstanceCore } from "../core/record.js";
import type { FileRead } from "./readFile.js";

// How reader processes send their reads (read/readerProcess.ts → read/readerPool.ts): compact, and with the
// strings a series shares sent once.
/** A path as JSON carries it: names that are not valid UTF-8 go as base64 of their bytes. */
export type PackedPath = string | { readonly base64: string };

export const packPath = (path: FilePath): PackedPath => (typeof path === "string" ? path : { base64: path.toString("base64") });
export const unpackPath = (path: PackedPath): FilePath => (typeof path === "string" ? path : Buffer.from(path.base64, "base64"));

/**
 * A batch of reads as a reader process sends it, in the order of the paths it was given: the paths stay
 * behind (the receiver has them), and the strings an instance shares with the others of its series (study and
 * series JSON, their UIDs, the SOP class) go once per reader, as entries of a dictionary both sides grow in step.
 */
export interface PackedBatch {
  /** The receiver drops its dictionary first (the sender's reached its bound). */
  readonly reset?: true;
  /** Strings new to the dictionary, taking the next ids in this order. */
  readonly texts: readonly string[];
  readonly reads: readonly PackedRead[];
}

/**
 * A failure: [bytesRead, reason, message]. An instance: [bytesRead, then ids of its study JSON, series JSON,
 * Study Instance UID, Series Instance UID and SOP Class UID, then its SOP Instance UID, Instance Number and
 * title (null where absent), and its warnings (0 where there are none)].
 */
type PackedRead =
  | readonly [number, FileFailure["reason"], string]
  | readonly [number, number, number, number, number, number, string, number | null, string | null, readonly string[] | 0];

/** Every field of InstanceCore is packed: a field added to the record must be added here too (this fails to compile until it is). */
type Packed = "path" | "studyInstanceUID" | "seriesInstanceUID" | "sopInstanceUID" | "sopClassUID" | "instanceNumber" | "title" | "warnings";
const allFieldsPacked: Exclude<keyof InstanceCore, Packed> extends never ? true : never = true;
void allFieldsPacked;

/** Bounds the dictionary on both sides: an archive of a million series must not keep every variant's text twice. */
const MAX_TEXTS = 16384;

/** The sending side, one per reader process. */
export class BatchPacker {
  private readonly ids = new Map<string, number>();

  pack(reads: readonly FileRead[]): PackedBatch {
    let reset: true | undefined;
    if (this.ids.size + 5 * reads.length > MAX_TEXTS) {
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
    const packed = reads.map(({ result: r, bytesRead }): PackedRead => {
      if ("reason" in r) return [bytesRead, r.reason, r.message];
      return [
        bytesRead,
        idOf(r.studyJSON),
        idOf(r.seriesJSON),
        idOf(r.studyInstanceUID),
        idOf(r.seriesInstanceUID),
        idOf(r.sopClassUID),
        r.sopInstanceUID,
        r.instanceNumber ?? null,
        r.title ?? null,
        r.warnings.length === 0 ? 0 : r.warnings,
      ];
    });
    return reset ? { reset, texts, reads: packed } : { texts, reads: packed };
  }
}

const NO_WARNINGS: readonly string[] = Object.freeze([]);

/** The receiving side, one per reader process (their dictionaries are their own). */
export class BatchUnpacker {
  private texts: string[] = [];

  unpack(paths: readonly FilePath[], batch: PackedBatch): HeaderRead[] {
    if (batch.reset) this.texts = [];
    for (const text of batch.texts) this.texts.push(text);
    if (batch.reads.length !== paths.length) throw new Error(`internal: a reader answered ${batch.reads.length} reads for ${paths.length} paths`);
    const t = this.texts;
    return batch.reads.map((read, i): HeaderRead => {
      const path = paths[i]!;
      if (read.length === 3) return { bytesRead: read[0], failure: { path, reason: read[1], message: read[2] } };
      const [bytesRead, study, series, studyUID, seriesUID, sopClass, sopInstanceUID, instanceNumber, title, warnings] = read;
      return {
        bytesRead,
        instance: {
          path,
          studyInstanceUID: t[studyUID]!,
          seriesInstanceUID: t[seriesUID]!,
          sopInstanceUID,
          sopClassUID: t[sopClass]!,
          instanceNumber: instanceNumber ?? undefined,
          title: title ?? undefined,
          warnings: warnings === 0 ? NO_WARNINGS : warnings,
        },
        studyJSON: t[study]!,
        seriesJSON: t[series]!,
      };
    });
  }
}
