// The benchmark (`npm run bench`, which builds first), in sections: convert (dcm2fhir against the I/O floor and
// a pydicom baseline on the same generated archive, in alternation, as whole processes, then --help start-up),
// memory (the grouping stage's memory per instance), speed (fixed against marginal cost on header-only archives
// of 10k and 100k files, scripts/bench/speed.ts), network (the archive through a FUSE mirror that adds latency,
// scripts/bench/network.ts), and one section per service: incremental, shards, search, load, dicomweb, ondemand
// (scripts/bench/<name>.ts). Prints every section's numbers with PASS/FAIL per target, writes
// bench/results/<YYYY-MM-DD>.json, and rewrites the blocks of the sections that ran in BENCHMARKS.md.
//
//   npm run bench -- [--only convert,search] [--skip dicomweb] [--quick]
//                    [--files 10000] [--runs 5] [--seed 1] [--help-runs 15] [--speed-sizes 10000,100000] [--python /usr/bin/python3]
//   npm run bench -- --memory          only the grouping memory measurement (100k and 200k instances)
//   npm run bench -- --speed           only the fixed and marginal cost (speed.ts; --runs and --speed-sizes apply)
//   --quick: small sizes, to check that the sections work; BENCHMARKS.md is then left alone.
//
// BENCHMARKS.md says what each approach is and how to read the numbers.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, release, totalmem } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type Archive, DEFAULT_FILES, DEFAULT_SEED, DiskSpaceError, ensureArchive } from "./bench/gen-archive.js";
import type { MemoryResult } from "./bench/memory.js";
import { type Measured, hasGnuTime, ioFloorScript, measure as measureProcess, median, pydicomAvailable } from "./bench/process.js";
import type { BenchContext, SectionResult, Target } from "./bench/section.js";
import { dicomwebSection } from "./bench/dicomweb.js";
import { ondemandSection } from "./bench/ondemand.js";
import { incrementalSection } from "./bench/incremental.js";
import { loadSection } from "./bench/load.js";
import { networkSection } from "./bench/network.js";
import { searchSection } from "./bench/search.js";
import { shardsSection } from "./bench/shards.js";
import { speedSection, verdictLine } from "./bench/speed.js";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const TMP = join(REPO, "bench", "tmp");
const RESULTS = join(REPO, "bench", "results");
const CLI = join(REPO, "dist", "bin", "cli.js");
/** Debian's python3 with python3-pydicom; --python chooses another. */
let PYTHON = "/usr/bin/python3";
const MEMORY_SIZES = [100_000, 200_000];

const TARGETS = {
  vsPydicom: 15, // convert (2 workers) files/s ≥ 15 × pydicom's
  ioFloorRatio: 2.5, // I/O floor files/s ÷ convert (2 workers) files/s ≤ 2.5
  workerScaling: 1.6, // 2 workers ≥ 1.6 × 1 worker
  bytesPerInstanceFile: 16 * 1024, // median bytes read per instance file < 16 KiB
  peakRssBytes: 250e6, // peak RSS < 250 MB
  helpMs: 300, // `dcm2fhir --help` < 300 ms
} as const;

const log = (line: string) => process.stderr.write(`${line}\n`);
const measure = (command: string, args: readonly string[]) => measureProcess(command, args, { cwd: REPO, tmp: TMP });
const fmtScaling = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : "unknown");
const round = (n: number, digits = 2) => (Number.isFinite(n) ? Math.round(n * 10 ** digits) / 10 ** digits : null);

// ---- the approaches ---------------------------------------------------------------------------------

type ApproachKey = "convert-2w" | "convert-1w" | "io-floor" | "pydicom";

interface RunOutcome {
  readonly files: number;
  /** The approach's own timing (report.json elapsedSeconds, or the script's), start-up excluded. */
  readonly internalSeconds: number;
  readonly instances?: number;
  readonly bytesPerInstanceFile?: number;
}

interface Approach {
  readonly key: ApproachKey;
  readonly label: string;
  readonly describe: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly before?: () => void;
  readonly read: (m: Measured) => RunOutcome;
}

interface RunRecord extends RunOutcome {
  readonly approach: ApproachKey;
  readonly warmup: boolean;
  readonly wallSeconds: number;
  readonly filesPerSecond: number;
  readonly peakRssBytes: number | null;
}

