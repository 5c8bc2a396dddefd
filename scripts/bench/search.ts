// The search section of `npm run bench`: synthetic converted folders of 200,000 and 1,000,000 studies
// (scripts/bench/gen-studies.ts; --quick: 20,000), each indexed by `dcm2fhir index` and served by `dcm2fhir serve`:
// index build rate, serve start-up on the existing index, and under wrk (search-load.ts: C, not Node, so that the
// load generator does not take the servers' CPU in proportion to their speed) throughput and the latency
// distribution of the seed's four typical searches at 16 connections, each against the "HTTP floor" (search-floor.ts:
// the same URLs answered with the same bytes, no search) in alternation, in the same run. No response cache exists.
//
//   npx tsx scripts/bench/search.ts [--quick]      (npm run build first: it runs dist/bin/cli.js; SEARCH_BENCH_SIZES=200000 for one size)
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type GeneratedFolder, generateStudies } from "./gen-studies.js";
import { type WrkResult, runWrk, wrkPath } from "./search-load.js";
import type { BenchContext, BenchSection, SectionResult, Target } from "./section.js";
import { runAlone } from "./alone.js";

const TARGETS = {
  indexStudiesPerSecond: 20_000,
  serveReadySeconds: 1,
  p50Ms: 2,
  p99Ms: 10,
  searchesPerSecond: 3_000,
  rssBytes: 250e6,
  floorShare: 0.3,
} as const;
const CONNECTIONS = 16;
const ZONE = "Europe/Zurich";
const SEED = 1;

const HERE = fileURLToPath(new URL(".", import.meta.url));
const TSX = ["--import", "tsx"];

interface Plan {
  readonly sizes: readonly number[];
  /** Seconds of each wrk run, and how many runs of each server a mix gets (alternating ours and the floor). */
  readonly seconds: number;
  readonly rounds: number;
  readonly startups: number;
}

/** The seed's typical searches, each with many values drawn from the generated folder. */
export function searches(samples: GeneratedFolder["samples"]): Record<string, string[]> {
  return {
    patient: samples.map((s) => `/ImagingStudy?patient=${s.patient}`),
    "patient + modality": samples.map((s) => `/ImagingStudy?patient=${s.patient}&modality=${s.modality}`),
    identifier: samples.map((s) => `/ImagingStudy?identifier=${s.accession}`),
    "patient.identifier + started range": samples.map(
      (s) => `/ImagingStudy?patient.identifier=${s.patientIdentifier}&started=ge${s.year}-01-01&started=lt${s.year + 2}-01-01`,
    ),
  };
}

/** The folder of `studies` studies, generated once and reused while the generator's source is unchanged. */
export function ensureFolder(tmp: string, studies: number, log: (line: string) => void): { folder: string; generated: GeneratedFolder } {
  const source = readFileSync(join(HERE, "gen-studies.ts"));
  const key = createHash("sha256").update(source).update(`${studies}/${SEED}`).digest("hex").slice(0, 16);
  const folder = join(tmp, `studies-${studies}`);
  const marker = join(folder, "generated.json");
  if (existsSync(marker)) {
    const saved = JSON.parse(readFileSync(marker, "utf8")) as { key: string; generated: GeneratedFolder };
    if (saved.key === key) return { folder, generated: saved.generated };
  }
  rmSync(folder, { recursive: true, force: true });
  log(`search: generating ${studies.toLocaleString("en-US")} studies into ${folder}`);
  const generated = generateStudies(folder, studies, SEED);
  writeFileSync(marker, JSON.stringify({ key, generated }));
  return { folder, generated };
}

async function runNode(
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string; seconds: number; peakRssBytes: number | null }> {
  const started = performance.now();
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let peak: number | null = null;
  const poll = setInterval(() => {
    const rss = peakRss(child.pid!);
    if (rss !== null) peak = Math.max(peak ?? 0, rss);
  }, 20);
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  clearInterval(poll);
  return { code, stdout, stderr, seconds: (performance.now() - started) / 1000, peakRssBytes: peak };
}

interface Started {
  readonly pid: number;
  readonly base: string;
  readonly seconds: number;
  stop(): Promise<void>;
}

/** Starts a server process and waits for its first stdout line, the base URL. */
export function startProcess(args: readonly string[]): Promise<Started> {
  const started = performance.now();
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    child.stdout.on("data", (d) => {
      stdout += d;
      if (!stdout.includes("\n")) return;
      const seconds = (performance.now() - started) / 1000;
      resolve({
        pid: child.pid!,
        base: stdout.split("\n")[0]!,
        seconds,
        stop: async () => {
          child.kill("SIGTERM");
          await exited;
        },
      });
    });
    void exited.then(() => reject(new Error(`exited before listening: ${stderr}`)));
  });
}

