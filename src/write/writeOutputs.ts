// The one path from instance records to the output files, whatever the records came from: a convert whose records
// are in memory (one partition), a convert too large for memory, and a merge of shards' parts (many partitions,
// on disk). Partition by partition: assemble studies (group/) → ImagingStudy (fhir/) → validate; then patients
// across partitions; then the outputs in their order. Only one partition's studies are in memory at a time; what
// crosses partitions (a SOP Instance UID in two studies, a patient's studies) is settled as a single run settles it.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { UsageError } from "../core/errors.js";
import type { ZoneRule } from "../fhir/datatypes.js";
import { toEndpoint } from "../fhir/endpoint.js";
import { type MappingNotes, emptyNotes } from "../fhir/imagingStudy.js";
import type { Endpoint, ImagingStudy, Patient, Reference } from "../fhir/types.js";
import { type PatientAttributes, type PatientVariant, patientIdOf, patientKey } from "../group/patients.js";
import { type Conflict, type StudyGroup, compareStrings } from "../group/studies.js";
import { type FileFailure, type FilePath, displayPath } from "../core/reasons.js";
import { assemble, loadValidate, mapAndValidateStudy, mapStudy, patientOf } from "./studyResources.js";
import type { RecordSet } from "../records/recordStore.js";
import type { InstanceRecord } from "../core/record.js";
import { pathFromKey, pathKey } from "../core/recordCodec.js";
import { stageSearchIndex } from "../index/searchIndex.js";
import { MemorySpool, type Spool, spoolFile, spoolKey } from "./spool.js";
import { LineWriter } from "../lib/ndjson.js";
import type { OutputDirectory } from "./outputDir.js";
import type { Report, ResourceType } from "./report.js";

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
  /**
   * Studies an incremental run takes as the last run left them (kept): none of their files changed, so neither
   * did what they give. Only the other studies' records are assembled, mapped and validated.
   */
  readonly kept?: KeptStudies;
  /** Each study assembled, with what it gave (an incremental run keeps it in its state for the next run). */
  readonly onStudy?: (studyInstanceUID: string, outcome: StudyOutcome) => void;
}

/**
 * What one study gives the outputs besides its ImagingStudy line: what an incremental run keeps of a study whose
 * files did not change, so that a later run takes it instead of assembling, mapping and validating the study again.
 */
export interface StudyOutcome {
  /** Failures of its files found while writing (duplicates it lost, each file of a study failing validation), as the failures spool keeps them. */
  readonly failures: readonly FailureRow[];
  /** Absent when none of its files was used (each one a duplicate of a file of another study). */
  readonly study?: {
    readonly patientKey: string;
    /** Its patient attributes: its say on its Patient, weighing `instances`. */
    readonly patient: PatientAttributes;
    readonly instances: number;
    readonly series: number;
    /** Its ImagingStudy passed validation (whether it was written depends on its Patient too). */
    readonly valid: boolean;
    readonly notes: MappingNotes;
    readonly conflicts: readonly Conflict[];
  };
}

/** A failure as the failures spool keeps it: [path key, reason, message, the study whose validation it is about]. */
export type FailureRow = readonly [string, FileFailure["reason"], string, string | null];

/**
 * Studies taken from an incremental run's state. A kept study shares no SOP Instance UID with a study that is
 * assembled (those are assembled with it), so that what it gave last time is what it gives now.
 */
