// The ImagingStudy search parameters dcm2fhir answers (R4 https://hl7.org/fhir/R4/imagingstudy.html#search),
// each with the values it finds in a resource: what the index stores, one row per value.
import { type Range, dateRange } from "../fhir/dateRange.js";

export const IMAGING_STUDY_STATUS = "http://hl7.org/fhir/imagingstudy-status";

/** Token parameters, with the number the index stores them under. */
export const TOKEN_PARAMETERS = {
  _id: 0,
  identifier: 1,
  patient: 2,
  "patient.identifier": 3,
  modality: 4,
  instance: 5,
  series: 6,
  status: 7,
} as const;

export type TokenParameter = keyof typeof TOKEN_PARAMETERS;
export type DateParameter = "started";
export type SearchParameter = TokenParameter | DateParameter;

/** Bits of a study's `present` mask: which parameters have a value, for :missing. */
export const PRESENT_BIT: Readonly<Record<SearchParameter, number>> = {
  ...(Object.fromEntries(Object.entries(TOKEN_PARAMETERS).map(([name, code]) => [name, 1 << code])) as Record<TokenParameter, number>),
  started: 1 << 8,
};

/** For the CapabilityStatement and the README: the R4 definition each parameter follows. */
export const PARAMETER_DEFINITIONS: ReadonlyArray<{
  readonly name: SearchParameter;
  readonly type: "token" | "reference" | "date";
  readonly definition?: string;
  readonly documentation: string;
}> = [
  { name: "_id", type: "token", definition: "http://hl7.org/fhir/SearchParameter/Resource-id", documentation: "ImagingStudy.id (the Study Instance UID)" },
  {
    name: "identifier",
    type: "token",
    definition: "http://hl7.org/fhir/SearchParameter/clinical-identifier",
    documentation: "ImagingStudy.identifier: Study Instance UID (urn:dicom:uid|urn:oid:1.2.3 or urn:dicom:uid|1.2.3), accession number, Study ID",
  },
  {
    name: "patient",
    type: "reference",
    definition: "http://hl7.org/fhir/SearchParameter/clinical-patient",
    documentation: "ImagingStudy.subject as Patient/{id}, {id} or [base]Patient/{id}",
  },
  { name: "patient.identifier", type: "token", documentation: "chained: Patient.identifier of the study's subject (Patient ID, with its issuer as system)" },
  { name: "modality", type: "token", definition: "http://hl7.org/fhir/SearchParameter/ImagingStudy-modality", documentation: "ImagingStudy.series.modality" },
  {
    name: "instance",
    type: "token",
    definition: "http://hl7.org/fhir/SearchParameter/ImagingStudy-instance",
    documentation: "ImagingStudy.series.instance.uid (no system: instance=|uid matches)",
  },
  {
    name: "series",
    type: "token",
    definition: "http://hl7.org/fhir/SearchParameter/ImagingStudy-series",
    documentation: "ImagingStudy.series.uid (no system: series=|uid matches)",
  },
  {
    name: "started",
    type: "date",
    definition: "http://hl7.org/fhir/SearchParameter/ImagingStudy-started",
    documentation: "ImagingStudy.started; values without a zone are read in the zone the folder was converted with",
  },
  {
    name: "status",
    type: "token",
    definition: "http://hl7.org/fhir/SearchParameter/ImagingStudy-status",
    documentation: "ImagingStudy.status, system http://hl7.org/fhir/imagingstudy-status",
  },
];

/** One searchable value: the system is "" where the element has none. */
export interface TokenRow {
  readonly parameter: number;
  readonly system: string;
  readonly code: string;
}

/**
 * Parameters with at most one value a study, and that value's system: the index keeps them in the study's own row
 * (a column each) rather than as token rows: a sixth fewer rows to write, and a patient's studies one index range.
 */
export const STUDY_COLUMN_PARAMETERS = {
  _id: { column: "id", system: "" },
  patient: { column: "patient", system: "" },
  status: { column: "status", system: IMAGING_STUDY_STATUS },
} as const satisfies Partial<Record<TokenParameter, { column: string; system: string }>>;