/** User and system CPU time of a process so far (Linux /proc; clock ticks of 10 ms). */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

function peakRss(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

interface MixResult {
  /** Each round's wrk run of ours and of the floor, in the order they ran. */
  readonly rounds: ReadonlyArray<{
    readonly ours: WrkResult;
    readonly floor: WrkResult;
    readonly share: number;
    readonly oursCpuUs: number;
    readonly floorCpuUs: number;
  }>;
  readonly share: number;
  readonly perSecond: number;
  readonly floorPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Server CPU time per answer (user + system), ours and the floor's: what a busy machine changes least. */
  readonly oursCpuUs: number;
  readonly floorCpuUs: number;
}

interface SizeResult {
  readonly studies: number;
  readonly patients: number;
  /** Different values per search. */
  readonly samples: number;
  readonly ndjsonBytes: number;
  readonly indexBytes: number;
  readonly buildSeconds: number;
  readonly indexProcessSeconds: number;
  readonly indexPeakRssBytes: number | null;
  readonly startups: readonly number[];
  readonly mixes: Record<string, MixResult>;
  readonly peakRssBytes: number | null;
}

/** One size: generate (or reuse), index, start-ups, then each mix under wrk against the floor, alternating. */
async function measureSize(ctx: BenchContext, plan: Plan, studies: number): Promise<SizeResult> {
  const { folder, generated } = ensureFolder(ctx.tmp, studies, ctx.log);
  const ndjsonBytes = statSync(join(folder, "ImagingStudy.ndjson")).size;

  ctx.log(`search: dcm2fhir index (${fmt(generated.studies)} studies, ${fmt(ndjsonBytes / generated.studies)} bytes each)`);
  const index = await runNode([ctx.cli, "index", folder, "--timezone", ZONE]);
  if (index.code !== 0) throw new Error(`dcm2fhir index failed: ${index.stderr}`);
  const buildSeconds = Number(/in ([\d.]+) s/.exec(index.stderr)?.[1]);
  const indexBytes = statSync(join(folder, ".dcm2fhir.search.sqlite")).size;

  ctx.log("search: serve start-up");
  const startups: number[] = [];
  for (let i = 0; i < plan.startups; i++) {
    const server = await startProcess([ctx.cli, "serve", folder, "--port", "0"]);
    // Listening is not enough: the first search must be answered too.
    const first = await fetch(`${server.base}ImagingStudy?identifier=${generated.samples[0]!.accession}`);
    startups.push(server.seconds);
    if (first.status !== 200) throw new Error(`first search answered ${first.status}`);
    await server.stop();
  }

  const byMix = searches(generated.samples);
  const server = await startProcess([ctx.cli, "serve", folder, "--port", "0"]);
  const mixes: Record<string, MixResult> = {};
  let rss: number | null = null;
  try {
    // Every URL once, for the floor's answers (and a first pass over the index, as a server that has run a while had).
    ctx.log("search: the answers, for the floor");
    const answers: Record<string, string> = {};
    const pathsFiles: Record<string, string> = {};
    for (const [name, paths] of Object.entries(byMix)) {
      for (const path of paths) {
        const response = await fetch(`${server.base.replace(/\/$/, "")}${path}`);
        if (response.status !== 200) throw new Error(`${path} answered ${response.status}`);
        answers[path] = Buffer.from(await response.arrayBuffer()).toString("base64");
      }
      pathsFiles[name] = join(ctx.tmp, `paths-${studies}-${name.replace(/[^a-z]+/g, "-")}.txt`);
      writeFileSync(pathsFiles[name], `${paths.join("\n")}\n`);
    }
    const answersFile = join(ctx.tmp, `floor-answers-${studies}.json`);
    writeFileSync(answersFile, JSON.stringify(answers));
    const floorServer = await startProcess([...TSX, join(HERE, "search-floor.ts"), answersFile]);
    try {
      for (const [name, pathsFile] of Object.entries(pathsFiles)) {
        ctx.log(`search: "${name}" under wrk, ${CONNECTIONS} connections, ${plan.rounds} × ${plan.seconds} s each for ours and the floor, alternating`);
        const wrk = async (base: string, seconds = plan.seconds) => {
          const pid = base === server.base ? server.pid : floorServer.pid;
          const before = cpuSeconds(pid);
          const result = await runWrk({ base, pathsFile, seconds, connections: CONNECTIONS });
          return { ...result, cpuUs: ((cpuSeconds(pid) - before) * 1e6) / result.requests };
        };
        // A second of each first: the servers' code warm, the index pages in the page cache.
        await wrk(server.base, 1);
        await wrk(floorServer.base, 1);
        const rounds: Array<MixResult["rounds"][number]> = [];
        for (let r = 0; r < plan.rounds; r++) {
          // Which goes first alternates too: a neighbour's burst should not always land on the same one.
          const first = r % 2 === 0 ? await wrk(server.base) : await wrk(floorServer.base);
          const second = r % 2 === 0 ? await wrk(floorServer.base) : await wrk(server.base);
          const [ours, floor] = r % 2 === 0 ? [first, second] : [second, first];
          if (ours.errors > 0 || floor.errors > 0) throw new Error(`"${name}": wrk saw errors (ours ${ours.errors}, floor ${floor.errors})`);
          rounds.push({ ours, floor, share: ours.perSecond / floor.perSecond, oursCpuUs: ours.cpuUs, floorCpuUs: floor.cpuUs });
        }
        mixes[name] = {
          rounds,
          share: median(rounds.map((x) => x.share)),
          perSecond: median(rounds.map((x) => x.ours.perSecond)),
          floorPerSecond: median(rounds.map((x) => x.floor.perSecond)),
          p50Ms: median(rounds.map((x) => x.ours.p50Ms)),
          p99Ms: median(rounds.map((x) => x.ours.p99Ms)),
          oursCpuUs: median(rounds.map((x) => x.oursCpuUs)),
          floorCpuUs: median(rounds.map((x) => x.floorCpuUs)),
        };
      }
    } finally {
      await floorServer.stop();
    }
  } finally {
    rss = peakRss(server.pid);
    await server.stop();
  }
  return {
    studies: generated.studies,
    patients: generated.patients,
    samples: generated.samples.length,
    ndjsonBytes,
    indexBytes,
    buildSeconds,
    indexProcessSeconds: index.seconds,
    indexPeakRssBytes: index.peakRssBytes,
    startups,
    mixes,
    peakRssBytes: rss,
  };
}

const range = (values: readonly number[], digits = 0) => {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return lo === hi ? fmt(lo, digits) : `${fmt(lo, digits)}–${fmt(hi, digits)}`;
};

export const searchSection: BenchSection = async (ctx: BenchContext): Promise<SectionResult> => {
  wrkPath();
  // For a run of this section alone at other sizes: SEARCH_BENCH_SIZES=200000 npx tsx scripts/bench/search.ts
  const sizesArg = process.env.SEARCH_BENCH_SIZES;
  const plan: Plan = ctx.quick
    ? { sizes: [20_000], seconds: 2, rounds: 1, startups: 2 }
    : { sizes: sizesArg ? sizesArg.split(",").map(Number) : [200_000, 1_000_000], seconds: 10, rounds: 2, startups: 3 };
  mkdirSync(ctx.tmp, { recursive: true });
  const results: SizeResult[] = [];
  for (const studies of plan.sizes) results.push(await measureSize(ctx, plan, studies));

  const targets: Target[] = [];
  const lines: string[] = [
    `Synthetic folders (gen-studies.ts, seed ${SEED}; at most 3 instances listed a series). Load: wrk from a separate process, ${CONNECTIONS} keep-alive connections, 1 thread, each connection sending its next search when the last is answered; ${results.map((r) => fmt(r.samples)).join(" and ")} different values per search, in turn. For each search, ${plan.rounds} run${plan.rounds > 1 ? "s" : ""} of ${plan.seconds} s of ours and of the floor (the same URLs answered with the same bytes by a bare node:http server, no search), alternating, after 1 s of each to warm up; the table gives the median of the runs and, for the share, the range. No response cache.`,
  ];
  for (const r of results) {
    const rate = r.studies / r.buildSeconds;
    const ready = median(r.startups);
    const mixes = Object.entries(r.mixes);
    const worstShare = Math.min(...mixes.map(([, m]) => m.share));
    const worstP50 = Math.max(...mixes.map(([, m]) => m.p50Ms));
    const worstP99 = Math.max(...mixes.map(([, m]) => m.p99Ms));
    const slowest = Math.min(...mixes.map(([, m]) => m.perSecond));
    const at = `at ${fmt(r.studies)}`;
    const sized: Target[] = [
      {
        name: `index build (studies/s) ${at}`,
        value: Math.round(rate),
        target: `≥ ${fmt(TARGETS.indexStudiesPerSecond)}`,
        pass: rate >= TARGETS.indexStudiesPerSecond,
      },
      { name: `serve ready on an existing index (s) ${at}`, value: ready, target: `< ${TARGETS.serveReadySeconds} s`, pass: ready < TARGETS.serveReadySeconds },
      {
        name: `latency p50 under wrk, worst of the four searches (ms) ${at}`,
        value: worstP50,
        target: `< ${TARGETS.p50Ms} ms`,
        pass: worstP50 < TARGETS.p50Ms,
      },
      {
        name: `latency p99 under wrk, worst of the four searches (ms) ${at}`,
        value: worstP99,
        target: `< ${TARGETS.p99Ms} ms`,
        pass: worstP99 < TARGETS.p99Ms,
      },
      {
        name: `throughput, slowest of the four searches (searches/s) ${at}`,
        value: Math.round(slowest),
        target: `≥ ${fmt(TARGETS.searchesPerSecond)}`,
        pass: slowest >= TARGETS.searchesPerSecond,
      },
      {
        name: `server peak RSS (MB) ${at}`,
        value: r.peakRssBytes === null ? null : Math.round(r.peakRssBytes / 1e6),
        target: "< 250 MB",
        pass: r.peakRssBytes === null ? null : r.peakRssBytes < TARGETS.rssBytes,
        ...(r.peakRssBytes === null && { note: "no /proc on this machine" }),
      },
      {
        name: `share of the HTTP floor, worst of the four searches ${at}`,
        value: Math.round(worstShare * 1000) / 1000,
        target: `≥ ${TARGETS.floorShare * 100} %`,
        pass: worstShare >= TARGETS.floorShare,
      },
    ];
    targets.push(...sized);
    lines.push(
      "",
      `### ${fmt(r.studies)} studies`,
      "",
      `${fmt(r.studies)} studies of ${fmt(r.patients)} patients, ${fmt(r.ndjsonBytes / 1e6, 1)} MB of ImagingStudy NDJSON (${fmt(r.ndjsonBytes / r.studies)} bytes a study); index ${fmt(r.indexBytes / 1e6, 1)} MB, built in ${fmt(r.buildSeconds, 1)} s = ${fmt(rate)} studies/s (${fmt(r.indexProcessSeconds, 1)} s for the whole process, peak RSS ${r.indexPeakRssBytes === null ? "not measured" : `${fmt(r.indexPeakRssBytes / 1e6)} MB`}); serve start-up: median of ${r.startups.length} (${r.startups.map((s) => fmt(s, 2)).join(", ")} s) to the base URL line.`,
      "",
      "| search | searches/s | floor/s | share of the floor (runs) | p50 ms | p90 ms | p99 ms | max ms | server CPU µs a search, ours / floor |",
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
      ...mixes.map(
        ([name, m]) =>
          `| ${name} | ${fmt(m.perSecond)} | ${fmt(m.floorPerSecond)} | ${fmt(m.share * 100, 1)} % (${range(
            m.rounds.map((x) => x.share * 100),
            1,
          )}) | ${fmt(m.p50Ms, 2)} | ${fmt(median(m.rounds.map((x) => x.ours.p90Ms)), 2)} | ${fmt(m.p99Ms, 2)} | ${fmt(Math.max(...m.rounds.map((x) => x.ours.maxMs)), 1)} | ${fmt(m.oursCpuUs)} / ${fmt(m.floorCpuUs)} (${fmt((m.floorCpuUs / m.oursCpuUs) * 100)} %) |`,
      ),
      "",
      "| measure | value | target | verdict |",
      "| --- | --- | --- | --- |",
      ...sized.map(
        (t) =>
          `| ${t.name.replace(` ${at}`, "")} | ${t.value === null ? "not measured" : fmt(t.value, t.value < 10 ? 2 : 0)} | ${t.target} | ${t.pass === null ? "n/a" : t.pass ? "PASS" : "FAIL"} |`,
      ),
    );
  }
  if (results.length > 1) {
    const rates = results.map((r) => r.studies / r.buildSeconds);
    lines.push(
      "",
      `Index build rate from the smallest to the largest size: ${rates.map((x) => fmt(x)).join(" → ")} studies/s (${fmt((rates.at(-1)! / rates[0]!) * 100)} % of the first).`,
    );
  }
  return { title: "Search (dcm2fhir serve)", lines, targets, data: { plan, connections: CONNECTIONS, sizes: results } };
};

if (process.argv[1] === fileURLToPath(import.meta.url)) await runAlone(searchSection, "search");
