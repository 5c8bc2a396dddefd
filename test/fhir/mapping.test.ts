// One test per row of the mapping table (README "Mapping"), on the fixtures converted end to end.
import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { EXPECTED_OPTIONS } from "../../scripts/make-fixtures.js";
import { convert } from "../../src/convert.js";
import { ACQUISITION_MODALITIES } from "../../src/fhir/codes/acquisitionModality.js";
import { codeableConcept, dateTime, displayName, fhirString, humanNames } from "../../src/fhir/datatypes.js";
import { emptyNotes, toImagingStudy } from "../../src/fhir/imagingStudy.js";
import { offsetOfLocalTime } from "../../src/fhir/timezone.js";
import type { ImagingStudy, Patient } from "../../src/fhir/types.js";
import type { StudyGroup } from "../../src/group/studies.js";
import { validateResource } from "../../src/validate/index.js";
import { REPO, readNdjson, tempDir } from "../helpers/run.js";
import { itWith } from "../helpers/resources.js";

const ROOT = "2.25.93284755117702911744137342310154461";
const DCM = "http://dicom.nema.org/resources/ontology/DCM";
const SCT = "http://snomed.info/sct";

const pydicomAvailable = spawnSync("/usr/bin/python3", ["-c", "import pydicom.sr._cid_dict"]).status === 0;

/** A study with one series (of one instance) per modality, in the order given. */
function studyOfModalities(modalities: readonly string[]): StudyGroup {
  return {
    studyInstanceUID: "1.2.3",
    attributes: {},
    series: modalities.map((modality, i) => ({
      seriesInstanceUID: `1.2.3.${i + 1}`,
      attributes: { number: i + 1, modality },
      instances: [{ sopInstanceUID: `1.2.3.${i + 1}.1`, sopClassUID: "1.2.840.10008.5.1.4.1.1.7", path: `s${i}.dcm` }],
    })),
    instanceCount: modalities.length,
  } as StudyGroup;
}

let studies: Map<string, ImagingStudy>;
let patients: Map<string, Patient>;
const study = (n: number) => studies.get(`${ROOT}.${n}`)!;
const patientOf = (s: ImagingStudy) => patients.get(s.subject.reference!.replace("Patient/", ""))!;

beforeAll(async () => {
  process.chdir(REPO);
  const out = tempDir();
  await convert({ ...EXPECTED_OPTIONS, out, workers: 1 });
  studies = new Map(readNdjson<ImagingStudy>(join(out, "ImagingStudy.ndjson")).map((s) => [s.id, s]));
  patients = new Map(readNdjson<Patient>(join(out, "Patient.ndjson")).map((p) => [p.id, p]));
});

