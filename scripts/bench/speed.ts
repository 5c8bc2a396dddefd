// The speed targets of issue 11, measured apart: the fixed cost of a run (a folder of one file that is not DICOM:
// convert refuses an empty folder as a vanished archive; and the time from start to
// the first file read) and the marginal cost per file (the slope of wall time between two archive sizes), for
// dcm2fhir with 2 and 1 readers, the I/O floor and pydicom. The archives are header-only (gen-archive
// --headers-only): dcm2fhir reads no further than the header, and 100,000 files with pixel data would be 47 GB.
// Every approach runs as a whole process, in alternation (empty, then each size, each approach in turn), after
// one warm-up round; medians over the runs. pydicom runs on the one-file folder and the smallest size only: its
// ~1.5 ms per file would make each 100,000-file run take minutes.
//
//   npx tsx scripts/bench/speed.ts [--quick] [--runs 5] [--sizes 10000,100000] [--seed 1] [--python /usr/bin/python3]
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type Archive, DEFAULT_SEED, ensureArchive } from "./gen-archive.js";
import { type Measured, ioFloorScript, measure, median, pydicomAvailable } from "./process.js";
import type { BenchContext, BenchSection, SectionResult, Target } from "./section.js";

export const SPEED_TARGETS = {
  firstReadSeconds: 0.3, // from start to the first file read, whatever the input
  vsPydicom: 20, // pydicom's marginal cost per file ÷ convert's (2 readers)
  ioFloorRatio: 2.5, // convert's marginal cost per file (2 readers) ÷ the I/O floor's
  readerScaling: 1.6, // convert's marginal cost per file with 1 reader ÷ with 2
} as const;

export interface SpeedOptions {
  /** Archive sizes in files, smallest first; the marginal cost is the slope between the first and the last. */
  readonly sizes: readonly number[];
  readonly runs: number;
  readonly seed: number;
  readonly python: string;
}

type Key = "convert-2w" | "convert-1w" | "io-floor" | "pydicom";
const LABELS: Record<Key, string> = {
  "convert-2w": "dcm2fhir convert --workers 2",
  "convert-1w": "dcm2fhir convert --workers 1",
  "io-floor": "I/O floor (open+read 8 KiB+close)",
  pydicom: "pydicom dcmread(stop_before_pixels)",
};

/** A folder to run on: the nearly empty one (size 0: one file, not DICOM) or an archive. */
interface Point {
  readonly size: number;
  readonly data: string;
  readonly archive?: Archive;
}

interface Run {
  readonly key: Key | "first-read";
  readonly size: number;
  readonly warmup: boolean;
  readonly wallSeconds: number;
  readonly cpuSeconds: number | null;
  /** Seconds from spawn to the first file opened under the archive (first-read runs only). */
  readonly firstReadSeconds?: number;
}

export function speedSection(options: Partial<SpeedOptions> = {}): BenchSection {
  return async (ctx) =>
    runSpeed(ctx, {
      sizes: options.sizes ?? (ctx.quick ? [1_000, 4_000] : [10_000, 100_000]),
      runs: options.runs ?? (ctx.quick ? 2 : 5),
      seed: options.seed ?? DEFAULT_SEED,
      python: options.python ?? "/usr/bin/python3",
    });
}

