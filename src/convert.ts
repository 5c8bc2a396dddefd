import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { outputFolderOf, resolveInputs } from "./crawl/walk.js";
import { UsageError } from "./core/errors.js";
import type { HeaderReader } from "./read/readerPool.js";
import { type HeaderRead } from "./core/record.js";
import type { ZoneRule } from "./fhir/datatypes.js";
import { isTimeZone, systemTimeZone } from "./fhir/timezone.js";
import type { ImagingStudy, Patient } from "./fhir/types.js";
import { type Summary, type WriteSettings, emptySummary, writeOutputs } from "./write/writeOutputs.js";
import { type FileFailure, type Reason, compareFailures } from "./core/reasons.js";
import { checkShardInputs, commitPart } from "./shard/commit.js";
import { PART_DATABASE, PART_FILES } from "./shard/part.js";
import { type ShardSpec, outForShard } from "./shard/spec.js";
import { type DicomWebSettings, planDicomWeb, readDicomWeb } from "./source/dicomweb.js";
import { type FileSourceOptions, readFiles } from "./source/files.js";
import type { FileChanges, IncrementalSink } from "./incremental/scan.js";
import { type RecordSet, RecordStore, SPILL_AT } from "./records/recordStore.js";
import { type InstanceSink, type SourceReport, SourceTally } from "./source/sink.js";
import { SEARCH_INDEX_FILE } from "./index/searchIndex.js";
import { fingerprintChanges, fingerprintOf } from "./core/fingerprint.js";
import { STATE_DATABASE, STATE_DIGEST, STATE_FILES } from "./core/outputFiles.js";
import type { RecordFileWriter } from "./records/recordFile.js";
import type { CommittedState } from "./incremental/committedState.js";
import type { StagedState } from "./incremental/stagedState.js";
import { CHANGE_FILES, type Changes, checkDeletionLimit, writeChanges, writeNoChanges } from "./incremental/changes.js";
import { OutputDirectory } from "./write/outputDir.js";
import { type Report, type ResourceType, RecordCounts, type StoredCounts, incrementalReport, notesAsWarnings, sumByOutcome, writeReport } from "./write/report.js";
import { VERSION } from "./core/version.js";

export { studyFullUrl, writeSearchSetBundle } from "./write/writeOutputs.js";

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
}

