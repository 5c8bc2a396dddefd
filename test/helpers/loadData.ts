// Folders for the load tests: the fixtures' conversion output, and larger synthetic ones made from it; and the
// check every load scenario ends with: the server holds exactly the folder's resources, each as often as expected.
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { EXPECTED_OPTIONS } from "../../scripts/make-fixtures.js";
import { convert } from "../../src/convert.js";
import type { FhirTestServer } from "./fhirServer.js";
import { REPO, readNdjson, tempDir } from "./run.js";

type Json = Record<string, unknown> & { resourceType: string; id: string };

let converted: string | undefined;
/** `convert fixtures/dicom --endpoint …` once per test file; each test gets a copy of its own. */
export async function fixtureFolder(): Promise<string> {
  if (!converted) {
    converted = tempDir("dcm2fhir-load-fixture-");
    await convert({ ...EXPECTED_OPTIONS, inputs: [join(REPO, "fixtures/dicom")], out: converted, format: "ndjson", workers: 1 });
  }
  return copyFolder(converted);
}

export function copyFolder(from: string): string {
  const to = tempDir("dcm2fhir-load-");
  cpSync(from, to, { recursive: true });
  return to;
}

/**
 * `patients` Patients with `studiesPerPatient` ImagingStudies each, made from the fixtures' first Patient and
 * ImagingStudy with new ids (hashes, as ours are, and UIDs), and the fixtures' Endpoint.
 */
export async function syntheticFolder(patients: number, studiesPerPatient: number): Promise<string> {
  const source = await fixtureFolder();
  const patient = readNdjson<Json>(join(source, "Patient.ndjson"))[0]!;
  const study = readNdjson<Json>(join(source, "ImagingStudy.ndjson"))[0]!;
  const dir = tempDir("dcm2fhir-load-synthetic-");
  cpSync(join(source, "Endpoint.ndjson"), join(dir, "Endpoint.ndjson"));
  const patientLines: string[] = [];
  const studyLines: string[] = [];
  for (let p = 0; p < patients; p++) {
    const id = createHash("sha256").update(`patient ${p}`).digest("hex").slice(0, 32);
    patientLines.push(JSON.stringify({ ...patient, id, identifier: [{ ...(patient.identifier as object[])[0], value: `SYN-${p}` }] }));
    for (let s = 0; s < studiesPerPatient; s++) {
      const uid = `2.25.${1000 + p}.${s + 1}`;
      const identifier = [{ use: "official", system: "urn:dicom:uid", value: `urn:oid:${uid}` }];
      studyLines.push(JSON.stringify({ ...study, id: uid, identifier, subject: { reference: `Patient/${id}` } }));
    }
  }
  writeFileSync(join(dir, "Patient.ndjson"), patientLines.map((l) => `${l}\n`).join(""));
  writeFileSync(join(dir, "ImagingStudy.ndjson"), studyLines.map((l) => `${l}\n`).join(""));
  return dir;
}

/** The resources of NDJSON files, by "Type/id". */
export function resourcesOf(dir: string, files = ["Endpoint.ndjson", "Patient.ndjson", "ImagingStudy.ndjson"]): Map<string, Json> {
  const all = new Map<string, Json>();
  for (const file of files) {
    if (!existsSync(join(dir, file))) continue;
    for (const resource of readNdjson<Json>(join(dir, file))) all.set(`${resource.resourceType}/${resource.id}`, resource);
  }
  return all;
}

/**
 * The server holds exactly `expected` (compared as JSON, without the `meta` the server adds): nothing more, nothing
 * missing, and each resource in `versions(key)` versions (a number, or [min, max]): nothing stored twice unless said.
 */
export async function expectServerHolds(
  server: FhirTestServer,
  expected: Map<string, Json>,
  versions: (key: string) => number | readonly [number, number] = () => 1,
): Promise<void> {
  const held = await server.contents();
  expect([...held.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [key, resource] of expected) expect(held.get(key), key).toEqual(resource);
  for (const key of expected.keys()) {
    const want = versions(key);
    const got = await server.versions(key);
    if (typeof want === "number") expect(got, `versions of ${key}`).toBe(want);
    else {
      expect(got, `versions of ${key}`).toBeGreaterThanOrEqual(want[0]);
      expect(got, `versions of ${key}`).toBeLessThanOrEqual(want[1]);
    }
  }
}

/** A hash of every NDJSON file under `dir` (changes/ included): load must never change them. */
export function ndjsonHashes(dir: string): Record<string, string> {
  const hashes: Record<string, string> = {};
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    if (!name.endsWith(".ndjson") || name.startsWith("load-")) continue;
    hashes[name] = createHash("sha256")
      .update(readFileSync(join(dir, name)))
      .digest("hex");
  }
  return hashes;
}

/** Writes `changes/` as `convert --incremental` does (issue 10): changed and new resources, and what was deleted. */
export function writeChanges(dir: string, changes: { ImagingStudy: Json[]; Patient: Json[]; deleted: Array<{ resourceType: string; id: string }> }): void {
  mkdirSync(join(dir, "changes"), { recursive: true });
  const lines = (values: readonly object[]) => values.map((v) => `${JSON.stringify(v)}\n`).join("");
  writeFileSync(join(dir, "changes/ImagingStudy.ndjson"), lines(changes.ImagingStudy));
  writeFileSync(join(dir, "changes/Patient.ndjson"), lines(changes.Patient));
  writeFileSync(join(dir, "changes/deleted.ndjson"), lines(changes.deleted));
}
