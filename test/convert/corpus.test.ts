// A full convert of ../shared/corpus (pydicom's test files): every file accounted for, every resource valid
// against the complete official schema, and the output pinned so that reader changes cannot alter it unseen.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { CORPUS_OPTIONS, CORPUS_PARENT, PINNED_DIR } from "../../scripts/pin-corpus.js";
import { type ConvertResult, convert } from "../../src/convert.js";
import { officialValidator } from "../helpers/officialSchema.js";
import { outputFiles, readNdjson, tempDir } from "../helpers/run.js";
import { describeWith } from "../helpers/resources.js";

const corpus = join(CORPUS_PARENT, "corpus");

function countFiles(dir: string): number {
  return readdirSync(dir).reduce((n, name) => n + (statSync(join(dir, name)).isDirectory() ? countFiles(join(dir, name)) : 1), 0);
}

describeWith(existsSync(corpus) ? undefined : "../shared/corpus is absent", "convert of ../shared/corpus", () => {
  let out: string;
  let result: ConvertResult;
  beforeAll(async () => {
    process.chdir(CORPUS_PARENT);
    out = tempDir();
    result = await convert({ ...CORPUS_OPTIONS, out, workers: 2 });
  });

  it("accounts for every file on disk", () => {
    const { files } = result.report;
    expect(files.seen).toBe(countFiles(corpus));
    expect(files.converted + files.skipped + files.failed).toBe(files.seen);
    expect(readNdjson(join(out, "errors.ndjson"))).toHaveLength(files.skipped + files.failed);
    expect(files.converted).toBe(result.report.instances);
  });

  it("finds the studies, series and distinct instances the corpus profile lists", () => {
    expect(result.report).toMatchObject({ studies: 40, series: 47, instances: 126 });
  });

  it("writes only resources the complete official FHIR R4 schema accepts", () => {
    const validate = officialValidator();
    let checked = 0;
    for (const name of ["ImagingStudy.ndjson", "Patient.ndjson", "Endpoint.ndjson"]) {
      for (const resource of readNdjson(join(out, name))) {
        expect(validate(resource), `${name}: ${JSON.stringify(validate.errors)}`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBe(result.report.studies + result.report.patients + 1);
    expect(result.report.resources.rejected).toEqual({ ImagingStudy: 0, Patient: 0, Endpoint: 0 });
  });

  it("gives exactly the pinned resources, errors and report", () => {
    const actual = outputFiles(out);
    const pinned = outputFiles(PINNED_DIR);
    expect(Object.keys(actual)).toEqual(Object.keys(pinned));
    for (const name of Object.keys(pinned)) {
      if (name === "report.json") expect({ ...JSON.parse(actual[name]!), elapsedSeconds: 0 }).toEqual(JSON.parse(pinned[name]!));
      else expect(actual[name], name).toBe(pinned[name]);
    }
  });
});
