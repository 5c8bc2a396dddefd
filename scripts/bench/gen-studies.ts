// Generates a converted folder without converting: ImagingStudy, Patient and Endpoint NDJSON shaped like
// dcm2fhir's output (same elements, same order, same systems), for the search benchmark. Several studies per
// patient, every acquisition modality and the usual derived ones (SR, SEG, PR, KO, RT objects), dates over ten
// years, half of the patients with an issuer. Seeded: the same --studies and --seed give the same bytes.
//
// Series count their images realistically (a CT series has hundreds) but list at most three of them in
// `series.instance`, as FHIR allows (0..*) and as an ImagingStudy made from a PACS query often does; a study
// is then ~2 KB of NDJSON, where a study listing every image of a 300-slice CT would be ~60 KB.
//
//   tsx scripts/bench/gen-studies.ts --out <folder> [--studies 200000] [--seed 1]
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ACQUISITION_MODALITIES } from "../../src/fhir/codes/acquisitionModality.js";
import { LineWriter } from "../../src/lib/ndjson.js";
import { Rng } from "./gen-archive.js";

const DCM = "http://dicom.nema.org/resources/ontology/DCM";
const ENDPOINT_ID = "dicomweb-0123456789abcdef";
const ROOT = "2.25.4242";
const ZONE = "Europe/Zurich";
/** Images listed per series: see above. */
const LISTED_INSTANCES = 3;

/** Modality → weight and instances per series: CT and MR dominate archives, and have the most images. */
const MODALITIES: ReadonlyArray<readonly [string, number, number, number]> = [
  ["CT", 30, 60, 450],
  ["MR", 20, 16, 60],
  ["CR", 12, 1, 3],
  ["DX", 10, 1, 3],
  ["US", 8, 5, 40],
  ["MG", 5, 4, 4],
  ["PT", 3, 100, 300],
  ["NM", 2, 1, 4],
  ["XA", 2, 2, 30],
  ["RF", 1, 2, 20],
  ...[...ACQUISITION_MODALITIES].filter((m) => !["CT", "MR", "CR", "DX", "US", "MG", "PT", "NM", "XA", "RF"].includes(m)).map((m) => [m, 0.1, 1, 4] as const),
];
const DERIVED = ["SR", "SEG", "PR", "KO", "RTSTRUCT", "RTPLAN", "RTDOSE", "OT", "DOC", "REG"];
const TOTAL_WEIGHT = MODALITIES.reduce((n, [, w]) => n + w, 0);

export interface GeneratedFolder {
  readonly studies: number;
  readonly patients: number;
  /** Values for the benchmark's typical searches, drawn from what was generated. */
  readonly samples: ReadonlyArray<{
    readonly patient: string;
    readonly patientIdentifier: string;
    readonly accession: string;
    readonly modality: string;
    readonly year: number;
  }>;
}

function pickModality(rng: Rng): readonly [string, number, number, number] {
  let x = rng.next() * TOTAL_WEIGHT;
  for (const m of MODALITIES) {
    x -= m[1];
    if (x < 0) return m;
  }
  return MODALITIES[0]!;
}

const pad = (n: number, width: number) => String(n).padStart(width, "0");