/** What a study contributes to the index. */
export interface StudyValues {
  readonly id: string;
  /** identifier, modality, instance and series; the other token parameters are the fields below. */
  readonly tokens: readonly TokenRow[];
  readonly started?: Range;
  readonly present: number;
  readonly status?: string;
  /** The Patient it references (patient, patient.identifier through the Patient's identifiers, _include). */
  readonly patient?: string;
  readonly endpoints: readonly string[];
}

/** FHIR id (R4 2.24.0.1): what a local reference can name. */
export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const PATIENT_REFERENCE = /^Patient\/([A-Za-z0-9\-.]{1,64})$/;
const ENDPOINT_REFERENCE = /^Endpoint\/([A-Za-z0-9\-.]{1,64})$/;

// Plain JSON as read from NDJSON: every element optional, since the index takes what FHIR allows.
export interface JsonIdentifier {
  readonly system?: unknown;
  readonly value?: unknown;
}
export interface JsonImagingStudy {
  readonly id?: unknown;
  readonly identifier?: readonly JsonIdentifier[];
  readonly status?: unknown;
  readonly subject?: { readonly reference?: unknown };
  readonly started?: unknown;
  readonly endpoint?: ReadonlyArray<{ readonly reference?: unknown }>;
  readonly series?: ReadonlyArray<{
    readonly uid?: unknown;
    readonly modality?: { readonly system?: unknown; readonly code?: unknown };
    readonly instance?: ReadonlyArray<{ readonly uid?: unknown }>;
  }>;
}

/** Patient.identifier as token rows of patient.identifier: what the chained parameter matches. */
export function patientIdentifierRows(patient: { readonly identifier?: readonly JsonIdentifier[] }): TokenRow[] {
  const parameter = TOKEN_PARAMETERS["patient.identifier"];
  return asArray(patient.identifier).flatMap((i) =>
    typeof i.value === "string" && i.value !== "" ? [{ parameter, system: typeof i.system === "string" ? i.system : "", code: i.value }] : [],
  );
}

/**
 * The values of every parameter in one ImagingStudy. `patientHasIdentifier` says whether the subject has an
 * identifier (for patient.identifier:missing); `zone` reads a `started` without a zone. Elements of the wrong shape
 * are skipped, never guessed.
 */
export function studyValues(study: JsonImagingStudy, zone: string, patientHasIdentifier: (id: string) => boolean): StudyValues {
  const id = String(study.id);
  // A value may repeat (a modality across series): the index keeps one row of each.
  const tokens: TokenRow[] = [];
  let present = PRESENT_BIT._id;
  const add = (parameter: number, system: unknown, code: unknown) => {
    if (typeof code !== "string" || code === "") return;
    tokens.push({ parameter, system: typeof system === "string" ? system : "", code });
    present |= 1 << parameter;
  };
  for (const i of asArray(study.identifier)) add(TOKEN_PARAMETERS.identifier, i.system, i.value);
  const status = typeof study.status === "string" && study.status !== "" ? study.status : undefined;
  if (status !== undefined) present |= PRESENT_BIT.status;
  const patient = typeof study.subject?.reference === "string" ? PATIENT_REFERENCE.exec(study.subject.reference)?.[1] : undefined;
  if (patient !== undefined) {
    present |= PRESENT_BIT.patient;
    if (patientHasIdentifier(patient)) present |= PRESENT_BIT["patient.identifier"];
  }
  for (const series of asArray(study.series)) {
    add(TOKEN_PARAMETERS.series, "", series.uid);
    add(TOKEN_PARAMETERS.modality, series.modality?.system, series.modality?.code);
    for (const instance of asArray(series.instance)) add(TOKEN_PARAMETERS.instance, "", instance.uid);
  }
  const started = typeof study.started === "string" ? dateRange(study.started, zone) : undefined;
  if (started) present |= PRESENT_BIT.started;
  const endpoints = asArray(study.endpoint).flatMap((e) => (typeof e.reference === "string" ? (ENDPOINT_REFERENCE.exec(e.reference)?.[1] ?? []) : []));
  return { id, tokens, ...(started && { started }), present, ...(status !== undefined && { status }), ...(patient !== undefined && { patient }), endpoints };
}

function asArray<T>(value: readonly T[] | undefined): readonly T[] {
  return Array.isArray(value) ? value : [];
}
