// The parts of FHIR R4 that dcm2fhir writes, as plain JSON types (https://hl7.org/fhir/R4/).

export interface Coding {
  readonly system?: string;
  readonly version?: string;
  readonly code?: string;
  readonly display?: string;
  readonly extension?: readonly Extension[];
}

export interface CodeableConcept {
  readonly coding?: readonly Coding[];
  readonly text?: string;
}

export interface Extension {
  readonly url: string;
  readonly valueCode?: string;
}

export interface Reference {
  readonly reference?: string;
  readonly type?: string;
  readonly identifier?: Identifier;
  readonly display?: string;
}

export interface Annotation {
  readonly text: string;
}

export interface Identifier {
  readonly use?: "usual" | "official" | "temp" | "secondary" | "old";
  readonly type?: CodeableConcept;
  readonly system?: string;
  readonly value?: string;
  readonly assigner?: Reference;
}

export interface HumanName {
  readonly extension?: readonly Extension[];
  readonly use?: string;
  readonly text?: string;
  readonly family?: string;
  readonly given?: readonly string[];
  readonly prefix?: readonly string[];
  readonly suffix?: readonly string[];
}

export interface ImagingStudyInstance {
  readonly uid: string;
  readonly sopClass: Coding;
  readonly number?: number;
  readonly title?: string;
}

export interface ImagingStudyPerformer {
  readonly function?: CodeableConcept;
  readonly actor: Reference;
}

export interface ImagingStudySeries {
  readonly uid: string;
  readonly number?: number;
  readonly modality: Coding;
  readonly description?: string;
  readonly numberOfInstances: number;
  readonly bodySite?: Coding;
  readonly laterality?: Coding;
  readonly started?: string;
  readonly performer?: readonly ImagingStudyPerformer[];
  readonly instance: readonly ImagingStudyInstance[];
}

export interface ImagingStudy {
  readonly resourceType: "ImagingStudy";
  readonly id: string;
  readonly identifier: readonly Identifier[];
  readonly status: "available";
  readonly modality?: readonly Coding[];
  readonly subject: Reference;
  readonly started?: string;
  readonly basedOn?: readonly Reference[];
  readonly referrer?: Reference;
  readonly interpreter?: readonly Reference[];
  readonly endpoint?: readonly Reference[];
  readonly numberOfSeries: number;
  readonly numberOfInstances: number;
  readonly procedureCode?: readonly CodeableConcept[];
  readonly location?: Reference;
  readonly reasonCode?: readonly CodeableConcept[];
  readonly note?: readonly Annotation[];
  readonly description?: string;
  readonly series: readonly ImagingStudySeries[];
}

export interface Patient {
  readonly resourceType: "Patient";
  readonly id: string;
  readonly identifier?: readonly Identifier[];
  readonly name?: readonly HumanName[];
  readonly gender?: "male" | "female" | "other" | "unknown";
  readonly birthDate?: string;
}

export interface Endpoint {
  readonly resourceType: "Endpoint";
  readonly id: string;
  readonly status: "active";
  readonly connectionType: Coding;
  readonly name?: string;
  readonly payloadType: readonly CodeableConcept[];
  readonly payloadMimeType?: readonly string[];
  readonly address: string;
}

export interface BundleEntry {
  readonly fullUrl: string;
  readonly resource: ImagingStudy;
  readonly search: { readonly mode: "match" };
}

export interface SearchSetBundle {
  readonly resourceType: "Bundle";
  readonly type: "searchset";
  readonly total: number;
  readonly entry?: readonly BundleEntry[];
}

export type Resource = ImagingStudy | Patient | Endpoint;

/** The resource types dcm2fhir writes (and `load` sends, in this order of dependence reversed). */
export type ResourceType = "ImagingStudy" | "Patient" | "Endpoint";
