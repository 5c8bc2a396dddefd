// The property of convert --incremental: after any sequence of changes to an archive — files added, modified in
// place or replaced, touched, deleted, renamed, corrupted, options changed, the state damaged, a run killed
// (SIGKILL) at a random moment — the next incremental run writes exactly what a fresh full run over the same
// tree writes, and changes/ is exactly the difference between the two committed outputs. Seeded: a failure
// names its seed and step, and DCM2FHIR_PROPERTY_SEED=<seed> replays it.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, renameSync, truncateSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { type ConvertResult, convert } from "../../src/convert.js";
import { OutputDirectory } from "../../src/lib/outputFolder.js";
import { FIXTURES, changeFiles, comparableReport, copyFixtures, expectedChanges, mainOutputs, withUid } from "../helpers/incremental.js";
import { CLI, readNdjson, tempDir } from "../helpers/run.js";

const SEED = Number(process.env.DCM2FHIR_PROPERTY_SEED ?? 20261128);
const STEPS = 40;

/** mulberry32: small, seedable, good enough to pick changes. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Op = "add" | "modify" | "replace" | "touch" | "delete" | "rename" | "corrupt" | "options" | "damage-state" | "kill";
const OPS: ReadonlyArray<readonly [Op, number]> = [
  ["add", 4],
  ["modify", 3],
  ["replace", 2],
  ["touch", 3],
  ["delete", 3],
  ["rename", 3],
  ["corrupt", 2],
  ["options", 1],
  ["damage-state", 1],
  ["kill", 3],
];

describe("convert --incremental, property", () => {
  it(`equals a fresh full run after every step of a random sequence of changes (seed ${SEED}, ${STEPS} steps)`, async () => {
    const next = random(SEED);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
    const archive = copyFixtures(join(tempDir(), "archive"));
    const out = join(tempDir(), "fhir");
    const sources = files(FIXTURES);
    let timezone = "UTC";
    let committed: Record<string, string> = {};
    const modes: string[] = [];
    let unchangedFiles = 0;
    let kills = 0;

    const change = (op: Op, step: number): string => {
      const existing = files(archive);
      const target = existing.length > 0 ? pick(existing) : undefined;
      const digits = String(Math.floor(next() * 90) + 10);
      switch (op) {
        case "add": {
          const source = pick(sources);
          const variant = withUid(source, pick(["sopInstanceUID", "seriesInstanceUID", "studyInstanceUID"] as const), digits);
          const path = join(archive, pick(["added", "HOSP-A", "charsets", `new-${step}`]), `file-${step}${next() < 0.5 ? ".dcm" : ""}`);
          mkdirSync(dirname(path), { recursive: true });
          // Unchanged copies make duplicates, rewritten ones new instances, series or studies.
          writeFileSync(path, next() < 0.7 && variant ? variant : readFileSync(source));
          return `add ${rel(path)}`;
        }
        case "modify":
        case "replace": {
          if (!target) return "nothing to change";
          const variant = withUid(target, pick(["sopInstanceUID", "seriesInstanceUID", "studyInstanceUID"] as const), digits) ?? readFileSync(pick(sources));
          if (op === "modify")
            writeFileSync(target, variant); // same inode
          else {
            writeFileSync(`${target}.tmp`, variant);
            renameSync(`${target}.tmp`, target); // a new inode under the same name
          }
          return `${op} ${rel(target)}`;
        }
        case "touch": {
          if (!target) return "nothing to touch";
          const when = new Date(Date.now() - Math.floor(next() * 1e9));
          utimesSync(target, when, when);
          return `touch ${rel(target)}`;
        }
        case "delete":
          if (!target) return "nothing to delete";
          unlinkSync(target);
          return `delete ${rel(target)}`;
        case "rename": {
          if (!target) return "nothing to rename";
          const to = join(archive, pick(["moved", "HOSP-A", "conflict"]), `renamed-${step}`);
          mkdirSync(dirname(to), { recursive: true });
          renameSync(target, to);
          return `rename ${rel(target)} -> ${rel(to)}`;
        }
        case "corrupt": {
          if (!target) return "nothing to corrupt";
          const bytes = readFileSync(target);
          if (next() < 0.5) truncateSync(target, Math.floor(next() * bytes.length));
          else {
            const at = Math.floor(next() * Math.min(bytes.length, 700));
            bytes[at] = bytes[at]! ^ (1 << Math.floor(next() * 8));
            writeFileSync(target, bytes);
          }
          return `corrupt ${rel(target)}`;
        }
        case "options":
          timezone = timezone === "UTC" ? "Europe/Zurich" : "UTC";
          return `timezone ${timezone}`;
        case "damage-state": {
          const state = join(out, ".dcm2fhir/state.sqlite");
          try {
            const bytes = readFileSync(state);
            const at = Math.floor(next() * bytes.length);
            bytes[at] = bytes[at]! ^ 0x40;
            writeFileSync(state, bytes);
            return "damage the state";
          } catch {
            return "no state to damage";
          }
        }
        case "kill":
          return "kill";
      }
    };
    const rel = (path: string) => path.slice(archive.length + 1);

    for (let step = 0; step < STEPS; step++) {
      const op = step === 0 ? "add" : pickWeighted(OPS, next());
      let what: string;
      if (op === "kill") {
        // A real change first, so that the killed run has something to commit; then SIGKILL at a random moment.
        what = `kill after ${change(pick(["add", "modify", "delete"] as const), step)}`;
        const delay = Math.floor(next() * 700);
        await killedRun(
          ["convert", archive, "--out", out, "--incremental", "--timezone", timezone, "--format", "bundle", "--max-delete", "100", "--workers", "1"],
          delay,
        );
        kills++;
        // What the folder holds once the journal of an interrupted commit is completed (as the next run does):
        // the previous output, or the killed run's whole output; never a mix.
        OutputDirectory.open(out).abort();
        const after = mainOutputs(out);
        const now = mainOutputs((await fresh(archive, timezone)).out);
        expect([committed, now], `seed ${SEED} step ${step}: ${what} (${delay} ms)`).toContainEqual(after);
        committed = after;
      } else what = change(op, step);

      const context = `seed ${SEED} step ${step}: ${what}`;
      const result = await convert({ inputs: [archive], out, timezone, format: "bundle", maxDelete: 100, workers: 1, incremental: true });
      const full = await fresh(archive, timezone);
      expect(mainOutputs(out), context).toEqual(mainOutputs(full.out));
      expect(comparableReport(readFileSync(join(out, "report.json"), "utf8")), context).toEqual(
        comparableReport(readFileSync(join(full.out, "report.json"), "utf8")),
      );
      const now = mainOutputs(out);
      expect(changeFiles(out), context).toEqual(expectedChanges(committed, now));
      expectCounts(result, out, context);
      committed = now;
      modes.push(result.incremental!.mode);
      unchangedFiles += result.report.files.unchanged ?? 0;
    }
    // The sequence exercised what it is meant to: runs served by the state, runs that kept the outputs, kills.
    expect(modes.filter((m) => m === "incremental").length).toBeGreaterThan(STEPS / 4);
    expect(modes).toContain("full");
    expect(unchangedFiles).toBeGreaterThan(STEPS * 10);
    expect(kills).toBeGreaterThan(0);
  });
});

function pickWeighted(ops: ReadonlyArray<readonly [Op, number]>, r: number): Op {
  const total = ops.reduce((n, [, w]) => n + w, 0);
  let at = r * total;
  for (const [op, weight] of ops) {
    if (at < weight) return op;
    at -= weight;
  }
  return ops[ops.length - 1]![0];
}

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

async function fresh(archive: string, timezone: string): Promise<{ out: string }> {
  const out = tempDir();
  await convert({ inputs: [archive], out, timezone, format: "bundle", workers: 1 });
  return { out };
}

/** report.json's change counts agree with the files of changes/. */
function expectCounts(result: ConvertResult, out: string, context: string): void {
  const deleted = readNdjson<{ resourceType: string }>(join(out, "changes/deleted.ndjson"));
  for (const type of ["ImagingStudy", "Patient"] as const) {
    const counts = result.report.changes![type];
    expect(counts.new + counts.changed, context).toBe(readNdjson(join(out, `changes/${type}.ndjson`)).length);
    expect(counts.deleted, context).toBe(deleted.filter((d) => d.resourceType === type).length);
  }
}

async function killedRun(args: string[], delayMs: number): Promise<void> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: "ignore" });
  const exited = new Promise((resolve) => child.on("exit", resolve));
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  child.kill("SIGKILL");
  await exited;
}
