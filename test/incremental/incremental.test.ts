// convert --incremental, one scenario at a time: what a nightly run reads, what it writes, what changes/ says,
// and what it refuses (a state it cannot trust, a run that would delete too much, inputs that vanished, its
// own output folder as input). The property test (incremental.property.test.ts) drives random sequences.
import { spawnSync } from "node:child_process";
import {
  appendFileSync,
  copyFileSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { beforeAll, describe, expect, it } from "vitest";
import { type ConvertOptions, type ConvertResult, convert } from "../../src/convert.js";
import type { ImagingStudy, Patient } from "../../src/fhir/types.js";
import { SEARCH_INDEX_FILE } from "../../src/core/outputFiles.js";
import { indexContent } from "../helpers/searchData.js";
import { changeFiles, comparableReport, copyFixtures, everyFile, expectedChanges, mainOutputs, withUid } from "../helpers/incremental.js";
import { CLI, REPO, outputFiles, readNdjson, tempDir } from "../helpers/run.js";
import { writeDicom } from "../../scripts/lib/dicomWriter.js";

const KNEE = "HOSP-A/Mueller Juergen PAT-0001/MR knee";

/**
 * Copies of the fixtures, made before the tests and then left alone for longer than the racy window (a file
 * changed less than 2 s before a run looks is read again by the next run, whatever its identity), as a nightly
 * archive's files are: a run finds them unchanged and does not read them.
 */
const archives: string[] = [];
beforeAll(async () => {
  for (let i = 0; i < 16; i++) archives.push(copyFixtures(join(tempDir(), "archive")));
  await waitOutRacyWindow();
});

function setup(): { archive: string; out: string; run: (extra?: Partial<ConvertOptions>) => Promise<ConvertResult> } {
  const archive = archives.pop();
  if (!archive) throw new Error("test setup: more tests than prepared archives; raise their number");
  const out = join(tempDir(), "fhir");
  const run = (extra: Partial<ConvertOptions> = {}) =>
    convert({ inputs: [archive], out, timezone: "UTC", workers: 1, incremental: true, maxDelete: 100, ...extra });
  return { archive, out, run };
}

/** A fresh full run over the same tree with the same options: what every incremental run must equal. */
async function fresh(archive: string, extra: Partial<ConvertOptions> = {}): Promise<{ out: string; result: ConvertResult }> {
  const out = tempDir();
  const result = await convert({ inputs: [archive], out, timezone: "UTC", workers: 1, ...extra });
  return { out, result };
}

async function expectSameAsFresh(archive: string, out: string, extra: Partial<ConvertOptions> = {}): Promise<void> {
  const full = await fresh(archive, extra);
  expect(mainOutputs(out)).toEqual(mainOutputs(full.out));
  // The index may be the committed one updated: its rows, not its bytes, are a new build's.
  expect(indexContent(join(out, SEARCH_INDEX_FILE))).toEqual(indexContent(join(full.out, SEARCH_INDEX_FILE)));
  expect(comparableReport(readFileSync(join(out, "report.json"), "utf8"))).toEqual(comparableReport(readFileSync(join(full.out, "report.json"), "utf8")));
}

const waitOutRacyWindow = () => new Promise((resolve) => setTimeout(resolve, 2100));

describe("convert --incremental", () => {
  it("first run: a full run, everything in changes/; next run over the same tree reads nothing and keeps the outputs", async () => {
    const { archive, out, run } = setup();
    const first = await run();
    expect(first.incremental).toMatchObject({ mode: "full", why: "no state in the output folder yet: full run" });
    expect(first.report.files).toMatchObject({ seen: 30, added: 30, unchanged: 0, modified: 0, removed: 0 });
    expect(changeFiles(out)).toEqual(expectedChanges({}, mainOutputs(out)));
    expect(first.report.changes).toEqual({
      ImagingStudy: { new: 14, changed: 0, deleted: 0 },
      Patient: { new: 13, changed: 0, deleted: 0 },
      Endpoint: { new: 0, changed: 0, deleted: 0 },
    });
    await expectSameAsFresh(archive, out);

    const before = mainOutputs(out);
    const second = await run();
    expect(second.incremental?.mode).toBe("unchanged");
    expect(second.report.files).toMatchObject({ seen: 30, unchanged: 30, added: 0, modified: 0, removed: 0 });
    expect(second.report.bytesRead.total).toBe(0);
    expect(second.report.bytesRead.medianPerFile).toBe(first.report.bytesRead.medianPerFile);
    expect(changeFiles(out)).toEqual({ "changes/ImagingStudy.ndjson": "", "changes/Patient.ndjson": "", "changes/deleted.ndjson": "" });
    expect(mainOutputs(out)).toEqual(before);
    expect(second.failures).toEqual((await fresh(archive)).result.failures);
    await expectSameAsFresh(archive, out);
  });

  it("re-reads only new and changed files; changes/ lists exactly the resources that differ", async () => {
    const { archive, out, run } = setup();
    await run();
    const before = mainOutputs(out);
    // One knee image becomes another instance; a new image joins the CT study; a file disappears.
    writeFileSync(join(archive, KNEE, "2.dcm"), withUid(join(archive, KNEE, "2.dcm"), "sopInstanceUID", "97")!);
    writeFileSync(join(archive, KNEE, "3.dcm"), withUid(join(archive, KNEE, "1.dcm"), "sopInstanceUID", "98")!);
    unlinkSync(join(archive, "charsets/greek.dcm"));
    const result = await run();
    expect(result.incremental?.mode).toBe("incremental");
    expect(result.report.files).toMatchObject({ seen: 30, unchanged: 28, added: 1, modified: 1, removed: 1 });
    const read = readFileSync(join(archive, KNEE, "2.dcm")).length;
    expect(result.report.bytesRead.total).toBeGreaterThan(0);
    expect(result.report.bytesRead.total).toBeLessThanOrEqual(2 * read);
    expect(changeFiles(out)).toEqual(expectedChanges(before, mainOutputs(out)));
    expect(result.report.changes?.ImagingStudy).toEqual({ new: 0, changed: 1, deleted: 1 });
    expect(result.report.changes?.Patient).toEqual({ new: 0, changed: 0, deleted: 1 });
    expect(readNdjson(join(out, "changes/deleted.ndjson"))).toEqual([
      { resourceType: "ImagingStudy", id: "2.25.93284755117702911744137342310154461.14" },
      { resourceType: "Patient", id: expect.stringMatching(/^[0-9a-f]{32}$/) },
    ]);
    await expectSameAsFresh(archive, out);
  });

  it("a run that only removes files (a series, a study, an unusable file) reads no byte, even right after the tree was written", async () => {
    // Issue 18: the first run of a tree copied just before it found its files racily clean, and the next run read
    // them all again although only removals had happened.
    const archive = copyFixtures(join(tempDir(), "fresh"));
    const out = join(tempDir(), "fhir");
    await convert({ inputs: [archive], out, timezone: "UTC", workers: 1, incremental: true, maxDelete: 100 });
    const before = mainOutputs(out);
    rmSync(join(archive, "HOSP-A/Mueller Juergen PAT-0001/CT 2024-03-15/coronal"), { recursive: true });
    rmSync(join(archive, "jp"), { recursive: true });
    unlinkSync(join(archive, "bad/notes.txt"));
    const result = await convert({ inputs: [archive], out, timezone: "UTC", workers: 1, incremental: true, maxDelete: 100 });
    expect(result.report.files).toMatchObject({ seen: 26, unchanged: 26, added: 0, modified: 0, removed: 4 });
    expect((JSON.parse(readFileSync(join(out, "report.json"), "utf8")) as { bytesRead: { total: number } }).bytesRead.total).toBe(0);
    expect(changeFiles(out)).toEqual(expectedChanges(before, mainOutputs(out)));
    expect(result.report.changes?.ImagingStudy).toEqual({ new: 0, changed: 1, deleted: 1 });
    await expectSameAsFresh(archive, out);
  });

  it("a touched file is read again and changes nothing; a renamed or moved file changes no resource", async () => {
    const { archive, out, run } = setup();
    await run();
    const before = mainOutputs(out);
    const now = new Date();
    utimesSync(join(archive, "charsets/arabic.dcm"), now, now);
    const touched = await run();
    expect(touched.report.files).toMatchObject({ unchanged: 29, modified: 1 });
    expect(touched.report.bytesRead.total).toBeGreaterThan(0);
    expect(touched.incremental?.mode).toBe("unchanged");
    expect(mainOutputs(out)).toEqual(before);
    expect(changeFiles(out)).toEqual({ "changes/ImagingStudy.ndjson": "", "changes/Patient.ndjson": "", "changes/deleted.ndjson": "" });

    renameSync(join(archive, "charsets/hebrew.dcm"), join(archive, "charsets/hebrew-renamed.dcm"));
    mkdirSync(join(archive, "moved"));
    renameSync(join(archive, "jp/yamada.dcm"), join(archive, "moved/yamada.dcm"));
    const moved = await run();
    expect(moved.report.files).toMatchObject({ added: 2, removed: 2 });
    expect(readFileSync(join(out, "changes/ImagingStudy.ndjson"), "utf8")).toBe("");
    expect(readFileSync(join(out, "changes/Patient.ndjson"), "utf8")).toBe("");
    expect(readFileSync(join(out, "changes/deleted.ndjson"), "utf8")).toBe("");
    await expectSameAsFresh(archive, out);
  });

  it("a change that shows only in errors.ndjson puts nothing in changes/; a file that becomes corrupt takes its instance away", async () => {
    const { archive, out, run } = setup();
    await run();
    const before = mainOutputs(out);
    writeFileSync(join(archive, "bad/notes2.txt"), "not DICOM either");
    const junk = await run();
    expect(junk.incremental?.mode).toBe("incremental");
    expect(mainOutputs(out)["errors.ndjson"]).not.toBe(before["errors.ndjson"]);
    expect(changeFiles(out)).toEqual({ "changes/ImagingStudy.ndjson": "", "changes/Patient.ndjson": "", "changes/deleted.ndjson": "" });

    const after = mainOutputs(out);
    truncateSync(join(archive, "conflict/c.dcm"), 300);
    await run();
    expect(readNdjson(join(out, "changes/ImagingStudy.ndjson")).map((s) => s.id)).toEqual(["2.25.93284755117702911744137342310154461.20"]);
    expect(changeFiles(out)).toEqual(expectedChanges(after, mainOutputs(out)));
    await expectSameAsFresh(archive, out);
  });

  it("options that change the output invalidate the state: a full run, and changes/ is still the true difference", async () => {
    const { archive, out, run } = setup();
    await run({ format: "bundle" });
    const before = mainOutputs(out);
    const zurich = await run({ timezone: "Europe/Zurich", format: "bundle" });
    expect(zurich.incremental?.mode).toBe("full");
    expect(zurich.incremental?.why).toBe("the state was made with a different --timezone (or machine time zone, or time zone rules): full run");
    expect(zurich.report.files).toMatchObject({ added: 30, unchanged: 0 });
    expect(changeFiles(out)).toEqual(expectedChanges(before, mainOutputs(out)));
    expect(readNdjson(join(out, "changes/ImagingStudy.ndjson")).length).toBeGreaterThan(0);
    await expectSameAsFresh(archive, out, { timezone: "Europe/Zurich", format: "bundle" });

    const endpoint = await run({ timezone: "Europe/Zurich", endpoint: "https://pacs.example.org/dicom-web" });
    expect(endpoint.incremental?.why).toBe("the state was made with a different --endpoint and a different --format: full run");
    await expectSameAsFresh(archive, out, { timezone: "Europe/Zurich", endpoint: "https://pacs.example.org/dicom-web" });
    const noEndpoint = await run({ timezone: "Europe/Zurich" });
    expect(readNdjson(join(out, "changes/deleted.ndjson")).filter((d) => d.resourceType === "Endpoint")).toHaveLength(1);
    expect(noEndpoint.report.changes?.Endpoint.deleted).toBe(1);
  });

  it("--format bundle works with --incremental: the bundle is kept when nothing changed and rewritten when something did", async () => {
    const { archive, out, run } = setup();
    await run({ format: "bundle" });
    expect((await run({ format: "bundle" })).incremental?.mode).toBe("unchanged");
    await expectSameAsFresh(archive, out, { format: "bundle" });
    unlinkSync(join(archive, "kr/hong"));
    await run({ format: "bundle" });
    await expectSameAsFresh(archive, out, { format: "bundle" });
  });

  it("a file listed twice by overlapping inputs counts twice, as in a full run", async () => {
    const { archive, out } = setup();
    const options = { inputs: [archive, join(archive, "charsets")], out, timezone: "UTC", workers: 1, incremental: true } as const;
    await convert(options);
    const again = await convert(options);
    expect(again.incremental?.mode).toBe("unchanged");
    expect(again.report.files).toMatchObject({ seen: 35, unchanged: 35 });
    expect(again.report.duplicates).toBe(6);
    const narrower = await convert({ ...options, inputs: [archive] });
    expect(narrower.incremental?.mode).toBe("incremental");
    expect(narrower.report.duplicates).toBe(1);
    await expectSameAsFresh(archive, out);
  });

  it("a kept study whose Patient a new study gets rejected is listed with it, and written again when the Patient is valid again", async () => {
    // Studies none of whose files changed are kept, not assembled again; their Patient is decided anew each run.
    // A site's check rejects women's records: a new study of the same PatientID, with more instances saying F,
    // turns the Patient female and takes the kept study with it; removing it brings the kept study back, though
    // the previous output holds no line of it.
    const archive = tempDir();
    const out = join(tempDir(), "fhir");
    const extraValidation = (resource: ImagingStudy | Patient) =>
      resource.resourceType === "Patient" && resource.gender === "female" ? "held back by the site" : undefined;
    const root = "1.2.826.0.1.3680043.10.1513.77";
    const study = (k: number, instances: number, sex: string, patientId: string) => {
      mkdirSync(join(archive, `study-${k}`), { recursive: true });
      for (let i = 1; i <= instances; i++) {
        const dataset = {
          SOPClassUID: "1.2.840.10008.5.1.4.1.1.2",
          SOPInstanceUID: `${root}.${k}.1.${i}`,
          StudyInstanceUID: `${root}.${k}`,
          SeriesInstanceUID: `${root}.${k}.1`,
          StudyDate: `2024010${k}`,
          Modality: "CT",
          PatientName: "Keller^Eva",
          PatientID: patientId,
          PatientSex: sex,
        };
        writeFileSync(join(archive, `study-${k}`, `${i}.dcm`), writeDicom(dataset));
      }
    };
    const run = () => convert({ inputs: [archive], out, timezone: "UTC", workers: 1, incremental: true, maxDelete: 100, extraValidation });
    study(1, 2, "M", "PAT-K");
    study(2, 1, "M", "PAT-OTHER");
    await waitOutRacyWindow();
    expect((await run()).report.resources.written).toMatchObject({ ImagingStudy: 2, Patient: 2 });

    study(3, 3, "F", "PAT-K");
    await waitOutRacyWindow();
    const rejected = await run();
    expect(rejected.incremental?.mode).toBe("incremental");
    expect(rejected.report.resources.written).toMatchObject({ ImagingStudy: 1, Patient: 1 });
    const errors = readNdjson<{ path: string; reason: string; message: string }>(join(out, "errors.ndjson"));
    expect(errors.filter((e) => e.path.includes("study-1"))).toHaveLength(2);
    for (const e of errors) expect(e.message).toMatch(/its Patient was rejected: held back by the site/);
    await expectSameAsFresh(archive, out, { extraValidation });

    rmSync(join(archive, "study-3"), { recursive: true });
    const back = await run();
    expect(back.incremental?.mode).toBe("incremental");
    expect(back.report.resources.written).toMatchObject({ ImagingStudy: 2, Patient: 2 });
    expect(readFileSync(join(out, "ImagingStudy.ndjson"), "utf8")).toContain(`urn:oid:${root}.1"`);
    await expectSameAsFresh(archive, out, { extraValidation });
  });

  it("a non-incremental run in the folder removes the state and changes/, which would no longer describe it", async () => {
    const { archive, out, run } = setup();
    await run();
    await convert({ inputs: [archive], out, timezone: "UTC", workers: 1 });
    const stateOrChanges = (p: string) => (p.includes(".dcm2fhir") && !p.endsWith(SEARCH_INDEX_FILE)) || p.includes("changes");
    expect(Object.keys(everyFile(out)).filter(stateOrChanges)).toEqual([]);
    const next = await run();
    expect(next.incremental?.mode).toBe("full");
    expect(changeFiles(out)).toEqual({ "changes/ImagingStudy.ndjson": "", "changes/Patient.ndjson": "", "changes/deleted.ndjson": "" });
  });
});

describe("a state that cannot be trusted", () => {
  async function withState(damage: (state: string, digest: string) => void): Promise<ConvertResult> {
    const { archive, out, run } = setup();
    await run();
    const before = mainOutputs(out);
    damage(join(out, ".dcm2fhir/state.sqlite"), join(out, ".dcm2fhir/state.json"));
    unlinkSync(join(archive, "charsets/russian.dcm"));
    const result = await run();
    expect(result.incremental?.mode).toBe("full");
    expect(changeFiles(out)).toEqual(expectedChanges(before, mainOutputs(out)));
    await expectSameAsFresh(archive, out);
    // The state written in its place is whole: the run after it is incremental again.
    expect((await run()).incremental?.mode).not.toBe("full");
    return result;
  }

  it("a corrupt one (bytes changed) is detected, reported and replaced by a full run", async () => {
    const result = await withState((state) => {
      const bytes = readFileSync(state);
      bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0xff;
      writeFileSync(state, bytes);
    });
    expect(result.incremental?.why).toBe(
      "the state in the output folder is unusable, it is corrupt: its content does not match its digest: replaced by a full run",
    );
  });

  it("a truncated one, one without its digest, and a foreign SQLite database are not used either", async () => {
    expect((await withState((state) => truncateSync(state, 4096))).incremental?.why).toMatch(/it is corrupt/);
    expect((await withState((_, digest) => unlinkSync(digest))).incremental?.why).toMatch(/its digest \(state.json\) is missing or unreadable/);
    const foreign = await withState((state, digest) => {
      rmSync(state);
      const db = new Database(state);
      db.exec("CREATE TABLE entry (path TEXT PRIMARY KEY, id INTEGER, ident TEXT, seen INTEGER)");
      db.close();
      const { createHash } = require("node:crypto") as typeof import("node:crypto");
      const bytes = readFileSync(state);
      const old = JSON.parse(readFileSync(digest, "utf8"));
      writeFileSync(digest, JSON.stringify({ ...old, bytes: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") }));
    });
    expect(foreign.incremental?.why).toMatch(/it is not a dcm2fhir state database/);
    expect((await withState((state) => writeFileSync(state, "garbage"))).incremental?.why).toMatch(/it is corrupt/);
  });

  it("outputs edited by hand since the state was committed are written again from the state, not kept", async () => {
    const { archive, out, run } = setup();
    await run();
    appendFileSync(join(out, "ImagingStudy.ndjson"), '{"resourceType":"ImagingStudy","id":"1.2.3"}\n');
    const result = await run();
    expect(result.incremental?.why).toBe("the outputs in the folder are not the ones the state was committed with: written again from the state");
    expect(result.report.files.unchanged).toBe(30);
    expect(readNdjson(join(out, "changes/deleted.ndjson"))).toEqual([{ resourceType: "ImagingStudy", id: "1.2.3" }]);
    await expectSameAsFresh(archive, out);
  });
});

describe("safety", () => {
  function cli(args: string[], cwd = REPO) {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", cwd, timeout: 60_000 });
    return { status: r.status, output: r.stdout + r.stderr };
  }

  it("a run that would delete more than --max-delete (10 %) of the studies stops before committing: exit 3, nothing touched", () => {
    const archive = copyFixtures(join(tempDir(), "archive"));
    const out = join(tempDir(), "fhir");
    expect(cli(["convert", archive, "--out", out, "--incremental", "--timezone", "UTC"]).status).toBe(0);
    const before = everyFile(out);
    rmSync(join(archive, "charsets"), { recursive: true });
    const refused = cli(["convert", archive, "--out", out, "--incremental", "--timezone", "UTC"]);
    expect(refused.status).toBe(3);
    expect(refused.output).toMatch(
      /this run would delete 5 of the previous output's 14 studies \(36 %\), more than --max-delete 10 % allows: nothing was written, the previous output and state are unchanged\..* run again with --max-delete 36/,
    );
    expect(everyFile(out)).toEqual(before);
    const allowed = cli(["convert", archive, "--out", out, "--incremental", "--timezone", "UTC", "--max-delete", "36"]);
    expect(allowed.status, allowed.output).toBe(0);
    expect(readNdjson(join(out, "changes/deleted.ndjson")).filter((d) => d.resourceType === "ImagingStudy")).toHaveLength(5);
    expect(cli(["convert", archive, "--out", out, "--max-delete", "5"]).output).toMatch(/--max-delete applies to --incremental runs/);
    expect(cli(["convert", archive, "--out", out, "--incremental", "--max-delete", "200"]).output).toMatch(/--max-delete takes a percentage from 0 to 100/);
  });

  it("a glob that matches nothing and an empty folder are usage errors naming the input by number", () => {
    const empty = tempDir();
    const out = join(tempDir(), "fhir");
    const glob = cli(["convert", join(REPO, "fixtures/dicom/charsets"), join(empty, "*.dcm"), "--out", out, "--incremental"]);
    expect(glob.status).toBe(2);
    expect(glob.output).toMatch(
      /input #2 \(add --verbose to show it\) matches nothing: an archive that vanished \(an unmounted share\?\) is not an archive that was emptied/,
    );
    expect(glob.output).not.toContain(empty);
    const folder = cli(["convert", empty, "--out", out]);
    expect(folder.status).toBe(2);
    expect(folder.output).toMatch(/input #1 \(add --verbose to show it\) is an empty folder/);
    expect(cli(["convert", empty, "--out", out, "--verbose"]).output).toContain(`input "${empty}" is an empty folder`);
  });

  it.each([
    ["a folder walk", (archive: string) => [archive]],
    ["a glob", (archive: string) => [`${archive}/*`]],
    [
      "a shell's expansion (explicit folders and files)",
      (archive: string) => ["charsets", "bad", "conflict", "fhir", "fhir/report.json"].map((p) => join(archive, p)),
    ],
  ])("the output folder is never input, wherever it lies under one: %s", (_, inputs) => {
    const archive = copyFixtures(join(tempDir(), "archive"));
    const out = join(archive, "fhir");
    const first = cli(["convert", ...inputs(archive).filter((p) => !p.startsWith(out)), "--out", out, "--timezone", "UTC"]);
    expect(first.status, first.output).toBe(0);
    const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
    // Its outputs, lock, staging folder and state are there now; a second run must not read them.
    const second = cli(["convert", ...inputs(archive), "--out", out, "--timezone", "UTC", "--incremental"]);
    expect(second.status, second.output).toBe(0);
    expect(comparableReport(readFileSync(join(out, "report.json"), "utf8"))).toEqual(comparableReport(JSON.stringify(report)));
    expect(cli(["convert", ...inputs(archive), "--out", out, "--timezone", "UTC", "--incremental"]).status).toBe(0);
    expect(JSON.parse(readFileSync(join(out, "report.json"), "utf8")).files.seen).toBe(report.files.seen);
    expect(readNdjson(join(out, "errors.ndjson")).map((e) => e.path)).not.toContainEqual(expect.stringContaining("/fhir/"));
  });

  it("the output folder reached through a relative path and through links is recognised too", () => {
    const archive = copyFixtures(join(tempDir(), "archive"));
    copyFileSync(join(REPO, "fixtures/dicom/charsets/greek.dcm"), join(archive, "extra.dcm"));
    mkdirSync(join(archive, "fhir"));
    symlinkSync(join(archive, "fhir"), join(archive, "link-to-out"));
    expect(cli(["convert", ".", "--out", "fhir", "--timezone", "UTC", "--incremental", "--follow-symlinks"], archive).status).toBe(0);
    symlinkSync(join(archive, "fhir/changes"), join(archive, "link-into-out"));
    const first = JSON.parse(readFileSync(join(archive, "fhir/report.json"), "utf8"));
    expect(first.files.seen).toBe(31);
    expect(cli(["convert", ".", "--out", "fhir", "--timezone", "UTC", "--incremental", "--follow-symlinks"], archive).status).toBe(0);
    const second = JSON.parse(readFileSync(join(archive, "fhir/report.json"), "utf8"));
    expect(comparableReport(JSON.stringify(second))).toEqual(comparableReport(JSON.stringify(first)));
    expect(outputFiles(join(archive, "fhir"))).toHaveProperty("report.json");
  });
});

describe("changes/ of large outputs", () => {
  it("compares outputs of many megabytes line by line, lines crossing every read boundary", async () => {
    const { OutputDirectory } = await import("../../src/lib/outputFolder.js");
    const { writeChanges } = await import("../../src/incremental/changes.js");
    const dir = tempDir();
    // Lines of 1 to 300 kB, so that they begin and end anywhere in the reader's 1 MiB windows.
    const line = (id: number, version: number) =>
      `${JSON.stringify({ resourceType: "ImagingStudy", id: `1.2.${id}`, note: "x".repeat(((id * 7919) % 300_000) + 1), version })}\n`;
    const before = Array.from({ length: 60 }, (_, i) => line(i, 0)).join("");
    writeFileSync(join(dir, "ImagingStudy.ndjson"), before);
    const out = OutputDirectory.open(dir);
    const after = Array.from({ length: 62 }, (_, i) => i)
      .filter((i) => i % 10 !== 3)
      .map((i) => line(i, i % 7 === 0 ? 1 : 0))
      .join("");
    writeFileSync(out.stage("ImagingStudy.ndjson"), after);
    const counts = writeChanges(out);
    const expected = expectedChanges({ "ImagingStudy.ndjson": before }, { "ImagingStudy.ndjson": after });
    expect(readFileSync(out.stagedPath("changes/ImagingStudy.ndjson")!, "utf8")).toBe(expected["changes/ImagingStudy.ndjson"]);
    expect(readFileSync(out.stagedPath("changes/deleted.ndjson")!, "utf8")).toBe(expected["changes/deleted.ndjson"]);
    expect(counts.ImagingStudy).toEqual({ new: 2, changed: 9, deleted: 6 });
    expect(before.length).toBeGreaterThan(7 << 20);
    out.abort();
  });
});
