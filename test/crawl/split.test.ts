// A shard's share of the inputs (crawl/split.ts): every entry the whole crawl finds goes to exactly one shard, for
// folders (split at a frontier every shard lists alike), globs and lists (--files-from), and a shard walks only the
// subtrees it owns. Lists are read one path per line, CRLF or NUL-separated, from a file or standard input.
import { spawnSync } from "node:child_process";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { convert } from "../../src/convert.js";
import { ENTRIES_PER_SHARD, FRONTIER_DEPTH, crawlShare, frontier } from "../../src/crawl/split.js";
import { resolveInputs } from "../../src/crawl/inputs.js";
import type { ResolvedInput } from "../../src/crawl/inputs.js";
import { type CrawlEntry, Walker, crawlInPieces } from "../../src/crawl/walk.js";
import { displayPath } from "../../src/core/reasons.js";
import { ownerOf } from "../../src/core/hash.js";
import { CLI, REPO, outputFiles, tempDir } from "../helpers/run.js";

const FIXTURES = join(REPO, "fixtures/dicom");

/** A tree of folders of uneven size, some deep, with a link, a FIFO and an empty folder among them. */
function tree(): string {
  const root = tempDir("dcm2fhir-split-");
  for (let a = 0; a < 5; a++) {
    for (let b = 0; b < a * 3; b++) {
      const dir = join(root, `patient-${a}`, `study-${b}`, `series-${b % 3}`);
      mkdirSync(dir, { recursive: true });
      for (let f = 0; f < (a + b) % 7; f++) writeFileSync(join(dir, `IM${f}`), `${a}.${b}.${f}`);
    }
    writeFileSync(join(root, `top-${a}.dcm`), "top");
  }
  // A narrow, deep branch: beyond the frontier's depth it is one subtree.
  let deep = join(root, "deep");
  for (let d = 0; d < FRONTIER_DEPTH + 3; d++) {
    deep = join(deep, `level-${d}`);
    mkdirSync(deep, { recursive: true });
    writeFileSync(join(deep, "file"), `${d}`);
  }
  mkdirSync(join(root, "empty"));
  symlinkSync(join(root, "top-0.dcm"), join(root, "patient-1", "link.dcm"));
  expect(spawnSync("mkfifo", [join(root, "patient-2", "fifo")]).status).toBe(0);
  return root;
}

const key = (e: CrawlEntry) => `${displayPath(e.path)}${"reason" in e ? ` ${e.reason}` : ""}`;

async function entriesOf(batches: AsyncIterable<readonly CrawlEntry[]>): Promise<string[]> {
  const all: string[] = [];
  for await (const batch of batches) for (const e of batch) all.push(key(e));
  return all;
}

/** Every shard's entries; each shard's list and their union. */
async function split(inputs: ResolvedInput[], count: number): Promise<{ union: string[]; perShard: string[][] }> {
  const perShard: string[][] = [];
  for (let index = 1; index <= count; index++) perShard.push(await entriesOf(crawlShare(inputs, { index, count }, { followSymlinks: false })));
  return { union: perShard.flat().sort(), perShard };
}

describe("crawlShare", () => {
  it.each([2, 3, 7, 40])("over folders: %i shards find every entry of the whole crawl exactly once", async (count) => {
    const root = tree();
    const inputs = await resolveInputs([root, join(FIXTURES, "conflict")], { verbose: false });
    const whole = (await entriesOf(crawlInPieces(inputs, { followSymlinks: false }))).sort();
    expect(whole.length).toBeGreaterThan(100);
    const { union, perShard } = await split(inputs, count);
    expect(union).toEqual(whole);
    expect(perShard.filter((entries) => entries.length > 0).length).toBeGreaterThan(1);
  });

  it("lists a frontier of at least 8 entries per shard, and each shard yields only what lies under the frontier entries it owns", async () => {
    const root = tree();
    const count = 5;
    const top = (await frontier(new Walker({ followSymlinks: false }), root, count))!;
    expect(top.found.length + top.folders.length).toBeGreaterThanOrEqual(ENTRIES_PER_SHARD * count);
    const owner = (path: string) => ownerOf(Buffer.concat([Buffer.from("0\0"), top.relative(path)]), count);
    const folders = top.folders.map((f) => ({ path: displayPath(f.path), owner: owner(displayPath(f.path)) }));
    const leaves = new Map(top.found.map((e) => [displayPath(e.path), owner(displayPath(e.path))]));
    for (let index = 1; index <= count; index++) {
      for (const entry of await entriesOf(crawlShare([{ kind: "folder", path: root }], { index, count }, { followSymlinks: false }))) {
        const path = entry.split(" ")[0]!;
        const under = folders.find((f) => path.startsWith(`${f.path}/`));
        expect(under?.owner ?? leaves.get(path), path).toBe(index - 1);
      }
    }
  });

  it("stops the frontier at its depth: a narrow deep branch stays one subtree", async () => {
    const root = join(tempDir(), "narrow");
    let dir = root;
    for (let d = 0; d < FRONTIER_DEPTH + 4; d++) {
      dir = join(dir, `d${d}`);
      mkdirSync(dir, { recursive: true });
    }
    writeFileSync(join(dir, "only"), "x");
    const top = (await frontier(new Walker({ followSymlinks: false }), root, 3))!;
    expect(top.folders.map((f) => f.depth)).toEqual([FRONTIER_DEPTH]);
    const { union } = await split([{ kind: "folder", path: root }], 3);
    expect(union).toEqual([join(dir, "only")]);
  });

  it("over a glob: every shard expands it and keeps its matches, folders among them walked by their owner", async () => {
    const root = tree();
    const inputs = await resolveInputs([`${root}/patient-*`, `${root}/top-*.dcm`], { verbose: false });
    const whole = (await entriesOf(crawlInPieces(inputs, { followSymlinks: false }))).sort();
    expect(whole.length).toBeGreaterThan(50);
    expect((await split(inputs, 4)).union).toEqual(whole);
  });

  it("over a list: each shard keeps its lines; a listed folder is walked by the line's owner", async () => {
    const root = tree();
    const list = join(tempDir(), "list");
    writeFileSync(list, [join(root, "top-1.dcm"), join(root, "patient-3"), join(root, "missing.dcm"), join(root, "patient-2", "fifo")].join("\n"));
    const inputs = await resolveInputs([], { verbose: false, filesFrom: list });
    const whole = (await entriesOf(crawlInPieces(inputs, { followSymlinks: false }))).sort();
    expect(whole).toContain(`${join(root, "missing.dcm")} unreadable`);
    expect(whole).toContain(`${join(root, "patient-2", "fifo")} not-a-regular-file`);
    expect(whole.filter((e) => e.startsWith(join(root, "patient-3")))).toHaveLength(whole.length - 3);
    for (const count of [2, 3]) {
      const again = await resolveInputs([], { verbose: false, filesFrom: list });
      expect((await split(again, count)).union).toEqual(whole);
    }
  });
});

