import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { availableParallelism } from "node:os";
import { createInterface } from "node:readline";
import { UsageError, resolveInputs } from "./crawl/walk.js";
import { type HeaderReader, createHeaderReader } from "./dicom/readerPool.js";
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
import { validateResource } from "./validate/index.js";
import { readFiles } from "./source/files.js";
import type { InstanceSink } from "./source/sink.js";
import { LineWriter } from "./write/ndjson.js";
import { OutputDirectory } from "./write/outputDir.js";
import { Histogram, type Report, type ResourceType, Tally, notesAsWarnings, sumByOutcome } from "./write/report.js";
import { VERSION } from "./version.js";

export interface ConvertOptions {
  /** Files, folders (walked recursively) and globs. */
  readonly inputs: readonly string[];
  /** The output folder; created if missing. */
  readonly out: string;
  /** DICOMweb WADO-RS base URL: writes Endpoint.ndjson and references it from every ImagingStudy. */
  readonly endpoint?: string;
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
  /** Every file that did not become (part of) a resource, in path order; errors.ndjson holds the same. */
  readonly failures: readonly FileFailure[];
}

/** Every file convert may write; files of an earlier run that this run does not write are removed at commit. */
export const OUTPUT_FILES = ["ImagingStudy.ndjson", "Patient.ndjson", "Endpoint.ndjson", "ImagingStudy.bundle.json", "errors.ndjson", "report.json"] as const;

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
  const inputs = await resolveInputs(options.inputs, { verbose: options.verbose ?? false });
  const out = OutputDirectory.open(options.out);
  const reader = createHeaderReader(options.workers ?? DEFAULT_WORKERS);
  try {
    const run = new Run(options, started);
    const threads = options.workers ?? DEFAULT_WORKERS;
    await readFiles(inputs, reader, run, { threads, followSymlinks: options.followSymlinks ?? false, signal: options.signal });
    run.progress(true);
    if (options.signal?.aborted) {
      out.abort();
      const failures = run.sortedFailures();
      return { report: run.report({ ...emptySummary(zoneRule), instances: run.instancesRead }), interrupted: true, failures };
    }
    const result = await run.writeOutputs(out, zoneRule);
    out.commit(OUTPUT_FILES);
    return { ...result, interrupted: false };
  } catch (error) {
    out.abort();
    throw error;
  } finally {
    await reader.close();
  }
}

function checkOptions(options: ConvertOptions): ZoneRule {
  if (!options.out) throw new UsageError("no output folder: pass --out <folder>");
  if (options.format !== undefined && options.format !== "ndjson" && options.format !== "bundle") {
    throw new UsageError(`unknown --format "${options.format}": use ndjson or bundle`);
  }
  if (options.workers !== undefined && !(Number.isInteger(options.workers) && options.workers >= 1)) {
    throw new UsageError("--workers takes a whole number from 1 (this process only) up");
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
  private filesSeen = 0;
  private filesRead = 0;
  private lastProgress = 0;

  constructor(
    private readonly options: ConvertOptions,
    private readonly started: number,
  ) {}

  seen(): void {
    this.filesSeen++;
  }

  unread(failure: FileFailure): void {
    this.fail(failure);
  }

  read(read: WireRead): void {
    this.filesRead++;
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

  /** Groups, maps, validates and writes everything into the staging folder; returns what the report needs. */
  async writeOutputs(out: OutputDirectory, zoneRule: ZoneRule): Promise<Omit<ConvertResult, "interrupted">> {
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

    const failures = this.sortedFailures();
    const errorWriter = new LineWriter(out.stage("errors.ndjson"));
    for (const f of failures) errorWriter.writeJsonLine(errorLine(f));
    errorWriter.close();
    summary.outputs.push("errors.ndjson", "report.json");

    const report = this.report(summary);
    const reportWriter = new LineWriter(out.stage("report.json"));
    reportWriter.write(`${JSON.stringify(report, null, 2)}\n`);
    reportWriter.close();
    return { report, failures };
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
      bytesRead: { total: this.bytesPerFile.total, medianPerFile: this.bytesPerFile.median(), medianPerInstanceFile: this.bytesPerInstanceFile.median() },
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