describe("ImagingStudy", () => {
  it("id is the Study Instance UID; identifier holds it, the accession with its issuer, and the Study ID", () => {
    const s = study(1);
    expect(s.id).toBe(`${ROOT}.1`);
    expect(s.identifier).toEqual([
      { use: "official", system: "urn:dicom:uid", value: `urn:oid:${ROOT}.1` },
      {
        use: "usual",
        type: { coding: [{ system: "http://terminology.hl7.org/CodeSystem/v2-0203", code: "ACSN" }] },
        system: "urn:oid:1.2.276.0.7230010.3.0.2",
        assigner: { display: "RIS-A" },
        value: "ACC-1001",
      },
      { use: "secondary", value: "S1001" },
    ]);
    expect(study(2).identifier[1]).toEqual({ use: "usual", type: expect.anything(), value: "ACC-1002" });
  });

  it("status is available and subject references the study's Patient", () => {
    for (const s of studies.values()) {
      expect(s.status).toBe("available");
      expect(patientOf(s)).toBeDefined();
    }
    expect(study(1).subject).toEqual(study(2).subject);
  });

  it("started: date + time with the file's offset, the --timezone zone (with DST), or only the date for an hour-only time", () => {
    expect(study(1).started).toBe("2024-03-15T10:15:30.25+01:00");
    // No (0008,0201): Europe/Zurich on 2 April 2024 is on summer time; HHMM gets zero seconds.
    expect(study(2).started).toBe("2024-04-02T09:30:00+02:00");
    expect(study(10).started).toBe("2023-07-01");
    expect(study(20).started).toBe("2024-01-10T14:00:00-05:00");
  });

  it("modality is the sorted union of the series' acquisition modalities (CID 29); an SR/DOC-only study has none", () => {
    expect(study(1).modality).toEqual([{ system: DCM, code: "CT" }]);
    expect(study(12).modality).toBeUndefined();
    expect(study(12).series.map((s) => s.modality.code)).toEqual(["SR", "DOC"]);
  });

  describe("study-level modality keeps only DICOM CID 29 acquisition modalities; series keep theirs", () => {
    const cases: Array<[string, string[], string[]]> = [
      ["MR + SR", ["MR", "SR"], ["MR"]],
      ["SR only", ["SR"], []],
      ["SEG only", ["SEG"], []],
      ["RT objects only", ["RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD"], []],
      ["RTIMAGE (an acquisition) + RTSTRUCT", ["RTSTRUCT", "RTIMAGE"], ["RTIMAGE"]],
      ["CT + PR + KO", ["KO", "CT", "PR"], ["CT"]],
      ["PT + CT + REG + SEG", ["SEG", "PT", "REG", "CT"], ["CT", "PT"]],
      ["US + US", ["US", "US"], ["US"]],
      ["OT and DOC", ["OT", "DOC"], []],
    ];
    for (const [name, series, expected] of cases) {
      it(name, () => {
        const mapped = toImagingStudy(
          studyOfModalities(series),
          { subject: { reference: "Patient/p" }, zoneRule: { zone: "UTC", source: "option" } },
          emptyNotes(),
        );
        expect(mapped.modality?.map((c) => c.code) ?? []).toEqual(expected);
        for (const c of mapped.modality ?? []) expect(c.system).toBe(DCM);
        expect(mapped.series.map((s) => s.modality.code)).toEqual(series);
        expect(validateResource(mapped)).toBeUndefined();
      });
    }

    itWith(pydicomAvailable ? undefined : "/usr/bin/python3 with pydicom is absent (apt-get install python3-pydicom)", "is exactly pydicom's CID 29", () => {
      const script =
        "import json, pydicom.sr._cid_dict as c, pydicom.sr._concepts_dict as k\n" +
        "print(json.dumps(sorted(code for name in c.cid_concepts[29]['DCM'] for code, (_, cids) in k.concepts['DCM'][name].items() if 29 in cids)))";
      const codes = JSON.parse(execFileSync("/usr/bin/python3", ["-c", script], { encoding: "utf8" })) as string[];
      expect([...ACQUISITION_MODALITIES].sort()).toEqual(codes);
    });
  });

  it("referrer is a Practitioner with a readable name", () => {
    expect(study(1).referrer).toEqual({ type: "Practitioner", display: "Dr. John Q Smith MD" });
  });

  it("interpreter lists each Name of Physician(s) Reading Study (0008,1060) as a Practitioner, like referrer", () => {
    expect(study(1).interpreter).toEqual([
      { type: "Practitioner", display: "Rita Reader" },
      { type: "Practitioner", display: "Dr. Sam Second" },
    ]);
    expect(study(2).interpreter).toBeUndefined();
  });

  it("basedOn is the ServiceRequest its accession number identifies, with the accession's issuer (IHE practice)", () => {
    const accession = study(1).identifier.find((i) => i.type?.coding?.[0]?.code === "ACSN")!;
    const { use: _use, ...identifier } = accession;
    expect(study(1).basedOn).toEqual([{ type: "ServiceRequest", identifier }]);
    expect(identifier).toMatchObject({ system: "urn:oid:1.2.276.0.7230010.3.0.2", value: "ACC-1001" });
    expect(study(2).basedOn).toEqual([
      {
        type: "ServiceRequest",
        identifier: { type: { coding: [{ system: "http://terminology.hl7.org/CodeSystem/v2-0203", code: "ACSN" }] }, value: "ACC-1002" },
      },
    ]);
    for (const s of studies.values()) if (!s.identifier.some((i) => i.type?.coding?.[0]?.code === "ACSN")) expect(s.basedOn).toBeUndefined();
  });

  it("note holds Study Comments (0032,4000), line breaks kept", () => {
    expect(study(1).note).toEqual([{ text: "Compared with the prior study.\r\nNo change." }]);
    expect(study(2).note).toBeUndefined();
  });

  it("endpoint references the --endpoint Endpoint", () => {
    expect(study(1).endpoint).toEqual([{ reference: expect.stringMatching(/^Endpoint\/dicomweb-[0-9a-f]{16}$/) }]);
  });

  it("numberOfSeries and numberOfInstances are counted, duplicates once", () => {
    expect(study(1)).toMatchObject({ numberOfSeries: 2, numberOfInstances: 6 });
    expect(study(20)).toMatchObject({ numberOfSeries: 1, numberOfInstances: 3 });
    for (const s of studies.values()) {
      expect(s.numberOfSeries).toBe(s.series.length);
      expect(s.numberOfInstances).toBe(s.series.reduce((n, x) => n + x.instance.length, 0));
    }
  });

  it("procedureCode from the Procedure Code Sequence with FHIR systems, else the description as text", () => {
    expect(study(1).procedureCode).toEqual([
      { coding: [{ system: "http://loinc.org", code: "24627-2", display: "CT Chest" }], text: "CT Chest" },
      { coding: [{ system: "http://radlex.org", code: "RPID16", display: "CT Chest wo IV Contrast" }], text: "CT Chest wo IV Contrast" },
    ]);
    expect(study(2).procedureCode).toEqual([{ text: "MR KNEE LEFT" }]);
  });

  it("location from department and institution", () => {
    expect(study(1).location).toEqual({ display: "Radiology, General Hospital" });
    expect(study(2).location).toEqual({ display: "General Hospital" });
  });

  it("reasonCode from the reason code sequence and reason texts, top level or in Request Attributes", () => {
    expect(study(1).reasonCode).toEqual([{ coding: [{ system: SCT, code: "49727002", display: "Cough" }], text: "Cough" }, { text: "Persistent cough" }]);
    expect(study(2).reasonCode).toEqual([{ text: "Knee pain after fall" }]);
  });

  it("description from Study Description, decoded in its character set", () => {
    expect(study(1).description).toBe("CT CHEST WITHOUT CONTRAST");
    expect(study(10).description).toBe("腹部超音波");
  });
});

