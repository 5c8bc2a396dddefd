import type { EntityIssuer, SeriesAttributes, StudyAttributes } from "../dicom/instance.js";
import type { PersonName } from "../dicom/values.js";
import type { InstanceGroup, SeriesGroup, StudyGroup } from "../group/studies.js";
import { ACQUISITION_MODALITIES } from "./codes/acquisitionModality.js";
import { BODY_PART_EXAMINED } from "./codes/bodyPart.js";
import { SOP_CLASS_NAME } from "./codes/sopClassName.js";
import { DICOM_CODE_SYSTEM, SNOMED_CT, type ZoneRule, codeableConcept, dateTime, displayName, fhirCode, fhirString } from "./datatypes.js";
import type { CodeableConcept, Coding, Identifier, ImagingStudy, ImagingStudyInstance, ImagingStudyPerformer, ImagingStudySeries, Reference } from "./types.js";

export interface ImagingStudyContext {
  /** `Patient/<id>` of the study's patient. */
  readonly subject: Reference;
  readonly endpoint?: Reference;
  readonly zoneRule: ZoneRule;
}

/** Counts of mapping decisions a user should know about, summed into report.json. */
export interface MappingNotes {
  /** dateTimes whose offset came from --timezone or the system zone, not from (0008,0201). */
  zoneFromRule: number;
  /** Hour-only times dropped (FHIR dateTime has no hour precision). */
  timeDropped: number;
  /** Series without Modality (0008,0060): written with a data-absent-reason, as series.modality is 1..1. */
  modalityAbsent: number;
  /** Body Part Examined values without a SNOMED CT code in PS3.16 Annex L: kept as display text. */
  bodyPartUncoded: number;
}

export const emptyNotes = (): MappingNotes => ({ zoneFromRule: 0, timeDropped: 0, modalityAbsent: 0, bodyPartUncoded: 0 });

const V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203";
const PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
const DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason";

/** Laterality (0020,0060) and Image Laterality (0020,0062): L, R and B have SNOMED CT codes; U (unpaired) and others are omitted. */
const LATERALITY: ReadonlyMap<string, Coding> = new Map([
  ["L", { system: SNOMED_CT, code: "7771000", display: "Left" }],
  ["R", { system: SNOMED_CT, code: "24028007", display: "Right" }],
  ["B", { system: SNOMED_CT, code: "51440002", display: "Right and left" }],
]);

/**
 * One study as an ImagingStudy, following the R4 DICOM mapping (https://hl7.org/fhir/R4/imagingstudy-mappings.html).
 * Elements appear in the order of the resource definition so that the output reads like the spec.
 */
export function toImagingStudy(study: StudyGroup, context: ImagingStudyContext, notes: MappingNotes): ImagingStudy {
  const a = study.attributes;
  const started = noteDateTime(dateTime(a.date, a.time, a.timezoneOffset, context.zoneRule), notes);
  const referrer = practitioner(a.referringPhysician);
  const interpreter = (a.readingPhysicians ?? []).flatMap((name) => practitioner(name) ?? []);
  const accession = accessionIdentifier(a);
  const location = fhirString([a.departmentName, a.institutionName].flatMap((s) => fhirString(s) ?? []).join(", "));
  // R4: the study lists only acquisition modalities (CID 29); an SR or SEG series keeps its own modality.
  const modalities = [...new Set(study.series.flatMap((s) => fhirCode(s.attributes.modality) ?? []))].filter((m) => ACQUISITION_MODALITIES.has(m)).sort();
  const procedureCode = (a.procedureCodes ?? []).flatMap((c) => codeableConcept(c) ?? []);
  const description = fhirString(a.description);
  const note = fhirString(a.comments);
  const reasonCode = [
    ...(a.reasonCodes ?? []).flatMap((c) => codeableConcept(c) ?? []),
    ...(a.reasonTexts ?? []).flatMap((t) => (fhirString(t) ? [{ text: fhirString(t)! }] : [])),
  ];
  return {
    resourceType: "ImagingStudy",
    // Study Instance UIDs are at most 64 digits and dots: already a valid FHIR id, and stable across runs.
    id: study.studyInstanceUID,
    identifier: studyIdentifiers(study),
    status: "available",
    ...(modalities.length > 0 && { modality: modalities.map((code) => ({ system: DICOM_CODE_SYSTEM, code })) }),
    subject: context.subject,
    ...(started && { started }),
    // IHE practice: the order is the ServiceRequest its accession number identifies, referenced by identifier.
    ...(accession && { basedOn: [{ type: "ServiceRequest", identifier: accession }] }),
    ...(referrer && { referrer }),
    ...(interpreter.length > 0 && { interpreter }),
    ...(context.endpoint && { endpoint: [context.endpoint] }),
    numberOfSeries: study.series.length,
    numberOfInstances: study.instanceCount,
    // Without a Procedure Code Sequence, the study description is the best statement of the procedure.
    ...(procedureCode.length > 0 ? { procedureCode } : description ? { procedureCode: [{ text: description }] } : {}),
    ...(location && { location: { display: location } }),
    ...(reasonCode.length > 0 && { reasonCode }),
    ...(note && { note: [{ text: note }] }),
    ...(description && { description }),
    series: study.series.map((s) => toSeries(s, context, notes)),
  };
}

