import type { SeriesAttributes, StudyAttributes } from "../dicom/instance.js";

/**
 * Attributes that are chosen together, so that a choice never pairs values no file had together
 * (a PatientID with another file's issuer, a StudyDate with another file's StudyTime).
 */
export interface AttributeUnit<A> {
  /** DICOM keywords, as the conflict report names them. */
  readonly keywords: string;
  readonly fields: ReadonlyArray<keyof A>;
}

const unit = <A>(keywords: string, ...fields: Array<keyof A>): AttributeUnit<A> => ({ keywords, fields });

export const STUDY_UNITS: ReadonlyArray<AttributeUnit<StudyAttributes>> = [
  unit("PatientID/IssuerOfPatientID", "patientId", "issuerOfPatientId", "issuerOfPatientIdQualifiers"),
  unit("PatientName", "patientName"),
  unit("PatientBirthDate", "patientBirthDate"),
  unit("PatientSex", "patientSex"),
  unit("StudyDate/StudyTime/TimezoneOffsetFromUTC", "date", "time", "timezoneOffset"),
  unit("AccessionNumber/IssuerOfAccessionNumberSequence", "accessionNumber", "accessionIssuer"),
  unit("StudyID", "studyId"),
  unit("ReferringPhysicianName", "referringPhysician"),
  unit("NameOfPhysiciansReadingStudy", "readingPhysicians"),
  unit("StudyDescription", "description"),
  unit("ProcedureCodeSequence", "procedureCodes"),
  unit("ReasonForRequestedProcedureCodeSequence", "reasonCodes"),
  unit("ReasonForTheRequestedProcedure/ReasonForStudy", "reasonTexts"),
  unit("InstitutionName", "institutionName"),
  unit("InstitutionalDepartmentName", "departmentName"),
  unit("StudyComments", "comments"),
];

export const SERIES_UNITS: ReadonlyArray<AttributeUnit<SeriesAttributes>> = [
  unit("SeriesNumber", "number"),
  unit("Modality", "modality"),
  unit("SeriesDescription", "description"),
  unit("SeriesDate/SeriesTime/TimezoneOffsetFromUTC", "date", "time", "timezoneOffset"),
  unit("PerformingPhysicianName", "performingPhysicians"),
  unit("OperatorsName", "operators"),
  unit("InstitutionName", "institutionName"),
  unit("BodyPartExamined", "bodyPartExamined"),
  unit("Laterality/ImageLaterality", "laterality"),
];

/**
 * The documented conflict rule: for each unit, among the instances that have a value for it, the value
 * most instances carry; a tie goes to the value whose JSON sorts first. Instances without the value do
 * not outvote those with it, so a description present in some files is never lost to files without one.
 * `onConflict` gets the instance counts per distinct value, the chosen one first.
 */
export function chooseAttributes<A extends object>(
  variants: Iterable<{ readonly attributes: A; readonly count: number }>,
  units: ReadonlyArray<AttributeUnit<A>>,
  onConflict: (unit: AttributeUnit<A>, tally: number[]) => void,
): A {
  const list = [...variants];
  const chosen: Partial<A> = {};
  for (const u of units) {
    const tally = new Map<string, { values: Partial<A>; count: number }>();
    for (const { attributes, count } of list) {
      const values: Partial<A> = {};
      for (const field of u.fields) if (isPresent(attributes[field])) values[field] = attributes[field];
      if (Object.keys(values).length === 0) continue;
      const key = JSON.stringify(values);
      const entry = tally.get(key);
      if (entry) entry.count += count;
      else tally.set(key, { values, count });
    }
    const ranked = [...tally.entries()].sort(([ka, a], [kb, b]) => b.count - a.count || (ka < kb ? -1 : ka > kb ? 1 : 0));
    if (ranked.length === 0) continue;
    Object.assign(chosen, ranked[0]![1].values);
    if (ranked.length > 1)
      onConflict(
        u,
        ranked.map(([, e]) => e.count),
      );
  }
  return chosen as A;
}

const isPresent = (value: unknown) => value !== undefined && !(Array.isArray(value) && value.length === 0);
