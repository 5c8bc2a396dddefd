// Sharded runs: convert --shard i/N over the fixtures and ../shared/corpus as 1, 2 and 5 shards, then merge,
// give the single run's files byte for byte (report.json but for elapsed time); so does a single convert forced
// onto many partitions. merge refuses incomplete and mixed sets of parts, and a shard killed mid-run leaves no part
// merge accepts, until it is run again alone.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { type ConvertOptions, type ConvertResult, convert } from "../../src/convert.js";
import { merge } from "../../src/merge.js";
import { PartSetError } from "../../src/shard/part.js";
import { CLI, CORPUS, REPO, bigArchive, outputFiles, tempDir } from "../helpers/run.js";
import { describeWith } from "../helpers/resources.js";

const FIXTURES = join(REPO, "fixtures/dicom");
const OPTIONS = { timezone: "Europe/Zurich", endpoint: "http://127.0.0.1:8042/dicom-web", format: "bundle", workers: 1 } as const;

/** The output files of a folder, report.json without its elapsed time. */
function outputs(dir: string): Record<string, string> {
  const files = outputFiles(dir);
  return { ...files, "report.json": JSON.stringify({ ...JSON.parse(files["report.json"]!), elapsedSeconds: 0 }, null, 2) };
}

/** Runs `count` shards of a convert in this process and returns their parts' folders. */
async function shards(options: Omit<ConvertOptions, "out">, count: number, root = tempDir()): Promise<string[]> {
  const parts: string[] = [];
  for (let index = 1; index <= count; index++) {
    const out = join(root, `part-${index}`);
    const result = await convert({ ...options, out, shard: { index, count } });
    expect(result.part).toMatchObject({ shard: { index, count } });
    parts.push(out);
  }
  return parts;
}

const datasets = [
  { name: "fixtures/dicom", input: FIXTURES, present: true },
  { name: "../shared/corpus", input: CORPUS, present: existsSync(CORPUS) },
];

for (const dataset of datasets) {
  describeWith(dataset.present ? undefined : "../shared/corpus is absent", `shards + merge of ${dataset.name}`, () => {
    const options = { ...OPTIONS, inputs: [dataset.input] };
    let single: Record<string, string>;
    let singleResult: ConvertResult;
    beforeAll(async () => {
      const out = tempDir();
      singleResult = await convert({ ...options, out });
      single = outputs(out);
    });

    it.each([1, 2, 5])("%i shard(s) + merge give the single run's files byte for byte", async (count) => {
      const parts = await shards(options, count);
      // Shards split the files: together they saw every file once.
      const seen = parts.map((p) => JSON.parse(readFileSync(join(p, "part.json"), "utf8")).counts.seen as number);
      expect(seen.reduce((a, b) => a + b, 0)).toBe(singleResult.report.files.seen);
      const out = tempDir();
      const merged = await merge({ parts: [...parts].reverse(), out });
      expect(outputs(out)).toEqual(single);
      expect(merged.failures).toEqual(singleResult.failures);
    });

    it("merge on more partitions than the records need, studies crossing them, gives the same files", async () => {
      const parts = await shards(options, 2);
      const out = tempDir();
      await merge({ parts, out, partitions: 5 });
      expect(outputs(out)).toEqual(single);
    });

    it("a single convert forced onto many partitions (records on disk) equals the normal run", async () => {
      const out = tempDir();
      const result = await convert({ ...options, out, partitions: 7 });
      expect(outputs(out)).toEqual(single);
      expect(result.report).toEqual({ ...singleResult.report, elapsedSeconds: result.report.elapsedSeconds });
    });
  });
}

