// --io-depth (issue 17): how many file operations are in flight changes when a run finishes, never what it
// writes. The same hostile tree converted at depths 1, 4 and 64, with 1 and 2 readers, gives the same bytes; a
// FIFO that replaced a listed file does not block a reader with many files in flight; bad values are bad usage.
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { resolveInputs } from "../../src/crawl/inputs.js";
import { crawlInPieces } from "../../src/crawl/walk.js";
import { IoPace, parseIoDepth } from "../../src/lib/ioPace.js";
import { DicomFileReader } from "../../src/read/readFile.js";
import { CLI, REPO, outputFiles, tempDir } from "../helpers/run.js";

const fixtures = join(REPO, "fixtures/dicom");

function convert(tree: string, out: string, ...args: string[]) {
  const run = spawnSync(process.execPath, [CLI, "convert", tree, "--out", out, "--timezone", "UTC", ...args], { encoding: "utf8", timeout: 120_000 });
  expect(run.status, run.stderr).toBe(0);
  return run;
}

/** A run's outputs as bytes, report.json without its timing. */
function outputs(out: string): Record<string, string> {
  const files = outputFiles(out);
  const report = JSON.parse(files["report.json"]!) as Record<string, unknown>;
  delete report.elapsedSeconds;
  return { ...files, "report.json": JSON.stringify(report) };
}

/** Every fixture, some twice (duplicates: which copy is used depends on all of them), a folder of 700, links, a FIFO, a name that is not UTF-8. */
function hostileTree(): string {
  const tree = join(tempDir(), "archive");
  mkdirSync(tree);
  execFileSync("cp", ["-r", fixtures, join(tree, "fixtures")]);
  mkdirSync(join(tree, "deep/a/b/c/d"), { recursive: true });
  copyFileSync(join(fixtures, "charsets/russian.dcm"), join(tree, "deep/a/b/c/d/copy.dcm"));
  copyFileSync(join(fixtures, "charsets/russian.dcm"), join(tree, "deep/a/copy.dcm"));
  mkdirSync(join(tree, "wide"));
  const sources = ["charsets/greek.dcm", "conflict/a.dcm", "bad/notes.txt"].map((p) => join(fixtures, p));
  const local = sources.map((source, i) => {
    const copy = join(tree, `source-${i}`);
    copyFileSync(source, copy);
    return copy;
  });
  for (let i = 0; i < 700; i++) linkSync(local[i % local.length]!, join(tree, "wide", `f${i}`));
  writeFileSync(join(tree, "wide", "empty"), "");
  writeFileSync(Buffer.from([...Buffer.from(`${tree}/deep/`), 0x6e, 0xe9, 0x2e, 0x64, 0x63, 0x6d]), readFileSync(join(fixtures, "charsets/greek.dcm")));
  execFileSync("mkfifo", [join(tree, "deep/a/fifo")]);
  symlinkSync(join(tree, "deep"), join(tree, "link-1"));
  symlinkSync(join(tree, "deep"), join(tree, "link-2"));
  symlinkSync("..", join(tree, "deep/a/b/back"));
  return tree;
}

describe("--io-depth", () => {
  let tree: string;
  beforeAll(() => {
    tree = hostileTree();
  });

  it("writes the same bytes at depths 1, 4 and 64 with 1 and 2 readers, links followed or not", () => {
    for (const follow of [[], ["--follow-symlinks"]]) {
      const runs = new Map<string, Record<string, string>>();
      for (const depth of ["1", "4", "64"]) {
        for (const workers of ["1", "2"]) {
          const out = join(tempDir(), "out");
          convert(tree, out, "--io-depth", depth, "--workers", workers, ...follow);
          runs.set(`depth ${depth}, ${workers} workers`, outputs(out));
        }
      }
      const [first, ...others] = [...runs.values()];
      expect(JSON.parse(first!["report.json"]!).duplicates).toBeGreaterThan(0);
      expect(first!["errors.ndjson"]).toContain("fifo");
      for (const other of others) expect(other).toEqual(first);
    }
  }, 300_000);

  it("an incremental run that finds nothing changed keeps the outputs at any depth; one from scratch at 64 writes what one at 1 does", () => {
    const one = join(tempDir(), "out");
    const many = join(tempDir(), "out");
    convert(tree, one, "--incremental", "--io-depth", "1");
    convert(tree, many, "--incremental", "--io-depth", "64");
    expect(outputs(many)).toEqual(outputs(one));
    const again = convert(tree, one, "--incremental", "--io-depth", "64");
    expect(again.stderr).toContain("changes: none");
  }, 120_000);

  it("lists the same entries in the same order, one folder at a time or many ahead", async () => {
    const inputs = await resolveInputs([tree], { verbose: false });
    const crawlAt = async (pace: IoPace) => {
      const found: string[] = [];
      for await (const piece of crawlInPieces(inputs, { followSymlinks: true, pace }))
        for (const e of piece) found.push(`${String(e.path)} ${"reason" in e ? e.reason : ""}`);
      return found;
    };
    const now = await crawlAt(new IoPace(1));
    expect(now.length).toBeGreaterThan(700);
    expect(await crawlAt(new IoPace(64))).toEqual(now);
    expect(await crawlAt(new IoPace(2))).toEqual(now);
  });

  it("a FIFO that replaced a listed file does not block a reader with many files in flight", async () => {
    const dir = tempDir();
    execFileSync("mkfifo", [join(dir, "fifo.dcm")]);
    copyFileSync(join(fixtures, "charsets/russian.dcm"), join(dir, "ok.dcm"));
    const reader = new DicomFileReader(undefined, new IoPace(64));
    const paths = Array.from({ length: 100 }, (_, i) => join(dir, i % 2 ? "fifo.dcm" : "ok.dcm"));
    const reads = await reader.readAll(paths);
    expect(reads.filter((r) => "reason" in r.result && r.result.reason === "not-a-regular-file")).toHaveLength(50);
    expect(reads.filter((r) => !("reason" in r.result))).toHaveLength(50);
    // The same as one at a time.
    const sync = new DicomFileReader();
    expect(reads.map((r) => JSON.stringify(r))).toEqual(paths.map((p) => JSON.stringify(sync.read(p))));
  });

  it("refuses what is not auto or a whole number from 1 to 1024: exit 2, one line", () => {
    const out = join(tempDir(), "out");
    for (const bad of ["0", "-3", "abc", "2.5", "1025", ""]) {
      const run = spawnSync(process.execPath, [CLI, "convert", tree, "--out", out, `--io-depth=${bad}`], { encoding: "utf8" });
      expect(run.status, bad).toBe(2);
      expect(run.stderr).toMatch(/--io-depth takes auto or a whole number from 1/);
    }
    // Refused before the output folder is made.
    expect(existsSync(out)).toBe(false);
    expect([parseIoDepth("auto"), parseIoDepth("8"), parseIoDepth(undefined), parseIoDepth("x")]).toEqual(["auto", 8, "auto", undefined]);
  });
});
