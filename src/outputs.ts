// The one path from instance records to the output files, whatever the records came from: a convert whose records
// are in memory (one partition), a convert too large for memory, and a merge of shards' parts (many partitions,
// on disk). Partition by partition: assemble studies (group/) → ImagingStudy (fhir/) → validate; then patients
// across partitions; then the outputs in their order. Only one partition's studies are in memory at a time; what
// crosses partitions (a SOP Instance UID in two studies, a patient's studies) is settled as a single run settles it.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { UsageError } from "./crawl/walk.js";
import type { ZoneRule } from "./fhir/datatypes.js";
import { toEndpoint } from "./fhir/endpoint.js";
import { type MappingNotes, emptyNotes, toImagingStudy } from "./fhir/imagingStudy.js";
import { toPatient } from "./fhir/patient.js";
import type { Endpoint, ImagingStudy, Patient, Reference } from "./fhir/types.js";
import { type PatientAttributes, type PatientVariant, choosePatient, patientIdOf, patientKey, patientVariant } from "./group/patients.js";
import { type Conflict, StudyAssembler, type StudyGroup, compareStrings, duplicateFailure } from "./group/studies.js";
import { type FileFailure, type FilePath, comparePaths, displayPath } from "./reasons.js";
import type { RecordSet } from "./source/records.js";
import { pathFromKey, pathKey } from "./state/records.js";
import { stageSearchIndex } from "./state/searchIndex.js";
import { MemorySpool, type Spool, spoolFile, spoolKey } from "./state/spool.js";
import { LineWriter } from "./write/ndjson.js";
import type { OutputDirectory } from "./write/outputDir.js";
import type { Report, ResourceType } from "./write/report.js";

export interface WriteSettings {
  readonly zoneRule: ZoneRule;
  readonly endpoint?: string;
  readonly format?: "ndjson" | "bundle";
  readonly extraValidation?: (resource: ImagingStudy | Patient) => string | undefined;
  /** The partition count; default: what the records' size asks for. */
  readonly partitions?: number;
  /** Checked between partitions: aborting stops the write (WriteInterrupted), nothing is committed. */
  readonly signal?: AbortSignal;
  /** After each partition is assembled, mapped and validated. */
  readonly onPartition?: (done: number, total: number) => void;
}

/** What writing produced, for the report. */
export interface Summary {
  readonly zoneRule: ZoneRule;
  readonly notes: MappingNotes;
  readonly written: Record<ResourceType, number>;
  readonly rejected: Record<ResourceType, number>;
  readonly outputs: string[];
  conflicts: Report["conflicts"];
  instances: number;
  series: number;
  duplicates: number;
}

export const emptySummary = (zoneRule: ZoneRule): Summary => ({
  zoneRule,
  notes: emptyNotes(),
  written: { ImagingStudy: 0, Patient: 0, Endpoint: 0 },
  rejected: { ImagingStudy: 0, Patient: 0, Endpoint: 0 },
  outputs: [],
  conflicts: [],
  instances: 0,
  series: 0,
  duplicates: 0,
});

/** The signal stopped the write between two partitions. */
export class WriteInterrupted extends Error {
  override readonly name = "WriteInterrupted";
}

/** A study as the studies spool keeps it until the patients are known. */
interface StudyRow {
  readonly partition: number;
  readonly patient: string;
  readonly instances: number;
  readonly series: number;
}

/** One study's say on its patient, as the patients spool keeps it: [study UID, partition, attributes, instances, valid]. */
type PatientRow = [string, number, PatientAttributes, number, boolean];

/**
 * Groups, maps, validates and writes every output but report.json into the staging folder. Failures found here
 * (duplicates, resources that fail validation) go to `fail` as well as to errors.ndjson; the records' own
 * failures were counted as they were delivered.
 */
