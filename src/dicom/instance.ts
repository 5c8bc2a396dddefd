import type { FileFailure, FilePath } from "../reasons.js";
import type { ParsedHeader, Spec, Values } from "./parser.js";
import * as T from "./tags.js";
import {
  type PersonName,
  type TimeOfDay,
  parseDate,
  parsePersonName,
  parseTime,
  parseTimezoneOffset,
  parseUID,
  parseUnsignedInt,
  splitValues,
} from "./values.js";

/** A coded entry of a Code Sequence macro (PS3.3 8.8). */
export interface CodedEntry {
  readonly code?: string;
  readonly scheme?: string;
  readonly schemeVersion?: string;
  readonly meaning?: string;
}

/** Issuer of Accession Number / Issuer of Patient ID qualifiers: the HL7 v2 HD triplet (PS3.3 10.5). */
export interface EntityIssuer {
  readonly localId?: string;
  readonly universalId?: string;
  readonly universalIdType?: string;
}

/** Attributes every instance of a study should agree on, the patient's among them. */
export interface StudyAttributes {
  readonly patientId?: string;
  readonly issuerOfPatientId?: string;
  readonly issuerOfPatientIdQualifiers?: EntityIssuer;
  readonly patientName?: PersonName;
  readonly patientBirthDate?: string;
  readonly patientSex?: string;
  readonly date?: string;
  readonly time?: TimeOfDay;
  readonly timezoneOffset?: string;
  readonly accessionNumber?: string;
  readonly accessionIssuer?: EntityIssuer;
  readonly studyId?: string;
  readonly referringPhysician?: PersonName;
  readonly description?: string;
  readonly procedureCodes?: readonly CodedEntry[];
  readonly reasonCodes?: readonly CodedEntry[];
  readonly reasonTexts?: readonly string[];
  readonly institutionName?: string;
  readonly departmentName?: string;
}

/** Attributes every instance of a series should agree on. */
export interface SeriesAttributes {
  readonly number?: number;
  readonly modality?: string;
  readonly description?: string;
  readonly date?: string;
  readonly time?: TimeOfDay;
  readonly timezoneOffset?: string;
  readonly performingPhysicians?: readonly PersonName[];
  readonly operators?: readonly PersonName[];
  readonly institutionName?: string;
  readonly bodyPartExamined?: string;
  readonly laterality?: string;
}

/** What one file contributes: an instance, and the study and series attributes it carries. */
export interface InstanceRecord {
  readonly path: FilePath;
  readonly studyInstanceUID: string;
  readonly seriesInstanceUID: string;
  readonly sopInstanceUID: string;
  readonly sopClassUID: string;
  readonly instanceNumber?: number;
  /** SR Concept Name or Document Title; the SOP class name stands in when absent. */
  readonly title?: string;
  readonly study: StudyAttributes;
  readonly series: SeriesAttributes;
  /** Value problems that did not stop the instance (an impossible date is dropped, not guessed). */
  readonly warnings: readonly string[];
}

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

/** The UIDs without which a file cannot be an ImagingStudy instance, in the order their absence is reported. */
const REQUIRED_UIDS = [
  { name: "Study Instance UID (0020,000D)", tag: T.StudyInstanceUID, metaTag: undefined, reason: "missing-study-uid" },
  { name: "Series Instance UID (0020,000E)", tag: T.SeriesInstanceUID, metaTag: undefined, reason: "missing-series-uid" },
  { name: "SOP Instance UID (0008,0018)", tag: T.SOPInstanceUID, metaTag: T.MediaStorageSOPInstanceUID, reason: "missing-sop-instance-uid" },
  { name: "SOP Class UID (0008,0016)", tag: T.SOPClassUID, metaTag: T.MediaStorageSOPClassUID, reason: "missing-sop-class" },
] as const;