describe("ImagingStudy.series", () => {
  it("uid (bare), number, modality, description, numberOfInstances, ordered by number", () => {
    const [axial, coronal] = study(1).series;
    expect(axial).toMatchObject({ uid: `${ROOT}.1.1`, number: 1, modality: { system: DCM, code: "CT" }, description: "Axial 5 mm", numberOfInstances: 4 });
    expect(coronal).toMatchObject({ uid: `${ROOT}.1.2`, number: 2, description: "Coronal MPR", numberOfInstances: 2 });
  });

  it("started from Series Date and Time", () => {
    expect(study(1).series[1]!.started).toBe("2024-03-15T10:20:00.5+01:00");
    expect(study(2).series[0]!.started).toBe("2024-04-02T09:35:12+02:00");
  });

  it("performer: performing physician (PRF), operators (SPRF) and institution (PRF)", () => {
    const prf = { coding: [{ system: "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", code: "PRF", display: "performer" }] };
    const sprf = { coding: [{ system: "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", code: "SPRF", display: "secondary performer" }] };
    expect(study(1).series[0]!.performer).toEqual([
      { function: prf, actor: { type: "Practitioner", display: "Gregory House" } },
      { function: sprf, actor: { type: "Practitioner", display: "Tina Tech" } },
      { function: sprf, actor: { type: "Practitioner", display: "Oscar Op" } },
      { function: prf, actor: { type: "Organization", display: "General Hospital" } },
    ]);
  });

  it("bodySite in SNOMED CT per PS3.16 Annex L; laterality L/R from (0020,0060) or (0020,0062)", () => {
    expect(study(1).series[0]!.bodySite).toEqual({ system: SCT, code: "816094009", display: "Chest" });
    expect(study(2).series[0]).toMatchObject({
      bodySite: { system: SCT, code: "72696002", display: "Knee" },
      laterality: { system: SCT, code: "7771000", display: "Left" },
    });
    expect(study(20).series[0]!.laterality).toEqual({ system: SCT, code: "24028007", display: "Right" });
  });

  it("instance: uid, sopClass as urn:oid with its name, number, ordered by number", () => {
    const instances = study(1).series[0]!.instance;
    expect(instances.map((i) => i.number)).toEqual([1, 2, 3, 4]);
    expect(instances[0]).toEqual({
      uid: `${ROOT}.1.1.1`,
      sopClass: { system: "urn:ietf:rfc:3986", code: "urn:oid:1.2.840.10008.5.1.4.1.1.2", display: "CT Image Storage" },
      number: 1,
      title: "CT Image Storage",
    });
  });

  it("instance.title: SR concept name, Document Title, else the SOP class name", () => {
    const [report, letter] = study(12).series;
    expect(report!.instance[0]!.title).toBe("Radiology Study observation (narrative)");
    expect(letter!.instance[0]!.title).toBe("转诊信");
  });
});

