// The incremental section of `npm run bench`: what a nightly `convert --incremental` costs against a full run on
// the bench archive — a run over an archive that has not changed, and one after 1 % of its files changed — as
// whole processes, alternating, medians; what the no-change run reads (nothing) and its peak RSS; and, from a
// no-change run over ten times as many files, its cost per file, the state's size and RSS per 100,000 files, and
// what a million files would take.
//
// Then the nightly users run (issue 18): last night's scans arrive as new studies, ~1 % of the archive's files,
// one of them of a patient the archive already holds. On the 10k archive and on the 100,000-file header-only one
// (speed.ts), each round adds new studies and times the incremental run against a full run of the same tree,
// in alternating order; every incremental output is checked byte for byte against a fresh run's, and its
// changes/ against the difference of the two outputs. At 100,000 files, a no-change run is timed against the
// full run as well.
//
//   npx tsx scripts/bench/incremental.ts [--quick] [--runs N] [--only new-studies]      (alone; npm run build first)
//
// The archive is never changed: each run works on a tree of hard links to it (bench/tmp/incremental/), and a
// changed file is replaced by a changed copy. Hard links leave the archive's bytes alone but are new names, so
// every tree is left alone for longer than the racy window (2 s: files changed more recently are read again by
// the next run) before its state is made, as a nightly archive's files are.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, linkSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { DicomFileReader } from "../../src/read/readFile.js";
import { ensureArchive } from "./gen-archive.js";
import type { BenchContext, BenchSection, SectionResult, Target } from "./section.js";
import { expectedChanges } from "../lib/expectedChanges.js";

const TARGETS = { noChangeRatio: 0.3, onePercentRatio: 0.4, millionSeconds: 60, newStudies10k: 0.3, newStudies100k: 0.15, noChange100k: 0.3 } as const;
const RACY_WINDOW_MS = 2100;
const GNU_TIME = "/usr/bin/time";

interface Measured {
  readonly wallSeconds: number;
  readonly peakRssBytes: number | null;
  /** User + system CPU seconds of the process and its reader processes (GNU time), null without it. */
  readonly cpuSeconds: number | null;
  readonly report: Report;
}

