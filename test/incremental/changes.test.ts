// changes/ on its own (src/incremental/changes.ts): the staged outputs against the committed ones, line by line,
// without a conversion around it.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DeletionLimitError, checkDeletionLimit, writeChanges, writeNoChanges } from "../../src/incremental/changes.js";
import { OutputDirectory } from "../../src/lib/outputFolder.js";
import { tempDir } from "../helpers/run.js";
import { CHANGE_FILES } from "../../src/core/outputFiles.js";

const study = (id: string, status = "available") => JSON.stringify({ resourceType: "ImagingStudy", id, status });
const patient = (id: string, gender = "other") => JSON.stringify({ resourceType: "Patient", id, gender });
const ndjson = (lines: readonly string[]) => lines.map((l) => `${l}\n`).join("");

let open: OutputDirectory | undefined;
afterEach(() => {
  open?.abort();
  open = undefined;
});

/** An output folder whose committed files are `before`, with `after` staged: what writeChanges compares. */
function folder(before: Record<string, readonly string[]>, after: Record<string, readonly string[]>): OutputDirectory {
  const dir = tempDir();
  for (const [name, lines] of Object.entries(before)) writeFileSync(join(dir, name), ndjson(lines));
  const out = (open = OutputDirectory.open(dir));
  for (const [name, lines] of Object.entries(after)) writeFileSync(out.stage(name), ndjson(lines));
  return out;
}

const staged = (out: OutputDirectory) => Object.fromEntries(CHANGE_FILES.map((name) => [name, readFileSync(out.stagedPath(name)!, "utf8")]));

describe("changes/", () => {
  it("lists new and changed resources in output order, deleted ones by type and id, studies before patients", () => {
    const out = folder(
      { "ImagingStudy.ndjson": [study("1.2.1"), study("1.2.2"), study("1.2.3")], "Patient.ndjson": [patient("a"), patient("b")] },
      { "ImagingStudy.ndjson": [study("1.2.0"), study("1.2.2", "registered"), study("1.2.3")], "Patient.ndjson": [patient("b"), patient("c", "female")] },
    );
    const changes = writeChanges(out);
    expect(staged(out)).toEqual({
      "changes/ImagingStudy.ndjson": ndjson([study("1.2.0"), study("1.2.2", "registered")]),
      "changes/Patient.ndjson": ndjson([patient("c", "female")]),
      "changes/deleted.ndjson": ndjson([JSON.stringify({ resourceType: "ImagingStudy", id: "1.2.1" }), JSON.stringify({ resourceType: "Patient", id: "a" })]),
    });
    expect(changes.ImagingStudy).toEqual({ new: 1, changed: 1, deleted: 1 });
    expect(changes.Patient).toEqual({ new: 1, changed: 0, deleted: 1 });
    expect(changes.previousStudies).toBe(3);
  });

  it("is everything on a first run, and nothing when the outputs are the same bytes", () => {
    const lines = { "ImagingStudy.ndjson": [study("1.2.1")], "Patient.ndjson": [patient("a")] };
    const first = folder({}, lines);
    expect(writeChanges(first).ImagingStudy).toEqual({ new: 1, changed: 0, deleted: 0 });
    expect(staged(first)["changes/ImagingStudy.ndjson"]).toBe(ndjson([study("1.2.1")]));
    first.abort();

    const same = folder(lines, lines);
    const changes = writeChanges(same);
    expect(staged(same)).toEqual({ "changes/ImagingStudy.ndjson": "", "changes/Patient.ndjson": "", "changes/deleted.ndjson": "" });
    expect(changes.ImagingStudy).toEqual({ new: 0, changed: 0, deleted: 0 });
  });

  it("deletes what a previous output held when this one has no such file; ignores lines that are not resources", () => {
    const out = folder(
      { "ImagingStudy.ndjson": [study("1.2.9"), "not json"], "Endpoint.ndjson": [JSON.stringify({ resourceType: "Endpoint", id: "e1" })] },
      { "ImagingStudy.ndjson": [] },
    );
    writeChanges(out);
    expect(staged(out)["changes/deleted.ndjson"]).toBe(
      ndjson([JSON.stringify({ resourceType: "ImagingStudy", id: "1.2.9" }), JSON.stringify({ resourceType: "Endpoint", id: "e1" })]),
    );
  });

  it("writeNoChanges stages the three files empty", () => {
    const out = folder({}, {});
    expect(writeNoChanges(out).ImagingStudy).toEqual({ new: 0, changed: 0, deleted: 0 });
    expect(staged(out)).toEqual({ "changes/ImagingStudy.ndjson": "", "changes/Patient.ndjson": "", "changes/deleted.ndjson": "" });
  });

  it("the deletion limit is a share of the previous output's studies", () => {
    const none = { new: 0, changed: 0, deleted: 0 };
    const changes = (deleted: number) => ({ ImagingStudy: { ...none, deleted }, Patient: none, Endpoint: none, previousStudies: 10 });
    expect(() => checkDeletionLimit(changes(1), 10)).not.toThrow();
    expect(() => checkDeletionLimit(changes(2), 10)).toThrow(DeletionLimitError);
    expect(() => checkDeletionLimit(changes(10), 100)).not.toThrow();
  });
});
