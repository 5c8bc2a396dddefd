// What the parser gives and takes: the spec of what to read, the values read, the options. Apart from the
// parser so that readers of values (instance.ts, dicomJson.ts) need not load it.
import type { DicomReadError } from "./errors.js";

/**
 * What to read from a data set: a tag mapped to the VR of a value to keep, or to the spec of the items of a
 * sequence to descend into. Every other element is skipped without being read.
 */
export type Spec = ReadonlyMap<number, string | Spec>;
/**
 * Values as their bytes, one character per byte (latin1, lossless), untrimmed; and the items of sequences.
 * Text is decoded later, by whoever knows its character set (see instance.ts).
 */
export type Values = Map<number, string | Values[]>;

export interface ParsedHeader {
  readonly meta: Values;
  /**
   * With `ParseOptions.keyTags`: per key, the bytes of the top-level elements of its tags (headers included,
   * prefixed by the encoding); undefined when an element was too large to copy. Those elements are then not in
   * `dataSet`. The bytes are a view of this process's key buffer, valid until the next parse with keys.
   */
  readonly keys: readonly (Buffer | undefined)[];
  readonly dataSet: Values;
  readonly transferSyntaxUID: string | undefined;
  /** Group 0004 (Directory Information) seen: a DICOMDIR. */
  readonly isMediaDirectory: boolean;
  /** Set when the data ended, or stopped making sense, before parsing reached its stop tag; the values read so far are kept. */
  readonly stoppedEarly: DicomReadError | undefined;
  /** Owned by the caller, which adds its own. */
  readonly warnings: string[];
}

export interface ParseOptions {
  /** Bytes read first; the window grows only when the header goes beyond it. */
  readonly firstWindowBytes: number;
  /**
   * Top-level tags whose elements are collected as raw bytes into keys instead of being read as values: tag →
   * bit mask of the keys (bit k: key k). Files that share these bytes share what is made of them, so the caller
   * can build it once (see instance.ts).
   */
  readonly keyTags?: ReadonlyMap<number, number>;
}

export const hexTag = (tag: number): string => {
  const hex = tag.toString(16).toUpperCase().padStart(8, "0");
  return `(${hex.slice(0, 4)},${hex.slice(4)})`;
};
