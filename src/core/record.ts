// The pipeline's one record: what reading one item's header gave, whatever the source (a file read in a reader
// process, a DICOMweb study's metadata, an incremental run's state, a shard's part). One path turns these into
// resources (write/writeOutputs.ts).
import type { FileFailure, FilePath } from "./reasons.js";

/**
 * An instance without its study and series attributes, which travel as JSON (see InstanceRecord). The parser's
 * ParsedInstance (dicom/instance.ts) is this with the attributes as objects.
 */
export interface InstanceCore {
  readonly path: FilePath;
  readonly studyInstanceUID: string;
  readonly seriesInstanceUID: string;
  readonly sopInstanceUID: string;
  readonly sopClassUID: string;
  readonly instanceNumber?: number;
  /** SR Concept Name or Document Title; the SOP class name stands in when absent. */
  readonly title?: string;
  /** Value problems that did not stop the instance (an impossible date is dropped, not guessed). */
  readonly warnings: readonly string[];
}

/**
 * An instance record: one instance with its study and series attributes as JSON text. The grouping stage keys
 * variants by exactly that text, and parses it only for a variant it has not seen (a few per series) rather
 * than for every instance.
 */
export interface InstanceRecord {
  readonly bytesRead: number;
  readonly instance: InstanceCore;
  readonly studyJSON: string;
  readonly seriesJSON: string;
}

/** What reading one item's header gave: an instance record, or a reasoned failure; with the bytes it cost. */
export type HeaderRead = { readonly bytesRead: number; readonly failure: FileFailure } | InstanceRecord;