interface Report {
  readonly files: { readonly seen: number; readonly unchanged?: number; readonly added?: number; readonly modified?: number; readonly removed?: number };
  readonly bytesRead: { readonly total: number };
  readonly studies: number;
  readonly changes?: Partial<Record<string, { new: number; changed: number; deleted: number }>>;
  readonly elapsedSeconds: number;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length === 0 ? Number.NaN : sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mb = (bytes: number | null) => (bytes === null ? "n/a" : `${(bytes / 1e6).toFixed(1)} MB`);
const s = (seconds: number) => `${seconds.toFixed(3)} s`;

export const incrementalSection: BenchSection = async (context: BenchContext): Promise<SectionResult> => {
  const inPlace = process.env.DCM2FHIR_BENCH_ONLY === "new-studies" ? undefined : await changedInPlaceSection(context);
  const nightly = await newStudiesSection(context);
  return {
    title: "Incremental runs (convert --incremental)",
    lines: [...(inPlace ? [...inPlace.lines, ""] : []), ...nightly.lines],
    targets: [...(inPlace?.targets ?? []), ...nightly.targets],
    data: { ...(inPlace ? (inPlace.data as object) : {}), newStudies: nightly.data },
  };
};

/** No change and 1 % changed in place, on the 10k archive; a no-change run over ten times the files. */
async function changedInPlaceSection(context: BenchContext): Promise<SectionResult> {
  const { log, cli, quick } = context;
  const runs = Number(process.env.DCM2FHIR_BENCH_RUNS ?? (quick ? 2 : 5));
  const files = quick ? 1000 : 10_000;
  const copies = 10;
  const archive = await ensureArchive({ files, log });
  const tmp = join(context.tmp, "incremental");
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });

  const measure = (args: readonly string[], out: string) => measureCli(cli, tmp, args, out);

  const convert = (tree: string, out: string, ...extra: string[]) => measure(["convert", tree, "--out", out, "--timezone", "UTC", ...extra], out);
  const incremental = (tree: string, out: string) => convert(tree, out, "--incremental", "--max-delete", "100");

  log(`incremental: trees of hard links to ${relative(context.repo, archive.data)} (${files.toLocaleString("en-US")} files)`);
  const still = linkTree(archive.data, join(tmp, "still"), 1);
  const changing = linkTree(archive.data, join(tmp, "changing"), 1);
  // The files to change, 1 % per round, anywhere in the archive: copies of their own, made now, so that changing
  // them later leaves the archive and the other trees alone (a link's inode, and so its ctime, is shared).
  const changed = Math.max(1, Math.round(files / 100));
  const instances = listFiles(changing).filter((path) => !("reason" in new DicomFileReader().read(path).result));
  const toChange = Array.from({ length: runs }, (_, round) =>
    Array.from({ length: changed }, (_, i) => instances[((round * changed + i) * 7919) % instances.length]!),
  );
  for (const path of new Set(toChange.flat())) {
    const bytes = readFileSync(path);
    unlinkSync(path);
    writeFileSync(path, bytes);
  }
  await sleep(RACY_WINDOW_MS);
  const outFull = join(tmp, "out-full");
  const outStill = join(tmp, "out-still");
  const outChanging = join(tmp, "out-changing");
  log("incremental: first runs (they make the states)");
  await convert(still, outFull, "--workers", "2");
  await incremental(still, outStill);
  await incremental(changing, outChanging);

  const load = loadavg()[0]!.toFixed(1);
  const full: Measured[] = [];
  const unchanged: Measured[] = [];
  const onePercent: Measured[] = [];
  let nextUid = 0;
  for (let round = 0; round < runs; round++) {
    // 1 % of the files become other instances (their SOP Instance UID rewritten in place).
    const changedAt = Date.now();
    for (const path of toChange[round]!) changeFile(path, nextUid++);
    log(`incremental: round ${round + 1} of ${runs}: full, no change, 1 % changed`);
    full.push(await convert(still, outFull, "--workers", "2"));
    unchanged.push(await incremental(still, outStill));
    await sleep(Math.max(0, changedAt + RACY_WINDOW_MS - Date.now()));
    onePercent.push(await incremental(changing, outChanging));
  }
  // The runs were what they claim to be.
  for (const m of unchanged) {
    if (m.report.bytesRead.total !== 0 || m.report.files.unchanged !== m.report.files.seen)
      throw new Error(`a no-change run read ${m.report.bytesRead.total} bytes, ${JSON.stringify(m.report.files)}`);
  }
  for (const m of onePercent) {
    if (m.report.files.modified !== changed || m.report.files.unchanged !== m.report.files.seen - changed)
      throw new Error(`a 1 % run found ${JSON.stringify(m.report.files)}, not ${changed} modified`);
  }
  const check = join(tmp, "out-check");
  await convert(changing, check, "--workers", "2");
  for (const name of ["ImagingStudy.ndjson", "Patient.ndjson", "errors.ndjson"]) {
    if (readFileSync(join(check, name), "utf8") !== readFileSync(join(outChanging, name), "utf8"))
      throw new Error(`the incremental ${name} differs from a full run's`);
  }

  // Ten times the files (hard links again): the cost per file of a no-change run, and its memory.
  log(`incremental: a tree of ${(copies * files).toLocaleString("en-US")} links for the per-file cost`);
  const large = linkTree(archive.data, join(tmp, "large"), copies);
  await sleep(RACY_WINDOW_MS);
  const outLarge = join(tmp, "out-large");
  const largeFirst = await incremental(large, outLarge);
  const largeUnchanged: Measured[] = [];
  for (let i = 0; i < Math.max(2, Math.min(runs, 3)); i++) largeUnchanged.push(await incremental(large, outLarge));
  rmSync(large, { recursive: true, force: true });

  const fullWall = median(full.map((m) => m.wallSeconds));
  const stillWall = median(unchanged.map((m) => m.wallSeconds));
  const oneWall = median(onePercent.map((m) => m.wallSeconds));
  const largeWall = median(largeUnchanged.map((m) => m.wallSeconds));
  const smallRss = median(unchanged.map((m) => m.peakRssBytes ?? Number.NaN));
  const largeRss = median(largeUnchanged.map((m) => m.peakRssBytes ?? Number.NaN));
  const extraFiles = (copies - 1) * files;
  const perFile = (largeWall - stillWall) / extraFiles;
  const million = largeWall + perFile * (1_000_000 - copies * files);
  const rssPer100k = ((largeRss - smallRss) / extraFiles) * 100_000;
  const stateSmall = statSync(join(outStill, ".dcm2fhir/state.sqlite")).size;
  const stateLarge = statSync(join(outLarge, ".dcm2fhir/state.sqlite")).size;
  const statePer100k = ((stateLarge - stateSmall) / extraFiles) * 100_000;

  const row = (label: string, m: readonly Measured[], wall: number) =>
    `${label.padEnd(38)} ${s(wall).padStart(9)} ${(wall / fullWall).toFixed(2).padStart(7)} ${mb(median(m.map((x) => x.peakRssBytes ?? Number.NaN))).padStart(10)} ${String(median(m.map((x) => x.report.bytesRead.total))).padStart(12)} ${s(median(m.map((x) => x.report.elapsedSeconds))).padStart(9)}`;
  const lines = [
    `Archive: ${files.toLocaleString("en-US")} files (${archive.info.studies} studies), as trees of hard links; ${runs} rounds (full, no change, 1 % changed), alternating; medians.`,
    `Load average when the rounds began: ${load} (${availableParallelism()} CPUs); a busy machine slows every run, and not evenly (the full run, with two threads, most): compare ratios only at similar loads.`,
    "",
    `${"run".padEnd(38)} ${"wall".padStart(9)} ${"÷ full".padStart(7)} ${"peak RSS".padStart(10)} ${"bytes read".padStart(12)} ${"own".padStart(9)}`,
    row("convert (full, --workers 2)", full, fullWall),
    row("convert --incremental, no change", unchanged, stillWall),
    row(`convert --incremental, 1 % changed (${changed} files)`, onePercent, oneWall),
    "",
    `No-change run over ${(copies * files).toLocaleString("en-US")} files (${copies} links to each file): ${s(largeWall)} wall, peak RSS ${mb(largeRss)} (first, full run: ${s(largeFirst.wallSeconds)}).`,
    `  per file: ${(perFile * 1e6).toFixed(1)} µs (from the ${files.toLocaleString("en-US")}- and ${(copies * files).toLocaleString("en-US")}-file runs); peak RSS grows ${mb(rssPer100k)} per 100,000 files.`,
    `  state: ${mb(stateSmall)} for ${files.toLocaleString("en-US")} files, ${mb(stateLarge)} for ${(copies * files).toLocaleString("en-US")}: ${mb(statePer100k)} per 100,000 files.`,
    `  1,000,000 files, extrapolated from the per-file cost: ${s(million)}, peak RSS ~${mb(largeRss + rssPer100k * ((1_000_000 - copies * files) / 100_000))}.`,
  ];
  const targets: Target[] = [
    {
      name: "no-change run: header bytes read",
      value: median(unchanged.map((m) => m.report.bytesRead.total)),
      target: "= 0",
      pass: unchanged.every((m) => m.report.bytesRead.total === 0),
    },
    {
      name: "no-change run wall ÷ full run wall",
      value: round(stillWall / fullWall),
      target: `≤ ${TARGETS.noChangeRatio}`,
      pass: stillWall / fullWall <= TARGETS.noChangeRatio,
    },
    {
      name: "1 %-changed run wall ÷ full run wall",
      value: round(oneWall / fullWall),
      target: `≤ ${TARGETS.onePercentRatio}`,
      pass: oneWall / fullWall <= TARGETS.onePercentRatio,
    },
    {
      name: "no-change run over 1,000,000 files, s (extrapolated)",
      value: round(million),
      target: `< ${TARGETS.millionSeconds}`,
      pass: million < TARGETS.millionSeconds,
      note: `from ${(copies * files).toLocaleString("en-US")} files measured at ${s(largeWall)}, ${(perFile * 1e6).toFixed(1)} µs per further file`,
    },
  ];
  rmSync(join(tmp, "changing"), { recursive: true, force: true });
  rmSync(still, { recursive: true, force: true });
  return {
    title: "Incremental runs (convert --incremental)",
    lines,
    targets,
    data: {
      files,
      runs,
      changedFiles: changed,
      full: full.map(summary),
      noChange: unchanged.map(summary),
      onePercent: onePercent.map(summary),
      large: { files: copies * files, first: summary(largeFirst), noChange: largeUnchanged.map(summary) },
      perFileMicroseconds: perFile * 1e6,
      rssBytesPer100kFiles: rssPer100k,
      stateBytes: { [files]: stateSmall, [copies * files]: stateLarge },
      stateBytesPer100kFiles: statePer100k,
      millionFilesSeconds: million,
    },
  };
}

