// The search section of `npm run bench`: a synthetic converted folder of 200,000 studies (scripts/bench/gen-studies.ts),
// indexed by `dcm2fhir index`, served by `dcm2fhir serve`, and loaded from a separate process (search-load.ts):
// index build rate, serve start-up on the existing index, latency of the seed's four typical searches at 16
// connections, throughput under autocannon, the server's peak RSS, and in the same run the "HTTP floor"
// (search-floor.ts: the same URLs answered with the same bytes, no search) for the ratio. No response cache exists.
//
//   npx tsx scripts/bench/search.ts [--quick]       (npm run build first: it runs dist/bin/cli.js)
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type GeneratedFolder, generateStudies } from "./gen-studies.js";
import type { BenchContext, BenchSection, SectionResult, Target } from "./section.js";

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
/** Searches/s of the paced latency runs: a steady load well below saturation, where latency is service time. */
const PACED_RATE = 1000;
const ZONE = "Europe/Zurich";
const SEED = 1;

const HERE = fileURLToPath(new URL(".", import.meta.url));
const TSX = ["--import", "tsx"];

interface Sizes {
  readonly studies: number;
  readonly latencySeconds: number;
  readonly throughputSeconds: number;
  readonly startups: number;
}

/** The seed's typical searches, each with many values drawn from the generated folder. */
export function searches(samples: GeneratedFolder["samples"]): Record<string, string[]> {
  return {
    patient: samples.map((s) => `/ImagingStudy?patient=${s.patient}`),
    "patient + modality": samples.map((s) => `/ImagingStudy?patient=${s.patient}&modality=${s.modality}`),
    identifier: samples.map((s) => `/ImagingStudy?identifier=${s.accession}`),
    "patient.identifier + started range": samples.map((s) => `/ImagingStudy?patient.identifier=${s.patientIdentifier}&started=ge${s.year}-01-01&started=lt${s.year + 2}-01-01`),
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

async function runNode(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string; seconds: number; peakRssBytes: number | null }> {
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

function peakRss(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

async function load(tmp: string, config: { mode: "latency" | "throughput"; base: string; paths: readonly string[]; seconds: number; rate?: number }): Promise<Record<string, number>> {
  const file = join(tmp, `load-${config.mode}.json`);
  writeFileSync(file, JSON.stringify({ ...config, connections: CONNECTIONS }));
  const run = await runNode([...TSX, join(HERE, "search-load.ts"), file]);
  if (run.code !== 0) throw new Error(`load generator failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as Record<string, number>;
}

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

export const searchSection: BenchSection = async (ctx: BenchContext): Promise<SectionResult> => {
  const sizes: Sizes = ctx.quick ? { studies: 20_000, latencySeconds: 2, throughputSeconds: 3, startups: 3 } : { studies: 200_000, latencySeconds: 10, throughputSeconds: 15, startups: 5 };
  mkdirSync(ctx.tmp, { recursive: true });
  const { folder, generated } = ensureFolder(ctx.tmp, sizes.studies, ctx.log);
  const ndjsonBytes = statSync(join(folder, "ImagingStudy.ndjson")).size;

  ctx.log(`search: dcm2fhir index (${fmt(generated.studies)} studies, ${fmt(ndjsonBytes / generated.studies)} bytes each)`);
  const index = await runNode([ctx.cli, "index", folder, "--timezone", ZONE]);
  if (index.code !== 0) throw new Error(`dcm2fhir index failed: ${index.stderr}`);
  const buildSeconds = Number(/in ([\d.]+) s/.exec(index.stderr)?.[1]);
  const indexBytes = statSync(join(folder, ".dcm2fhir.search.sqlite")).size;

  ctx.log("search: serve start-up");
  const startups: number[] = [];
  for (let i = 0; i < sizes.startups; i++) {
    const server = await startProcess([ctx.cli, "serve", folder, "--port", "0"]);
    // Listening is not enough: the first search must be answered too.
    const first = await fetch(`${server.base}ImagingStudy?identifier=${generated.samples[0]!.accession}`);
    startups.push(server.seconds);
    if (first.status !== 200) throw new Error(`first search answered ${first.status}`);
    await server.stop();
  }

  const byType = searches(generated.samples);
  const mixed = Object.values(byType)[0]!.flatMap((_, i) => Object.values(byType).map((paths) => paths[i]!));
  const server = await startProcess([ctx.cli, "serve", folder, "--port", "0"]);
  const latency: Record<string, Record<string, number>> = {};
  const paced: Record<string, Record<string, number>> = {};
  let ours: Record<string, number>;
  let rss: number | null = null;
  const answers: Record<string, string> = {};
  try {
    for (const [name, paths] of Object.entries(byType)) {
      ctx.log(`search: latency of "${name}" at ${CONNECTIONS} connections, saturating, then paced at ${PACED_RATE}/s`);
      latency[name] = await load(ctx.tmp, { mode: "latency", base: server.base, paths, seconds: sizes.latencySeconds });
      paced[name] = await load(ctx.tmp, { mode: "latency", base: server.base, paths, seconds: sizes.latencySeconds, rate: PACED_RATE });
    }
    ctx.log(`search: throughput (autocannon, ${CONNECTIONS} connections, all four searches in turn)`);
    ours = await load(ctx.tmp, { mode: "throughput", base: server.base, paths: mixed, seconds: sizes.throughputSeconds });
    for (const path of mixed) answers[path] = Buffer.from(await (await fetch(`${server.base.replace(/\/$/, "")}${path}`)).arrayBuffer()).toString("base64");
  } finally {
    rss = peakRss(server.pid);
    await server.stop();
  }

  ctx.log("search: the HTTP floor (same URLs, same bytes, no search)");
  const answersFile = join(ctx.tmp, "floor-answers.json");
  writeFileSync(answersFile, JSON.stringify(answers));
  const floorServer = await startProcess([...TSX, join(HERE, "search-floor.ts"), answersFile]);
  let floor: Record<string, number>;
  try {
    floor = await load(ctx.tmp, { mode: "throughput", base: floorServer.base, paths: mixed, seconds: sizes.throughputSeconds });
  } finally {
    await floorServer.stop();
  }

  const rate = generated.studies / buildSeconds;
  const ready = median(startups);
  const worstP50 = Math.max(...Object.values(latency).map((l) => l.p50!));
  const worstP99 = Math.max(...Object.values(latency).map((l) => l.p99!));
  const share = ours.perSecond! / floor.perSecond!;
  const targets: Target[] = [
    { name: "index build (studies/s)", value: Math.round(rate), target: `≥ ${fmt(TARGETS.indexStudiesPerSecond)}`, pass: rate >= TARGETS.indexStudiesPerSecond },
    { name: "serve ready on an existing index (s)", value: ready, target: `< ${TARGETS.serveReadySeconds} s`, pass: ready < TARGETS.serveReadySeconds },
    { name: "latency p50, worst of the four searches (ms)", value: worstP50, target: `< ${TARGETS.p50Ms} ms`, pass: worstP50 < TARGETS.p50Ms },
    { name: "latency p99, worst of the four searches (ms)", value: worstP99, target: `< ${TARGETS.p99Ms} ms`, pass: worstP99 < TARGETS.p99Ms },
    { name: "throughput (searches/s)", value: Math.round(ours.perSecond!), target: `≥ ${fmt(TARGETS.searchesPerSecond)}`, pass: ours.perSecond! >= TARGETS.searchesPerSecond },
    { name: "server peak RSS (MB)", value: rss === null ? null : Math.round(rss / 1e6), target: "< 250 MB", pass: rss === null ? null : rss < TARGETS.rssBytes, ...(rss === null && { note: "no /proc on this machine" }) },
    { name: "share of the HTTP floor's throughput", value: Math.round(share * 100) / 100, target: `≥ ${TARGETS.floorShare * 100} %`, pass: share >= TARGETS.floorShare },
  ];
  const lines = [
    `Synthetic folder: ${fmt(generated.studies)} studies of ${fmt(generated.patients)} patients (gen-studies.ts, seed ${SEED}), ${fmt(ndjsonBytes / 1e6, 1)} MB of ImagingStudy NDJSON (${fmt(ndjsonBytes / generated.studies)} bytes a study, at most 3 instances listed a series); index ${fmt(indexBytes / 1e6, 1)} MB.`,
    `Load from a separate process, ${CONNECTIONS} keep-alive connections, ${fmt(generated.samples.length)} different values per search; latency timed per request (hrtime, raw-socket client), throughput by autocannon over ${sizes.throughputSeconds} s; no response cache.`,
    "",
    `Latency at ${CONNECTIONS} connections, each sending its next search when the last is answered (saturating: the targets apply to these), and paced at ${fmt(PACED_RATE)} searches/s in all (service time):`,
    "",
    "| search | p50 ms | p90 ms | p99 ms | searches/s | paced p50 ms | paced p99 ms |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...Object.entries(latency).map(([name, l]) => `| ${name} | ${fmt(l.p50!, 2)} | ${fmt(l.p90!, 2)} | ${fmt(l.p99!, 2)} | ${fmt(l.perSecond!)} | ${fmt(paced[name]!.p50!, 2)} | ${fmt(paced[name]!.p99!, 2)} |`),
    "",
    "| measure | value | target | verdict |",
    "| --- | --- | --- | --- |",
    ...targets.map((t) => `| ${t.name} | ${t.value === null ? "not measured" : fmt(t.value, t.value < 10 ? 2 : 0)} | ${t.target} | ${t.pass === null ? "n/a" : t.pass ? "PASS" : "FAIL"} |`),
    "",
    `index build: ${fmt(buildSeconds, 1)} s in dcm2fhir index (${fmt(index.seconds, 1)} s for the whole process, peak RSS ${index.peakRssBytes === null ? "not measured" : `${fmt(index.peakRssBytes / 1e6)} MB`}); serve start-up: median of ${startups.length} (${startups.map((s) => fmt(s, 2)).join(", ")} s) to the base URL line; throughput ${fmt(ours.perSecond!)} searches/s against a floor of ${fmt(floor.perSecond!)} (autocannon errors: ours ${ours.errors}, floor ${floor.errors}; non-2xx: ${ours.non2xx}, ${floor.non2xx}).`,
  ];
  return { title: "Search (dcm2fhir serve)", lines, targets, data: { sizes, generated: { studies: generated.studies, patients: generated.patients }, ndjsonBytes, indexBytes, buildSeconds, indexProcessSeconds: index.seconds, indexPeakRssBytes: index.peakRssBytes, startups, latency, paced, throughput: ours, floor, peakRssBytes: rss } };
};

export default searchSection;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const repo = fileURLToPath(new URL("../../", import.meta.url));
  const cli = join(repo, "dist/bin/cli.js");
  if (!existsSync(cli)) throw new Error("run npm run build first: the section runs dist/bin/cli.js");
  const result = await searchSection({ log: (line) => process.stderr.write(`${line}\n`), repo, cli, tmp: join(repo, "bench/tmp/search"), quick: process.argv.includes("--quick") });
  process.stdout.write(`## ${result.title}\n\n${result.lines.join("\n")}\n`);
}