export interface Progress {
  readonly filesSeen: number;
  readonly filesRead: number;
  readonly instances: number;
  readonly failed: number;
  readonly elapsedSeconds: number;
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

/** Every file convert may write; files of an earlier run that this run does not write are removed at commit. */
export const OUTPUT_FILES = ["ImagingStudy.ndjson", "Patient.ndjson", "Endpoint.ndjson", "ImagingStudy.bundle.json", "errors.ndjson", "report.json", SEARCH_INDEX_FILE] as const;
/** What a folder may hold of any earlier run: a run removes what it does not write (a part, outputs, a state). */
export const KNOWN_FILES = [...OUTPUT_FILES, ...CHANGE_FILES, ...STATE_FILES, ...PART_FILES] as const;
/** The outputs an incremental state is committed with: every run rewrites report.json and changes/. */
const BOUND_OUTPUTS = OUTPUT_FILES.filter((name) => name !== "report.json");
const DEFAULT_MAX_DELETE_PERCENT = 10;

/** Each reader process adds its own memory (a node process, ~50 MB here); more than 4 rarely pays. */
const DEFAULT_WORKERS = Math.min(availableParallelism(), 4);
const PROGRESS_EVERY_MS = 1000;

/**
 * Converts DICOM files to FHIR R4 ImagingStudy, Patient and Endpoint resources: crawl → read → group → map →
 * validate → write. Bad usage throws UsageError, an unusable output folder OutputError; problems with
 * individual files never throw: they are counted in the report and listed in errors.ndjson.
 */
export async function convert(options: ConvertOptions): Promise<ConvertResult> {
  const started = performance.now();
  const zoneRule = checkOptions(options);
  const outPath = options.shard ? outForShard(options.out, options.shard) : options.out;
  const inputs = await resolveInputs(options.inputs, { verbose: options.verbose ?? false, out: outPath, filesFrom: options.filesFrom });
  const web = planDicomWeb(inputs, options.dicomweb, options.endpoint);
  if (options.incremental && web.roots.length > 0) {
    // The state knows files by their identity; a PACS offers no such thing to compare against.
    throw new UsageError("--incremental reads files and folders only: a DICOMweb input is read whole on every run, so run it without --incremental");
  }
  if (options.shard) checkShardInputs(inputs, outPath, options.verbose ?? false);
  const out = OutputDirectory.open(outPath, { foreignLocksAreStale: options.shard?.scheduler !== undefined });
  const threads = options.workers ?? DEFAULT_WORKERS;
  const reader = lazyHeaderReader(threads);
  const spillAt = options.shard || (options.partitions ?? 1) > 1 ? 0 : SPILL_AT;
  const records = new RecordStore(spillAt, () => recordFile(out, options.shard ? "part" : "records"));
  try {
    await records.start();
    const run = new Run({ ...options, endpoint: options.endpoint ?? web.endpoint }, started, records);
    // Created by OutputDirectory.open if it was missing: only now can it be recognised under an input.
    const source: FileSourceOptions = { threads, followSymlinks: options.followSymlinks ?? false, signal: options.signal, outputFolder: outputFolderOf(out.dir), share: options.shard };
    if (options.incremental) return await convertIncrementally(inputs, out, reader, run, source, options, zoneRule);
    const files = inputs.filter((input) => input.kind !== "dicomweb");
    if (files.length > 0) await readFiles(files, reader, run.source("files"), source);
    for (const root of web.roots) {
      if (options.signal?.aborted) break;
      const tally = run.source("dicomweb", root.shown);
      tally.studies = await readDicomWeb(root, tally, web, options.signal);
    }
    run.progress(true);
    if (options.signal?.aborted) return await run.interrupted(out, zoneRule);
    if (options.shard) return await commitPart(run, out, inputs, options, zoneRule, KNOWN_FILES, withFailuresOf);
    const result = await run.writeOutputs(out, zoneRule);
    writeReport(out, result.report);
    // An incremental run's state and changes/ would no longer describe this output: they go.
    out.commit(KNOWN_FILES);
    return withFailuresFrom(join(out.dir, "errors.ndjson"), { ...result, interrupted: false });
  } catch (error) {
    const full = out.noSpace(error);
    out.abort();
    throw full ?? error;
  } finally {
    await records.close();
    await reader.close();
  }
}

/** The run's record file: a shard's part.sqlite, or scratch space for a run too large to keep its records in memory. */
async function recordFile(out: OutputDirectory, kind: "part" | "records"): Promise<RecordFileWriter> {
  const { RecordFileWriter } = await import("./records/recordFile.js");
  return RecordFileWriter.create(kind === "part" ? out.stage(PART_DATABASE) : out.scratch("records.sqlite"), out.scratch("records-pending.sqlite"));
}

/**
 * An incremental run: the committed state serves every file whose identity has not changed, and the rest is read.
 * When every file gives what it gave last time, the committed outputs are the ones a full run would write, and
 * they are kept: nothing is mapped or validated again. Otherwise everything is assembled and written anew from
 * the stored and new records together, exactly as a full run does, and compared with the previous output.
 */
async function convertIncrementally(
  inputs: Awaited<ReturnType<typeof resolveInputs>>,
  out: OutputDirectory,
  reader: HeaderReader,
  run: Run,
  source: FileSourceOptions,
  options: ConvertOptions,
  zoneRule: ZoneRule,
): Promise<ConvertResult> {
  // Loaded here: runs without --incremental need neither SQLite nor the state.
  const { CommittedState } = await import("./incremental/committedState.js");
  const { StagedState } = await import("./incremental/stagedState.js");
  const { outputIdentity } = await import("./incremental/stateFile.js");
  const { scanIncrementally } = await import("./incremental/scan.js");
  const fingerprint = fingerprintOf({ zoneRule, endpoint: options.endpoint, format: options.format, extraValidation: options.extraValidation });
  const opened = CommittedState.open(out.dir);
  let previous: CommittedState | undefined;
  let why: string | undefined;
  if ("state" in opened) {
    const changed = fingerprintChanges(opened.state.meta.fingerprint, fingerprint);
    if (changed.length === 0) previous = opened.state;
    else {
      opened.state.close();
      why = `the state was made with a different ${changed.join(" and a different ")}: full run`;
    }
  } else if ("absent" in opened) why = "no state in the output folder yet: full run";
  else why = `the state in the output folder is unusable, ${opened.problem}: replaced by a full run`;

  // The next state is staged on the first change to record: a run that finds nothing changed writes none.
  const next: { state?: StagedState } = {};
  const staged = () => (next.state ??= StagedState.create(out.stage(STATE_DATABASE), previous));
  try {
    const scan = await scanIncrementally(inputs, previous, reader, run.source("files"), { ...source, staged });
    run.progress(true);
    if (options.signal?.aborted) return run.interrupted(out, zoneRule);
    const elapsed = () => Math.round((performance.now() - run.started) / 10) / 100;

    // The committed outputs are the ones the state was committed with: what they hold of a study can be kept.
    const committedOutputs = previous !== undefined && previous.outputsMatch(out.dir, BOUND_OUTPUTS);
    if (previous && scan.sameResults && committedOutputs) {
      const changes = writeNoChanges(out);
      const report = incrementalReport(previous.meta.report, scan.files, changes, run.bytesReadNow, elapsed());
      writeReport(out, report);
      next.state?.finish(previous.meta, out.stage(STATE_DIGEST));
      // The main outputs stay as committed: nothing is removed.
      out.commit([]);
      const errors = join(out.dir, "errors.ndjson");
      return withFailuresFrom(errors, { report, interrupted: false, incremental: outcome("unchanged", undefined, scan.files, changes) });
    }
    if (previous && scan.sameResults) why = "the outputs in the folder are not the ones the state was committed with: written again from the state";

    // Only the studies the changes touch are assembled, mapped and validated again; the others are kept.
    const assembly = committedOutputs ? scan.deliverTouched(join(out.dir, "ImagingStudy.ndjson")) : scan.deliverAll();
    const result = await run.writeOutputs(out, zoneRule, { kept: assembly.kept, onStudy: assembly.storeStudy });
    assembly.forgetGoneStudies();
    const changes = writeChanges(out);
    checkDeletionLimit(changes, options.maxDelete ?? DEFAULT_MAX_DELETE_PERCENT);
    const report = incrementalReport(result.report, scan.files, changes, run.bytesReadNow, elapsed());
    writeReport(out, report);
    const outputs = BOUND_OUTPUTS.map((name) => {
      const path = out.stagedPath(name);
      return { name, identity: path && outputIdentity(path) };
    });
    staged().finish({ fingerprint, report: result.report, outputs }, out.stage(STATE_DIGEST));
    out.commit([...OUTPUT_FILES, ...PART_FILES]);
    return withFailuresFrom(join(out.dir, "errors.ndjson"), { report, interrupted: false, incremental: outcome(previous ? "incremental" : "full", why, scan.files, changes) });
  } finally {
    next.state?.close();
    previous?.close();
  }
}

const outcome = (mode: IncrementalOutcome["mode"], why: string | undefined, files: FileChanges, changes: Changes): IncrementalOutcome => ({
  mode,
  why,
  files,
  changes: { ImagingStudy: changes.ImagingStudy, Patient: changes.Patient, Endpoint: changes.Endpoint },
});

/**
 * Reader threads load piscina and start threads: a run that reads nothing (an incremental run over an archive
 * that has not changed) pays for neither.
 */
function lazyHeaderReader(threads: number): HeaderReader {
  let reader: Promise<HeaderReader> | undefined;
  return {
    read: async (batch) => (await (reader ??= import("./read/readerPool.js").then((m) => m.createHeaderReader(threads)))).read(batch),
    close: async () => {
      if (reader) await (await reader).close();
    },
  };
}

function checkOptions(options: ConvertOptions): ZoneRule {
  if (!options.out) throw new UsageError("no output folder: pass --out <folder>");
  if (options.format !== undefined && options.format !== "ndjson" && options.format !== "bundle") {
    throw new UsageError(`unknown --format "${options.format}": use ndjson or bundle`);
  }
  if (options.workers !== undefined && !(Number.isInteger(options.workers) && options.workers >= 1)) {
    throw new UsageError("--workers takes a whole number from 1 (this process only) up");
  }
  if (options.shard && options.incremental) throw new UsageError("--shard writes a part for merge, not outputs: it cannot be --incremental");
  if (options.shard && options.followSymlinks) {
    // A link can lead into another shard's subtree: one run notices it walked a folder twice, N shards cannot.
    throw new UsageError("--shard cannot --follow-symlinks: a link into another shard's subtree would be walked by two shards; convert such an archive in one run");
  }
  if (options.partitions !== undefined && !(Number.isInteger(options.partitions) && options.partitions >= 1)) throw new UsageError("partitions takes a whole number from 1 up");
  if (options.maxDelete !== undefined) {
    if (!options.incremental) throw new UsageError("--max-delete applies to --incremental runs, which list what they delete in changes/deleted.ndjson");
    if (!(Number.isFinite(options.maxDelete) && options.maxDelete >= 0 && options.maxDelete <= 100)) throw new UsageError("--max-delete takes a percentage from 0 to 100");
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

/** The options a run's sink and write path use. */
export type RunOptions = Pick<ConvertOptions, "endpoint" | "format" | "extraValidation" | "onProgress" | "signal" | "partitions"> & {
  readonly onPartition?: (done: number, total: number) => void;
};

/**
 * The state of one run between reading and writing: every source delivers into it, and it writes the outputs.
 * Merge makes one too, over the records and counts shards stored (adopt), so that both write through one path.
 */
export class Run implements IncrementalSink {
  private readonly counts = new RecordCounts();
  private readonly sources: SourceTally[] = [];
  private adopted: { readonly records: RecordSet; readonly sources: readonly SourceReport[] } | undefined;
  private failed = 0;
  private lastProgress = 0;

  constructor(
    private readonly options: RunOptions,
    readonly started: number,
    /** Where delivered records wait; merge delivers none (it adopts the parts'). */
    private readonly records: RecordStore = new RecordStore(Infinity, () => Promise.reject(new Error("internal: this run keeps its records in memory"))),
  ) {}

  /** A sink for one source, counting what it delivers for the report's `sources`. */
  source(kind: SourceReport["kind"], root?: string): SourceTally {
    const tally = new SourceTally(this, kind, root);
    this.sources.push(tally);
    return tally;
  }

  seen(): void {
    this.counts.seen++;
  }

  unread(failure: FileFailure): void {
    this.counts.unread(failure);
    this.failed++;
    this.records.add({ unread: failure });
  }

  read(read: HeaderRead, stored = false): void {
    this.counts.read(read, stored);
    if ("failure" in read) this.failed++;
    this.records.add({ read });
    this.progress(false);
  }

  kept(counts: StoredCounts): void {
    this.counts.addStored(counts);
  }

  readAgain(bytesRead: number): void {
    this.counts.readAgain(bytesRead);
  }

  /** Bytes read by this run; files an incremental run takes from its state count in the medians only. */
  get bytesReadNow(): number {
    return this.counts.bytesReadNow;
  }

  progress(final: boolean): void {
    const now = performance.now();
    if (!this.options.onProgress || (!final && now - this.lastProgress < PROGRESS_EVERY_MS)) return;
    this.lastProgress = now;
    this.options.onProgress({
      filesSeen: this.counts.seen,
      filesRead: this.counts.filesRead,
      instances: this.records.instanceCount,
      failed: this.failed,
      elapsedSeconds: (now - this.started) / 1000,
    });
  }

  /** For merge: the records, counts and sources shards stored, written as this run's own. */
  adopt(records: RecordSet, counts: readonly StoredCounts[], sources: readonly SourceReport[]): void {
    for (const c of counts) this.counts.addStored(c);
    this.adopted = { records, sources };
  }

  /** A run the signal stopped: nothing is written; the report counts what was read, its failures what failed so far. */
  async interrupted(out: OutputDirectory, zoneRule: ZoneRule): Promise<ConvertResult> {
    out.abort();
    const failures = this.records.heldFailures().sort(compareFailures);
    return { report: this.report({ ...emptySummary(zoneRule), instances: this.records.instanceCount }), interrupted: true, failures };
  }

  /**
   * Groups, maps, validates and writes everything but report.json into the staging folder; returns the report.
   * `incremental`: the studies an incremental run keeps, and where what it assembles goes.
   */
  async writeOutputs(out: OutputDirectory, zoneRule: ZoneRule, incremental?: Pick<WriteSettings, "kept" | "onStudy">): Promise<{ report: Report }> {
    const records = this.adopted?.records ?? (await this.recordSet());
    try {
      const summary = await writeOutputs(records, out, { ...this.options, ...incremental, zoneRule }, (failure) => this.counts.unread(failure));
      return { report: this.report(summary) };
    } finally {
      if (!this.adopted) records.close();
    }
  }

  private async recordSet(): Promise<RecordSet> {
    const sealed = await this.records.seal({});
    if ("memory" in sealed) return sealed.memory;
    const { RecordFileReader } = await import("./records/recordFile.js");
    const { FileRecords } = await import("./records/recordStore.js");
    return new FileRecords([RecordFileReader.open(sealed.file)]);
  }

  /** A shard's end: its records sealed into its part (record file), with `meta`. */
  async seal(meta: Readonly<Record<string, unknown>>): Promise<{ readonly file: string; readonly instances: number; readonly failures: number }> {
    const sealed = await this.records.seal(meta);
    if (!("file" in sealed)) throw new Error("internal: a shard's records are always in its part");
    return { file: sealed.file, instances: this.records.instanceCount, failures: this.failed };
  }

  /** What a shard's part stores for merge to report: the counts and the sources. */
  stored(): { readonly counts: StoredCounts; readonly sources: SourceReport[] } {
    return { counts: this.counts.toJSON(), sources: this.sources.map((s) => s.toJSON()) };
  }

  /** For an interrupted run or a shard, `summary` is empty and `instances` counts what was read. */
  report(summary: Summary): Report {
    notesAsWarnings(summary.notes, this.counts.warnings);
    const { counts } = this;
    return {
      dcm2fhir: VERSION,
      files: {
        seen: counts.seen,
        converted: summary.instances,
        skipped: sumByOutcome(counts.reasons, "skipped"),
        failed: sumByOutcome(counts.reasons, "failed"),
        reasons: counts.reasons.toJSON(),
      },
      sources: this.adopted?.sources ?? this.sources.map((s) => s.toJSON()),
      bytesRead: { total: counts.bytesReadNow, medianPerFile: counts.bytesPerFile.median(), medianPerInstanceFile: counts.bytesPerInstanceFile.median() },
      patients: summary.written.Patient,
      studies: summary.written.ImagingStudy,
      series: summary.series,
      instances: summary.instances,
      duplicates: summary.duplicates,
      conflicts: summary.conflicts,
      resources: { written: summary.written, rejected: summary.rejected },
      dateTimes: {
        zone: summary.zoneRule.zone,
        zoneSource: summary.zoneRule.source,
        offsetFromZone: summary.notes.zoneFromRule,
        hourOnlyTimesDropped: summary.notes.timeDropped,
      },
      warnings: counts.warnings.toJSON(),
      outputs: summary.outputs,
      elapsedSeconds: Math.round((performance.now() - this.started) / 10) / 100,
    };
  }
}

/**
 * The result of a run that kept its outputs: its failures are those errors.ndjson lists, read when first asked
 * for (the CLI does only with --verbose; an archive with many failures makes this file large).
 */
export function withFailuresFrom(errors: string, result: Omit<ConvertResult, "failures">): ConvertResult {
  return withFailuresOf(() => readErrors(errors), result);
}

/** `result` with failures read by `read` when first asked for: a large run's do not stay in memory. */
function withFailuresOf(read: () => FileFailure[], result: Omit<ConvertResult, "failures">): ConvertResult {
  let failures: FileFailure[] | undefined;
  return Object.defineProperty(result, "failures", { enumerable: true, get: () => (failures ??= read()) }) as ConvertResult;
}

/** errors.ndjson read back: the failures of the run that wrote it. */
function readErrors(path: string): FileFailure[] {
  const text = readFileSync(path, "utf8");
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => {
      const e = JSON.parse(line) as { path: string; pathBase64?: string; reason: Reason; message: string };
      return { path: e.pathBase64 === undefined ? e.path : Buffer.from(e.pathBase64, "base64"), reason: e.reason, message: e.message };
    });
}