/** One run of the CLI, weighed by GNU time where there is one; the report it wrote. */
async function measureCli(cli: string, tmp: string, args: readonly string[], out: string): Promise<Measured> {
  const timeFile = join(tmp, "time.txt");
  const useTime = existsSync(GNU_TIME);
  const [command, argv] = useTime ? [GNU_TIME, ["-f", "%M %U %S", "-o", timeFile, process.execPath, cli, ...args]] : [process.execPath, [cli, ...args]];
  const started = process.hrtime.bigint();
  const child = spawn(command, argv, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  const code = await new Promise<number | null>((resolve, reject) => child.on("error", reject).on("close", resolve));
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) throw new Error(`dcm2fhir ${args.join(" ")} exited with ${code}: ${stderr.trim().slice(-2000)}`);
  let peakRssBytes: number | null = null;
  let cpuSeconds: number | null = null;
  if (useTime) {
    const [kb, user, system] = readFileSync(timeFile, "utf8").trim().split("\n").pop()!.split(" ").map(Number);
    peakRssBytes = Number.isFinite(kb) ? kb! * 1024 : null;
    cpuSeconds = Number.isFinite(user) && Number.isFinite(system) ? user! + system! : null;
  }
  return { wallSeconds, peakRssBytes, cpuSeconds, report: JSON.parse(readFileSync(join(out, "report.json"), "utf8")) as Report };
}