function studyIdentifiers(study: StudyGroup): Identifier[] {
  const a = study.attributes;
  const identifiers: Identifier[] = [{ use: "official", system: "urn:dicom:uid", value: `urn:oid:${study.studyInstanceUID}` }];
  const accession = accessionIdentifier(a);
  if (accession) identifiers.push({ use: "usual", ...accession });
  const studyId = fhirString(a.studyId);
  if (studyId) identifiers.push({ use: "secondary", value: studyId });
  return identifiers;
}

/** Accession Number (0008,0050) with its issuer (0008,0051): the identifier of the order (v2-0203 ACSN). */
function accessionIdentifier(a: StudyAttributes): Identifier | undefined {
  const value = fhirString(a.accessionNumber);
  return value ? { type: { coding: [{ system: V2_0203, code: "ACSN" }] }, ...issuerSystemAndAssigner(a.accessionIssuer), value } : undefined;
}

/**
 * An HL7 v2 HD issuer (PS3.3 10.5) as Identifier.system and assigner: a universal entity ID of type ISO is
 * an OID, URI and URL are URIs, UUID a urn:uuid; a local namespace has no URI, so it names the assigner.
 */
export function issuerSystemAndAssigner(issuer: EntityIssuer | undefined, localName?: string): Pick<Identifier, "system" | "assigner"> {
  const id = fhirCode(issuer?.universalId);
  const type = issuer?.universalIdType?.trim().toUpperCase();
  let system: string | undefined;
  if (id && type === "ISO" && /^[0-2](\.(0|[1-9][0-9]*))+$/.test(id)) system = `urn:oid:${id}`;
  else if (id && (type === "URI" || type === "URL") && /^\S+:\S*$/.test(id)) system = id;
  else if (id && type === "UUID" && /^[0-9a-fA-F-]{36}$/.test(id)) system = `urn:uuid:${id.toLowerCase()}`;
  const assignerName = fhirString(localName ?? issuer?.localId);
  return { ...(system && { system }), ...(assignerName && { assigner: { display: assignerName } }) };
}

function toSeries(series: SeriesGroup, context: ImagingStudyContext, notes: MappingNotes): ImagingStudySeries {
  const a = series.attributes;
  const modalityCode = fhirCode(a.modality);
  if (!modalityCode) notes.modalityAbsent++;
  const started = noteDateTime(dateTime(a.date, a.time, a.timezoneOffset, context.zoneRule), notes);
  const bodySite = bodySiteOf(a.bodyPartExamined, notes);
  const laterality = a.laterality === undefined ? undefined : LATERALITY.get(a.laterality.trim().toUpperCase());
  const performer = performersOf(a);
  const description = fhirString(a.description);
  return {
    uid: series.seriesInstanceUID,
    ...(a.number !== undefined && { number: a.number }),
    modality: modalityCode ? { system: DICOM_CODE_SYSTEM, code: modalityCode } : { extension: [{ url: DATA_ABSENT_REASON, valueCode: "unknown" }] },
    ...(description && { description }),
    numberOfInstances: series.instances.length,
    ...(bodySite && { bodySite }),
    ...(laterality && { laterality }),
    ...(started && { started }),
    ...(performer.length > 0 && { performer }),
    instance: series.instances.map(toInstance),
  };
}

function toInstance(instance: InstanceGroup): ImagingStudyInstance {
  const className = SOP_CLASS_NAME.get(instance.sopClassUID);
  const title = fhirString(instance.title) ?? className;
  return {
    uid: instance.sopInstanceUID,
    sopClass: { system: "urn:ietf:rfc:3986", code: `urn:oid:${instance.sopClassUID}`, ...(className && { display: className }) },
    ...(instance.instanceNumber !== undefined && { number: instance.instanceNumber }),
    ...(title && { title }),
  };
}

function bodySiteOf(bodyPartExamined: string | undefined, notes: MappingNotes): Coding | undefined {
  const term = fhirCode(bodyPartExamined)?.toUpperCase();
  if (!term) return undefined;
  const concept = BODY_PART_EXAMINED.get(term);
  if (concept) return { system: SNOMED_CT, code: concept.code, display: concept.display };
  notes.bodyPartUncoded++;
  return { display: term };
}

function performersOf(a: SeriesAttributes): ImagingStudyPerformer[] {
  const role = (code: "PRF" | "SPRF", display: string): CodeableConcept => ({ coding: [{ system: PARTICIPATION_TYPE, code, display }] });
  const physicians = (a.performingPhysicians ?? []).flatMap((n) => practitioner(n) ?? []).map((actor) => ({ function: role("PRF", "performer"), actor }));
  // Operators assist the performing physician: v3 SPRF, "secondary performer".
  const operators = (a.operators ?? []).flatMap((n) => practitioner(n) ?? []).map((actor) => ({ function: role("SPRF", "secondary performer"), actor }));
  const institution = fhirString(a.institutionName);
  const organization = institution ? [{ function: role("PRF", "performer"), actor: { type: "Organization", display: institution } }] : [];
  return [...physicians, ...operators, ...organization];
}

function practitioner(name: PersonName | undefined): Reference | undefined {
  const display = displayName(name);
  return display ? { type: "Practitioner", display } : undefined;
}

function noteDateTime(result: ReturnType<typeof dateTime>, notes: MappingNotes): string | undefined {
  if (result?.zoneFromRule) notes.zoneFromRule++;
  if (result?.timeDropped) notes.timeDropped++;
  return result?.value;
}
