// A study's resources, one rule for every caller: `convert` (write/writeOutputs.ts, any number of studies, partition
// by partition) and `serve --pacs` (ondemand/, the few studies of one PACS answer) assemble, map and validate
// through these functions, so that a study gives the same ImagingStudy and Patient lines whichever asked.
import type { ZoneRule } from "../fhir/datatypes.js";
import { type MappingNotes, emptyNotes, toImagingStudy } from "../fhir/imagingStudy.js";
import { toPatient } from "../fhir/patient.js";
import type { ImagingStudy, Patient, Reference } from "../fhir/types.js";
import { type PatientVariant, choosePatient, patientIdOf, patientKey, patientVariant } from "../group/patients.js";
import { type Conflict, StudyAssembler, type StudyGroup, duplicateFailure } from "../group/studies.js";
import { type FileFailure, type FilePath, comparePaths } from "../core/reasons.js";
import type { InstanceRecord } from "../core/record.js";

/** Why a resource is not valid FHIR R4 (or not valid by a site's own rule), or undefined. */
export type Validate = (resource: ImagingStudy | Patient) => string | undefined;

/** The schema validators (loaded when first needed: a run that maps nothing validates nothing) and a site's own check. */
export async function loadValidate(extraValidation?: Validate): Promise<Validate> {
  const { validateResource } = await import("../validate/index.js");
  return (resource) => validateResource(resource) ?? extraValidation?.(resource);
}

/**
 * The studies of a set of instance records. A file whose SOP Instance UID a file outside the set also holds is left
 * out here when that file's path sorts first (`winners`), and named a duplicate exactly as the assembler names one.
 * Each duplicate comes with the study of the file that lost.
 */
export function assemble(records: Iterable<InstanceRecord>, winners: ReadonlyMap<string, FilePath> = new Map()) {
  const assembler = new StudyAssembler();
  const duplicates: Array<{ readonly failure: FileFailure; readonly studyInstanceUID: string }> = [];
  for (const read of records) {
    const winner = winners.get(read.instance.sopInstanceUID);
    if (winner !== undefined && comparePaths(winner, read.instance.path) !== 0) {
      duplicates.push({
        failure: duplicateFailure(read.instance.path, read.instance.sopInstanceUID, winner),
        studyInstanceUID: read.instance.studyInstanceUID,
      });
      continue;
    }
    assembler.add(read.instance, read.studyJSON, read.seriesJSON);
  }
  const { studies, conflicts } = assembler.finish();
  duplicates.push(...assembler.duplicateLosers());
  return { studies, conflicts, duplicates };
}

/** One study mapped and validated, with what it says of its Patient. */
export interface MappedStudy {
  readonly resource: ImagingStudy;
  /** Why the ImagingStudy is invalid, or undefined. */
  readonly problem: string | undefined;
  readonly notes: MappingNotes;
  readonly patientKey: string;
  readonly patient: PatientVariant;
}

/** The study's ImagingStudy, referencing its Patient by the patient key's hash and the Endpoint, if any. */
export function mapStudy(study: StudyGroup, endpoint: Reference | undefined, zoneRule: ZoneRule): { resource: ImagingStudy; notes: MappingNotes } {
  const notes = emptyNotes();
  const resource = toImagingStudy(study, { subject: { reference: `Patient/${patientIdOf(patientKey(study))}` }, endpoint, zoneRule }, notes);
  return { resource, notes };
}

/** mapStudy, validated, with the study's say on its Patient. */
export function mapAndValidateStudy(study: StudyGroup, endpoint: Reference | undefined, zoneRule: ZoneRule, validate: Validate): MappedStudy {
  const { resource, notes } = mapStudy(study, endpoint, zoneRule);
  return { resource, problem: validate(resource), notes, patientKey: patientKey(study), patient: patientVariant(study) };
}

/**
 * A patient's Patient from what each of its studies says (every study counts, valid or not, weighing its instances):
 * the demographics chosen by the conflict rule, disagreements appended to `conflicts`.
 */
export function patientOf(key: string, variants: readonly PatientVariant[], studyInstanceUIDs: readonly string[], conflicts: Conflict[] = []): Patient {
  const id = patientIdOf(key);
  return toPatient({ id, attributes: choosePatient(id, variants, conflicts), studyInstanceUIDs });
}