/**
 * The nightly users run: each round adds ~1 % of the archive's files as new studies (copies of existing studies
 * under new UIDs, the first of the round keeping its patient, the others of new patients) and times the
 * incremental run against a full run of the same tree, in alternating order. On the 10k archive and on the
 * 100,000-file header-only one; at 100,000 files also a no-change run against the same full runs.
 */
async function newStudiesSection(context: BenchContext): Promise<SectionResult> {
  const { log, cli, quick } = context;
  const runs = Number(process.env.DCM2FHIR_BENCH_RUNS ?? (quick ? 2 : 3));
  const tmp = join(context.tmp, "incremental-new");
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const sizes = quick
    ? [
        { files: 1000, headersOnly: false },
        { files: 4000, headersOnly: true },
      ]
    : [
        { files: 10_000, headersOnly: false },
        { files: 100_000, headersOnly: true },
      ];
  const lines: string[] = [];
  const targets: Target[] = [];
  const data: Record<string, unknown> = {};
  const measure = (args: readonly string[], out: string) => measureCli(cli, tmp, args, out);
  const convert = (tree: string, out: string, ...extra: string[]) => measure(["convert", tree, "--out", out, "--timezone", "UTC", ...extra], out);

  for (const [index, size] of sizes.entries()) {
    const large = index === sizes.length - 1;
    const archive = await ensureArchive({ files: size.files, headersOnly: size.headersOnly, log });
    const label = `${size.files.toLocaleString("en-US")}${size.headersOnly ? " header-only" : ""} files`;
    log(`incremental, new studies: ${label}: a tree of hard links, ${runs} rounds`);
    const tree = linkTree(archive.data, join(tmp, "tree"), 1);
    const studies = studiesOf(tree);
    const perRound = Math.max(1, Math.round(size.files / 100));
    const outIncremental = join(tmp, "out-incremental");
    const outFull = join(tmp, "out-full");
    rmSync(outIncremental, { recursive: true, force: true });
    await sleep(RACY_WINDOW_MS);
    await convert(tree, outIncremental, "--incremental");

    const full: Measured[] = [];
    const added: Measured[] = [];
    const unchanged: Measured[] = [];
    const addedFiles: number[] = [];
    const load = loadavg()[0]!.toFixed(1);
    for (let round = 0; round < runs; round++) {
      // Last night's scans: written before the run, long enough before it that none is racily clean.
      const made = addNewStudies(tree, studies, perRound, round);
      addedFiles.push(made.files);
      await sleep(RACY_WINDOW_MS);
      const before = mainOutputs(outIncremental);
      const incremental = async () => {
        const m = await convert(tree, outIncremental, "--incremental");
        const f = m.report.files;
        if (f.added !== made.files || f.modified !== 0 || f.removed !== 0)
          throw new Error(`bench: a new-studies run found ${JSON.stringify(f)}, not ${made.files} added`);
        if (m.report.changes?.ImagingStudy?.new !== made.studies)
          throw new Error(`bench: a new-studies run lists ${JSON.stringify(m.report.changes)}, not ${made.studies} new studies`);
        const expected = expectedChanges(before, mainOutputs(outIncremental));
        for (const [name, text] of Object.entries(expected))
          if (readFileSync(join(outIncremental, name), "utf8") !== text)
            throw new Error(`bench: ${name} of a new-studies run is not the difference of the outputs`);
        added.push(m);
      };
      const fullRun = async () => {
        rmSync(outFull, { recursive: true, force: true });
        full.push(await convert(tree, outFull, "--workers", "2"));
      };
      log(`  round ${round + 1} of ${runs}: ${made.files} files in ${made.studies} new studies`);
      if (round % 2 === 0) {
        await incremental();
        await fullRun();
      } else {
        await fullRun();
        await incremental();
      }
      // The incremental output is the one a fresh run writes over the same tree.
      for (const name of MAIN_OUTPUTS) {
        const a = existsSync(join(outFull, name)) ? readFileSync(join(outFull, name)) : undefined;
        const b = existsSync(join(outIncremental, name)) ? readFileSync(join(outIncremental, name)) : undefined;
        if (!(a === undefined ? b === undefined : b !== undefined && a.equals(b)))
          throw new Error(`bench: the incremental ${name} differs from a full run's (${label}, round ${round + 1})`);
      }
      if (large) {
        const m = await convert(tree, outIncremental, "--incremental");
        if (m.report.bytesRead.total !== 0 || m.report.files.unchanged !== m.report.files.seen)
          throw new Error(`bench: a no-change run read ${m.report.bytesRead.total} bytes, ${JSON.stringify(m.report.files)}`);
        unchanged.push(m);
      }
    }
    const walls = (m: readonly Measured[]) => m.map((x) => x.wallSeconds);
    const fullWall = median(walls(full));
    const addedWall = median(walls(added));
    const range = (m: readonly Measured[]) => `${s(Math.min(...walls(m)))}–${s(Math.max(...walls(m)))}`;
    const ratios = (m: readonly Measured[]) => m.map((x, i) => x.wallSeconds / full[i]!.wallSeconds);
    const cpu = (m: readonly Measured[]) => s(median(m.map((x) => x.cpuSeconds ?? Number.NaN)));
    const ratioRange = (m: readonly Measured[]) => `${Math.min(...ratios(m)).toFixed(2)}–${Math.max(...ratios(m)).toFixed(2)}`;
    lines.push(
      `New studies, ${label} (${studies.size} studies): ${runs} rounds of ${median(addedFiles)} files added as new studies (one of a known patient); load average ${load}.`,
      `${"run".padEnd(38)} ${"median".padStart(9)} ${"range".padStart(17)} ${"÷ full".padStart(7)} ${"per round".padStart(11)} ${"bytes read".padStart(12)} ${"peak RSS".padStart(10)} ${"CPU".padStart(9)}`,
      `${"convert (full, --workers 2)".padEnd(38)} ${s(fullWall).padStart(9)} ${range(full).padStart(17)} ${"1.00".padStart(7)} ${"".padStart(11)} ${String(median(full.map((m) => m.report.bytesRead.total))).padStart(12)} ${mb(median(full.map((m) => m.peakRssBytes ?? Number.NaN))).padStart(10)} ${cpu(full).padStart(9)}`,
      `${"convert --incremental, new studies".padEnd(38)} ${s(addedWall).padStart(9)} ${range(added).padStart(17)} ${(addedWall / fullWall).toFixed(2).padStart(7)} ${ratioRange(added).padStart(11)} ${String(median(added.map((m) => m.report.bytesRead.total))).padStart(12)} ${mb(median(added.map((m) => m.peakRssBytes ?? Number.NaN))).padStart(10)} ${cpu(added).padStart(9)}`,
    );
    const target = large ? TARGETS.newStudies100k : TARGETS.newStudies10k;
    targets.push({
      name: `new-studies run wall ÷ full run wall, ${label}`,
      value: round(addedWall / fullWall),
      target: `≤ ${target}`,
      pass: addedWall / fullWall <= target,
      note: `per round ${ratioRange(added)}`,
    });
    if (large) {
      const stillWall = median(walls(unchanged));
      lines.push(
        `${"convert --incremental, no change".padEnd(38)} ${s(stillWall).padStart(9)} ${range(unchanged).padStart(17)} ${(stillWall / fullWall).toFixed(2).padStart(7)} ${ratioRange(unchanged).padStart(11)} ${String(median(unchanged.map((m) => m.report.bytesRead.total))).padStart(12)} ${mb(median(unchanged.map((m) => m.peakRssBytes ?? Number.NaN))).padStart(10)} ${cpu(unchanged).padStart(9)}`,
      );
      targets.push(
        {
          name: `no-change run wall ÷ full run wall, ${label}`,
          value: round(stillWall / fullWall),
          target: `≤ ${TARGETS.noChange100k}`,
          pass: stillWall / fullWall <= TARGETS.noChange100k,
          note: `per round ${ratioRange(unchanged)}`,
        },
        {
          name: `no-change run: header bytes read, ${label}`,
          value: Math.max(...unchanged.map((m) => m.report.bytesRead.total)),
          target: "= 0",
          pass: unchanged.every((m) => m.report.bytesRead.total === 0),
        },
      );
    }
    lines.push("");
    data[label] = {
      files: size.files,
      studies: studies.size,
      runs,
      addedFiles,
      full: full.map(summary),
      newStudies: added.map(summary),
      noChange: unchanged.map(summary),
    };
    rmSync(tree, { recursive: true, force: true });
  }
  lines.push("Each incremental output equalled a fresh full run's byte for byte, and its changes/ the difference from the output before it.");
  return { title: "Incremental runs: new studies", lines, targets, data };
}

