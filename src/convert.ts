// convert: DICOM files and DICOMweb studies to FHIR R4 resources. This module only composes the stages, top-down:
// plan (resolve the inputs, open the output folder) → source (crawl/ and read/ for files, source/dicomweb.ts for a
// PACS; incremental/ for a nightly run) → records (records/) → group, map, validate, write (write/) → commit
// (lib/outputFolder.ts; shard/commit.ts for a shard's part).
import { join } from "node:path";
import {
  ERRORS_FILE,
  KNOWN_FILES,
  NDJSON_FILES,
  OUTPUT_FILES,
  PART_DATABASE,
  PART_FILES,
  REPORT_FILE,
  REPORT_PAGE,
  STATE_DATABASE,
  STATE_DIGEST,
} from "./core/outputFiles.js";
import { UsageError } from "./core/errors.js";
import { fingerprintChanges, fingerprintOf } from "./core/fingerprint.js";
import {
  type ConvertOptions,
  type ConvertResult,
  DEFAULT_MAX_DELETE_PERCENT,
  DEFAULT_WORKERS,
  type IncrementalOutcome,
  checkOptions,
} from "./convertOptions.js";
import { type ResolvedInput, resolveInputs } from "./crawl/inputs.js";
import { outputFolderOf } from "./crawl/outputFolder.js";
import { type IoDepth, IoPace } from "./lib/ioPace.js";
import type { ZoneRule } from "./fhir/datatypes.js";
import type { CommittedState } from "./incremental/committedState.js";
import type { StagedState } from "./incremental/stagedState.js";
import { type Changes, checkDeletionLimit, writeChanges, writeNoChanges } from "./incremental/changes.js";
import { OutputDirectory } from "./lib/outputFolder.js";
import type { HeaderReader } from "./read/readerPool.js";
import { RecordCollector } from "./records/collector.js";
import type { RecordFileWriter } from "./records/recordFile.js";
import { RecordStore, SPILL_AT } from "./records/recordStore.js";
import { checkShardInputs, commitPart } from "./shard/commit.js";
import { outForShard } from "./shard/spec.js";
import { planDicomWeb, readDicomWeb } from "./source/dicomweb.js";
import { type FileSourceOptions, readFiles } from "./source/files.js";
import { stageReportPage } from "./pages/stage.js";
import { readErrors, withFailures } from "./write/errorsFile.js";
import { type FileChanges, type Report, buildReport, emptySummary, incrementalReport, secondsSince, writeReport } from "./write/report.js";
import { type WriteSettings, writeAndReport } from "./write/writeOutputs.js";

export type { ConvertOptions, ConvertResult, IncrementalOutcome, Progress } from "./convertOptions.js";

