// HL7's complete FHIR R4 JSON schema, compiled at test time: an independent check of what the converter
// validates against its derived (trimmed) schemas.
import { readFileSync } from "node:fs";
import { fhirAjv } from "../../scripts/build-validators.js";
import { officialSchemaPath } from "../../scripts/derive-schemas.js";

type Validate = ((data: unknown) => boolean) & { errors?: unknown };
let validate: Validate | undefined;

/** Validates any resource against the official schema (its root is a oneOf over every resource type). */
export function officialValidator(): Validate {
  if (validate) return validate;
  const schema = JSON.parse(readFileSync(officialSchemaPath(), "utf8"));
  // Draft-06 names the schema id `id`; ajv 8 reads `$id`.
  schema.$id = schema.id;
  delete schema.id;
  validate = fhirAjv().compile(schema) as Validate;
  return validate;
}
