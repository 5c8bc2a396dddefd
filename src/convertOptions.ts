// convert's options and result: what the library takes and gives (the CLI maps its flags onto these), and the
// check of the options that turns bad usage into a UsageError before anything is read.
import { availableParallelism } from "node:os";
import { UsageError } from "./core/errors.js";
import { type IoDepth, MAX_IO_DEPTH, parseIoDepth } from "./lib/ioPace.js";
import type { FileFailure } from "./core/reasons.js";
import type { ZoneRule } from "./fhir/datatypes.js";
import { isTimeZone, systemTimeZone } from "./fhir/timezone.js";
import type { ImagingStudy, Patient, ResourceType } from "./fhir/types.js";
import type { Progress } from "./records/collector.js";
import type { ShardSpec } from "./shard/spec.js";
import type { DicomWebSettings } from "./source/dicomweb.js";
import type { FileChanges, Report } from "./write/report.js";

export type { Progress };

export interface ConvertOptions {
  /** Files, folders (walked recursively) and globs; http(s) URLs are DICOMweb service roots. */
  readonly inputs: readonly string[];
  /** The output folder; created if missing. */
  readonly out: string;
  /**
   * DICOMweb WADO-RS base URL: writes Endpoint.ndjson and references it from every ImagingStudy. Default: the
   * service root of the one DICOMweb input, if there is one.
   */
  readonly endpoint?: string;
  /** For DICOMweb inputs: studies in flight, a Study Date range, a bearer token, request timeouts and retries. */
  readonly dicomweb?: DicomWebSettings;
  /** "bundle" also writes ImagingStudy.bundle.json, the searchset Bundle an ImagingStudy search returns. */
  readonly format?: "ndjson" | "bundle";
  /** IANA zone for times without Timezone Offset From UTC (0008,0201); default: this machine's zone. */
  readonly timezone?: string;
  readonly followSymlinks?: boolean;
  /** Processes reading headers, the calling one included (1: only it). Default: the number of cores, at most 4. */
  readonly workers?: number;
  /**
   * File-system operations kept in flight (folder listings, stats, opens, reads, closes), shared by the readers:
   * 1 makes them one at a time; "auto" (default) one at a time while they are fast, 64 once they are slow
   * (network storage; lib/ioPace.ts says how it decides). A library caller's own process does its asynchronous
   * operations on libuv's thread pool: set UV_THREADPOOL_SIZE before node starts for more than 4 at once there.
   */
  readonly ioDepth?: IoDepth;
  /**
   * A site's own checks on top of FHIR R4 (a local profile: "every study has an accession number"). A resource
   * for which it returns a reason is rejected exactly like one that fails the schema.
   */
  readonly extraValidation?: (resource: ImagingStudy | Patient) => string | undefined;
  /**
   * Keep the run's state in the output folder (.dcm2fhir/) and, on later runs, read again only files that are
   * new or changed; also write changes/, the difference from the previous output. The first run is a full one.
   */
  readonly incremental?: boolean;
  /**
   * With `incremental`: the largest share (percent) of the previous output's studies a run may delete. A run
   * that would delete more stops before it commits (DeletionLimitError): an archive that vanished is not an
   * archive that was emptied. Default 10.
   */
  readonly maxDelete?: number;
  /**
   * Read only this shard's share of the inputs (shard/spec.ts parses `--shard`) and commit a part to `out` (where
   * `{shard}` stands for the index) instead of the outputs: its instance records, for `merge` (merge.ts).
   */
  readonly shard?: ShardSpec;
  /** A file listing inputs, one path per line or NUL-separated (crawl/list.ts); "-" for standard input. */
  readonly filesFrom?: string;
  /**
   * Partitions the write path uses. Default: one, in memory, up to 100,000 instance records; beyond that the
   * records go to a file in the staging folder and one partition per 50,000 is written at a time.
   */
  readonly partitions?: number;
  /** Include paths in thrown usage errors (they can hold patient names). */
  readonly verbose?: boolean;
  /** Aborting stops reading; nothing is written and the previous output stays. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: Progress) => void;
  /** report.html beside report.json (default true); `reportDetails` adds the failing files' paths to it. */
  readonly htmlReport?: boolean;
  readonly reportDetails?: boolean;
}