export interface KeptStudies {
  /** Every kept study with its outcome, in any order. */
  outcomes(): Iterable<readonly [string, StudyOutcome]>;
  /** A kept study's ImagingStudy line in the previous output; undefined when it was not written there (its Patient was rejected). */
  line(studyInstanceUID: string): string | undefined;
  /**
   * The instance records of these kept studies and of every study sharing a SOP Instance UID with them: enough to
   * assemble them as a full run does. For the rare run in which a kept study's Patient is rejected or no longer is.
   */
  records(studyInstanceUIDs: readonly string[]): Iterable<InstanceRecord>;
  /** The write is done with them (it calls this whether it finished or not). */
  close(): void;
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

/** A study as the studies spool keeps it until the patients are known; a kept study's line is in the previous output. */
interface StudyRow {
  /** The partition it was assembled in; KEPT for a kept study. */
  readonly partition: number;
  readonly uid: string;
  readonly patient: string;
  readonly instances: number;
  readonly series: number;
  readonly valid: boolean;
}

const KEPT = -1;

/** One study's say on its patient, as the patients spool keeps it: [study UID, partition, attributes, instances, valid]. */
type PatientRow = [string, number, PatientAttributes, number, boolean];

/**
 * Groups, maps, validates and writes every output but report.json into the staging folder. Failures found here
 * (duplicates, resources that fail validation) go to `fail` as well as to errors.ndjson; the records' own
 * failures were counted as they were delivered.
 */
export async function writeOutputs(records: RecordSet, out: OutputDirectory, settings: WriteSettings, fail: (failure: FileFailure) => void): Promise<Summary> {
  // Loaded here: an incremental run that finds nothing changed validates nothing.
  const { validateResource } = await import("../validate/index.js");
  const validate = await loadValidate(settings.extraValidation);
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
    const failure = (row: FailureRow) => {
      spools.failures.add(spoolKey(pathBytes(pathFromKey(row[0])), row[1], row[2]), JSON.stringify(row));
    };
    for (const f of records.failures()) failure([pathKey(f.path), f.reason, f.message, null]);
    const writeTimeFailure = (row: FailureRow) => {
      fail({ path: pathFromKey(row[0]), reason: row[1], message: row[2] });
      failure(row);
    };
    const mapKept = (study: StudyGroup) => mapStudy(study, endpointReference, zoneRule).resource;

    // One study's outcome into the spools (and the counts), whether it was just assembled or kept.
    const take = (uid: string, partition: number, outcome: StudyOutcome, resource: ImagingStudy | undefined) => {
      for (const f of outcome.failures) {
        if (f[1] === "duplicate") summary.duplicates++;
        writeTimeFailure(f);
      }
      const study = outcome.study;
      if (!study) return;
      addNotes(summary.notes, study.notes);
      studyConflicts.push(...study.conflicts);
      if (!study.valid) summary.rejected.ImagingStudy++;
      const patient = patientIdOf(study.patientKey);
      const row: StudyRow = { partition, uid, patient, instances: study.instances, series: study.series, valid: study.valid };
      spools.studies.add(spoolKey(uid), `${JSON.stringify(row)}\n${resource && study.valid ? JSON.stringify(resource) : ""}`);
      const patientRow: PatientRow = [uid, partition, study.patient, study.instances, study.valid];
      spools.patients.add(spoolKey(patient, study.patientKey, uid), JSON.stringify(patientRow));
    };

    // Partition by partition: studies assembled, mapped and validated; what the patients decide waits in spools.
    const winners = records.crossPartitionWinners(partitions);
    const studyConflicts: Conflict[] = [];
    for (let p = 0; p < partitions; p++) {
      if (settings.signal?.aborted) throw new WriteInterrupted("stopped between two partitions");
      const { studies, conflicts, duplicates } = assemble(records.instances(p, partitions), winners);
      const failures = new Map<string, FailureRow[]>();
      const failuresOf = (uid: string) => failures.get(uid) ?? failures.set(uid, []).get(uid)!;
      for (const d of duplicates) failuresOf(d.studyInstanceUID).push([pathKey(d.failure.path), d.failure.reason, d.failure.message, null]);
      const conflictsOf = new Map<string, Conflict[]>();
      for (const c of conflicts) {
        const list = conflictsOf.get(c.studyInstanceUID!);
        if (list) list.push(c);
        else conflictsOf.set(c.studyInstanceUID!, [c]);
      }
      for (const study of studies) {
        const uid = study.studyInstanceUID;
        const { resource, problem, notes, patientKey, patient } = mapAndValidateStudy(study, endpointReference, zoneRule, validate);
        if (problem) for (const path of instancePaths(study)) failuresOf(uid).push([pathKey(path), "invalid-resource", invalidResourceMessage(uid, problem), uid]);
        const outcome: StudyOutcome = {
          failures: failures.get(uid) ?? [],
          study: {
            patientKey,
            patient: patient.attributes,
            instances: patient.count,
            series: study.series.length,
            valid: !problem,
            notes,
            conflicts: conflictsOf.get(uid) ?? [],
          },
        };
        failures.delete(uid);
        take(uid, p, outcome, resource);
        settings.onStudy?.(uid, outcome);
      }
      // Studies none of whose files was used: only their duplicates.
      for (const [uid, rows] of failures) {
        take(uid, p, { failures: rows }, undefined);
        settings.onStudy?.(uid, { failures: rows });
      }
      settings.onPartition?.(p + 1, partitions);
    }
    for (const [uid, outcome] of settings.kept?.outcomes() ?? []) take(uid, KEPT, outcome, undefined);

    // Patients, across partitions, in id order. A patient is written when valid and one of its studies is; a
    // study whose Patient is invalid would reference nothing, so it is rejected with it.
    const patientConflicts: Array<{ readonly firstStudy: string; readonly conflicts: Conflict[] }> = [];
    const rejectedPatients = new Map<string, string>();
    /** Studies of rejected patients: study UID → the patient's problem; and the partitions they lie in. */
    const rejectedWithPatient = new Map<string, { readonly problem: string; readonly partition: number; readonly valid: boolean }>();
    const patientWriter = new LineWriter(out.stage("Patient.ndjson"));
    for (const patient of groupedPatients(spools.patients.sorted())) {
      const conflicts: Conflict[] = [];
      const resource = patientOf(patient.key, patient.variants, patient.studies.map((s) => s.uid), conflicts);
      if (conflicts.length > 0) patientConflicts.push({ firstStudy: patient.studies[0]!.uid, conflicts });
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

    // The files of valid studies whose patient was rejected: their partitions are assembled again to list them
    // (kept studies from their records in the state).
    const listRejected = (studies: readonly StudyGroup[]) => {
      for (const study of studies) {
        const rejected = rejectedWithPatient.get(study.studyInstanceUID);
        if (!rejected?.valid) continue;
        summary.rejected.ImagingStudy++;
        const message = invalidResourceMessage(study.studyInstanceUID, patientProblem(rejected.problem));
        for (const path of instancePaths(study)) writeTimeFailure([pathKey(path), "invalid-resource", message, study.studyInstanceUID]);
      }
    };
    const again = new Set([...rejectedWithPatient.values()].filter((s) => s.valid).map((s) => s.partition));
    for (const p of [...again].filter((p) => p !== KEPT).sort((a, b) => a - b)) listRejected(assemble(records.instances(p, partitions), winners).studies);
    const keptAgain = [...rejectedWithPatient].filter(([, s]) => s.valid && s.partition === KEPT).map(([uid]) => uid);
    if (keptAgain.length > 0) listRejected(assemble(settings.kept!.records(keptAgain), new Map()).studies);

    const studiesPath = out.stage("ImagingStudy.ndjson");
    const studyWriter = new LineWriter(studiesPath);
    for (const value of spools.studies.sorted()) {
      const newline = value.indexOf("\n");
      const row = JSON.parse(value.slice(0, newline)) as StudyRow;
      if (!row.valid || rejectedPatients.has(row.patient)) continue;
      studyWriter.write(row.partition === KEPT ? keptLine(settings.kept!, row.uid, mapKept) : value.slice(newline + 1));
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
      const [key, reason, message, study] = JSON.parse(value) as FailureRow;
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
    settings.kept?.close();
  }
}

/**
 * A kept study's ImagingStudy line: the previous output's, or (when its Patient was rejected last time and no
 * longer is) its resource made again from its records.
 */
function keptLine(kept: KeptStudies, uid: string, map: (study: StudyGroup) => ImagingStudy): string {
  const line = kept.line(uid);
  if (line !== undefined) return line;
  const study = assemble(kept.records([uid]), new Map()).studies.find((s) => s.studyInstanceUID === uid);
  if (!study) throw new Error("internal: a kept study has no files in the state");
  // Its notes were counted with its outcome.
  return JSON.stringify(map(study));
}

const addNotes = (sum: MappingNotes, notes: MappingNotes) => {
  for (const key of Object.keys(sum) as Array<keyof MappingNotes>) sum[key] += notes[key];
};

const instancePaths = (study: StudyGroup): FilePath[] => study.series.flatMap((s) => s.instances.map((i) => i.path));

const invalidResourceMessage = (studyInstanceUID: string, problem: string) => `ImagingStudy ${studyInstanceUID} failed validation: ${problem}`;

const patientProblem = (problem: string) => `its Patient was rejected: ${problem}`;

/** A path's bytes, which order paths as comparePaths does. */
const pathBytes = (path: FilePath): Buffer => (typeof path === "string" ? Buffer.from(path) : path);

interface PatientStudies {
  readonly id: string;
  /** Its patient key (see patientKey): what its id is the hash of. */
  readonly key: string;
  readonly variants: PatientVariant[];
  readonly studies: Array<{ readonly uid: string; readonly partition: number; readonly valid: boolean }>;
}

/** The patients spool's rows (in patient id, key, study order) as one group per patient. */
function* groupedPatients(rows: Iterable<string>): Generator<PatientStudies> {
  let current: PatientStudies | undefined;
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