function convertApproach(archive: Archive, workers: number): Approach {
  const out = join(TMP, `out-${workers}w`);
  const args = [CLI, "convert", archive.data, "--out", out, "--workers", String(workers), "--timezone", "UTC"];
  return {
    key: workers === 2 ? "convert-2w" : "convert-1w",
    label: `dcm2fhir convert --workers ${workers}`,
    describe: `node ${args.map((a) => (a.startsWith(REPO) ? relative(REPO, a) : a)).join(" ")}`,
    command: process.execPath,
    args,
    before: () => rmSync(out, { recursive: true, force: true }),
    read: (m) => {
      if (m.exitCode !== 0) throw new Error(`dcm2fhir exited with ${m.exitCode}: ${m.stderr.trim().slice(-2000)}`);
      const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8")) as {
        files: { seen: number };
        instances: number;
        bytesRead: { medianPerInstanceFile: number };
        elapsedSeconds: number;
      };
      return {
        files: report.files.seen,
        instances: report.instances,
        bytesPerInstanceFile: report.bytesRead.medianPerInstanceFile,
        internalSeconds: report.elapsedSeconds,
      };
    },
  };
}

/** io-floor.ts transpiled to plain JavaScript, so that no TypeScript loader adds to its start-up. */
function ioFloorApproach(archive: Archive): Approach {
  const file = ioFloorScript(REPO, TMP);
  return {
    key: "io-floor",
    label: "I/O floor (open+read 8 KiB+close)",
    describe: `node scripts/bench/io-floor.ts ${relative(REPO, archive.data)} (transpiled to bench/tmp/io-floor.mjs)`,
    command: process.execPath,
    args: [file, archive.data],
    read: (m) => {
      if (m.exitCode !== 0) throw new Error(`io-floor exited with ${m.exitCode}: ${m.stderr.trim()}`);
      const r = JSON.parse(m.stdout) as { files: number; seconds: number };
      return { files: r.files, internalSeconds: r.seconds };
    },
  };
}

function pydicomApproach(archive: Archive): Approach {
  const script = join(REPO, "scripts", "bench", "pydicom_baseline.py");
  return {
    key: "pydicom",
    label: "pydicom dcmread(stop_before_pixels)",
    describe: `${PYTHON} scripts/bench/pydicom_baseline.py ${relative(REPO, archive.data)}`,
    command: PYTHON,
    args: [script, archive.data],
    read: (m) => {
      if (m.exitCode !== 0) throw new Error(`pydicom baseline exited with ${m.exitCode}: ${m.stderr.trim().slice(-2000)}`);
      const r = JSON.parse(m.stdout) as { files: number; seconds: number; instances: number };
      return { files: r.files, instances: r.instances, internalSeconds: r.seconds };
    },
  };
}

// ---- the machine --------------------------------------------------------------------------------------

function run(command: string, args: string[]): string | null {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return null;
  }
}

function machine(archiveDir: string, pydicomVersion: string | null) {
  const cpuinfo = existsSync("/proc/cpuinfo") ? readFileSync("/proc/cpuinfo", "utf8") : "";
  const df = run("df", ["-PT", "-B1", archiveDir])?.split("\n").pop()?.split(/\s+/);
  const device = df?.[0];
  const block = device?.startsWith("/dev/") ? device.slice(5).replace(/\d+$/, "") : undefined;
  const rotational =
    block && existsSync(`/sys/block/${block}/queue/rotational`) ? readFileSync(`/sys/block/${block}/queue/rotational`, "utf8").trim() === "1" : null;
  const git = run("git", ["-C", REPO, "rev-parse", "--short", "HEAD"]);
  const dirty = run("git", ["-C", REPO, "status", "--porcelain", "--untracked-files=no", "src"]);
  return {
    nproc: Number(run("nproc", [])) || availableParallelism(),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? "unknown",
    ramBytes: totalmem(),
    node: process.version,
    python: run(PYTHON, ["--version"]),
    pydicom: pydicomVersion,
    kernel: release(),
    disk: df ? { device, fileSystem: df[1], sizeBytes: Number(df[2]), availableBytes: Number(df[4]), mountedOn: df[6], rotational } : null,
    gnuTime: hasGnuTime,
    // Set, it makes every node process parse its whole root certificate store at start (~50 ms of CPU here).
    nodeExtraCaCerts: Boolean(process.env.NODE_EXTRA_CA_CERTS),
    commit: git ? `${git}${dirty ? "+dirty src" : ""}` : null,
  };
}

