import { linkSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { EXPECTED_DIR, EXPECTED_OPTIONS } from "../../scripts/make-fixtures.js";
import { type ConvertResult, convert } from "../../src/convert.js";
import { REASONS } from "../../src/core/reasons.js";
import { officialValidator } from "../helpers/officialSchema.js";
import { REPO, outputFiles, readNdjson, tempDir } from "../helpers/run.js";

process.chdir(REPO);

describe("convert on the bundled fixtures", () => {
  let out: string;
  let result: ConvertResult;
  beforeAll(async () => {
    out = tempDir();
    result = await convert({ ...EXPECTED_OPTIONS, out, workers: 1 });
  });

  it("writes exactly the reviewed expected output (report.json but for elapsed time)", () => {
    const actual = outputFiles(out);
    const expected = outputFiles(EXPECTED_DIR);
    expect(Object.keys(actual)).toEqual(Object.keys(expected));
    for (const name of Object.keys(expected)) {
      if (name === "report.json") {
        expect({ ...JSON.parse(actual[name]!), elapsedSeconds: 0 }).toEqual(JSON.parse(expected[name]!));
      } else {
        expect(actual[name], name).toBe(expected[name]);
      }
    }
  });

  it("accounts for every file: seen = converted + skipped + failed, one errors.ndjson line per file not converted", () => {
    const { files } = result.report;
    expect(files.seen).toBe(30);
    expect(files.converted + files.skipped + files.failed).toBe(files.seen);
    const errors = readNdjson<{ path: string; reason: keyof typeof REASONS }>(join(out, "errors.ndjson"));
    expect(errors).toHaveLength(files.skipped + files.failed);
    for (const e of errors) expect(REASONS[e.reason], e.reason).toBeDefined();
    const byReason = Object.fromEntries(Object.entries(files.reasons));
    const counted = errors.reduce<Record<string, number>>((acc, e) => ({ ...acc, [e.reason]: (acc[e.reason] ?? 0) + 1 }), {});
    expect(counted).toEqual(byReason);
  });

  it("gives each failing fixture its specific reason", () => {
    const reasonOf = Object.fromEntries(result.failures.map((f) => [String(f.path).replace("fixtures/dicom/", ""), f.reason]));
    expect(reasonOf).toEqual({
      "bad/DICOMDIR": "dicomdir",
      "bad/empty.dcm": "empty",
      "bad/long-uid.dcm": "invalid-value",
      "bad/no-study-uid.dcm": "missing-study-uid",
      "bad/notes.txt": "not-dicom",
      "bad/truncated.dcm": "truncated",
      "conflict/copy of a.dcm": "duplicate",
    });
  });

  it("writes resources that the complete official FHIR R4 schema accepts, bundle included", () => {
    const validate = officialValidator();
    for (const name of ["ImagingStudy.ndjson", "Patient.ndjson", "Endpoint.ndjson"]) {
      for (const resource of readNdjson(join(out, name))) expect(validate(resource), `${name} ${JSON.stringify(validate.errors)}`).toBe(true);
    }
    const bundle = JSON.parse(readFileSync(join(out, "ImagingStudy.bundle.json"), "utf8"));
    expect(validate(bundle), JSON.stringify(validate.errors)).toBe(true);
  });

  it("is a searchset Bundle of every ImagingStudy, each a match with a stable fullUrl", () => {
    const bundle = JSON.parse(readFileSync(join(out, "ImagingStudy.bundle.json"), "utf8"));
    const studies = readNdjson<{ id: string }>(join(out, "ImagingStudy.ndjson"));
    expect(bundle.resourceType).toBe("Bundle");
    expect(bundle.type).toBe("searchset");
    expect(bundle.total).toBe(studies.length);
    expect(bundle.entry.map((e: { resource: unknown }) => e.resource)).toEqual(studies);
    for (const entry of bundle.entry) {
      expect(entry.search).toEqual({ mode: "match" });
      expect(entry.fullUrl).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    expect(new Set(bundle.entry.map((e: { fullUrl: string }) => e.fullUrl)).size).toBe(studies.length);
  });

  it("references only Patients and the Endpoint it writes", () => {
    const patients = new Set(readNdjson<{ id: string }>(join(out, "Patient.ndjson")).map((p) => `Patient/${p.id}`));
    const [endpoint] = readNdjson<{ id: string }>(join(out, "Endpoint.ndjson"));
    for (const study of readNdjson<{ subject: { reference: string }; endpoint: Array<{ reference: string }> }>(join(out, "ImagingStudy.ndjson"))) {
      expect(patients.has(study.subject.reference)).toBe(true);
      expect(study.endpoint).toEqual([{ reference: `Endpoint/${endpoint!.id}` }]);
    }
  });

  it("gives byte-identical output on a second run, with reader processes allowed this time", async () => {
    const again = tempDir();
    await convert({ ...EXPECTED_OPTIONS, out: again, workers: 3 });
    const first = outputFiles(out);
    const second = outputFiles(again);
    for (const name of Object.keys(first)) {
      if (name !== "report.json") expect(second[name], name).toBe(first[name]);
    }
    expect({ ...JSON.parse(second["report.json"]!), elapsedSeconds: 0 }).toEqual({ ...JSON.parse(first["report.json"]!), elapsedSeconds: 0 });
  });
});

describe("reader processes", () => {
  it("give byte-identical output to the main process alone, duplicates and conflicts included, on a run large enough to start them", async () => {
    // 2,400 files, most of them links to the fixtures: 38 batches, and the processes start at the eighth.
    const archive = tempDir();
    const files = readdirSync(join(REPO, "fixtures/dicom"), { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    for (let copy = 0; copy < 80; copy++) {
      mkdirSync(join(archive, `copy-${copy}`));
      for (const [i, e] of files.entries()) linkSync(join(e.parentPath, e.name), join(archive, `copy-${copy}`, `f${i}`));
    }
    const [alone, threaded] = [tempDir(), tempDir()];
    const a = await convert({ inputs: [archive], out: alone, timezone: "UTC", workers: 1 });
    const b = await convert({ inputs: [archive], out: threaded, timezone: "UTC", workers: 3 });
    expect(b.report.files).toEqual(a.report.files);
    expect(a.report.files.seen).toBe(80 * files.length);
    const [x, y] = [outputFiles(alone), outputFiles(threaded)];
    for (const name of Object.keys(x)) if (name !== "report.json") expect(y[name], name).toBe(x[name]);
  });
});

describe("rejected resources", () => {
  it("are not written; each of their files gets an invalid-resource line; a rejected Patient takes its studies with it", async () => {
    const out = tempDir();
    const ROOT = "2.25.93284755117702911744137342310154461";
    const result = await convert({
      ...EXPECTED_OPTIONS,
      out,
      workers: 1,
      // A local profile: the knee study must have a procedure code; the patient of the Chinese studies must have a gender.
      extraValidation: (r) =>
        r.resourceType === "ImagingStudy" && r.id === `${ROOT}.2` && !r.procedureCode?.[0]?.coding
          ? "local profile: procedureCode needs a coding"
          : r.resourceType === "Patient" && r.identifier?.[0]?.value === "CN-1" && !r.gender
            ? "local profile: gender is required"
            : undefined,
    });
    expect(result.report.resources.rejected).toEqual({ ImagingStudy: 2, Patient: 1, Endpoint: 0 });
    const studies = readNdjson<{ id: string }>(join(out, "ImagingStudy.ndjson")).map((s) => s.id);
    expect(studies).not.toContain(`${ROOT}.2`);
    expect(studies).not.toContain(`${ROOT}.12`);
    expect(readNdjson<{ identifier?: Array<{ value: string }> }>(join(out, "Patient.ndjson")).map((p) => p.identifier?.[0]?.value)).not.toContain("CN-1");
    const rejected = readNdjson<{ path: string; reason: string; message: string }>(join(out, "errors.ndjson")).filter((e) => e.reason === "invalid-resource");
    expect(rejected.map((e) => e.path.replace("fixtures/dicom/", "")).sort()).toEqual([
      "HOSP-A/Mueller Juergen PAT-0001/MR knee/1.dcm",
      "HOSP-A/Mueller Juergen PAT-0001/MR knee/2.dcm",
      "cn/wang-letter.dcm",
      "cn/wang-report.dcm",
    ]);
    expect(rejected[0]!.message).toMatch(/failed validation: (local profile|its Patient was rejected: local profile)/);
    const { files } = result.report;
    expect(files.converted + files.skipped + files.failed).toBe(files.seen);
    expect(files.reasons["invalid-resource"]).toBe(4);
  });
});