/** Writes the three NDJSON files and a report.json naming the zone into `out`. */
export function generateStudies(out: string, studies: number, seed = 1): GeneratedFolder {
  mkdirSync(out, { recursive: true });
  const rng = new Rng(`studies-${seed}`);
  const studyWriter = new LineWriter(join(out, "ImagingStudy.ndjson"));
  const patientWriter = new LineWriter(join(out, "Patient.ndjson"));
  const samples: Array<GeneratedFolder["samples"][number]> = [];
  let patients = 0;
  let written = 0;
  const patientLines: Array<[string, string]> = [];
  while (written < studies) {
    patients++;
    const mrn = `PAT-${pad(patients, 7)}`;
    const issuer = rng.chance(0.5) ? { system: "urn:oid:1.2.276.0.7230010.3.0.1" } : {};
    const id = createHash("sha256")
      .update(`${mrn}|${issuer.system ?? ""}`)
      .digest("hex")
      .slice(0, 32);
    const patient = {
      resourceType: "Patient",
      id,
      identifier: [{ use: "usual", type: { coding: [{ system: "http://terminology.hl7.org/CodeSystem/v2-0203", code: "MR" }] }, ...issuer, value: mrn }],
      name: [{ text: `Given${patients} Family${patients}`, family: `Family${patients}`, given: [`Given${patients}`] }],
      gender: rng.pick(["male", "female", "other"]),
      birthDate: `${rng.int(1930, 2020)}-${pad(rng.int(1, 12), 2)}-${pad(rng.int(1, 28), 2)}`,
    };
    patientLines.push([id, JSON.stringify(patient)]);
    const count = Math.min(rng.int(1, 8), studies - written);
    for (let s = 0; s < count; s++) {
      written++;
      const uid = `${ROOT}.${written}`;
      const year = rng.int(2015, 2025);
      const month = rng.int(1, 12);
      const day = rng.int(1, 28);
      const started = rng.chance(0.97)
        ? `${year}-${pad(month, 2)}-${pad(day, 2)}T${pad(rng.int(7, 19), 2)}:${pad(rng.int(0, 59), 2)}:${pad(rng.int(0, 59), 2)}${month >= 4 && month <= 10 ? "+02:00" : "+01:00"}`
        : undefined;
      const accession = `ACC-${pad(written, 8)}`;
      const seriesCount = rng.int(1, 4);
      const series = [];
      let instances = 0;
      const modalities = new Set<string>();
      for (let k = 1; k <= seriesCount; k++) {
        const [modality, , min, max] = k > 1 && rng.chance(0.2) ? ([rng.pick(DERIVED), 0, 1, 2] as const) : pickModality(rng);
        if (ACQUISITION_MODALITIES.has(modality)) modalities.add(modality);
        const n = rng.int(min, max);
        instances += n;
        series.push({
          uid: `${uid}.${k}`,
          number: k,
          modality: { system: DCM, code: modality },
          description: `${modality} series ${k}`,
          numberOfInstances: n,
          instance: Array.from({ length: Math.min(n, LISTED_INSTANCES) }, (_, i) => ({
            uid: `${uid}.${k}.${i + 1}`,
            sopClass: { system: "urn:ietf:rfc:3986", code: "urn:oid:1.2.840.10008.5.1.4.1.1.2", display: "CT Image Storage" },
            number: i + 1,
            title: "CT Image Storage",
          })),
        });
      }
      const study = {
        resourceType: "ImagingStudy",
        id: uid,
        identifier: [
          { use: "official", system: "urn:dicom:uid", value: `urn:oid:${uid}` },
          { use: "usual", type: { coding: [{ system: "http://terminology.hl7.org/CodeSystem/v2-0203", code: "ACSN" }] }, value: accession },
          { use: "secondary", value: `S${written}` },
        ],
        status: "available",
        ...(modalities.size > 0 && { modality: [...modalities].sort().map((code) => ({ system: DCM, code })) }),
        subject: { reference: `Patient/${id}` },
        ...(started && { started }),
        referrer: { type: "Practitioner", display: "Dr. Referring Physician" },
        endpoint: [{ reference: `Endpoint/${ENDPOINT_ID}` }],
        numberOfSeries: seriesCount,
        numberOfInstances: instances,
        procedureCode: [{ text: "Imaging procedure" }],
        location: { display: "Radiology, General Hospital" },
        description: "Imaging procedure",
        series,
      };
      studyWriter.writeJsonLine(study);
      if (samples.length < 1000 && rng.chance(0.01)) {
        samples.push({ patient: id, patientIdentifier: mrn, accession, modality: [...modalities][0] ?? "CT", year });
      }
    }
  }
  studyWriter.close();
  // Ordered by id, as convert writes them.
  for (const [, line] of patientLines.sort(([a], [b]) => (a < b ? -1 : 1))) patientWriter.write(`${line}\n`);
  patientWriter.close();
  writeFileSync(
    join(out, "Endpoint.ndjson"),
    `${JSON.stringify({ resourceType: "Endpoint", id: ENDPOINT_ID, status: "active", connectionType: { system: "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", code: "dicom-wado-rs" }, name: "DICOMweb WADO-RS", payloadType: [{ text: "DICOM WADO-RS" }], payloadMimeType: ["application/dicom"], address: "https://pacs.example.org/dicom-web" })}\n`,
  );
  writeFileSync(join(out, "report.json"), `${JSON.stringify({ dateTimes: { zone: ZONE, zoneSource: "option" } }, null, 2)}\n`);
  return { studies: written, patients, samples };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { out: { type: "string" }, studies: { type: "string", default: "200000" }, seed: { type: "string", default: "1" } },
  });
  if (!values.out) throw new Error("--out <folder> is required");
  const result = generateStudies(values.out, Number(values.studies), Number(values.seed));
  console.log(`${result.studies} studies of ${result.patients} patients -> ${values.out}`);
}