/** The outputs an incremental state is committed with: every run rewrites report.json, report.html and changes/. */
const BOUND_OUTPUTS = OUTPUT_FILES.filter((name) => name !== REPORT_FILE && name !== REPORT_PAGE);

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
  const workers = options.workers ?? DEFAULT_WORKERS;
  const ioDepth = options.ioDepth ?? "auto";
  // One pace for this process: what the crawl finds out about the storage, its reads know too.
  const pace = new IoPace(ioDepth);
  const reader = lazyHeaderReader(workers, ioDepth, pace);
  const spillAt = options.shard || (options.partitions ?? 1) > 1 ? 0 : SPILL_AT;
  const records = new RecordStore(spillAt, () => recordFile(out, options.shard ? "part" : "records"));
  try {
    await records.start();
    const collector = new RecordCollector(records, started, options.onProgress);
    const settings: WriteSettings = {
      zoneRule,
      endpoint: options.endpoint ?? web.endpoint,
      format: options.format,
      extraValidation: options.extraValidation,
      partitions: options.partitions,
      signal: options.signal,
    };
    // Created by OutputDirectory.open if it was missing: only now can it be recognised under an input.
    const source: FileSourceOptions = {
      threads: workers,
      pace,
      followSymlinks: options.followSymlinks ?? false,
      signal: options.signal,
      outputFolder: outputFolderOf(out.dir),
      share: options.shard,
    };
    if (options.incremental) return await convertIncrementally(inputs, out, reader, collector, source, options, settings);
    const files = inputs.filter((input) => input.kind !== "dicomweb");
    if (files.length > 0) await readFiles(files, reader, collector.source("files"), source);
    for (const root of web.roots) {
      if (options.signal?.aborted) break;
      const tally = collector.source("dicomweb", root.shown);
      tally.studies = await readDicomWeb(root, tally, web, options.signal);
    }
    collector.progress(true);
    if (options.signal?.aborted) return interrupted(collector, out, zoneRule);
    if (options.shard) {
      const part = await commitPart(collector, out, inputs, { ...options, shard: options.shard, endpoint: settings.endpoint }, zoneRule);
      return withFailures(part.failures, { report: part.report, interrupted: false, part: part.part });
    }
    const report = await writeRun(collector, out, settings);
    writeReport(out, report);
    await stageReportPage(out, report, options);
    // An incremental run's state and changes/ would no longer describe this output: they go.
    out.commit(KNOWN_FILES);
    return withFailures(failuresIn(out), { report, interrupted: false });
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

/** Groups, maps, validates and writes the run's records into the staging folder; returns the report. */
async function writeRun(collector: RecordCollector, out: OutputDirectory, settings: WriteSettings): Promise<Report> {
  const records = await collector.recordSet();
  try {
    return await writeAndReport(records, collector.counts, collector.sources(), out, settings, collector.started);
  } finally {
    records.close();
  }
}

/** A run the signal stopped: nothing is written; the report counts what was read, its failures what failed so far. */
function interrupted(collector: RecordCollector, out: OutputDirectory, zoneRule: ZoneRule): ConvertResult {
  out.abort();
  const report = buildReport(collector.counts, collector.sources(), { ...emptySummary(zoneRule), instances: collector.instances }, collector.started);
  return { report, interrupted: true, failures: collector.failuresSoFar() };
}

/** The failures of a run that committed: errors.ndjson, read when first asked for. */
const failuresIn = (out: OutputDirectory) => () => readErrors(join(out.dir, ERRORS_FILE));

/**
 * An incremental run: the committed state serves every file whose identity has not changed, and the rest is read.
 * When every file gives what it gave last time, the committed outputs are the ones a full run would write, and
 * they are kept: nothing is mapped or validated again. Otherwise everything is assembled and written anew from
 * the stored and new records together, exactly as a full run does, and compared with the previous output.
 */
async function convertIncrementally(
  inputs: readonly ResolvedInput[],
  out: OutputDirectory,
  reader: HeaderReader,
  collector: RecordCollector,
  source: FileSourceOptions,
  options: ConvertOptions,
  settings: WriteSettings,
): Promise<ConvertResult> {
  // Loaded here: runs without --incremental need neither SQLite nor the state.
  const { CommittedState } = await import("./incremental/committedState.js");
  const { StagedState } = await import("./incremental/stagedState.js");
  const { outputIdentity } = await import("./incremental/stateFile.js");
  const { scanIncrementally } = await import("./incremental/scan.js");
  const fingerprint = fingerprintOf({
    zoneRule: settings.zoneRule,
    endpoint: settings.endpoint,
    format: options.format,
    extraValidation: options.extraValidation,
  });
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
    const scan = await scanIncrementally(inputs, previous, reader, collector.source("files"), { ...source, staged });
    collector.progress(true);
    if (options.signal?.aborted) return interrupted(collector, out, settings.zoneRule);

    // The committed outputs are the ones the state was committed with: what they hold of a study can be kept.
    const committedOutputs = previous?.outputsMatch(out.dir, BOUND_OUTPUTS);
    if (previous && scan.sameResults && committedOutputs) {
      const changes = writeNoChanges(out);
      const report = incrementalReport(previous.meta.report, scan.files, changes, collector.counts.bytesReadNow, secondsSince(collector.started));
      writeReport(out, report);
      await stageReportPage(out, report, options);
      next.state?.finish(previous.meta, out.stage(STATE_DIGEST));
      // The main outputs stay as committed: nothing is removed (but a report.html this run does not write).
      out.commit([REPORT_PAGE]);
      return withFailures(failuresIn(out), { report, interrupted: false, incremental: outcome("unchanged", undefined, scan.files, changes) });
    }
    if (previous && scan.sameResults) why = "the outputs in the folder are not the ones the state was committed with: written again from the state";

    // Only the studies the changes touch are assembled, mapped and validated again; the others are kept.
    const assembly = committedOutputs ? scan.deliverTouched(join(out.dir, NDJSON_FILES.ImagingStudy)) : scan.deliverAll();
    const written = await writeRun(collector, out, { ...settings, kept: assembly.kept, onStudy: assembly.storeStudy });
    assembly.forgetGoneStudies();
    const changes = writeChanges(out);
    checkDeletionLimit(changes, options.maxDelete ?? DEFAULT_MAX_DELETE_PERCENT);
    const report = incrementalReport(written, scan.files, changes, collector.counts.bytesReadNow, secondsSince(collector.started));
    writeReport(out, report);
    await stageReportPage(out, report, options);
    const outputs = BOUND_OUTPUTS.map((name) => {
      const path = out.stagedPath(name);
      return { name, identity: path && outputIdentity(path) };
    });
    staged().finish({ fingerprint, report: written, outputs }, out.stage(STATE_DIGEST));
    out.commit([...OUTPUT_FILES, ...PART_FILES]);
    return withFailures(failuresIn(out), { report, interrupted: false, incremental: outcome(previous ? "incremental" : "full", why, scan.files, changes) });
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

/** Reader processes start only when there is something to read: an incremental run over an archive that has not changed starts none. */
function lazyHeaderReader(workers: number, ioDepth: IoDepth, pace: IoPace): HeaderReader {
  let reader: Promise<HeaderReader> | undefined;
  return {
    read: async (batch) => (await (reader ??= import("./read/readerPool.js").then((m) => m.createHeaderReader(workers, ioDepth, pace)))).read(batch),
    close: async () => {
      if (reader) await (await reader).close();
    },
  };
}