export interface ConvertResult {
  readonly report: Report;
  /** True when the signal stopped the run: the report counts what was read, and nothing was written. */
  readonly interrupted: boolean;
  /**
   * Every file that did not become (part of) a resource, in path order; errors.ndjson holds the same. For an
   * incremental run that kept its outputs, read from errors.ndjson when first asked for.
   */
  readonly failures: readonly FileFailure[];
  /** With `incremental`: how the state served, how the files compare with the last run's, what changed. */
  readonly incremental?: IncrementalOutcome;
  /** With `shard`: the part committed (its report counts what was read, as an interrupted run's does). */
  readonly part?: { readonly shard: ShardSpec; readonly instanceRecords: number; readonly out: string };
}

export interface IncrementalOutcome {
  /**
   * "full": everything was read (no state yet, an unusable one, or one made with other options: `why` says);
   * "incremental": only new and changed files were read; "unchanged": nothing changed, the outputs were kept.
   */
  readonly mode: "full" | "incremental" | "unchanged";
  readonly why?: string;
  readonly files: FileChanges;
  readonly changes: Record<ResourceType, { readonly new: number; readonly changed: number; readonly deleted: number }>;
}

/** Each reader process adds its own memory (a node process, ~50 MB here); more than 4 rarely pays. */
export const DEFAULT_WORKERS = Math.min(availableParallelism(), 4);
export const DEFAULT_MAX_DELETE_PERCENT = 10;

/** Checks the options that need no input to check; returns the rule for times without an offset. */
export function checkOptions(options: ConvertOptions): ZoneRule {
  if (!options.out) throw new UsageError("no output folder: pass --out <folder>");
  if (options.format !== undefined && options.format !== "ndjson" && options.format !== "bundle") {
    throw new UsageError(`unknown --format "${options.format}": use ndjson or bundle`);
  }
  if (options.workers !== undefined && !(Number.isInteger(options.workers) && options.workers >= 1)) {
    throw new UsageError("--workers takes a whole number from 1 (this process only) up");
  }
  if (options.ioDepth !== undefined && parseIoDepth(options.ioDepth) === undefined) {
    throw new UsageError(`--io-depth takes auto or a whole number from 1 (one operation at a time) to ${MAX_IO_DEPTH}`);
  }
  if (options.shard && options.incremental) throw new UsageError("--shard writes a part for merge, not outputs: it cannot be --incremental");
  if (options.shard && options.followSymlinks) {
    // A link can lead into another shard's subtree: one run notices it walked a folder twice, N shards cannot.
    throw new UsageError(
      "--shard cannot --follow-symlinks: a link into another shard's subtree would be walked by two shards; convert such an archive in one run",
    );
  }
  if (options.partitions !== undefined && !(Number.isInteger(options.partitions) && options.partitions >= 1))
    throw new UsageError("partitions takes a whole number from 1 up");
  if (options.maxDelete !== undefined) {
    if (!options.incremental) throw new UsageError("--max-delete applies to --incremental runs, which list what they delete in changes/deleted.ndjson");
    if (!(Number.isFinite(options.maxDelete) && options.maxDelete >= 0 && options.maxDelete <= 100))
      throw new UsageError("--max-delete takes a percentage from 0 to 100");
  }
  if (options.endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(options.endpoint);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || /\s/.test(options.endpoint)) {
      throw new UsageError("--endpoint must be an http(s) URL, the DICOMweb WADO-RS base (e.g. https://pacs.example.org/dicom-web)");
    }
  }
  if (options.timezone !== undefined) {
    if (!isTimeZone(options.timezone)) throw new UsageError(`unknown --timezone "${options.timezone}": use an IANA zone name such as Europe/Zurich or UTC`);
    return { zone: options.timezone, source: "option" };
  }
  return { zone: systemTimeZone(), source: "system" };
}
