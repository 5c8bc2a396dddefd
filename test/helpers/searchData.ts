// A hand-made folder of NDJSON for search tests: few studies, each chosen for a boundary of FHIR search (dates
// on either side of a day in Europe/Zurich, tokens with and without a system, a dangling subject, a study with
// no series, a series listing fewer instances than it has). No report.json: the zone is given when indexing.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildSearchIndex } from "../../src/index/searchIndex.js";
import { openDatabase } from "../../src/lib/sqlite.js";
import { tempDir } from "./run.js";

export const ZONE = "Europe/Zurich";
export const DCM = "http://dicom.nema.org/resources/ontology/DCM";
const ACSN = { coding: [{ system: "http://terminology.hl7.org/CodeSystem/v2-0203", code: "ACSN" }] };

export const uid = (n: number) => `1.2.840.99.${n}`;
const uidIdentifier = (n: number) => ({ use: "official", system: "urn:dicom:uid", value: `urn:oid:${uid(n)}` });
const series = (study: number, k: number, modality: { system?: string; code: string }, instances: number, listed = instances) => ({
  uid: `${uid(study)}.${k}`,
  number: k,
  modality,
  numberOfInstances: instances,
  instance: Array.from({ length: listed }, (_, i) => ({
    uid: `${uid(study)}.${k}.${i + 1}`,
    sopClass: { system: "urn:ietf:rfc:3986", code: "urn:oid:1.2.840.10008.5.1.4.1.1.2" },
  })),
});
const ct = { system: DCM, code: "CT" };

export const PATIENTS = [
  { resourceType: "Patient", id: "p1", identifier: [{ system: "urn:oid:1.2.3", value: "MRN-1" }], name: [{ family: "One" }] },
  { resourceType: "Patient", id: "p2", identifier: [{ value: "MRN-2" }], name: [{ family: "Two" }] },
  { resourceType: "Patient", id: "p3", name: [{ family: "Three" }] },
];

export const ENDPOINT = {
  resourceType: "Endpoint",
  id: "e1",
  status: "active",
  connectionType: { system: "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", code: "dicom-wado-rs" },
  payloadType: [{ text: "DICOM WADO-RS" }],
  address: "https://pacs.example.org/dicom-web",
};