describe("Patient", () => {
  it("identifier from Patient ID with the issuer's OID as system and its name as assigner; name, gender, birthDate", () => {
    expect(patientOf(study(1))).toEqual({
      resourceType: "Patient",
      id: expect.stringMatching(/^[0-9a-f]{32}$/),
      identifier: [
        {
          use: "usual",
          type: { coding: [{ system: "http://terminology.hl7.org/CodeSystem/v2-0203", code: "MR" }] },
          system: "urn:oid:1.2.276.0.7230010.3.0.1",
          assigner: { display: "HOSP-A" },
          value: "PAT-0001",
        },
      ],
      name: [{ text: "Dr. Jürgen Karl Müller", family: "Müller", given: ["Jürgen", "Karl"], prefix: ["Dr."] }],
      gender: "male",
      birthDate: "1970-01-02",
    });
  });

  it("one HumanName per component group, ideographic and phonetic marked as ISO 21090 IDE and SYL", () => {
    const names = patientOf(study(11)).name!;
    const representation = (code: string) => [{ url: "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", valueCode: code }];
    expect(names).toEqual([
      { text: "Gildong Hong", family: "Hong", given: ["Gildong"] },
      { extension: representation("IDE"), text: "洪 吉洞", family: "洪", given: ["吉洞"] },
      { extension: representation("SYL"), text: "홍 길동", family: "홍", given: ["길동"] },
    ]);
  });

  it("decodes every fixture character set", () => {
    const family = (n: number) => patientOf(study(n)).name![0]!.family;
    expect([13, 14, 15, 16, 17].map(family)).toEqual(["Люкceмбypг", "Διονυσιος", "שרון", "قباني", "Œuvre"]);
    expect(patientOf(study(12)).name![1]!.family).toBe("王");
    expect(patientOf(study(10)).name![1]!.given).toEqual(["太郎"]);
  });

  it("a study without Patient ID still has a Patient of its own, without identifier", () => {
    const p = patientOf(study(30));
    expect(p.identifier).toBeUndefined();
    expect(p).toMatchObject({ gender: "other", name: [{ family: "Unknown" }] });
  });

  it("one Patient for two studies of one patient", () => {
    expect(patientOf(study(1)).id).toBe(patientOf(study(2)).id);
  });
});

describe("FHIR datatypes", () => {
  const zurich = { zone: "Europe/Zurich", source: "option" } as const;

  it("dateTime never invents precision and always carries an offset with a time", () => {
    expect(dateTime("2024-01-15", undefined, undefined, zurich)).toEqual({ value: "2024-01-15", zoneFromRule: false, timeDropped: false });
    expect(dateTime("2024-01-15", { hour: "09" }, undefined, zurich)).toEqual({ value: "2024-01-15", zoneFromRule: false, timeDropped: true });
    expect(dateTime("2024-01-15", { hour: "09", minute: "05" }, undefined, zurich)?.value).toBe("2024-01-15T09:05:00+01:00");
    expect(dateTime("2024-07-15", { hour: "09", minute: "05", second: "07", fraction: "123" }, undefined, zurich)?.value).toBe("2024-07-15T09:05:07.123+02:00");
    expect(dateTime("2024-07-15", { hour: "09", minute: "05" }, "-03:30", zurich)).toEqual({
      value: "2024-07-15T09:05:00-03:30",
      zoneFromRule: false,
      timeDropped: false,
    });
    expect(dateTime(undefined, { hour: "09", minute: "05" }, undefined, zurich)).toBeUndefined();
  });

  it("offsets of IANA zones follow daylight saving time on both hemispheres", () => {
    expect(offsetOfLocalTime("America/New_York", "2024-01-15", 12, 0, 0)).toBe("-05:00");
    expect(offsetOfLocalTime("America/New_York", "2024-07-15", 12, 0, 0)).toBe("-04:00");
    expect(offsetOfLocalTime("Australia/Sydney", "2024-01-15", 12, 0, 0)).toBe("+11:00");
    expect(offsetOfLocalTime("Asia/Kolkata", "2024-01-15", 12, 0, 0)).toBe("+05:30");
    expect(offsetOfLocalTime("UTC", "2024-01-15", 12, 0, 0)).toBe("+00:00");
  });

  it("strings become valid FHIR strings: foreign white space to spaces, controls dropped, empty to nothing", () => {
    expect(fhirString("山田\u3000太郎")).toBe("山田 太郎");
    expect(fhirString("A\u00a0B\u0000\u001b")).toBe("A B");
    expect(fhirString("  \u0000 ")).toBeUndefined();
  });

  it("codes keep their designator's system; unknown designators keep code and display", () => {
    expect(codeableConcept({ code: "T-D4000", scheme: "SRT", meaning: "Abdomen" })).toEqual({
      coding: [{ system: "http://snomed.info/srt", code: "T-D4000", display: "Abdomen" }],
      text: "Abdomen",
    });
    expect(codeableConcept({ code: "X1", scheme: "99LOCAL", meaning: "Local thing" })).toEqual({
      coding: [{ code: "X1", display: "Local thing" }],
      text: "Local thing",
    });
    expect(codeableConcept({ meaning: "Only meaning" })).toEqual({ text: "Only meaning" });
    expect(codeableConcept({})).toBeUndefined();
  });

  it("display names read naturally; ideographic-only names family first", () => {
    expect(displayName({ alphabetic: { family: "Smith", given: "John", prefix: "Dr." } })).toBe("Dr. John Smith");
    expect(displayName({ ideographic: { family: "山田", given: "太郎" } })).toBe("山田 太郎");
    expect(humanNames(undefined)).toEqual([]);
  });
});