async function runSpeed(ctx: BenchContext, o: SpeedOptions): Promise<SectionResult> {
  if (
    o.sizes.length === 0 ||
    o.sizes.some((n, i) => !Number.isInteger(n) || n < 1 || (i > 0 && n <= o.sizes[i - 1]!)) ||
    !(Number.isInteger(o.runs) && o.runs >= 1)
  ) {
    throw new Error("speed: sizes are whole numbers of files, ascending, and runs a whole number ≥ 1");
  }
  mkdirSync(ctx.tmp, { recursive: true });
  const empty = join(ctx.tmp, "empty");
  rmSync(empty, { recursive: true, force: true });
  mkdirSync(empty);
  writeFileSync(join(empty, "README.txt"), "not a DICOM file: the fixed cost's one input\n");
  const points: Point[] = [{ size: 0, data: empty }];
  for (const files of o.sizes) {
    const archive = await ensureArchive({ files, seed: o.seed, headersOnly: true, log: ctx.log });
    points.push({ size: files, data: archive.data, archive });
  }
  const smallest = points[1]!.size;
  const largest = points[points.length - 1]!.size;
  const ioFloor = ioFloorScript(ctx.repo, ctx.tmp);
  const probe = join(ctx.repo, "scripts", "bench", "first-read-probe.mjs");
  const py = pydicomAvailable(o.python);
  const keys: Key[] = ["convert-2w", "convert-1w", "io-floor", ...("version" in py ? (["pydicom"] as const) : [])];

  const runs: Run[] = [];
  const once = async (key: Key | "first-read", point: Point, warmup: boolean) => {
    const out = join(ctx.tmp, `out-${key}`);
    const convert = (workers: number) => [ctx.cli, "convert", point.data, "--out", out, "--workers", String(workers), "--timezone", "UTC"];
    const firstReadFile = join(ctx.tmp, "first-read.txt");
    rmSync(out, { recursive: true, force: true });
    rmSync(firstReadFile, { force: true });
    let m: Measured;
    if (key === "pydicom")
      m = await measure(o.python, [join(ctx.repo, "scripts", "bench", "pydicom_baseline.py"), point.data], { cwd: ctx.repo, tmp: ctx.tmp });
    else if (key === "io-floor") m = await measure(process.execPath, [ioFloor, point.data], { cwd: ctx.repo, tmp: ctx.tmp });
    else if (key === "first-read") {
      const env = { ...process.env, FIRST_READ_UNDER: point.data, FIRST_READ_FILE: firstReadFile };
      m = await measure(process.execPath, ["--import", probe, ...convert(2)], { cwd: ctx.repo, tmp: ctx.tmp, env });
    } else m = await measure(process.execPath, convert(key === "convert-2w" ? 2 : 1), { cwd: ctx.repo, tmp: ctx.tmp });
    if (m.exitCode !== 0) throw new Error(`${key} on ${point.size} files exited with ${m.exitCode}: ${m.stderr.trim().slice(-2000)}`);
    check(key, point, m, out);
    const firstReadSeconds = key === "first-read" ? (Number(readFileSync(firstReadFile, "utf8")) - m.startedAtMs) / 1000 : undefined;
    runs.push({ key, size: point.size, warmup, wallSeconds: m.wallSeconds, cpuSeconds: m.cpuSeconds, firstReadSeconds });
    const extra = firstReadSeconds === undefined ? "" : `, first read at ${firstReadSeconds.toFixed(3)} s`;
    ctx.log(`  ${warmup ? "warm-up" : "run"}  ${key.padEnd(10)} ${String(point.size).padStart(7)} files  ${m.wallSeconds.toFixed(3).padStart(7)} s${extra}`);
  };
  ctx.log(`speed: ${keys.length} approaches on a one-file folder and ${o.sizes.join(", ")} header-only files, 1 warm-up + ${o.runs} runs`);
  for (let r = 0; r <= o.runs; r++) {
    for (const point of points) {
      for (const key of keys) if (key !== "pydicom" || point.size <= smallest) await once(key, point, r === 0);
      if (point.size > 0) await once("first-read", point, r === 0);
    }
  }

  // ---- what the runs say
  const med = (key: Run["key"], size: number, field: "wallSeconds" | "cpuSeconds" | "firstReadSeconds") =>
    median(runs.filter((r) => r.key === key && r.size === size && !r.warmup).flatMap((r) => (r[field] == null ? [] : [r[field]!])));
  const perFile = (key: Key, size: number, field: "wallSeconds" | "cpuSeconds" = "wallSeconds") => ((med(key, size, field) - med(key, 0, field)) / size) * 1e6;
  /** µs per file between the smallest and the largest size (pydicom: between the one-file folder and the smallest). */
  const slope = (key: Key, field: "wallSeconds" | "cpuSeconds" = "wallSeconds") =>
    key === "pydicom" || smallest === largest
      ? perFile(key, smallest, field)
      : ((med(key, largest, field) - med(key, smallest, field)) / (largest - smallest)) * 1e6;

  const fmt = (n: number, digits: number) =>
    Number.isFinite(n) ? n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }) : "–";
  const sizeLabel = (n: number) => (n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n));
  const header = [
    "approach",
    "empty s",
    ...o.sizes.map((n) => `${sizeLabel(n)} s`),
    ...o.sizes.map((n) => `µs/file ${sizeLabel(n)}`),
    "µs/file slope",
    "cpu µs/file slope",
  ];
  const rows = keys.map((key) => [
    LABELS[key],
    fmt(med(key, 0, "wallSeconds"), 3),
    ...o.sizes.map((n) => fmt(med(key, n, "wallSeconds"), 3)),
    ...o.sizes.map((n) => fmt(perFile(key, n), 1)),
    fmt(slope(key), 1),
    fmt(slope(key, "cpuSeconds"), 1),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  const firstRead = o.sizes.map((n) => med("first-read", n, "firstReadSeconds"));
  const slopeSpan =
    smallest === largest
      ? `the one-file folder and ${smallest.toLocaleString("en-US")}`
      : `${smallest.toLocaleString("en-US")} and ${largest.toLocaleString("en-US")}`;
  const lines = [
    `Header-only archives of ${o.sizes.map((n) => n.toLocaleString("en-US")).join(" and ")} files (bench/archive/<N>-headers), and a folder of one file that is not DICOM ("empty"); ${o.runs} runs per approach and size, alternating, after 1 warm-up round; whole processes; medians.`,
    `"µs/file N": (wall at N − wall on the one-file folder) ÷ N. "slope": wall time per file between ${slopeSpan} files (pydicom: between the one-file folder and ${smallest.toLocaleString("en-US")}). "cpu": the same with user + system CPU seconds, reader processes included.`,
    "",
    line(header),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...rows.map(line),
    "",
    `first file read (convert --workers 2, from spawn): ${o.sizes.map((n, i) => `${fmt(firstRead[i]!, 3)} s at ${n.toLocaleString("en-US")} files`).join(", ")}`,
  ];
  if ("skipped" in py) lines.push(`pydicom baseline skipped: ${py.skipped}`);
  if (process.env.NODE_EXTRA_CA_CERTS) {
    lines.push(
      "NODE_EXTRA_CA_CERTS is set here: every node process parses its whole root certificate store at start (~50 ms of CPU measured here), fixed costs included.",
    );
  }

  const worst = Math.max(...firstRead);
  const c2 = slope("convert-2w");
  const targets: Target[] = [
    {
      name: "time to the first file read, s (convert --workers 2; the larger of the sizes)",
      value: round(worst, 3),
      target: `≤ ${SPEED_TARGETS.firstReadSeconds}`,
      pass: Number.isFinite(worst) ? worst <= SPEED_TARGETS.firstReadSeconds : null,
    },
    {
      name: "marginal cost per file: pydicom ÷ convert (2 workers)",
      value: round(slope("pydicom") / c2, 2),
      target: `≥ ${SPEED_TARGETS.vsPydicom}`,
      pass: keys.includes("pydicom") ? slope("pydicom") / c2 >= SPEED_TARGETS.vsPydicom : null,
      note: "skipped" in py ? py.skipped : undefined,
    },
    {
      name: "marginal cost per file: convert (2 workers) ÷ I/O floor",
      value: round(c2 / slope("io-floor"), 2),
      target: `≤ ${SPEED_TARGETS.ioFloorRatio}`,
      pass: c2 / slope("io-floor") <= SPEED_TARGETS.ioFloorRatio,
    },
    {
      name: "marginal rate: convert 2 workers ÷ 1 worker",
      value: round(slope("convert-1w") / c2, 2),
      target: `≥ ${SPEED_TARGETS.readerScaling}`,
      pass: slope("convert-1w") / c2 >= SPEED_TARGETS.readerScaling,
    },
  ];
  const summary = Object.fromEntries(
    keys.map((key) => [
      key,
      {
        label: LABELS[key],
        wallSeconds: Object.fromEntries(
          points.filter((p) => key !== "pydicom" || p.size <= smallest).map((p) => [p.size, round(med(key, p.size, "wallSeconds"), 3)]),
        ),
        microsecondsPerFile: Object.fromEntries(o.sizes.filter((n) => key !== "pydicom" || n <= smallest).map((n) => [n, round(perFile(key, n), 2)])),
        slopeMicrosecondsPerFile: round(slope(key), 2),
        cpuSlopeMicrosecondsPerFile: round(slope(key, "cpuSeconds"), 2),
      },
    ]),
  );
  return {
    title: "Fixed and marginal cost (issue 11's speed targets)",
    lines,
    targets,
    data: {
      sizes: o.sizes,
      runsPerApproach: o.runs,
      archives: points.flatMap((p) =>
        p.archive ? [{ files: p.size, path: relative(ctx.repo, p.data), bytes: p.archive.info.bytes, dicomFiles: p.archive.info.dicomFiles }] : [],
      ),
      firstReadSeconds: Object.fromEntries(o.sizes.map((n, i) => [n, round(firstRead[i]!, 3)])),
      approaches: summary,
      pydicom: "version" in py ? py.version : null,
      nodeExtraCaCerts: Boolean(process.env.NODE_EXTRA_CA_CERTS),
      runs: runs.map((r) => ({ ...r, wallSeconds: round(r.wallSeconds, 4) })),
    },
  };
}

/** A target as one line of the console and BENCHMARKS.md. */
export function verdictLine(t: Target): string {
  const verdict = t.pass === null ? "SKIP" : t.pass ? "PASS" : "FAIL";
  return `  ${verdict}  ${t.name}: ${t.value === null ? "–" : t.value} (target ${t.target}${t.note ? `; ${t.note}` : ""})`;
}

const round = (n: number, digits: number) => (Number.isFinite(n) ? Math.round(n * 10 ** digits) / 10 ** digits : null);

/** Every approach must see every file, and dcm2fhir and pydicom must find every instance. */
function check(key: Key | "first-read", point: Point, m: Measured, out: string): void {
  const files = point.archive?.info.files ?? 1;
  const instances = point.archive?.info.dicomFiles ?? 0;
  let seen: number;
  let found: number | undefined;
  if (key === "io-floor") seen = (JSON.parse(m.stdout) as { files: number }).files;
  else if (key === "pydicom") ({ files: seen, instances: found } = JSON.parse(m.stdout) as { files: number; instances: number });
  else {
    const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8")) as { files: { seen: number }; instances: number };
    seen = report.files.seen;
    found = report.instances;
  }
  if (seen !== files) throw new Error(`${key} saw ${seen} files; the folder has ${files}`);
  if (found !== undefined && found !== instances) throw new Error(`${key} found ${found} instances; the archive has ${instances}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      runs: { type: "string" },
      sizes: { type: "string" },
      seed: { type: "string", default: String(DEFAULT_SEED) },
      python: { type: "string", default: "/usr/bin/python3" },
    },
  });
  const repo = fileURLToPath(new URL("../../", import.meta.url));
  const ctx: BenchContext = {
    log: (line) => process.stderr.write(`${line}\n`),
    repo,
    cli: join(repo, "dist", "bin", "cli.js"),
    tmp: join(repo, "bench", "tmp", "speed"),
    quick: values.quick,
  };
  const section = speedSection({
    runs: values.runs === undefined ? undefined : Number(values.runs),
    sizes: values.sizes?.split(",").map(Number),
    seed: Number(values.seed),
    python: values.python,
  });
  const result = await section(ctx);
  process.stdout.write(`\n${result.title}\n${result.lines.join("\n")}\n\nTargets:\n${result.targets.map(verdictLine).join("\n")}\n`);
}