/** s1 … s9 (ids uid(1) … uid(9)). Times in UTC in the comments; March 2024 in Zurich is +01:00. */
export const STUDIES = [
  // s1: p1, 2024-03-15 09:15:30Z, CT (2 instances) + SR, accession with a system
  {
    resourceType: "ImagingStudy",
    id: uid(1),
    identifier: [uidIdentifier(1), { use: "usual", type: ACSN, system: "urn:oid:9.9", value: "ACC-1" }, { use: "secondary", value: "S1" }],
    status: "available",
    modality: [ct],
    subject: { reference: "Patient/p1" },
    started: "2024-03-15T10:15:30+01:00",
    endpoint: [{ reference: "Endpoint/e1" }],
    numberOfSeries: 2,
    numberOfInstances: 3,
    series: [series(1, 1, ct, 2), series(1, 2, { system: DCM, code: "SR" }, 1)],
  },
  // s2: p1, the whole day 2024-03-15 in Zurich = [03-14 23:00Z, 03-15 23:00Z), MR, accession without a system
  {
    resourceType: "ImagingStudy",
    id: uid(2),
    identifier: [uidIdentifier(2), { use: "usual", type: ACSN, value: "ACC-2" }],
    status: "available",
    subject: { reference: "Patient/p1" },
    started: "2024-03-15",
    endpoint: [{ reference: "Endpoint/e1" }],
    numberOfSeries: 1,
    numberOfInstances: 1,
    series: [series(2, 1, { system: DCM, code: "MR" }, 1)],
  },
  // s3: p1, 2024-03-15 23:30Z (the 16th in Zurich), CT + PT, a Study ID with the characters search escapes
  {
    resourceType: "ImagingStudy",
    id: uid(3),
    identifier: [uidIdentifier(3), { use: "usual", type: ACSN, value: "ACC-3" }, { use: "secondary", value: "A,B|C" }],
    status: "available",
    subject: { reference: "Patient/p1" },
    started: "2024-03-16T00:30:00+01:00",
    numberOfSeries: 2,
    numberOfInstances: 2,
    series: [series(3, 1, ct, 1), series(3, 2, { system: DCM, code: "PT" }, 1)],
  },
  // s4: p2, 2024-03-14 22:59:59Z (the last second of the 14th in Zurich), US
  {
    resourceType: "ImagingStudy",
    id: uid(4),
    identifier: [uidIdentifier(4)],
    status: "available",
    subject: { reference: "Patient/p2" },
    started: "2024-03-14T23:59:59+01:00",
    numberOfSeries: 1,
    numberOfInstances: 1,
    series: [series(4, 1, { system: DCM, code: "US" }, 1)],
  },
  // s5: p2, no started; SEG, and a modality without a system; a Study ID that is not ASCII
  {
    resourceType: "ImagingStudy",
    id: uid(5),
    identifier: [uidIdentifier(5), { use: "secondary", value: "Zürich-5" }],
    status: "available",
    subject: { reference: "Patient/p2" },
    numberOfSeries: 2,
    numberOfInstances: 2,
    series: [series(5, 1, { system: DCM, code: "SEG" }, 1), series(5, 2, { code: "XX" }, 1)],
  },
  // s6: p3 (no identifier), July 2023 in Zurich = [06-30 22:00Z, 07-31 22:00Z), CR listing 1 of 10 instances
  {
    resourceType: "ImagingStudy",
    id: uid(6),
    identifier: [uidIdentifier(6)],
    status: "available",
    subject: { reference: "Patient/p3" },
    started: "2023-07",
    numberOfSeries: 1,
    numberOfInstances: 10,
    series: [series(6, 1, { system: DCM, code: "CR" }, 10, 1)],
  },
  // s7: p1, registered, 2022-05-05 12:00Z, DX
  {
    resourceType: "ImagingStudy",
    id: uid(7),
    identifier: [uidIdentifier(7)],
    status: "registered",
    subject: { reference: "Patient/p1" },
    started: "2022-05-05T12:00:00Z",
    numberOfSeries: 1,
    numberOfInstances: 1,
    series: [series(7, 1, { system: DCM, code: "DX" }, 1)],
  },
  // s8: a Group as subject (no patient), 2019-01-01 00:00Z, no series at all
  {
    resourceType: "ImagingStudy",
    id: uid(8),
    identifier: [uidIdentifier(8)],
    status: "available",
    subject: { reference: "Group/g1" },
    started: "2019-01-01T00:00:00Z",
  },
  // s9: a Patient not in Patient.ndjson, no identifier at all, 2021-01-01 00:00Z, MG
  {
    resourceType: "ImagingStudy",
    id: uid(9),
    status: "available",
    subject: { reference: "Patient/p-missing" },
    started: "2021-01-01T00:00:00Z",
    numberOfSeries: 1,
    numberOfInstances: 4,
    series: [series(9, 1, { system: DCM, code: "MG" }, 4, 0)],
  },
];

export const ALL = STUDIES.map((s) => s.id);
/** Study ids by number: s(1, 3) → [uid(1), uid(3)]. */
export const s = (...numbers: number[]) => numbers.map(uid);

const ndjson = (resources: readonly object[]) => resources.map((r) => `${JSON.stringify(r)}\n`).join("");

/** Writes the three NDJSON files into a new folder; `index` also builds its search index in the zone. */
export function handMadeFolder(options: { index?: boolean } = {}): string {
  const dir = tempDir("dcm2fhir-search-");
  writeFileSync(join(dir, "ImagingStudy.ndjson"), ndjson(STUDIES));
  writeFileSync(join(dir, "Patient.ndjson"), ndjson(PATIENTS));
  writeFileSync(join(dir, "Endpoint.ndjson"), ndjson([ENDPOINT]));
  if (options.index ?? true) buildSearchIndex(dir, join(dir, ".dcm2fhir.search.sqlite"), ZONE);
  return dir;
}

/**
 * What a search index holds, whatever the row ids and the file's layout: every table's rows, a study's token rows
 * under its id. Two indexes that give the same content answer every search alike.
 */
export function indexContent(indexPath: string): Record<string, unknown[]> {
  const db = openDatabase(indexPath, "read");
  try {
    const all = (sql: string) => db.prepare(sql).raw().all();
    return {
      meta: all("SELECT key, value FROM meta ORDER BY key"),
      study: all(
        "SELECT s.id, s.patient, s.status, s.started_lo, s.started_hi, s.sort_asc, s.sort_desc, s.present, s.endpoints, s.line_at, s.line_length, r.resource FROM study s LEFT JOIN study_resource r ON r.study = s.rowid ORDER BY s.id",
      ),
      token: all("SELECT t.code, t.parameter, s.id, t.system FROM token t JOIN study s ON s.rowid = t.study ORDER BY 1, 2, 3, 4"),
      patient: all("SELECT id, resource FROM patient ORDER BY id"),
      patientIdentifier: all("SELECT code, patient, system FROM patient_identifier ORDER BY 1, 2, 3"),
      endpoint: all("SELECT id, resource FROM endpoint ORDER BY id"),
    };
  } finally {
    db.close();
  }
}