describe("merge refuses a set of parts that is not one whole run", () => {
  const options = { ...OPTIONS, inputs: [FIXTURES] };
  let three: string[];
  beforeAll(async () => {
    three = await shards(options, 3);
  });

  const refusal = async (parts: string[], verbose = false) => {
    try {
      await merge({ parts, out: tempDir(), verbose });
    } catch (error) {
      expect(error).toBeInstanceOf(PartSetError);
      return error as PartSetError;
    }
    throw new Error("merge accepted the parts");
  };

  it("a shard missing", async () => {
    const e = await refusal([three[0]!, three[2]!]);
    expect(e.reason).toBe("missing-shard");
    expect(e.message).toBe("cannot merge: shard 2 of 3 is missing: run it (dcm2fhir convert … --shard i/3) and name every part");
  });

  it("a shard given twice", async () => {
    const copy = join(tempDir(), "copy");
    cpSync(three[1]!, copy, { recursive: true });
    const e = await refusal([three[0]!, three[1]!, copy, three[2]!]);
    expect(e.reason).toBe("duplicate-shard");
    expect(e.message).toMatch(/shard 2 of 3 is given 2 times \(part #2, part #3\)/);
  });

  it("parts of runs with different shard counts", async () => {
    const two = await shards(options, 2);
    const e = await refusal([three[0]!, two[1]!, three[2]!]);
    expect(e.reason).toBe("shard-count");
    expect(e.message).toMatch(/part #2 is shard 2 of 2/);
  });

  it("a part made with other options, or over other inputs", async () => {
    const otherZone = await shards({ ...options, timezone: "UTC" }, 3);
    const zone = await refusal([three[0]!, otherZone[1]!, three[2]!]);
    expect(zone.reason).toBe("mismatch");
    expect(zone.message).toMatch(/part #2 was made with a different --timezone/);
    const otherInputs = await shards({ ...options, inputs: [FIXTURES, join(REPO, "fixtures/expected")] }, 3);
    const inputs = await refusal([otherInputs[0]!, three[1]!, three[2]!]);
    expect(inputs.message).toMatch(/part #2 read other inputs than part #1/);
    expect(inputs.message).toMatch(/part #3 read other inputs than part #1/);
  });

  it("a folder that holds no part, and one whose records are not its manifest's", async () => {
    const converted = tempDir();
    await convert({ ...options, out: converted });
    const notAPart = await refusal([three[0]!, converted, three[2]!]);
    expect(notAPart.reason).toBe("unusable-part");
    expect(notAPart.message).toMatch(/part #2 holds no part \(no part\.json\)/);

    // The records of another run of the same shard, under this run's manifest.
    const again = await shards(options, 3);
    const mixed = join(tempDir(), "mixed");
    cpSync(three[1]!, mixed, { recursive: true });
    copyFileSync(join(again[1]!, "part.sqlite"), join(mixed, "part.sqlite"));
    const damaged = await refusal([three[0]!, mixed, three[2]!]);
    expect(damaged.message).toMatch(/part #2 is damaged: its part\.sqlite is from another run than its manifest/);
  });

  it("names parts by position, by path only with --verbose; the CLI exits 2 and writes nothing", () => {
    const out = join(tempDir(), "fhir");
    const quiet = spawnSync(process.execPath, [CLI, "merge", three[0]!, three[2]!, "--out", out], { encoding: "utf8" });
    expect(quiet.status).toBe(2);
    expect(quiet.stderr).toMatch(/^dcm2fhir: cannot merge: shard 2 of 3 is missing/);
    expect(quiet.stderr).not.toContain(three[0]!);
    expect(existsSync(out)).toBe(false);
    const empty = join(tempDir(), "empty");
    mkdirSync(empty);
    const verbose = spawnSync(process.execPath, [CLI, "merge", three[0]!, empty, three[2]!, "--out", out, "--verbose"], { encoding: "utf8" });
    expect(verbose.status).toBe(2);
    expect(verbose.stderr).toContain(`part #2 (${empty}) holds no part`);
  });
});

function start(args: string[]): { child: ChildProcess; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, stdio: "ignore" });
  return { child, exit: new Promise((resolve) => child.on("exit", (code, signal) => resolve(code ?? (signal ? -1 : null)))) };
}

const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: REPO, encoding: "utf8" });

describe("a shard killed mid-run", () => {
  it("leaves no part merge accepts; running that shard again alone completes the set", async () => {
    const archive = bigArchive(6000);
    const parts = tempDir();
    const args = (index: number) => ["convert", archive, "--shard", `${index}/2`, "--out", join(parts, `part-${index}`), "--timezone", "UTC", "--workers", "1"];
    expect(run(args(2)).status).toBe(0);

    const killed = start(args(1));
    const part1 = join(parts, "part-1");
    // Killed once its records are being written: the staging folder holds a part.sqlite, no manifest is committed.
    const until = Date.now() + 30_000;
    while (!(existsSync(part1) && readdirSync(part1).some((n) => n.startsWith(".dcm2fhir-staging-") && existsSync(join(part1, n, "part.sqlite"))))) {
      if (Date.now() > until) throw new Error("the shard never started writing");
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 100));
    killed.child.kill("SIGKILL");
    expect(await killed.exit).toBe(-1);
    expect(existsSync(join(part1, "part.json"))).toBe(false);

    const out = join(tempDir(), "fhir");
    const refused = run(["merge", part1, join(parts, "part-2"), "--out", out]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/part #1 is incomplete: its shard was killed before it finished; run that shard again/);

    expect(run(args(1)).status).toBe(0);
    expect(run(["merge", join(parts, "part-2"), part1, "--out", out]).status).toBe(0);
    const single = tempDir();
    expect(run(["convert", archive, "--out", single, "--timezone", "UTC"]).status).toBe(0);
    expect(outputs(out)).toEqual(outputs(single));
  });

  it("a part's commit stopped between two renames is refused until the shard is run again", async () => {
    const parts = await shards({ ...OPTIONS, inputs: [FIXTURES] }, 2);
    // What a kill between the renames leaves: the journal, and the manifest not yet in place.
    const journal = join(parts[0]!, ".dcm2fhir.commit.json");
    renameSync(join(parts[0]!, "part.json"), join(parts[0]!, "part.json.moved"));
    cpSync(join(parts[0]!, "part.json.moved"), journal);
    const refused = run(["merge", ...parts, "--out", join(tempDir(), "fhir")]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/part #1 is incomplete: its shard was killed while committing/);
    rmSync(journal);
  });
});