/** The instance files of a tree by Study Instance UID, in path order, with what a copy under new UIDs needs. */
export function studiesOf(
  tree: string,
): Map<string, Array<{ readonly path: string; readonly series: string; readonly sop: string; readonly patientId?: string }>> {
  const reader = new DicomFileReader();
  const studies = new Map<string, Array<{ path: string; series: string; sop: string; patientId?: string }>>();
  for (const path of listFiles(tree)) {
    const read = reader.read(path).result;
    if ("reason" in read) continue;
    let files = studies.get(read.studyInstanceUID);
    if (!files) studies.set(read.studyInstanceUID, (files = []));
    files.push({ path, series: read.seriesInstanceUID, sop: read.sopInstanceUID, patientId: read.study.patientId });
  }
  return studies;
}

/**
 * Adds about `count` files to `tree` as new studies: copies of the files of existing studies (a different one
 * each time), every UID replaced by one of the same length; the first study keeps its patient, the others get a
 * patient ID of their own. Returns how many files and studies were added.
 */
export function addNewStudies(tree: string, studies: ReturnType<typeof studiesOf>, count: number, round: number): { files: number; studies: number } {
  const sources = [...studies.values()];
  let files = 0;
  let made = 0;
  for (let k = 0; files < count; k++) {
    const source = sources[(round * 7 + k * 13) % sources.length]!;
    const take = source.slice(0, Math.min(source.length, count - files));
    const tag = `9${String(round).padStart(2, "0")}${String(k).padStart(2, "0")}`;
    const newUid = (uid: string, n: number) => {
      const suffix = `${tag}${String(n).padStart(5, "0")}`;
      return `${uid.slice(0, Math.max(0, uid.length - suffix.length))}${suffix}`.slice(-uid.length);
    };
    const folder = join(tree, "nightly", `round-${round}`, `study-${k}`);
    mkdirSync(folder, { recursive: true });
    const studyUid = [...studies.entries()].find(([, f]) => f === source)![0];
    const series = [...new Set(take.map((f) => f.series))];
    for (const [i, file] of take.entries()) {
      const replacements: Array<[string, string]> = [
        [studyUid, newUid(studyUid, 0)],
        [file.series, newUid(file.series, 1 + series.indexOf(file.series))],
        [file.sop, newUid(file.sop, 1000 + i)],
      ];
      if (k > 0 && file.patientId) replacements.push([file.patientId, `${file.patientId.slice(0, -tag.length)}${tag}`.slice(-file.patientId.length)]);
      writeFileSync(join(folder, `${i}.dcm`), replaceAll(readFileSync(file.path), replacements));
    }
    files += take.length;
    made++;
  }
  return { files, studies: made };
}