export async function writeOutputs(records: RecordSet, out: OutputDirectory, settings: WriteSettings, fail: (failure: FileFailure) => void): Promise<Summary> {
  // Loaded here: an incremental run that finds nothing changed validates nothing.
  const { validateResource } = await import("./validate/index.js");
  const validate = (resource: ImagingStudy | Patient) => validateResource(resource) ?? settings.extraValidation?.(resource);
  const { zoneRule } = settings;
  const summary = emptySummary(zoneRule);
  const partitions = settings.partitions ?? records.partitions;

  let endpoint: Endpoint | undefined;
  if (settings.endpoint) {
    endpoint = toEndpoint(settings.endpoint);
    const problem = validateResource(endpoint);
    if (problem) throw new UsageError(`--endpoint does not make a valid FHIR Endpoint: ${problem}`);
  }
  const endpointReference: Reference | undefined = endpoint && { reference: `Endpoint/${endpoint.id}` };

  const spools = await openSpools(records.onDisk ? out : undefined);
  try {
    const failure = (f: FileFailure, study?: string) => {
      spools.failures.add(spoolKey(pathBytes(f.path), f.reason, f.message), JSON.stringify([pathKey(f.path), f.reason, f.message, study ?? null]));
    };
    for (const f of records.failures()) failure(f);
    const writeTimeFailure = (f: FileFailure, study?: string) => {
      fail(f);
      failure(f, study);
    };

    // Partition by partition: studies assembled, mapped and validated; what the patients decide waits in spools.
    const winners = records.crossPartitionWinners(partitions);
    const studyConflicts: Conflict[] = [];
    for (let p = 0; p < partitions; p++) {
      if (settings.signal?.aborted) throw new WriteInterrupted("stopped between two partitions");
      const { studies, conflicts, duplicates } = assemble(records, p, partitions, winners);
      summary.duplicates += duplicates.length;
      for (const d of duplicates) writeTimeFailure(d);
      studyConflicts.push(...conflicts);
      for (const study of studies) {
        const key = patientKey(study);
        const patient = patientIdOf(key);
        const resource = toImagingStudy(study, { subject: { reference: `Patient/${patient}` }, endpoint: endpointReference, zoneRule }, summary.notes);
        const problem = validate(resource);
        if (problem) {
          summary.rejected.ImagingStudy++;
          for (const path of instancePaths(study)) writeTimeFailure(invalidResource(path, study.studyInstanceUID, problem), study.studyInstanceUID);
        }
        const row: StudyRow = { partition: p, patient, instances: study.instanceCount, series: study.series.length };
        spools.studies.add(spoolKey(study.studyInstanceUID), `${JSON.stringify(row)}\n${problem ? "" : JSON.stringify(resource)}`);
        const variant = patientVariant(study);
        const patientRow: PatientRow = [study.studyInstanceUID, p, variant.attributes, variant.count, !problem];
        spools.patients.add(spoolKey(patient, key, study.studyInstanceUID), JSON.stringify(patientRow));
      }
      settings.onPartition?.(p + 1, partitions);
    }

    // Patients, across partitions, in id order. A patient is written when valid and one of its studies is; a
    // study whose Patient is invalid would reference nothing, so it is rejected with it.
    const patientConflicts: Array<{ readonly firstStudy: string; readonly conflicts: Conflict[] }> = [];
    const rejectedPatients = new Map<string, string>();
    /** Studies of rejected patients: study UID → the patient's problem; and the partitions they lie in. */
    const rejectedWithPatient = new Map<string, { readonly problem: string; readonly partition: number; readonly valid: boolean }>();
    const patientWriter = new LineWriter(out.stage("Patient.ndjson"));
    for (const patient of groupedPatients(spools.patients.sorted())) {
      const conflicts: Conflict[] = [];
      const attributes = choosePatient(patient.id, patient.variants, conflicts);
      if (conflicts.length > 0) patientConflicts.push({ firstStudy: patient.studies[0]!.uid, conflicts });
      const resource = toPatient({ id: patient.id, attributes, studyInstanceUIDs: patient.studies.map((s) => s.uid) });
      const problem = validate(resource);
      if (problem) {
        summary.rejected.Patient++;
        rejectedPatients.set(patient.id, problem);
        for (const s of patient.studies) rejectedWithPatient.set(s.uid, { problem, partition: s.partition, valid: s.valid });
      } else if (patient.studies.some((s) => s.valid)) {
        patientWriter.writeJsonLine(resource);
        summary.written.Patient++;
      }
    }
    patientWriter.close();

    // The files of valid studies whose patient was rejected: their partitions are assembled again to list them.
    const again = new Set([...rejectedWithPatient.values()].filter((s) => s.valid).map((s) => s.partition));
    for (const p of [...again].sort((a, b) => a - b)) {
      for (const study of assemble(records, p, partitions, winners).studies) {
        const rejected = rejectedWithPatient.get(study.studyInstanceUID);
        if (!rejected?.valid) continue;
        summary.rejected.ImagingStudy++;
        for (const path of instancePaths(study)) writeTimeFailure(invalidResource(path, study.studyInstanceUID, patientProblem(rejected.problem)), study.studyInstanceUID);
      }
    }

    const studiesPath = out.stage("ImagingStudy.ndjson");
    const studyWriter = new LineWriter(studiesPath);
    for (const value of spools.studies.sorted()) {
      const newline = value.indexOf("\n");
      const row = JSON.parse(value.slice(0, newline)) as StudyRow;
      if (newline === value.length - 1 || rejectedPatients.has(row.patient)) continue;
      studyWriter.write(value.slice(newline + 1));
      studyWriter.write("\n");
      summary.written.ImagingStudy++;
      summary.instances += row.instances;
      summary.series += row.series;
    }
    studyWriter.close();
    summary.outputs.push("ImagingStudy.ndjson", "Patient.ndjson");

    // As a single run lists them: patient conflicts in the order of each patient's first study, then the studies'.
    patientConflicts.sort((a, b) => compareStrings(a.firstStudy, b.firstStudy));
    studyConflicts.sort((a, b) => compareStrings(a.studyInstanceUID!, b.studyInstanceUID!));
    summary.conflicts = [...patientConflicts.flatMap((c) => c.conflicts), ...studyConflicts];

    if (endpoint) {
      const endpointWriter = new LineWriter(out.stage("Endpoint.ndjson"));
      endpointWriter.writeJsonLine(endpoint);
      endpointWriter.close();
      summary.written.Endpoint++;
      summary.outputs.push("Endpoint.ndjson");
    }

    if (settings.format === "bundle") {
      const total = summary.written.ImagingStudy;
      // The entries are the ImagingStudies just validated; the envelope is checked here.
      const problem = validateResource({ resourceType: "Bundle", type: "searchset", total });
      if (problem) throw new Error(`internal: the searchset Bundle envelope is invalid: ${problem}`);
      await writeSearchSetBundle(studiesPath, out.stage("ImagingStudy.bundle.json"), total);
      summary.outputs.push("ImagingStudy.bundle.json");
    }

    // The index serve and search answer from, built from what was just staged, so that it always matches it.
    stageSearchIndex(out, settings.zoneRule.zone);

    const errorWriter = new LineWriter(out.stage("errors.ndjson"));
    for (const value of spools.failures.sorted()) {
      const [key, reason, message, study] = JSON.parse(value) as [string, FileFailure["reason"], string, string | null];
      // A study that failed validation itself and whose Patient was rejected: a single run names the Patient.
      const rejected = study === null ? undefined : rejectedWithPatient.get(study);
      const text = rejected ? `ImagingStudy ${study} failed validation: ${patientProblem(rejected.problem)}` : message;
      errorWriter.writeJsonLine(errorLine({ path: pathFromKey(key), reason, message: text }));
    }
    errorWriter.close();
    summary.outputs.push("errors.ndjson", "report.json");
    return summary;
  } finally {
    spools.close();
  }
}

