import { createHash } from "node:crypto";
import { createReadStream, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { UsageError, outputFolderOf, resolveInputs } from "./crawl/walk.js";
import type { HeaderReader } from "./dicom/readerPool.js";
import type { WireRead } from "./dicom/wire.js";
import type { ZoneRule } from "./fhir/datatypes.js";
import { toEndpoint } from "./fhir/endpoint.js";
import { type MappingNotes, emptyNotes, toImagingStudy } from "./fhir/imagingStudy.js";
import { toPatient } from "./fhir/patient.js";
import { isTimeZone, systemTimeZone } from "./fhir/timezone.js";
import type { Endpoint, ImagingStudy, Patient, Reference } from "./fhir/types.js";
import { groupPatients } from "./group/patients.js";
import { StudyAssembler, type StudyGroup } from "./group/studies.js";
import { type FileFailure, type Reason, comparePaths, displayPath } from "./reasons.js";
import { type DicomWebSettings, planDicomWeb, readDicomWeb } from "./source/dicomweb.js";
import { type FileSourceOptions, readFiles } from "./source/files.js";
import type { FileChanges } from "./source/incremental.js";
import { type InstanceSink, type SourceReport, SourceTally } from "./source/sink.js";
import { SEARCH_INDEX_FILE, stageSearchIndex } from "./state/searchIndex.js";
import { fingerprintChanges, fingerprintOf } from "./state/fingerprint.js";
import { STATE_DATABASE, STATE_DIGEST, STATE_FILES } from "./state/layout.js";
import type { CommittedState, StagedState } from "./state/runState.js";
import { CHANGE_FILES, type Changes, checkDeletionLimit, writeChanges, writeNoChanges } from "./write/changes.js";
import { LineWriter } from "./write/ndjson.js";
import { OutputDirectory } from "./write/outputDir.js";
import { Histogram, type Report, type ResourceType, Tally, incrementalReport, notesAsWarnings, sumByOutcome, writeReport } from "./write/report.js";
import { VERSION } from "./version.js";

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
  const inputs = await resolveInputs(options.inputs, { verbose: options.verbose ?? false, out: options.out });
  const web = planDicomWeb(inputs, options.dicomweb, options.endpoint);
  if (options.incremental && web.roots.length > 0) {
    // The state knows files by their identity; a PACS offers no such thing to compare against.
    throw new UsageError("--incremental reads files and folders only: a DICOMweb input is read whole on every run, so run it without --incremental");
  }
  const out = OutputDirectory.open(options.out);
  const threads = options.workers ?? DEFAULT_WORKERS;
  const reader = lazyHeaderReader(threads);
  try {
    const run = new Run({ ...options, endpoint: options.endpoint ?? web.endpoint }, started);
    // Created by OutputDirectory.open if it was missing: only now can it be recognised under an input.
    const source: FileSourceOptions = { threads, followSymlinks: options.followSymlinks ?? false, signal: options.signal, outputFolder: outputFolderOf(out.dir) };
    if (options.incremental) return await convertIncrementally(inputs, out, reader, run, source, options, zoneRule);
    const files = inputs.filter((input) => input.kind !== "dicomweb");
    if (files.length > 0) await readFiles(files, reader, run.source("files"), source);
    for (const root of web.roots) {
      if (options.signal?.aborted) break;
      const tally = run.source("dicomweb", root.shown);
      tally.studies = await readDicomWeb(root, tally, web, options.signal);
    }
    run.progress(true);
    if (options.signal?.aborted) return run.interrupted(out, zoneRule);
    const result = await run.writeOutputs(out, zoneRule);
    writeReport(out, result.report);
    // An incremental run's state and changes/ would no longer describe this output: they go.
    out.commit([...OUTPUT_FILES, ...CHANGE_FILES, ...STATE_FILES]);
    return { ...result, interrupted: false };
  } catch (error) {
    const full = out.noSpace(error);
    out.abort();
    throw full ?? error;
  } finally {
    await reader.close();
  }
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
  const { CommittedState, StagedState, outputIdentity } = await import("./state/runState.js");
  const { readIncremental } = await import("./source/incremental.js");
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
    const scan = await readIncremental(inputs, previous, reader, run.source("files"), { ...source, staged });
    run.progress(true);
    if (options.signal?.aborted) return run.interrupted(out, zoneRule);
    const elapsed = () => Math.round((performance.now() - run.started) / 10) / 100;

    if (previous && scan.sameResults && previous.outputsMatch(out.dir, BOUND_OUTPUTS)) {
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

    scan.deliverStored();
    const result = await run.writeOutputs(out, zoneRule);
    const changes = writeChanges(out);
    checkDeletionLimit(changes, options.maxDelete ?? DEFAULT_MAX_DELETE_PERCENT);
    const report = incrementalReport(result.report, scan.files, changes, run.bytesReadNow, elapsed());
    writeReport(out, report);
    const outputs = BOUND_OUTPUTS.map((name) => {
      const path = out.stagedPath(name);
      return { name, identity: path && outputIdentity(path) };
    });
    staged().finish({ fingerprint, report: result.report, outputs }, out.stage(STATE_DIGEST));
    out.commit(OUTPUT_FILES);
    return { ...result, report, interrupted: false, incremental: outcome(previous ? "incremental" : "full", why, scan.files, changes) };
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
    read: async (batch) => (await (reader ??= import("./dicom/readerPool.js").then((m) => m.createHeaderReader(threads)))).read(batch),
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

/** The state of one run between reading and writing: every source delivers into it. */
class Run implements InstanceSink {
  private readonly assembler = new StudyAssembler();
  private readonly failures: FileFailure[] = [];
  private readonly reasons = new Tally<Reason>();
  private readonly warnings = new Tally();
  private readonly bytesPerFile = new Histogram();
  private readonly bytesPerInstanceFile = new Histogram();
  private readonly sources: SourceTally[] = [];
  private filesSeen = 0;
  private filesRead = 0;
  private lastProgress = 0;
  /** Bytes read by this run; files an incremental run takes from its state count in the medians only. */
  bytesReadNow = 0;

  constructor(
    private readonly options: ConvertOptions,
    readonly started: number,
  ) {}

  /** A sink for one source, counting what it delivers for the report's `sources`. */
  source(kind: SourceReport["kind"], root?: string): SourceTally {
    const tally = new SourceTally(this, kind, root);
    this.sources.push(tally);
    return tally;
  }

  seen(): void {
    this.filesSeen++;
  }

  unread(failure: FileFailure): void {
    this.fail(failure);
  }

  read(read: WireRead, stored = false): void {
    if (!stored) {
      this.filesRead++;
      this.bytesReadNow += read.bytesRead;
    }
    this.bytesPerFile.add(read.bytesRead);
    if ("failure" in read) this.fail(read.failure);
    else {
      this.bytesPerInstanceFile.add(read.bytesRead);
      for (const w of read.instance.warnings) this.warnings.add(w);
      this.assembler.add(read.instance, read.studyJSON, read.seriesJSON);
    }
    this.progress(false);
  }

  private fail(failure: FileFailure): void {
    this.failures.push(failure);
    this.reasons.add(failure.reason);
  }

  progress(final: boolean): void {
    const now = performance.now();
    if (!this.options.onProgress || (!final && now - this.lastProgress < PROGRESS_EVERY_MS)) return;
    this.lastProgress = now;
    this.options.onProgress({
      filesSeen: this.filesSeen,
      filesRead: this.filesRead,
      instances: this.assembler.instanceCount,
      failed: this.failures.length,
      elapsedSeconds: (now - this.started) / 1000,
    });
  }

  /** Every failure, duplicates included, in path order; call once, when reading is over. */
  sortedFailures(): FileFailure[] {
    for (const duplicate of this.assembler.duplicateFailures()) this.fail(duplicate);
    return this.failures.sort((a, b) => comparePaths(a.path, b.path) || (a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : 0));
  }

  /** A run the signal stopped: nothing is written; the report counts what was read. */
  interrupted(out: OutputDirectory, zoneRule: ZoneRule): ConvertResult {
    out.abort();
    const failures = this.sortedFailures();
    return { report: this.report({ ...emptySummary(zoneRule), instances: this.instancesRead }), interrupted: true, failures };
  }

  /** Groups, maps, validates and writes everything but report.json into the staging folder; returns the report. */
  async writeOutputs(out: OutputDirectory, zoneRule: ZoneRule): Promise<Omit<ConvertResult, "interrupted">> {
    // Loaded here: an incremental run that finds nothing changed validates nothing.
    const { validateResource } = await import("./validate/index.js");
    const { studies, conflicts } = this.assembler.finish();
    const { patients, conflicts: patientConflicts, patientOfStudy } = groupPatients(studies);
    const summary: Summary = { ...emptySummary(zoneRule), conflicts: [...patientConflicts, ...conflicts] };

    // Patients first: a study whose Patient is invalid would reference nothing, so it is rejected with it.
    const patientProblem = new Map<string, string>();
    const patientResources = patients.map((p) => {
      const resource = toPatient(p);
      const problem = validateResource(resource) ?? this.options.extraValidation?.(resource);
      if (problem) {
        patientProblem.set(p.id, problem);
        summary.rejected.Patient++;
      }
      return resource;
    });

    let endpoint: Endpoint | undefined;
    if (this.options.endpoint) {
      endpoint = toEndpoint(this.options.endpoint);
      const problem = validateResource(endpoint);
      if (problem) throw new UsageError(`--endpoint does not make a valid FHIR Endpoint: ${problem}`);
    }
    const endpointReference: Reference | undefined = endpoint && { reference: `Endpoint/${endpoint.id}` };

    const referencedPatients = new Set<string>();
    const studiesPath = out.stage("ImagingStudy.ndjson");
    const studyWriter = new LineWriter(studiesPath);
    for (const study of studies) {
      const patientId = patientOfStudy.get(study.studyInstanceUID)!;
      const resource = toImagingStudy(study, { subject: { reference: `Patient/${patientId}` }, endpoint: endpointReference, zoneRule }, summary.notes);
      const patientIssue = patientProblem.get(patientId);
      const problem = patientIssue ? `its Patient was rejected: ${patientIssue}` : (validateResource(resource) ?? this.options.extraValidation?.(resource));
      if (problem) {
        summary.rejected.ImagingStudy++;
        this.rejectStudy(study, problem);
        continue;
      }
      studyWriter.writeJsonLine(resource);
      summary.written.ImagingStudy++;
      summary.instances += study.instanceCount;
      summary.series += study.series.length;
      referencedPatients.add(patientId);
    }
    studyWriter.close();
    summary.outputs.push("ImagingStudy.ndjson");

    const patientWriter = new LineWriter(out.stage("Patient.ndjson"));
    for (const resource of patientResources) {
      if (!referencedPatients.has(resource.id)) continue;
      patientWriter.writeJsonLine(resource);
      summary.written.Patient++;
    }
    patientWriter.close();
    summary.outputs.push("Patient.ndjson");

    if (endpoint) {
      const endpointWriter = new LineWriter(out.stage("Endpoint.ndjson"));
      endpointWriter.writeJsonLine(endpoint);
      endpointWriter.close();
      summary.written.Endpoint++;
      summary.outputs.push("Endpoint.ndjson");
    }

    if (this.options.format === "bundle") {
      const total = summary.written.ImagingStudy;
      // The entries are the ImagingStudies just validated; the envelope is checked here.
      const problem = validateResource({ resourceType: "Bundle", type: "searchset", total });
      if (problem) throw new Error(`internal: the searchset Bundle envelope is invalid: ${problem}`);
      await writeSearchSetBundle(studiesPath, out.stage("ImagingStudy.bundle.json"), total);
      summary.outputs.push("ImagingStudy.bundle.json");
    }

    stageSearchIndex(out, zoneRule.zone);

    const failures = this.sortedFailures();
    const errorWriter = new LineWriter(out.stage("errors.ndjson"));
    for (const f of failures) errorWriter.writeJsonLine(errorLine(f));
    errorWriter.close();
    summary.outputs.push("errors.ndjson", "report.json");

    return { report: this.report(summary), failures };
  }

  private rejectStudy(study: StudyGroup, problem: string): void {
    for (const series of study.series) {
      for (const instance of series.instances) {
        this.fail({ path: instance.path, reason: "invalid-resource", message: `ImagingStudy ${study.studyInstanceUID} failed validation: ${problem}` });
      }
    }
  }

  /** For an interrupted run, `summary` is empty and `instances` counts what was read. */
  report(summary: Summary): Report {
    notesAsWarnings(summary.notes, this.warnings);
    return {
      dcm2fhir: VERSION,
      files: {
        seen: this.filesSeen,
        converted: summary.instances,
        skipped: sumByOutcome(this.reasons, "skipped"),
        failed: sumByOutcome(this.reasons, "failed"),
        reasons: this.reasons.toJSON(),
      },
      sources: this.sources.map((s) => s.toJSON()),
      bytesRead: { total: this.bytesReadNow, medianPerFile: this.bytesPerFile.median(), medianPerInstanceFile: this.bytesPerInstanceFile.median() },
      patients: summary.written.Patient,
      studies: summary.written.ImagingStudy,
      series: summary.series,
      instances: summary.instances,
      duplicates: this.assembler.duplicates,
      conflicts: summary.conflicts,
      resources: { written: summary.written, rejected: summary.rejected },
      dateTimes: {
        zone: summary.zoneRule.zone,
        zoneSource: summary.zoneRule.source,
        offsetFromZone: summary.notes.zoneFromRule,
        hourOnlyTimesDropped: summary.notes.timeDropped,
      },
      warnings: this.warnings.toJSON(),
      outputs: summary.outputs,
      elapsedSeconds: Math.round((performance.now() - this.started) / 10) / 100,
    };
  }

  get instancesRead(): number {
    return this.assembler.instanceCount;
  }
}

/** What writing produced, for the report. */
interface Summary {
  readonly zoneRule: ZoneRule;
  readonly notes: MappingNotes;
  readonly written: Record<ResourceType, number>;
  readonly rejected: Record<ResourceType, number>;
  readonly outputs: string[];
  conflicts: Report["conflicts"];
  instances: number;
  series: number;
}

const emptySummary = (zoneRule: ZoneRule): Summary => ({
  zoneRule,
  notes: emptyNotes(),
  written: { ImagingStudy: 0, Patient: 0, Endpoint: 0 },
  rejected: { ImagingStudy: 0, Patient: 0, Endpoint: 0 },
  outputs: [],
  conflicts: [],
  instances: 0,
  series: 0,
});

/** A line of errors.ndjson. A path that is not valid UTF-8 is also given as base64, so it can be found again. */
function errorLine(f: FileFailure): Record<string, string> {
  const line: Record<string, string> = { path: displayPath(f.path), reason: f.reason, message: f.message };
  if (typeof f.path !== "string") line.pathBase64 = f.path.toString("base64");
  return line;
}

/**
 * The result of a run that kept its outputs: its failures are those errors.ndjson lists, read when first asked
 * for (the CLI does only with --verbose; an archive with many failures makes this file large).
 */
function withFailuresFrom(errors: string, result: Omit<ConvertResult, "failures">): ConvertResult {
  let failures: FileFailure[] | undefined;
  return Object.defineProperty(result, "failures", { enumerable: true, get: () => (failures ??= readErrors(errors)) }) as ConvertResult;
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

/** fullUrl of a study in a searchset Bundle: a name-based UUID (RFC 4122 v5, OID namespace) of its UID. */
export function studyFullUrl(studyInstanceUID: string): string {
  const namespace = Buffer.from("6ba7b8129dad11d180b400c04fd430c8", "hex");
  const hash = createHash("sha1").update(namespace).update(studyInstanceUID).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString("hex");
  return `urn:uuid:${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Writes the searchset Bundle from the staged ImagingStudy.ndjson, one entry per line, without holding it in memory. */
export async function writeSearchSetBundle(ndjsonPath: string, bundlePath: string, total: number): Promise<void> {
  const writer = new LineWriter(bundlePath);
  writer.write(`{"resourceType":"Bundle","type":"searchset","total":${total},"entry":[`);
  let first = true;
  for await (const line of createInterface({ input: createReadStream(ndjsonPath), crlfDelay: Infinity })) {
    if (line === "") continue;
    const id = (JSON.parse(line) as { id: string }).id;
    writer.write(`${first ? "\n" : ",\n"}{"fullUrl":"${studyFullUrl(id)}","resource":${line},"search":{"mode":"match"}}`);
    first = false;
  }
  writer.write("\n]}\n");
  writer.close();
}