/** `bytes` with every occurrence of each value replaced by its replacement of the same length. */
function replaceAll(bytes: Buffer, replacements: ReadonlyArray<readonly [string, string]>): Buffer {
  for (const [from, to] of replacements) {
    if (from.length !== to.length || from === to) continue;
    const original = Buffer.from(from);
    const replacement = Buffer.from(to);
    for (let at = bytes.indexOf(original); at >= 0; at = bytes.indexOf(original, at + original.length)) replacement.copy(bytes, at);
  }
  return bytes;
}

const MAIN_OUTPUTS = ["ImagingStudy.ndjson", "Patient.ndjson", "Endpoint.ndjson", "errors.ndjson"] as const;

/** The main outputs of a folder by name (absent ones left out). */
function mainOutputs(dir: string): Record<string, string> {
  return Object.fromEntries(MAIN_OUTPUTS.filter((n) => existsSync(join(dir, n))).map((n) => [n, readFileSync(join(dir, n), "utf8")]));
}

const round = (n: number) => Math.round(n * 1000) / 1000;
const summary = (m: Measured) => ({
  wallSeconds: round(m.wallSeconds),
  cpuSeconds: m.cpuSeconds,
  peakRssBytes: m.peakRssBytes,
  bytesRead: m.report.bytesRead.total,
  files: m.report.files,
  elapsedSeconds: m.report.elapsedSeconds,
});