describe("--files-from", () => {
  const files = ["charsets/greek.dcm", "conflict/a.dcm", "conflict/b.dcm", "bad/notes.txt"].map((p) => join(FIXTURES, p));

  it("one path per line, CRLF, or NUL-separated: the same run as naming the files", async () => {
    const named = tempDir();
    await convert({ inputs: files, out: named, timezone: "UTC", workers: 1 });
    for (const text of [`${files.join("\n")}\n`, `${files.join("\r\n")}\r\n\r\n`, files.join("\0")]) {
      const list = join(tempDir(), "list");
      writeFileSync(list, text);
      const out = tempDir();
      await convert({ inputs: [], filesFrom: list, out, timezone: "UTC", workers: 1 });
      expect(outputFiles(out)["errors.ndjson"]).toBe(outputFiles(named)["errors.ndjson"]);
      expect(outputFiles(out)["ImagingStudy.ndjson"]).toBe(outputFiles(named)["ImagingStudy.ndjson"]);
    }
  });

  it("a name that is not UTF-8 stays bytes", async () => {
    const dir = tempDir();
    const name = Buffer.concat([Buffer.from(`${dir}/caf`), Buffer.from([0xe9]), Buffer.from(".dcm")]);
    writeFileSync(name, "not dicom");
    const list = join(tempDir(), "list");
    writeFileSync(list, Buffer.concat([name, Buffer.from("\n")]));
    const result = await convert({ inputs: [], filesFrom: list, out: tempDir(), timezone: "UTC", workers: 1 });
    expect(result.failures).toHaveLength(1);
    expect(Buffer.isBuffer(result.failures[0]!.path) && result.failures[0]!.path.equals(name)).toBe(true);
    expect(result.failures[0]!.reason).toBe("not-dicom");
  });

  it("- reads standard input; shards of a list merge into the run over it", () => {
    const parts = tempDir();
    const list = `${files.join("\n")}\n`;
    for (const index of [1, 2]) {
      const r = spawnSync(
        process.execPath,
        [CLI, "convert", "--files-from", "-", "--shard", `${index}/2`, "--out", join(parts, `p${index}`), "--timezone", "UTC"],
        { input: list, encoding: "utf8" },
      );
      expect(r.status, r.stderr).toBe(0);
    }
    const merged = join(tempDir(), "merged");
    expect(spawnSync(process.execPath, [CLI, "merge", join(parts, "p1"), join(parts, "p2"), "--out", merged], { encoding: "utf8" }).status).toBe(0);
    const single = join(tempDir(), "single");
    const r = spawnSync(process.execPath, [CLI, "convert", "--files-from", "-", "--out", single, "--timezone", "UTC"], { input: list, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const comparable = (dir: string) => ({
      ...outputFiles(dir),
      "report.json": JSON.stringify({ ...JSON.parse(outputFiles(dir)["report.json"]!), elapsedSeconds: 0 }),
    });
    expect(comparable(merged)).toEqual(comparable(single));
  });

  it("a list that cannot be read, and no inputs at all, are usage errors", async () => {
    await expect(convert({ inputs: [], filesFrom: join(tempDir(), "absent"), out: tempDir() })).rejects.toThrow(/--files-from is not a readable file/);
    await expect(convert({ inputs: [], out: tempDir() })).rejects.toThrow(/no inputs/);
  });
});
