// DICOM JSON (PS3.18 F.2) presented to the one record builder: the quirks a PACS's answer has (text already
// Unicode under a (0008,0005) that says otherwise, PN objects, null values, IS/DS as numbers, bulk data links),
// and a cross-check against a second DICOM JSON writer (dcmjs) over the fixture files.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import dcmjs from "dcmjs";
import { describe, expect, it } from "vitest";
import { BadDicomJson, dicomJsonHeader, readDicomJsonInstance } from "../../src/dicom/dicomJson.js";
import { type ParsedInstance, isParsedInstance } from "../../src/dicom/instance.js";
import { DicomFileReader } from "../../src/read/readFile.js";
import type { FileFailure } from "../../src/core/reasons.js";
import { REPO } from "../helpers/run.js";

const UIDS = {
  "0020000D": { vr: "UI", Value: ["1.2.3"] },
  "0020000E": { vr: "UI", Value: ["1.2.3.4"] },
  "00080018": { vr: "UI", Value: ["1.2.3.4.5"] },
  "00080016": { vr: "UI", Value: ["1.2.840.10008.5.1.4.1.1.2"] },
};

function record(dataSet: Record<string, unknown>): ParsedInstance {
  const result = readDicomJsonInstance("x", { ...UIDS, ...dataSet });
  if (!isParsedInstance(result)) throw new Error(`not an instance: ${result.message}`);
  return result;
}

describe("DICOM JSON as the record builder's values", () => {
  it("takes text as the Unicode it already is, whatever (0008,0005) says", () => {
    const r = record({
      "00080005": { vr: "CS", Value: ["ISO_IR 100"] },
      "00100010": { vr: "PN", Value: [{ Alphabetic: "Müller^Jürgen" }] },
      "00081030": { vr: "LO", Value: ["Knie – rechts 膝"] },
    });
    expect(r.study.patientName).toEqual({ alphabetic: { family: "Müller", given: "Jürgen" } });
    expect(r.study.description).toBe("Knie – rechts 膝");
  });

  it("reads PN objects: all three groups, empty components, an all-separator name as no name", () => {
    const r = record({
      "00100010": { vr: "PN", Value: [{ Alphabetic: "Yamada^Tarou", Ideographic: "山田^太郎", Phonetic: "やまだ^たろう" }] },
      "00080090": { vr: "PN", Value: [{ Alphabetic: "^^^^" }] },
      "00081050": { vr: "PN", Value: [{ Alphabetic: "Smith^^^Dr." }, null, { Ideographic: "王^小东" }] },
    });
    expect(r.study.patientName).toEqual({
      alphabetic: { family: "Yamada", given: "Tarou" },
      ideographic: { family: "山田", given: "太郎" },
      phonetic: { family: "やまだ", given: "たろう" },
    });
    expect(r.study.referringPhysician).toBeUndefined();
    expect(r.series.performingPhysicians).toEqual([{ alphabetic: { family: "Smith", prefix: "Dr." } }, { ideographic: { family: "王", given: "小东" } }]);
  });

  it("treats a missing Value, an empty Value and null values as absent", () => {
    const r = record({
      "00080050": { vr: "SH" },
      "00081030": { vr: "LO", Value: [] },
      "00100020": { vr: "LO", Value: [null] },
      "00081032": { vr: "SQ", Value: [null, { "00080100": { vr: "SH", Value: ["CT1"] }, "00080104": { vr: "LO", Value: ["CT head"] } }] },
    });
    expect(r.study.accessionNumber).toBeUndefined();
    expect(r.study.description).toBeUndefined();
    expect(r.study.patientId).toBeUndefined();
    expect(r.study.procedureCodes).toEqual([{ code: "CT1", meaning: "CT head" }]);
  });

  it("reads IS and DS numbers by the file's rules: 5 is 5, 5.5 is no series number", () => {
    expect(record({ "00200011": { vr: "IS", Value: [5] }, "00200013": { vr: "IS", Value: [12] } })).toMatchObject({
      instanceNumber: 12,
      series: { number: 5 },
    });
    const fraction = record({ "00200011": { vr: "IS", Value: [5.5] } });
    expect(fraction.series.number).toBeUndefined();
    expect(fraction.warnings).toContain("invalid-series-number");
  });

  it("never follows a BulkDataURI, and says it left the value out", () => {
    const r = record({ "00081030": { vr: "LO", BulkDataURI: "http://pacs/bulk/00081030" } });
    expect(r.study.description).toBeUndefined();
    expect(r.warnings).toContain("bulk-data-not-fetched");
  });

  it("decodes InlineBinary text (a VR the PACS could not type) by the declared character set", () => {
    const latin1 = Buffer.from("Müller^Jürgen", "latin1").toString("base64");
    const r = record({ "00080005": { vr: "CS", Value: ["ISO_IR 100"] }, "00100010": { vr: "UN", InlineBinary: latin1 } });
    expect(r.study.patientName).toEqual({ alphabetic: { family: "Müller", given: "Jürgen" } });
  });

  it("leaves the instance's failures to the builder, with the file's reason codes", () => {
    const { "00080018": _, ...withoutSop } = UIDS;
    const result = readDicomJsonInstance("x", withoutSop) as FileFailure;
    expect(result.reason).toBe("missing-sop-instance-uid");
  });

  it("refuses what is not DICOM JSON, saying where, without the value", () => {
    expect(() => dicomJsonHeader([])).toThrow(BadDicomJson);
    expect(() => dicomJsonHeader({ "00100010": "Doe^John" })).toThrow(/\(0010,0010\) is not a JSON object/);
    expect(() => dicomJsonHeader({ "00100010": { vr: "PN", Value: "Doe" } })).toThrow(/\(0010,0010\): Value is not an array/);
    expect(() => dicomJsonHeader({ "00100010": { vr: "PN", Value: [{ Alphabetic: 7 }] } })).toThrow(/value 1 of \(0010,0010\): Alphabetic is not a string/);
    expect(() => dicomJsonHeader({ "00081032": { vr: "SQ", Value: ["item"] } })).toThrow(/item 1 of \(0008,1032\) is not a JSON object/);
    try {
      dicomJsonHeader({ "00100010": { vr: "PN", Value: [true] } });
    } catch (error) {
      expect((error as Error).message).not.toMatch(/true/);
    }
  });
});

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]));
}

describe("DICOM JSON from a second writer (dcmjs) gives the record the file gives", () => {
  it("for every fixture file dcmjs can read", () => {
    const reader = new DicomFileReader();
    let compared = 0;
    for (const path of walk(join(REPO, "fixtures/dicom"))) {
      const fromFile = reader.read(path).result;
      if (!isParsedInstance(fromFile)) continue;
      const bytes = readFileSync(path);
      let dict: Record<string, unknown>;
      try {
        dict = dcmjs.data.DicomMessage.readFile(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length), { untilTag: "7FE00010" }).dict;
      } catch {
        continue; // character sets dcmjs does not decode (ISO 2022, Latin-9), compressed files
      }
      const fromJson = readDicomJsonInstance(path, dict);
      const { warnings: _w, ...expected } = fromFile;
      expect({ ...fromJson, warnings: undefined }, path).toEqual({ ...expected, warnings: undefined });
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(15);
  });
});