/**
 * The studies of partition `p`. A file whose SOP Instance UID a file in another partition also holds is left
 * out here when that file's path sorts first (`winners`), and named a duplicate exactly as the assembler names one.
 */
function assemble(records: RecordSet, p: number, partitions: number, winners: ReadonlyMap<string, FilePath>) {
  const assembler = new StudyAssembler();
  const duplicates: FileFailure[] = [];
  for (const read of records.instances(p, partitions)) {
    const winner = winners.get(read.instance.sopInstanceUID);
    if (winner !== undefined && comparePaths(winner, read.instance.path) !== 0) {
      duplicates.push(duplicateFailure(read.instance.path, read.instance.sopInstanceUID, winner));
      continue;
    }
    assembler.add(read.instance, read.studyJSON, read.seriesJSON);
  }
  const { studies, conflicts } = assembler.finish();
  duplicates.push(...assembler.duplicateFailures());
  return { studies, conflicts, duplicates };
}

const instancePaths = (study: StudyGroup): FilePath[] => study.series.flatMap((s) => s.instances.map((i) => i.path));

const invalidResource = (path: FilePath, studyInstanceUID: string, problem: string): FileFailure => ({
  path,
  reason: "invalid-resource",
  message: `ImagingStudy ${studyInstanceUID} failed validation: ${problem}`,
});

const patientProblem = (problem: string) => `its Patient was rejected: ${problem}`;

/** A path's bytes, which order paths as comparePaths does. */
const pathBytes = (path: FilePath): Buffer => (typeof path === "string" ? Buffer.from(path) : path);

interface PatientStudies {
  readonly id: string;
  readonly variants: PatientVariant[];
  readonly studies: Array<{ readonly uid: string; readonly partition: number; readonly valid: boolean }>;
}

/** The patients spool's rows (in patient id, key, study order) as one group per patient. */
function* groupedPatients(rows: Iterable<string>): Generator<PatientStudies> {
  let current: (PatientStudies & { readonly key: string }) | undefined;
  for (const value of rows) {
    const [uid, partition, attributes, count, valid] = JSON.parse(value) as PatientRow;
    const key = patientKeyOf(uid, attributes);
    if (!current || current.key !== key) {
      if (current) yield current;
      current = { id: patientIdOf(key), key, variants: [], studies: [] };
    }
    current.variants.push({ attributes, count });
    current.studies.push({ uid, partition, valid });
  }
  if (current) yield current;
}

/** patientKey of a study that has these patient attributes. */
const patientKeyOf = (studyInstanceUID: string, attributes: PatientAttributes) => patientKey({ studyInstanceUID, attributes } as StudyGroup);

interface Spools {
  readonly studies: Spool;
  readonly patients: Spool;
  readonly failures: Spool;
  close(): void;
}

/** In memory, or (for records on disk) in SQLite scratch files in the staging folder of `out`. */
async function openSpools(out: OutputDirectory | undefined): Promise<Spools> {
  if (!out) return { studies: new MemorySpool(), patients: new MemorySpool(), failures: new MemorySpool(), close: () => {} };
  const studies = await spoolFile(out.scratch("studies.sqlite"));
  const patients = await spoolFile(out.scratch("patients.sqlite"));
  const failures = await spoolFile(out.scratch("failures.sqlite"));
  return { studies, patients, failures, close: () => [studies, patients, failures].forEach((s) => s.close()) };
}

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
