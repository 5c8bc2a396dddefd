import { createHash } from "node:crypto";
import type { StudyAttributes } from "../dicom/instance.js";
import { type AttributeUnit, STUDY_UNITS, chooseAttributes } from "./choose.js";
import { type Conflict, type StudyGroup, describe } from "./studies.js";

/** The patient attributes of StudyAttributes: what a Patient resource is made of. */
export type PatientAttributes = Pick<
  StudyAttributes,
  "patientId" | "issuerOfPatientId" | "issuerOfPatientIdQualifiers" | "patientName" | "patientBirthDate" | "patientSex"
>;

export interface PatientGroup {
  /** Patient.id: a hash of the identity, so it is stable across runs and does not spell out the Patient ID. */
  readonly id: string;
  readonly attributes: PatientAttributes;
  readonly studyInstanceUIDs: readonly string[];
}

const PATIENT_FIELDS: ReadonlySet<keyof StudyAttributes> = new Set<keyof PatientAttributes>([
  "patientId",
  "issuerOfPatientId",
  "issuerOfPatientIdQualifiers",
  "patientName",
  "patientBirthDate",
  "patientSex",
]);
const PATIENT_UNITS = STUDY_UNITS.filter((u) => u.fields.every((f) => PATIENT_FIELDS.has(f))) as ReadonlyArray<AttributeUnit<PatientAttributes>>;

/**
 * Groups studies by patient: one patient per Patient ID (0010,0020) and its issuer (0010,0021, 0010,0024).
 * A study without a Patient ID gets a patient of its own, keyed by its Study Instance UID: ImagingStudy.subject
 * is 1..1, and joining such studies on an absent identifier would merge strangers.
 * Demographics that differ between a patient's studies are chosen by the same rule as within a study,
 * each study weighing as many instances as it has.
 */
export function groupPatients(studies: readonly StudyGroup[]): { patients: PatientGroup[]; conflicts: Conflict[]; patientOfStudy: Map<string, string> } {
  const byKey = new Map<string, { studies: StudyGroup[] }>();
  for (const study of studies) {
    const key = patientKey(study);
    const group = byKey.get(key);
    if (group) group.studies.push(study);
    else byKey.set(key, { studies: [study] });
  }
  const conflicts: Conflict[] = [];
  const patientOfStudy = new Map<string, string>();
  const patients = [...byKey.entries()].map(([key, { studies: list }]): PatientGroup => {
    const id = patientIdOf(key);
    const attributes = choosePatient(id, list.map(patientVariant), conflicts);
    for (const s of list) patientOfStudy.set(s.studyInstanceUID, id);
    return { id, attributes, studyInstanceUIDs: list.map((s) => s.studyInstanceUID) };
  });
  patients.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { patients, conflicts, patientOfStudy };
}

/** What one study says of its patient: its patient attributes, weighing as many instances as it has. */
export interface PatientVariant {
  readonly attributes: PatientAttributes;
  readonly count: number;
}

export const patientVariant = (study: StudyGroup): PatientVariant => ({ attributes: patientAttributes(study.attributes), count: study.instanceCount });

/** A patient's demographics from its studies' variants; disagreements are appended to `conflicts`. */
export function choosePatient(id: string, variants: readonly PatientVariant[], conflicts: Conflict[]): PatientAttributes {
  return chooseAttributes(variants, PATIENT_UNITS, (unit, tally) => conflicts.push({ level: "patient", patient: id, ...describe(unit, tally) }));
}

/** Patient.id of a patient key: a hash, stable across runs, that does not spell out the Patient ID. */
export const patientIdOf = (key: string): string => createHash("sha256").update(key).digest("hex").slice(0, 32);

/** Which patient a study belongs to (see groupPatients). */
export function patientKey(study: StudyGroup): string {
  const a = study.attributes;
  if (a.patientId === undefined) return JSON.stringify(["study", study.studyInstanceUID]);
  const q = a.issuerOfPatientIdQualifiers;
  return JSON.stringify(["patient", a.issuerOfPatientId ?? "", q?.universalId ?? "", q?.universalIdType ?? "", a.patientId]);
}

function patientAttributes(a: StudyAttributes): PatientAttributes {
  const picked: Partial<Record<keyof PatientAttributes, unknown>> = {};
  for (const field of PATIENT_FIELDS) if (a[field] !== undefined) picked[field as keyof PatientAttributes] = a[field];
  return picked as PatientAttributes;
}
