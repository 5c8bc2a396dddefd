// Step 1 of the write: partition by partition, the records assembled into studies (group/), each mapped to an
// ImagingStudy (fhir/) and validated; what a study gives waits in the spools until its Patient is decided. Studies an
// incremental run keeps join the spools from their stored outcome, as if just assembled.
import type { FileFailure, FilePath } from "../core/reasons.js";
import { pathKey } from "../core/recordCodec.js";
import type { MappingNotes } from "../fhir/imagingStudy.js";
import type { ImagingStudy } from "../fhir/types.js";
import { type PatientAttributes, patientIdOf } from "../group/patients.js";
import type { Conflict, StudyGroup } from "../group/studies.js";
import type { RecordSet } from "../records/recordStore.js";
import { type WriteContext, spoolFailure } from "./context.js";
import { spoolKey } from "./spool.js";
import type { FailureRow, StudyOutcome } from "./studyOutcome.js";
import { assemble, mapAndValidateStudy } from "./studyResources.js";

/** Where a study's records are: the partition it was assembled in, or "kept" (an incremental run's state). */
export type Partition = number | "kept";

/** A study as the studies spool keeps it until the patients are known; its ImagingStudy line follows it. */
export interface StudyRow {
  readonly partition: Partition;
  readonly uid: string;
  readonly patient: string;
  readonly instances: number;
  readonly series: number;
  readonly valid: boolean;
}

/** One study's say on its patient, as the patients spool keeps it (keyed by patient id, patient key, study UID). */
export interface PatientRow {
  readonly study: string;
  readonly partition: Partition;
  readonly attributes: PatientAttributes;
  readonly instances: number;
  readonly valid: boolean;
}

/** The signal stopped the write between two partitions. */
export class WriteInterrupted extends Error {
  override readonly name = "WriteInterrupted";
}

/** Assembles, maps and validates every partition, then takes the kept studies; all of it into the spools. */
export function spoolStudies(ctx: WriteContext, records: RecordSet, partitions: number, winners: ReadonlyMap<string, FilePath>): void {
  const { settings } = ctx;
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
      const { resource, problem, notes, patientKey, patient } = mapAndValidateStudy(study, ctx.endpointReference, settings.zoneRule, ctx.validate);
      if (problem)
        for (const path of instancePaths(study)) failuresOf(uid).push([pathKey(path), "invalid-resource", invalidResourceMessage(uid, problem), uid]);
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
      takeOutcome(ctx, uid, p, outcome, resource);
      settings.onStudy?.(uid, outcome);
    }
    // Studies none of whose files was used: only their duplicates.
    for (const [uid, rows] of failures) {
      takeOutcome(ctx, uid, p, { failures: rows }, undefined);
      settings.onStudy?.(uid, { failures: rows });
    }
    settings.onPartition?.(p + 1, partitions);
  }
  for (const [uid, outcome] of settings.kept?.outcomes() ?? []) takeOutcome(ctx, uid, "kept", outcome, undefined);
}

/** One study's outcome into the spools (and the counts), whether it was just assembled or kept. */
function takeOutcome(ctx: WriteContext, uid: string, partition: Partition, outcome: StudyOutcome, resource: ImagingStudy | undefined): void {
  const { summary, spools } = ctx;
  for (const f of outcome.failures) {
    if (f[1] === "duplicate") summary.duplicates++;
    ctx.failedWhileWriting(f);
  }
  const study = outcome.study;
  if (!study) return;
  addNotes(summary.notes, study.notes);
  ctx.studyConflicts.push(...study.conflicts);
  if (!study.valid) summary.rejected.ImagingStudy++;
  const patient = patientIdOf(study.patientKey);
  const row: StudyRow = { partition, uid, patient, instances: study.instances, series: study.series, valid: study.valid };
  spools.studies.add(spoolKey(uid), `${JSON.stringify(row)}\n${resource && study.valid ? JSON.stringify(resource) : ""}`);
  const patientRow: PatientRow = { study: uid, partition, attributes: study.patient, instances: study.instances, valid: study.valid };
  spools.patients.add(spoolKey(patient, study.patientKey, uid), JSON.stringify(patientRow));
}

/** The records' own failures (files that gave no instance), into the failures spool. */
export function spoolRecordFailures(ctx: WriteContext, failures: Iterable<FileFailure>): void {
  for (const f of failures) spoolFailure(ctx.spools, [pathKey(f.path), f.reason, f.message, null]);
}

const addNotes = (sum: MappingNotes, notes: MappingNotes) => {
  for (const key of Object.keys(sum) as Array<keyof MappingNotes>) sum[key] += notes[key];
};

export const instancePaths = (study: StudyGroup): FilePath[] => study.series.flatMap((s) => s.instances.map((i) => i.path));

export const invalidResourceMessage = (studyInstanceUID: string, problem: string) => `ImagingStudy ${studyInstanceUID} failed validation: ${problem}`;