/** Turns a parsed header into an instance record, or says why the file is not one. */
export function toInstanceRecord(path: FilePath, header: ParsedHeader): InstanceRecord | FileFailure {
  const { dataSet: ds, meta } = header;
  const stopped = header.stoppedEarly;
  if (stopped?.reason === "not-dicom") return { path, reason: "not-dicom", message: stopped.message };
  if (header.isMediaDirectory || text(meta, T.MediaStorageSOPClassUID) === T.MediaStorageDirectoryStorage) {
    return { path, reason: "dicomdir", message: "Directory Information (group 0004) found: a DICOMDIR indexes instances, it is not one" };
  }
  if (ds.size === 0 && stopped) return { path, reason: stopped.reason, message: stopped.message };

  const warnings = [...header.warnings];
  if (stopped) warnings.push(`stopped-early:${stopped.reason}`);
  const values: string[] = [];
  const missing: Array<(typeof REQUIRED_UIDS)[number]> = [];
  for (const required of REQUIRED_UIDS) {
    const value = text(ds, required.tag) ?? (required.metaTag !== undefined ? text(meta, required.metaTag) : undefined);
    if (value === undefined) missing.push(required);
    else values.push(value);
  }
  if (missing.length > 0) {
    const names = missing.map((m) => m.name).join(", ");
    // A header cut short explains a missing attribute better than its absence does.
    if (stopped) return { path, reason: stopped.reason, message: `${stopped.message}; before that, no ${names}` };
    return { path, reason: missing[0]!.reason, message: `no ${names} in the header` };
  }
  for (const [i, value] of values.entries()) {
    if (parseUID(value) === undefined) {
      const name = REQUIRED_UIDS[i]!.name;
      return { path, reason: "invalid-value", message: `${name} is not a UID (digits and dots, at most 64 characters; this one has ${value.length} characters)` };
    }
  }
  const [studyInstanceUID, seriesInstanceUID, sopInstanceUID, sopClassUID] = values as [string, string, string, string];

  const date = (tag: number, name: string) => checked(text(ds, tag), parseDate, name, warnings);
  const time = (tag: number, name: string) => checked(text(ds, tag), parseTime, name, warnings);
  const timezoneOffset = checked(text(ds, T.TimezoneOffsetFromUTC), parseTimezoneOffset, "invalid-timezone-offset", warnings);
  const requestItems = items(ds, T.RequestAttributesSequence);
  const study: StudyAttributes = {
    patientId: text(ds, T.PatientID),
    issuerOfPatientId: text(ds, T.IssuerOfPatientID),
    issuerOfPatientIdQualifiers: issuer(items(ds, T.IssuerOfPatientIDQualifiersSequence)[0]),
    patientName: personNames(ds, T.PatientName)[0],
    patientBirthDate: date(T.PatientBirthDate, "invalid-birth-date"),
    patientSex: text(ds, T.PatientSex),
    date: date(T.StudyDate, "invalid-study-date"),
    time: time(T.StudyTime, "invalid-study-time"),
    timezoneOffset,
    accessionNumber: text(ds, T.AccessionNumber),
    accessionIssuer: issuer(items(ds, T.IssuerOfAccessionNumberSequence)[0]),
    studyId: text(ds, T.StudyID),
    referringPhysician: personNames(ds, T.ReferringPhysicianName)[0],
    description: text(ds, T.StudyDescription),
    procedureCodes: codes(items(ds, T.ProcedureCodeSequence)),
    reasonCodes: codes([
      ...items(ds, T.ReasonForRequestedProcedureCodeSequence),
      ...requestItems.flatMap((item) => items(item, T.ReasonForRequestedProcedureCodeSequence)),
    ]),
    reasonTexts: unique([
      ...splitValues(text(ds, T.ReasonForTheRequestedProcedure) ?? ""),
      ...requestItems.flatMap((item) => splitValues(text(item, T.ReasonForTheRequestedProcedure) ?? "")),
      ...splitValues(text(ds, T.ReasonForStudy) ?? ""),
    ]),
    institutionName: text(ds, T.InstitutionName),
    departmentName: text(ds, T.InstitutionalDepartmentName),
  };
  const series: SeriesAttributes = {
    number: checked(text(ds, T.SeriesNumber), parseUnsignedInt, "invalid-series-number", warnings),
    modality: text(ds, T.Modality),
    description: text(ds, T.SeriesDescription),
    date: date(T.SeriesDate, "invalid-series-date"),
    time: time(T.SeriesTime, "invalid-series-time"),
    timezoneOffset,
    performingPhysicians: personNames(ds, T.PerformingPhysicianName),
    operators: personNames(ds, T.OperatorsName),
    institutionName: text(ds, T.InstitutionName),
    bodyPartExamined: text(ds, T.BodyPartExamined),
    laterality: text(ds, T.Laterality) ?? text(ds, T.ImageLaterality),
  };
  return {
    path,
    studyInstanceUID,
    seriesInstanceUID,
    sopInstanceUID,
    sopClassUID,
    instanceNumber: checked(text(ds, T.InstanceNumber), parseUnsignedInt, "invalid-instance-number", warnings),
    title: codes(items(ds, T.ConceptNameCodeSequence))[0]?.meaning ?? text(ds, T.DocumentTitle),
    study: compact(study),
    series: compact(series),
    warnings,
  };
}

export const isInstanceRecord = (r: InstanceRecord | FileFailure): r is InstanceRecord => "sopInstanceUID" in r;

function text(values: Values, tag: number): string | undefined {
  const v = values.get(tag);
  return typeof v === "string" && v !== "" ? v : undefined;
}

function items(values: Values, tag: number): Values[] {
  const v = values.get(tag);
  return Array.isArray(v) ? v : [];
}

function checked<V>(value: string | undefined, parse: (s: string) => V | undefined, warning: string, warnings: string[]): V | undefined {
  if (value === undefined) return undefined;
  const parsed = parse(value);
  if (parsed === undefined) warnings.push(warning);
  return parsed;
}

function personNames(values: Values, tag: number): PersonName[] {
  return splitValues(text(values, tag) ?? "").flatMap((v) => parsePersonName(v) ?? []);
}

function codes(list: Values[]): CodedEntry[] {
  return list.flatMap((item) => {
    const entry = compact({
      code: text(item, T.CodeValue) ?? text(item, T.LongCodeValue) ?? text(item, T.URNCodeValue),
      scheme: text(item, T.CodingSchemeDesignator),
      schemeVersion: text(item, T.CodingSchemeVersion),
      meaning: text(item, T.CodeMeaning),
    });
    return entry.code || entry.meaning ? [entry] : [];
  });
}

function issuer(item: Values | undefined): EntityIssuer | undefined {
  if (!item) return undefined;
  const result = compact({
    localId: text(item, T.LocalNamespaceEntityID),
    universalId: text(item, T.UniversalEntityID),
    universalIdType: text(item, T.UniversalEntityIDType),
  });
  return Object.keys(result).length > 0 ? result : undefined;
}

const unique = (values: string[]) => [...new Set(values)];

/** Drops absent members (undefined, empty lists) so that equal attributes serialize to equal JSON: records are grouped by it. */
function compact<O extends object>(o: O): O {
  for (const key of Object.keys(o) as Array<keyof O>) {
    const value = o[key];
    if (value === undefined || (Array.isArray(value) && value.length === 0)) delete o[key];
  }
  return o;
}