/** `copies` trees of hard links to every file under `from`, side by side under `to` (copy-0/, copy-1/, …), or one tree at `to`. */
function linkTree(from: string, to: string, copies: number): string {
  rmSync(to, { recursive: true, force: true });
  const sources = listFiles(from);
  for (let c = 0; c < copies; c++) {
    const root = copies === 1 ? to : join(to, `copy-${c}`);
    for (const path of sources) {
      const target = join(root, relative(from, path));
      mkdirSync(dirname(target), { recursive: true });
      linkSync(path, target);
    }
  }
  return to;
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** Rewrites the SOP Instance UID of a file (same length, every occurrence): another instance of the same series, as a corrected image is. */
function changeFile(path: string, n: number): void {
  const read = new DicomFileReader().read(path).result;
  if ("reason" in read) throw new Error(`bench: ${path} is not an instance`);
  const uid = read.sopInstanceUID;
  const suffix = String(n).padStart(6, "0");
  const replacement = Buffer.from(`${uid.slice(0, uid.length - suffix.length - 1)}9${suffix}`);
  const bytes = readFileSync(path);
  const original = Buffer.from(uid);
  for (let at = bytes.indexOf(original); at >= 0; at = bytes.indexOf(original, at + original.length)) replacement.copy(bytes, at);
  writeFileSync(path, bytes);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({ options: { quick: { type: "boolean", default: false }, runs: { type: "string" }, only: { type: "string" } } });
  if (values.runs) process.env.DCM2FHIR_BENCH_RUNS = values.runs;
  if (values.only) process.env.DCM2FHIR_BENCH_ONLY = values.only;
  const repo = fileURLToPath(new URL("../../", import.meta.url));
  const cli = join(repo, "dist", "bin", "cli.js");
  if (!existsSync(cli)) {
    process.stderr.write("incremental: dist/bin/cli.js is missing: run npm run build\n");
    process.exitCode = 2;
  } else {
    const log = (line: string) => process.stderr.write(`${line}\n`);
    const result = await incrementalSection({ log, repo, cli, tmp: join(repo, "bench", "tmp"), quick: values.quick });
    process.stdout.write(`${result.title}\n\n${result.lines.join("\n")}\n\nTargets:\n`);
    for (const t of result.targets)
      process.stdout.write(
        `  ${t.pass === null ? "SKIP" : t.pass ? "PASS" : "FAIL"}  ${t.name}: ${t.value} (target ${t.target})${t.note ? `; ${t.note}` : ""}\n`,
      );
    if (execFileSync("git", ["-C", repo, "status", "--porcelain", "src"], { encoding: "utf8" }).trim())
      process.stdout.write("(src/ has uncommitted changes)\n");
  }
}