/**
 * How much a second thread adds on this machine: the same fixed JavaScript work in 1 and in 2 worker threads,
 * best of 5. Where the CPUs are hyperthreads of one core, or shared with a busy host, this is well under 2×: it
 * bounds what "2 workers ÷ 1 worker" can reach here.
 */
async function cpuScaling(): Promise<number> {
  // CommonJS, so that the eval'd worker code can use require.
  const code = `
    const { Worker } = require("node:worker_threads");
    const work = "let x = 0; for (let j = 0; j < 2000; j++) for (let i = 0; i < 1e5; i++) x += i % 7; require('node:worker_threads').parentPort.postMessage(x);";
    const run = async (n) => {
      const t = performance.now();
      await Promise.all(Array.from({ length: n }, () => new Promise((done) => new Worker(work, { eval: true }).once("message", done))));
      return performance.now() - t;
    };
    const best = async (n) => { let b = Infinity; for (let i = 0; i < 5; i++) b = Math.min(b, await run(n)); return b; };
    (async () => {
      const one = await best(1);
      const two = await best(2);
      process.stdout.write(String((2 * one) / two));
    })();`;
  const m = await measure(process.execPath, ["-e", code]);
  return m.exitCode === 0 ? Number(m.stdout) : Number.NaN;
}

// ---- the memory measurement ---------------------------------------------------------------------------

async function measureMemory(seed: number): Promise<MemoryResult[]> {
  const results: MemoryResult[] = [];
  for (const instances of MEMORY_SIZES) {
    log(`memory: grouping ${instances.toLocaleString("en-US")} instances in-process (node --expose-gc)`);
    // This process's own TypeScript loader flags (tsx), so memory.ts runs from source like this script.
    const m = await measure(process.execPath, [
      ...process.execArgv,
      "--expose-gc",
      join(REPO, "scripts", "bench", "memory.ts"),
      "--instances",
      String(instances),
      "--seed",
      String(seed),
    ]);
    if (m.exitCode !== 0) throw new Error(`memory.ts exited with ${m.exitCode}: ${m.stderr.trim().slice(-2000)}`);
    results.push(JSON.parse(m.stdout) as MemoryResult);
  }
  return results;
}

function memoryTable(results: readonly MemoryResult[]): string[] {
  return [
    "Grouping memory (StudyAssembler, in-process, heap after forced GC):",
    ...results.map(
      (r) =>
        `  ${r.instances.toLocaleString("en-US").padStart(7)} instances (${r.studies} studies, ${r.series} series): ${r.bytesPerInstance} bytes/instance kept` +
        ` (${(r.heapBytesKept / 1e6).toFixed(1)} MB), ${r.bytesPerInstanceAtFinish} bytes/instance at finish() (${(r.heapBytesAtFinish / 1e6).toFixed(1)} MB); paths ~${r.averagePathLength} chars`,
    ),
  ];
}

// ---- the benchmark ------------------------------------------------------------------------------------

/** Sections in the order they run; `convert` is the race above, the others live in scripts/bench/<name>.ts. */
const SECTIONS = ["convert", "memory", "speed", "incremental", "network", "shards", "search", "load", "dicomweb", "ondemand"] as const;
type SectionName = (typeof SECTIONS)[number];

/** A problem with the bench's own set-up (bad flags, no disk space): one line and exit 2, not a stack trace. */
class BenchUsage extends Error {}

interface RaceOptions {
  readonly files: number;
  readonly runs: number;
  readonly seed: number;
  readonly helpRuns: number;
}

