import type { Endpoint, ImagingStudy, Resource, SearchSetBundle } from "../fhir/types.js";
import { validateBundle, validateEndpoint, validateImagingStudy, validatePatient } from "./generated/validators.js";

type Validator = typeof validateImagingStudy;

/**
 * Checks a resource against the schema derived from HL7's R4 JSON schema (compiled at build time) and then
 * against the 1..1 primitives that schema cannot enforce (a primitive may legally be replaced by its `_element`).
 * Returns why the resource is invalid, or undefined. Messages name elements, never their values.
 */
export function validateResource(resource: Resource | SearchSetBundle): string | undefined {
  switch (resource.resourceType) {
    case "ImagingStudy":
      return schemaError(validateImagingStudy, resource) ?? imagingStudyCardinality(resource);
    case "Patient":
      return schemaError(validatePatient, resource);
    case "Endpoint":
      return schemaError(validateEndpoint, resource) ?? endpointCardinality(resource);
    case "Bundle":
      return schemaError(validateBundle, resource) ?? (resource.type ? undefined : "Bundle.type is required (1..1)");
  }
}

function schemaError(validate: Validator, resource: Resource | SearchSetBundle): string | undefined {
  if (validate(resource)) return undefined;
  const [first] = validate.errors ?? [];
  if (!first) return `${resource.resourceType} does not match the FHIR R4 schema`;
  const where = first.instancePath === "" ? resource.resourceType : `${resource.resourceType}${first.instancePath.replace(/\//g, ".")}`;
  const property = (first.params.additionalProperty ?? first.params.missingProperty) as string | undefined;
  return `${where} ${first.message ?? first.keyword}${property ? ` (${property})` : ""} [FHIR R4 schema]`;
}

function imagingStudyCardinality(study: ImagingStudy): string | undefined {
  if (study.status === undefined) return "ImagingStudy.status is required (1..1)";
  if (study.subject?.reference === undefined) return "ImagingStudy.subject must reference a Patient (1..1)";
  for (const [s, series] of study.series.entries()) {
    if (!series.uid) return `ImagingStudy.series.${s}.uid is required (1..1)`;
    for (const [i, instance] of series.instance.entries()) {
      if (!instance.uid) return `ImagingStudy.series.${s}.instance.${i}.uid is required (1..1)`;
      if (!instance.sopClass?.code) return `ImagingStudy.series.${s}.instance.${i}.sopClass is required (1..1)`;
    }
  }
  return undefined;
}

function endpointCardinality(endpoint: Endpoint): string | undefined {
  if (!endpoint.status) return "Endpoint.status is required (1..1)";
  if (!endpoint.address) return "Endpoint.address is required (1..1)";
  return undefined;
}
