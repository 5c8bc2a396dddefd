// What dcm2fhir reads of a file: the attributes with their VRs (needed where the transfer syntax is implicit VR),
// and which of them make the study and the series attributes (their raw bytes key a cache, see instance.ts).
import type { Spec } from "./header.js";
import * as T from "./tags.js";

const CODE_ITEM: Spec = new Map([
  [T.CodeValue, "SH"],
  [T.CodingSchemeDesignator, "SH"],
  [T.CodingSchemeVersion, "SH"],
  [T.CodeMeaning, "LO"],
  [T.LongCodeValue, "UC"],
  [T.URNCodeValue, "UR"],
]);
const ISSUER_ITEM: Spec = new Map([
  [T.LocalNamespaceEntityID, "UT"],
  [T.UniversalEntityID, "UT"],
  [T.UniversalEntityIDType, "CS"],
]);

/** The attributes dcm2fhir reads, with their VRs (needed where the transfer syntax is implicit VR). */
export const INSTANCE_SPEC: Spec = new Map<number, string | Spec>([
  [T.SpecificCharacterSet, "CS"],
  [T.SOPClassUID, "UI"],
  [T.SOPInstanceUID, "UI"],
  [T.StudyDate, "DA"],
  [T.SeriesDate, "DA"],
  [T.StudyTime, "TM"],
  [T.SeriesTime, "TM"],
  [T.AccessionNumber, "SH"],
  [T.IssuerOfAccessionNumberSequence, ISSUER_ITEM],
  [T.Modality, "CS"],
  [T.InstitutionName, "LO"],
  [T.ReferringPhysicianName, "PN"],
  [T.TimezoneOffsetFromUTC, "SH"],
  [T.StudyDescription, "LO"],
  [T.ProcedureCodeSequence, CODE_ITEM],
  [T.SeriesDescription, "LO"],
  [T.InstitutionalDepartmentName, "LO"],
  [T.PerformingPhysicianName, "PN"],
  [T.NameOfPhysiciansReadingStudy, "PN"],
  [T.OperatorsName, "PN"],
  [T.PatientName, "PN"],
  [T.PatientID, "LO"],
  [T.IssuerOfPatientID, "LO"],
  [T.IssuerOfPatientIDQualifiersSequence, ISSUER_ITEM],
  [T.PatientBirthDate, "DA"],
  [T.PatientSex, "CS"],
  [T.BodyPartExamined, "CS"],
  [T.StudyInstanceUID, "UI"],
  [T.SeriesInstanceUID, "UI"],
  [T.StudyID, "SH"],
  [T.SeriesNumber, "IS"],
  [T.InstanceNumber, "IS"],
  [T.Laterality, "CS"],
  [T.ImageLaterality, "CS"],
  [T.ReasonForStudy, "LO"],
  [T.StudyComments, "LT"],
  [
    T.RequestAttributesSequence,
    new Map<number, string | Spec>([
      [T.ReasonForTheRequestedProcedure, "LO"],
      [T.ReasonForRequestedProcedureCodeSequence, CODE_ITEM],
    ]),
  ],
  [T.ReasonForTheRequestedProcedure, "LO"],
  [T.ReasonForRequestedProcedureCodeSequence, CODE_ITEM],
  [T.ConceptNameCodeSequence, CODE_ITEM],
  [T.DocumentTitle, "ST"],
]);

/** Tags whose values make the study (series) attributes. Both sets are top-level elements. */
const STUDY_TAGS = [
  T.PatientID,
  T.IssuerOfPatientID,
  T.IssuerOfPatientIDQualifiersSequence,
  T.PatientName,
  T.PatientBirthDate,
  T.PatientSex,
  T.StudyDate,
  T.StudyTime,
  T.TimezoneOffsetFromUTC,
  T.AccessionNumber,
  T.IssuerOfAccessionNumberSequence,
  T.StudyID,
  T.ReferringPhysicianName,
  T.NameOfPhysiciansReadingStudy,
  T.StudyDescription,
  T.ProcedureCodeSequence,
  T.RequestAttributesSequence,
  T.ReasonForRequestedProcedureCodeSequence,
  T.ReasonForTheRequestedProcedure,
  T.ReasonForStudy,
  T.StudyComments,
  T.InstitutionName,
  T.InstitutionalDepartmentName,
];
const SERIES_TAGS = [
  T.SeriesNumber,
  T.Modality,
  T.SeriesDescription,
  T.SeriesDate,
  T.SeriesTime,
  T.TimezoneOffsetFromUTC,
  T.PerformingPhysicianName,
  T.OperatorsName,
  T.InstitutionName,
  T.BodyPartExamined,
  T.Laterality,
  T.ImageLaterality,
];
/** Key 0 is the study's, key 1 the series'. */
export const KEY_TAGS: ReadonlyMap<number, number> = new Map([
  ...STUDY_TAGS.map((tag) => [tag, 1] as const),
  ...SERIES_TAGS.map((tag) => [tag, (STUDY_TAGS.includes(tag) ? 1 : 0) | 2] as const),
]);