/** The convert race: dcm2fhir with 2 and 1 readers, the I/O floor and pydicom on the archive, then --help. */
async function raceSection(o: RaceOptions): Promise<SectionResult> {
  const { files, runs, seed, helpRuns } = o;
  // (1) the archive
  let archive: Archive;
  try {
    archive = await ensureArchive({ files, seed, log });
  } catch (error) {
    if (error instanceof DiskSpaceError) throw new BenchUsage(error.message);
    throw error;
  }

  log("bench: CPU scaling of this machine (1 vs 2 threads of fixed work)");
  const scaling = await cpuScaling();
  log(`  2 threads do ${scaling.toFixed(2)}× the work of 1 in the same time`);

  // (2) the approaches, in alternation after one warm-up each
  const py = pydicomAvailable(PYTHON);
  const approaches: Approach[] = [convertApproach(archive, 2), convertApproach(archive, 1), ioFloorApproach(archive)];
  if ("version" in py) approaches.push(pydicomApproach(archive));
  else log(`bench: pydicom baseline skipped: ${py.skipped}`);

  const records: RunRecord[] = [];
  const once = async (a: Approach, warmup: boolean, round: number) => {
    a.before?.();
    const m = await measure(a.command, a.args);
    const outcome = a.read(m);
    if (outcome.files !== archive.info.files) throw new Error(`${a.label} saw ${outcome.files} files; the archive has ${archive.info.files}`);
    if (outcome.instances !== undefined && outcome.instances !== archive.info.dicomFiles) {
      throw new Error(`${a.label} found ${outcome.instances} instances; the archive has ${archive.info.dicomFiles}`);
    }
    const record: RunRecord = {
      approach: a.key,
      warmup,
      wallSeconds: m.wallSeconds,
      filesPerSecond: outcome.files / m.wallSeconds,
      peakRssBytes: m.peakRssBytes,
      ...outcome,
    };
    records.push(record);
    const rss = m.peakRssBytes === null ? "?" : `${Math.round(m.peakRssBytes / 1e6)} MB`;
    log(
      `  ${warmup ? "warm-up" : `run ${round}/${runs}`}  ${a.label.padEnd(36)} ${m.wallSeconds.toFixed(3).padStart(7)} s  ${Math.round(record.filesPerSecond).toLocaleString("en-US").padStart(7)} files/s  ${rss}`,
    );
  };
  log(`bench: ${approaches.length} approaches × (1 warm-up + ${runs} runs) on ${archive.info.files.toLocaleString("en-US")} files`);
  for (const a of approaches) await once(a, true, 0);
  for (let r = 1; r <= runs; r++) for (const a of approaches) await once(a, false, r);

  // --help start-up
  log(`bench: dcm2fhir --help × ${helpRuns} (after 2 warm-ups)`);
  const helpTimes: number[] = [];
  for (let i = 0; i < helpRuns + 2; i++) {
    const m = await measure(process.execPath, [CLI, "--help"]);
    if (m.exitCode !== 0) throw new Error(`dcm2fhir --help exited with ${m.exitCode}`);
    if (i >= 2) helpTimes.push(m.wallSeconds * 1000);
  }
  const helpMs = median(helpTimes);

  // (3) the table
  const summary = new Map(
    approaches.map((a) => {
      const measured = records.filter((r) => r.approach === a.key && !r.warmup);
      const rss = measured.map((r) => r.peakRssBytes).filter((v): v is number => v !== null);
      const bytes = measured.map((r) => r.bytesPerInstanceFile).filter((v): v is number => v !== undefined);
      return [
        a.key,
        {
          label: a.label,
          command: a.describe,
          filesPerSecond: median(measured.map((r) => r.filesPerSecond)),
          wallSeconds: median(measured.map((r) => r.wallSeconds)),
          internalSeconds: median(measured.map((r) => r.internalSeconds)),
          peakRssBytes: rss.length > 0 ? median(rss) : null,
          bytesPerInstanceFile: bytes.length > 0 ? median(bytes) : null,
        },
      ] as const;
    }),
  );
  const rate = (k: ApproachKey) => summary.get(k)?.filesPerSecond ?? Number.NaN;
  const ratios: Record<string, Record<string, number | null>> = {};
  for (const a of approaches) {
    ratios[a.key] = {};
    for (const b of approaches) if (a !== b) ratios[a.key]![b.key] = round(rate(a.key) / rate(b.key), 2);
  }

  const c2 = summary.get("convert-2w")!;
  const c1 = summary.get("convert-1w")!;
  const convertRss = [c2.peakRssBytes, c1.peakRssBytes].filter((v): v is number => v !== null);
  const targets: Target[] = [
    {
      name: "convert (2 workers) files/s ÷ pydicom files/s",
      value: round(rate("convert-2w") / rate("pydicom")),
      target: `≥ ${TARGETS.vsPydicom}`,
      pass: summary.has("pydicom") ? rate("convert-2w") / rate("pydicom") >= TARGETS.vsPydicom : null,
    },
    {
      name: "I/O floor files/s ÷ convert (2 workers) files/s",
      value: round(rate("io-floor") / rate("convert-2w")),
      target: `≤ ${TARGETS.ioFloorRatio}`,
      pass: rate("io-floor") / rate("convert-2w") <= TARGETS.ioFloorRatio,
    },
    {
      name: "convert 2 workers ÷ 1 worker (files/s)",
      value: round(rate("convert-2w") / rate("convert-1w")),
      target: `≥ ${TARGETS.workerScaling}`,
      note: `2 threads of pure CPU work reach ${fmtScaling(scaling)} on this machine`,
      pass: rate("convert-2w") / rate("convert-1w") >= TARGETS.workerScaling,
    },
    {
      name: "median bytes read per instance file",
      value: c2.bytesPerInstanceFile,
      target: `< ${TARGETS.bytesPerInstanceFile} (16 KiB)`,
      pass: c2.bytesPerInstanceFile === null ? null : c2.bytesPerInstanceFile < TARGETS.bytesPerInstanceFile,
    },
    {
      name: "convert peak RSS, MB (median of runs; the larger of 2 and 1 workers)",
      value: convertRss.length > 0 ? round(Math.max(...convertRss) / 1e6, 1) : null,
      target: `< ${TARGETS.peakRssBytes / 1e6}`,
      pass: convertRss.length > 0 ? Math.max(...convertRss) < TARGETS.peakRssBytes : null,
    },
    { name: "dcm2fhir --help, ms (median)", value: round(helpMs, 1), target: `< ${TARGETS.helpMs}`, pass: helpMs < TARGETS.helpMs },
  ];

  const lines: string[] = [];
  const fmt = (n: number | null, digits = 0) =>
    n === null || !Number.isFinite(n) ? "–" : n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const info = archive.info;
  lines.push(
    `Archive: ${info.files.toLocaleString("en-US")} files (${info.dicomFiles.toLocaleString("en-US")} DICOM: CT ${info.byModality.CT.files}, MR ${info.byModality.MR.files}, CR ${info.byModality.CR.files}; ${info.implicitVRFiles} implicit VR; ${info.junkFiles} junk), ` +
      `${(info.bytes / 1e9).toFixed(2)} GB, ${info.patients} patients, ${info.studies} studies, ${info.series} series; headers ${info.headerBytes.min}–${info.headerBytes.max} bytes (median ${info.headerBytes.median})`,
    `Runs: ${runs} per approach, alternating, after 1 warm-up each; whole processes; page cache warm. Medians over runs.`,
    `Machine: ${availableParallelism()} CPUs; 2 threads of pure JavaScript do ${fmtScaling(scaling)} the work of 1.`,
    "",
  );
  const header = ["approach", "files/s", "wall s", "own s", "peak RSS MB", "bytes/instance file", ...approaches.map((a) => `÷ ${a.key}`)];
  const rows = approaches.map((a) => {
    const s = summary.get(a.key)!;
    return [
      a.label,
      fmt(s.filesPerSecond),
      fmt(s.wallSeconds, 3),
      fmt(s.internalSeconds, 3),
      fmt(s.peakRssBytes === null ? null : s.peakRssBytes / 1e6),
      fmt(s.bytesPerInstanceFile),
      ...approaches.map((b) => (a === b ? "1" : `${fmt(ratios[a.key]![b.key] ?? null, 2)}×`)),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  lines.push(line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line));
  lines.push(
    "",
    "“÷ X”: this approach's files/s divided by X's. “own s”: the approach's own timing, process start-up excluded (report.json elapsedSeconds for dcm2fhir).",
  );
  lines.push(
    "“peak RSS”: the largest single process (GNU time). dcm2fhir reads with processes: --workers 2 adds a reader process of its own (~75 MB at 100k files here) to the main one's.",
  );
  if ("skipped" in py) lines.push(`pydicom baseline skipped: ${py.skipped}`);
  lines.push("", `dcm2fhir --help: ${fmt(helpMs, 1)} ms (median of ${helpRuns})`, "");
  lines.push(archive.generated ? `(archive generated in ${info.generationSeconds} s)` : "(archive reused)");
  const data = {
    parameters: { files, runs, seed, helpRuns },
    machine: { ...machine(archive.root, "version" in py ? py.version : null), cpuScaling2Threads: round(scaling, 2) },
    archive: { path: relative(REPO, archive.data), generated: archive.generated, ...info },
    approaches: Object.fromEntries(
      [...summary.entries()].map(([k, s]) => [
        k,
        { ...s, filesPerSecond: round(s.filesPerSecond, 1), wallSeconds: round(s.wallSeconds, 3), internalSeconds: round(s.internalSeconds, 3) },
      ]),
    ),
    ratios,
    pydicomSkipped: "skipped" in py ? py.skipped : null,
    help: { medianMs: round(helpMs, 1), runsMs: helpTimes.map((t) => round(t, 1)) },
    runs: records.map((r) => ({ ...r, wallSeconds: round(r.wallSeconds, 4), filesPerSecond: round(r.filesPerSecond, 1) })),
  };
  return { title: "Convert: dcm2fhir against the I/O floor and pydicom (10k archive)", lines, targets, data };
}

async function memorySection(seed: number): Promise<SectionResult> {
  const memory = await measureMemory(seed);
  return { title: "Grouping memory", lines: memoryTable(memory), targets: [], data: memory };
}

async function main(): Promise<number> {
  const benchStarted = performance.now();
  const { values } = parseArgs({
    options: {
      only: { type: "string" },
      skip: { type: "string", default: "" },
      quick: { type: "boolean", default: false },
      files: { type: "string", default: String(DEFAULT_FILES) },
      runs: { type: "string", default: "5" },
      seed: { type: "string", default: String(DEFAULT_SEED) },
      "help-runs": { type: "string", default: "15" },
      memory: { type: "boolean", default: false },
      "skip-memory": { type: "boolean", default: false },
      speed: { type: "boolean", default: false },
      "skip-speed": { type: "boolean", default: false },
      "speed-sizes": { type: "string", default: "10000,100000" },
      python: { type: "string", default: PYTHON },
    },
  });
  PYTHON = values.python;
  const files = Number(values.files);
  const runs = Number(values.runs);
  const seed = Number(values.seed);
  const helpRuns = Number(values["help-runs"]);
  if (!(Number.isInteger(files) && files > 0 && Number.isInteger(runs) && runs > 0 && Number.isInteger(helpRuns) && helpRuns > 0)) {
    log("bench: --files, --runs and --help-runs take whole numbers ≥ 1");
    return 2;
  }
  const names = (list: string) =>
    list
      .split(",")
      .map((n) => n.trim())
      .filter((n) => n !== "");
  const only = values.memory ? ["memory"] : values.speed ? ["speed"] : values.only === undefined ? [...SECTIONS] : names(values.only);
  const skip = [...names(values.skip), ...(values["skip-memory"] ? ["memory"] : []), ...(values["skip-speed"] ? ["speed"] : [])];
  const unknown = [...only, ...skip].filter((n) => !(SECTIONS as readonly string[]).includes(n));
  if (unknown.length > 0) {
    log(`bench: unknown section ${unknown.join(", ")}: choose from ${SECTIONS.join(", ")}`);
    return 2;
  }
  const selected = SECTIONS.filter((n) => only.includes(n) && !skip.includes(n));
  mkdirSync(TMP, { recursive: true });
  if (!existsSync(CLI)) {
    log("bench: dist/bin/cli.js is missing: run npm run build (npm run bench does)");
    return 2;
  }

  const context = (name: string): BenchContext => ({ log, repo: REPO, cli: CLI, tmp: join(TMP, name), quick: values.quick });
  const run: Record<SectionName, () => Promise<SectionResult>> = {
    convert: () => raceSection({ files, runs, seed, helpRuns }),
    memory: () => memorySection(seed),
    speed: () => speedSection({ sizes: values["speed-sizes"].split(",").map(Number), runs, seed, python: PYTHON })(context("speed")),
    incremental: () => incrementalSection(context("incremental")),
    network: () => networkSection(context("network")),
    shards: () => shardsSection(context("shards")),
    search: () => searchSection(context("search")),
    load: () => loadSection(context("load")),
    dicomweb: () => dicomwebSection(context("dicomweb")),
    ondemand: () => ondemandSection(context("ondemand")),
  };
  const results: Partial<Record<SectionName, SectionResult & { seconds: number }>> = {};
  /** A section that throws is named and the others still run: one broken section must not cost an hour of numbers. */
  const failed: Partial<Record<SectionName, string>> = {};
  for (const name of selected) {
    log(`bench: section ${name}`);
    const t0 = performance.now();
    try {
      results[name] = { ...(await run[name]()), seconds: Math.round((performance.now() - t0) / 100) / 10 };
    } catch (error) {
      if (error instanceof BenchUsage) {
        log(`bench: ${error.message}`);
        return 2;
      }
      failed[name] = error instanceof Error ? (error.stack ?? error.message) : String(error);
      log(`bench: section ${name} failed: ${failed[name]}`);
    }
  }
  const done = selected.filter((name) => results[name] !== undefined);

  const printed = [...done.map((name) => sectionText(results[name]!)), ...Object.entries(failed).map(([name, why]) => `## ${name}: FAILED\n\n${why}`)];
  const totalSeconds = Math.round((performance.now() - benchStarted) / 100) / 10;
  process.stdout.write(
    `\n${printed.join("\n\n")}\n\nBench run: ${totalSeconds} s (sections: ${done.join(", ")}${Object.keys(failed).length > 0 ? `; failed: ${Object.keys(failed).join(", ")}` : ""}).\n`,
  );

  const now = new Date();
  const date = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}-${String(now.getDate()).padStart(2, "0")}`;
  mkdirSync(RESULTS, { recursive: true });
  // One file a day; a later run that day (--only some sections) replaces those sections and keeps the others, each
  // section with the time and commit it was measured at. Quick runs go to a file of their own.
  const resultsFile = join(RESULTS, `${date}${values.quick ? "-quick" : ""}.json`);
  const commit = gitDescribe();
  const earlier = existsSync(resultsFile) ? (JSON.parse(readFileSync(resultsFile, "utf8")) as { sections?: Record<string, unknown> }) : {};
  const sections = { ...earlier.sections, ...Object.fromEntries(done.map((name) => [name, { measured: now.toISOString(), commit, ...results[name] }])) };
  writeFileSync(
    resultsFile,
    `${JSON.stringify({ date: now.toISOString(), commit, quick: values.quick, sections, failed, benchSeconds: totalSeconds }, null, 2)}\n`,
  );
  log(`bench: results written to ${relative(REPO, resultsFile)}`);
  if (values.quick) log("bench: --quick: BENCHMARKS.md left as it is (quick sizes are for checking the bench, not for numbers)");
  else {
    updateBenchmarksFile(
      done.map((name) => ({ name, result: results[name]! })),
      { date, commit, resultsFile: relative(REPO, resultsFile) },
    );
    log("bench: BENCHMARKS.md updated (the sections that ran; a failed section's block is left as it was)");
  }
  if (Object.keys(failed).length > 0) {
    log(`bench: failed sections: ${Object.keys(failed).join(", ")}`);
    return 1;
  }
  return 0;
}

/** A section as printed: title, its lines, its targets with verdicts. */
function sectionText(r: SectionResult & { seconds: number }): string {
  const targets = r.targets.length > 0 ? ["", "Targets:", ...r.targets.map(verdictLine)] : [];
  return [`## ${r.title}`, "", ...r.lines, ...targets, "", `(section: ${r.seconds} s)`].join("\n");
}

function gitDescribe(): string {
  const short = run("git", ["-C", REPO, "rev-parse", "--short", "HEAD"]) ?? "unknown";
  const dirty = run("git", ["-C", REPO, "status", "--porcelain", "--untracked-files=no", "src"]);
  return dirty ? `${short} (src/ modified)` : short;
}

/**
 * BENCHMARKS.md keeps one block per section between `<!-- bench:<name> -->` and `<!-- /bench:<name> -->`: a run
 * rewrites the blocks of the sections it ran and leaves the others, so a partial run (--only) never erases numbers.
 */
function updateBenchmarksFile(
  ran: ReadonlyArray<{ name: string; result: SectionResult & { seconds: number } }>,
  at: { date: string; commit: string; resultsFile: string },
): void {
  const path = join(REPO, "BENCHMARKS.md");
  let text = existsSync(path) ? readFileSync(path, "utf8") : "# Benchmarks\n";
  for (const { name, result } of ran) {
    const open = `<!-- bench:${name} -->`;
    const close = `<!-- /bench:${name} -->`;
    const block = [
      open,
      `Measured ${at.date} at commit \`${at.commit}\` by \`npm run bench\` (data: \`${at.resultsFile}\`).`,
      "",
      "```",
      sectionText(result),
      "```",
      close,
    ].join("\n");
    const from = text.indexOf(open);
    const to = text.indexOf(close);
    text = from >= 0 && to > from ? `${text.slice(0, from)}${block}${text.slice(to + close.length)}` : `${text.trimEnd()}\n\n${block}\n`;
  }
  writeFileSync(path, text);
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    log(`bench: ${(error as Error).stack ?? String(error)}`);
    process.exitCode = 1;
  },
);
