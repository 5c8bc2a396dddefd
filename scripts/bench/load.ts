// The load section of `npm run bench`: what `dcm2fhir load` costs and how it scales when the server is not the
// limit. The target's server is a sink in a process of its own (scripts/bench/load-sink.ts): it waits 20 ms per
// request and answers a valid transaction-response, so that the rate at concurrency 1, 4 and 16 says how well the
// loader keeps a slow server busy, and nothing else. The test FHIR server (test/helpers/fhirServer.ts: Medplum's
// router and memory repository, without its validator, in a process of its own, same 20 ms) is the correctness
// check: every run's report must say every resource was stored, and resources read back from it must be the ones
// sent. Its rates are printed too, but it shares the two cores with the loader and saturates on its own CPU.
// The loader's fixed start-up (node's start, the bundled CLI, the metadata check, the report) is measured in the
// same run as a load of empty files and subtracted from wall time and CPU; whole-process figures are printed beside.
// CPU and peak RSS are the loader process's own (GNU time's %U %S %M).
//
//   npx tsx scripts/bench/load.ts [--quick] [--compare <another build's dist/bin/cli.js>]
// --compare runs that build in the same rounds, each run next to ours (an A/B pair on a noisy machine), and
// prints its table too.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BenchContext, BenchSection, SectionResult, Target } from "./section.js";

const LATENCY_MS = 20;
const BATCH = 50;
const CONCURRENCIES = [1, 4, 16] as const;
/** Rate at concurrency c ÷ rate at concurrency 1, start-up subtracted. */
const TARGET_SCALING: Record<number, number> = { 4: 3.5, 16: 8 };
/** Loader CPU (user + system) per resource, start-up subtracted. */
const TARGET_CPU_US = 50;
/** Peak RSS at 4× the resources may exceed the smaller run's by this much at most (noise, JIT, allocator). */
const RSS_GROWTH_LIMIT = 1.25;
const GNU_TIME = "/usr/bin/time";
/** The V8 old-space limit of the memory runs: 4× the archive must fit in it too. */
const HEAP_CAP_MB = 32;
/** Loads of empty files per round: the start-up to subtract is their median. */
const EMPTY_RUNS_PER_ROUND = 2;

interface Measured {
  readonly wallSeconds: number;
  readonly cpuSeconds: number | null;
  readonly peakRssBytes: number | null;
  readonly report: {
    sent: number;
    created: number;
    updated: number;
    rejected: number;
    failed: number;
    invalid: number;
    elapsed: number;
    "resources/s": number;
  };
}

type ServerKind = "sink" | "medplum";
const SERVER_NAMES: Record<ServerKind, string> = {
  sink: "sink (waits 20 ms, answers a valid transaction-response)",
  medplum: "test FHIR server (Medplum router, no validator)",
};

interface Runs {
  readonly server: ServerKind;
  readonly byConcurrency: Record<number, Measured[]>;
}

export const loadSection: BenchSection = (ctx) => measureSection(ctx);

/** The section; with `compare`, that build is run beside ours in every round, and its result is returned second. */
async function measureSection(ctx: BenchContext, compare?: string): Promise<SectionResult> {
  const results = await measureBuilds(ctx, compare ? [ctx.cli, compare] : [ctx.cli]);
  return results[0]!;
}

async function measureBuilds(ctx: BenchContext, clis: readonly string[]): Promise<SectionResult[]> {
  mkdirSync(ctx.tmp, { recursive: true });
  // 3,200 patients with 2 studies each, and the Endpoint: 9,601 resources.
  const patients = ctx.quick ? 320 : 3200;
  const runs = ctx.quick ? 1 : 3;
  const small = writeArchive(join(ctx.tmp, "archive"), ctx.repo, patients, 2);
  const large = writeArchive(join(ctx.tmp, "archive-4x"), ctx.repo, patients * 4, 2);
  const empty = writeArchive(join(ctx.tmp, "archive-empty"), ctx.repo, 0, 0, { endpoint: false });
  ctx.log(
    `load: ${small.resources} resources (${large.resources} for the memory check), Bundles of ${BATCH}, ${LATENCY_MS} ms per request, ${runs} round(s); load average ${loadavg()[0]!.toFixed(2)} (${availableParallelism()} CPUs)`,
  );

  const servers: Partial<Record<ServerKind, Server>> = {};
  try {
    servers.sink = await startProcess(ctx.repo, ["scripts/bench/load-sink.ts", "--latency", String(LATENCY_MS)]);
    servers.medplum = await startProcess(ctx.repo, ["test/helpers/fhirServer.ts", "--latency", String(LATENCY_MS), "--skip-validation"]);
    const builds = clis.map((cli) => ({
      ctx: { ...ctx, cli },
      measured: (["sink", "medplum"] as const).map((server): Runs => ({ server, byConcurrency: { 1: [], 4: [], 16: [] } })),
      emptyRuns: [] as Measured[],
    }));
    const name = (cli: string) => (clis.length > 1 ? `${cli}: ` : "");
    // Rounds of every setup and concurrency in turn, so that a busy spell of the machine spreads over all of them;
    // with builds to compare, each run of one is next to the same run of the other.
    for (let round = 0; round < runs; round++) {
      for (let e = 0; e < EMPTY_RUNS_PER_ROUND; e++) for (const b of builds) b.emptyRuns.push(await measureLoad(b.ctx, empty, servers.sink.base, []));
      for (let setup = 0; setup < 2; setup++) {
        for (const concurrency of CONCURRENCIES) {
          for (const b of builds) {
            const r = b.measured[setup]!;
            const m = await measureLoad(b.ctx, small, servers[r.server]!.base, ["--concurrency", String(concurrency), "--batch-size", String(BATCH)]);
            r.byConcurrency[concurrency]!.push(m);
            ctx.log(
              `  ${name(b.ctx.cli)}${r.server}, concurrency ${concurrency}: ${m.wallSeconds.toFixed(2)} s whole process, loader CPU ${m.cpuSeconds?.toFixed(2) ?? "?"} s, ${Math.round(m.report["resources/s"])} resources/s by its report`,
            );
          }
        }
      }
      for (const b of builds)
        ctx.log(
          `  ${name(b.ctx.cli)}empty files: ${b.emptyRuns
            .slice(-EMPTY_RUNS_PER_ROUND)
            .map((m) => `${m.wallSeconds.toFixed(2)} s (CPU ${m.cpuSeconds?.toFixed(2) ?? "?"} s)`)
            .join(", ")}`,
        );
    }
    await checkStored(servers.medplum.base, small);
    // With V8's old space capped, what peak RSS still grows with the archive is memory the loader keeps, not garbage
    // a roomy heap has not collected yet.
    const heapCap = [`--max-old-space-size=${HEAP_CAP_MB}`];
    const results: SectionResult[] = [];
    const rss: Array<{ smallRss: Measured; largeRss: Measured }> = [];
    for (const b of builds) {
      const smallRss = await measureLoad(b.ctx, small, servers.sink.base, ["--concurrency", "16"], heapCap);
      const largeRss = await measureLoad(b.ctx, large, servers.sink.base, ["--concurrency", "16"], heapCap);
      rss.push({ smallRss, largeRss });
    }
    builds.forEach((b, i) => {
      if (clis.length > 1) ctx.log(`\n### ${b.ctx.cli}`);
      results.push(result(b.ctx, { small, large, emptyRuns: b.emptyRuns, measured: b.measured, ...rss[i]! }));
    });
    return results;
  } finally {
    for (const server of Object.values(servers)) server.stop();
  }
}

function result(
  ctx: BenchContext,
  m: { small: Archive; large: Archive; emptyRuns: readonly Measured[]; measured: readonly Runs[]; smallRss: Measured; largeRss: Measured },
): SectionResult {
  const startWall = median(m.emptyRuns.map((r) => r.wallSeconds));
  const cpuKnown = m.emptyRuns.every((r) => r.cpuSeconds !== null);
  const startCpu = cpuKnown ? median(m.emptyRuns.map((r) => r.cpuSeconds!)) : null;
  const n = m.small.resources;
  // Per run, then the median: a run's wall and CPU belong together.
  const netRate = (r: Measured) => n / Math.max(1e-3, r.wallSeconds - startWall);
  const wholeRate = (r: Measured) => n / r.wallSeconds;
  const netCpuUs = (r: Measured) => (r.cpuSeconds === null || startCpu === null ? null : ((r.cpuSeconds - startCpu) / n) * 1e6);
  const wholeCpuUs = (r: Measured) => (r.cpuSeconds === null ? null : (r.cpuSeconds / n) * 1e6);
  const med = (values: ReadonlyArray<number | null>) => (values.some((v) => v === null) || values.length === 0 ? null : median(values as number[]));
  const range = (values: readonly number[]) => `${Math.round(Math.min(...values))}–${Math.round(Math.max(...values))}`;
  const rows = m.measured.map((r) => {
    const at = (c: number) => r.byConcurrency[c]!;
    const rate = (c: number) => median(at(c).map(netRate));
    return {
      r,
      rate,
      whole: (c: number) => median(at(c).map(wholeRate)),
      scaling: (c: number) => rate(c) / rate(1),
      cpuUs: (c: number) => med(at(c).map(netCpuUs)),
      wholeCpuUs: (c: number) => med(at(c).map(wholeCpuUs)),
      ranges: (c: number) => range(at(c).map(netRate)),
    };
  });
  const sink = rows[0]!;
  const sinkCpuAll = m.measured[0]!.byConcurrency;
  const cpuUs = med(CONCURRENCIES.flatMap((c) => sinkCpuAll[c]!.map(netCpuUs)));
  const marginalCpuUs =
    m.smallRss.cpuSeconds === null || m.largeRss.cpuSeconds === null
      ? null
      : ((m.largeRss.cpuSeconds - m.smallRss.cpuSeconds) / (m.large.resources - m.small.resources)) * 1e6;
  const rssGrowth = m.smallRss.peakRssBytes && m.largeRss.peakRssBytes ? m.largeRss.peakRssBytes / m.smallRss.peakRssBytes : null;
  const mb = (bytes: number | null) => (bytes === null ? "?" : `${Math.round(bytes / 1e6)} MB`);
  const noTime = { note: `no ${GNU_TIME} on this machine` };
  const targets: Target[] = [
    ...[4, 16].map(
      (c): Target => ({
        name: `load: resources/s at concurrency ${c} ÷ at concurrency 1 (sink, ${LATENCY_MS} ms per request, Bundles of ${BATCH}, start-up subtracted)`,
        value: round(sink.scaling(c)),
        target: `≥ ${TARGET_SCALING[c]}`,
        pass: sink.scaling(c) >= TARGET_SCALING[c]!,
      }),
    ),
    {
      name: "load: loader CPU (user + system) per resource, start-up subtracted (µs, median of the sink runs)",
      value: cpuUs === null ? null : Math.round(cpuUs),
      target: `≤ ${TARGET_CPU_US}`,
      pass: cpuUs === null ? null : cpuUs <= TARGET_CPU_US,
      ...(cpuUs === null ? noTime : {}),
    },
    {
      name: `load: peak RSS at ${m.large.resources} ÷ at ${m.small.resources} resources (concurrency 16, old space capped at ${HEAP_CAP_MB} MB)`,
      value: rssGrowth === null ? null : round(rssGrowth),
      target: `≤ ${RSS_GROWTH_LIMIT}`,
      pass: rssGrowth === null ? null : rssGrowth <= RSS_GROWTH_LIMIT,
      ...(rssGrowth === null ? noTime : {}),
    },
  ];
  const fmt = (v: number | null) => (v === null ? "?" : String(Math.round(v)));
  const lines = [
    `\`dcm2fhir load\` of ${n} resources (${n - 1 - m.small.patients} ImagingStudy of ${m.small.studyBytes} bytes, ${m.small.patients} Patient, 1 Endpoint) in transaction Bundles of ${BATCH}, ${LATENCY_MS} ms added to every request, ${m.measured[0]!.byConcurrency[1]!.length} run(s) per cell (median; the range in brackets).`,
    `Start-up (a load of empty files against the sink, ${m.emptyRuns.length} runs, median): ${startWall.toFixed(2)} s wall, ${startCpu?.toFixed(2) ?? "?"} s CPU; subtracted in "net" columns. "Whole" columns: the whole process, start-up included.`,
    "",
    "| server | concurrency | net resources/s | × c1 | whole-process resources/s | × c1 | loader CPU µs/resource, net | whole |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows.flatMap((row) =>
      CONCURRENCIES.map(
        (c) =>
          `| ${SERVER_NAMES[row.r.server]} | ${c} | ${Math.round(row.rate(c))} (${row.ranges(c)}) | ${row.scaling(c).toFixed(2)} | ${Math.round(row.whole(c))} | ${(row.whole(c) / row.whole(1)).toFixed(2)} | ${fmt(row.cpuUs(c))} | ${fmt(row.wholeCpuUs(c))} |`,
      ),
    ),
    "",
    `The sink is no FHIR server: it waits ${LATENCY_MS} ms and answers each Bundle's entries 201 with a location, so that only the loader limits the rate (at most ${Math.round((BATCH * 1000) / LATENCY_MS)} resources/s per request in flight). The test FHIR server checks correctness: every run stored every resource (the reports), and resources read back from it are the ones sent; it shares the ${availableParallelism()} cores with the loader, and its own CPU per Bundle bounds its rate.`,
    `Loader peak RSS at concurrency 16 with V8's old space capped at ${HEAP_CAP_MB} MB: ${mb(m.smallRss.peakRssBytes)} for ${m.small.resources} resources, ${mb(m.largeRss.peakRssBytes)} for ${m.large.resources} (it streams the NDJSON).`,
    // Start-up subtracted is a load of empty files, which compiles none of the per-line code: the optimizing
    // compiler's fixed cost (~0.1 s, on its own threads) stays in the per-resource figure above. The same two memory
    // runs give the cost of each further resource, which is what a large load pays.
    `Loader CPU of each further resource (the ${m.large.resources - m.small.resources} between the two memory runs, concurrency 16, old space capped): ${marginalCpuUs === null ? "?" : `${Math.round(marginalCpuUs)} µs`}.`,
  ];
  for (const line of lines) ctx.log(line);
  for (const t of targets) ctx.log(`${t.pass === null ? "n/a " : t.pass ? "PASS" : "FAIL"} ${t.name}: ${t.value ?? "?"} (target ${t.target})`);
  const raw = (r: Measured) => ({
    wallSeconds: round(r.wallSeconds),
    cpuSeconds: r.cpuSeconds,
    peakRssBytes: r.peakRssBytes,
    reportRate: r.report["resources/s"],
  });
  return {
    title: "Load into a FHIR server",
    lines,
    targets,
    data: {
      latencyMs: LATENCY_MS,
      batchSize: BATCH,
      resources: n,
      startup: { wallSeconds: round(startWall), cpuSeconds: startCpu, runs: m.emptyRuns.map(raw) },
      runs: Object.fromEntries(m.measured.map((r) => [r.server, Object.fromEntries(CONCURRENCIES.map((c) => [c, r.byConcurrency[c]!.map(raw)]))])),
      netResourcesPerSecond: Object.fromEntries(rows.map((row) => [row.r.server, Object.fromEntries(CONCURRENCIES.map((c) => [c, Math.round(row.rate(c))]))])),
      cpuUsPerResource: cpuUs === null ? null : round(cpuUs),
      cpuUsPerFurtherResource: marginalCpuUs === null ? null : round(marginalCpuUs),
      heapCapMb: HEAP_CAP_MB,
      peakRssBytes: { [m.small.resources]: m.smallRss.peakRssBytes, [m.large.resources]: m.largeRss.peakRssBytes },
    },
  };
}

// ---- the archive: the fixtures' conversion output, multiplied -----------------------------------------

interface Archive {
  readonly dir: string;
  readonly resources: number;
  readonly patients: number;
  readonly studyBytes: number;
  /** A few of the resources, to read back from the test FHIR server. */
  readonly samples: ReadonlyArray<{ readonly key: string; readonly resource: Record<string, unknown> }>;
}

/** Patients and studies made from fixtures/expected's first Patient and ImagingStudy, with ids of their own. */
function writeArchive(dir: string, repo: string, patients: number, studiesPerPatient: number, options: { endpoint?: boolean } = {}): Archive {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const first = (name: string) => JSON.parse(readFileSync(join(repo, "fixtures/expected", name), "utf8").split("\n")[0]!) as Record<string, unknown>;
  const patient = first("Patient.ndjson");
  const study = first("ImagingStudy.ndjson");
  const endpoint = options.endpoint ?? true;
  writeFileSync(join(dir, "Endpoint.ndjson"), endpoint ? readFileSync(join(repo, "fixtures/expected/Endpoint.ndjson")) : "");
  const patientLines: string[] = [];
  const studyLines: string[] = [];
  const samples: Array<{ key: string; resource: Record<string, unknown> }> = [];
  for (let p = 0; p < patients; p++) {
    const id = `${p.toString(16).padStart(8, "0")}${"0".repeat(24)}`;
    const patientResource = { ...patient, id, identifier: [{ value: `BENCH-${p}` }] };
    patientLines.push(`${JSON.stringify(patientResource)}\n`);
    if (p === 0 || p === patients - 1) samples.push({ key: `Patient/${id}`, resource: patientResource });
    for (let s = 0; s < studiesPerPatient; s++) {
      const uid = `2.25.${100000 + p}.${s + 1}`;
      const studyResource = { ...study, id: uid, identifier: [{ system: "urn:dicom:uid", value: `urn:oid:${uid}` }], subject: { reference: `Patient/${id}` } };
      studyLines.push(`${JSON.stringify(studyResource)}\n`);
      if (p === patients >> 1 || p === patients - 1) samples.push({ key: `ImagingStudy/${uid}`, resource: studyResource });
    }
  }
  writeFileSync(join(dir, "Patient.ndjson"), patientLines.join(""));
  writeFileSync(join(dir, "ImagingStudy.ndjson"), studyLines.join(""));
  return { dir, resources: (endpoint ? 1 : 0) + patients * (1 + studiesPerPatient), patients, studyBytes: studyLines[0]?.length ?? 0, samples };
}

/** The correctness check: resources read back from the test FHIR server are the ones sent (its meta aside). */
async function checkStored(base: string, archive: Archive): Promise<void> {
  for (const { key, resource } of archive.samples) {
    const answer = await fetch(`${base}/${key}`, { headers: { accept: "application/fhir+json" } });
    const { meta: _meta, ...stored } = (await answer.json()) as Record<string, unknown>;
    if (answer.status !== 200 || JSON.stringify(sortKeys(stored)) !== JSON.stringify(sortKeys(resource))) {
      throw new Error(`the test FHIR server holds another ${key} than the one loaded (HTTP ${answer.status})`);
    }
  }
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
  );
}

// ---- processes ----------------------------------------------------------------------------------------

interface Server {
  readonly base: string;
  readonly stop: () => void;
}

/** A server script run with tsx in a process of its own, which prints its base URL on its first line. */
async function startProcess(repo: string, script: readonly string[]): Promise<Server> {
  const child = spawn(process.execPath, ["--import", "tsx", ...script], { cwd: repo, stdio: ["ignore", "pipe", "inherit"] });
  const base = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      if (out.includes("\n")) resolve(out.trim());
    });
    child.on("exit", (code) => reject(new Error(`${script[0]} exited (${code}) before it listened`)));
  });
  return { base, stop: () => void (child.exitCode === null && child.kill("SIGTERM")) };
}

/** One `dcm2fhir load` of the archive, timed; it must have stored every resource. */
async function measureLoad(
  ctx: BenchContext,
  archive: Archive,
  server: string,
  options: readonly string[],
  nodeArgs: readonly string[] = [],
): Promise<Measured> {
  const folder = archive.dir;
  rmSync(join(folder, "load-report.json"), { force: true });
  const args = [...nodeArgs, ctx.cli, "load", folder, "--server", server, ...options, "--restart"];
  const timeFile = join(ctx.tmp, "time.txt");
  const timed = existsSync(GNU_TIME);
  const [file, argv] = timed ? [GNU_TIME, ["-f", "%e %U %S %M", "-o", timeFile, process.execPath, ...args]] : [process.execPath, args];
  const started = process.hrtime.bigint();
  const child = spawn(file, argv, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  const exitCode = await new Promise<number | null>((resolve) => child.on("close", resolve));
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  let cpuSeconds: number | null = null;
  let peakRssBytes: number | null = null;
  if (timed) {
    const [, user, system, rssKb] = readFileSync(timeFile, "utf8").trim().split(/\s+/).slice(-4).map(Number);
    cpuSeconds = user! + system!;
    peakRssBytes = rssKb! * 1024;
  }
  const reportPath = join(folder, "load-report.json");
  if (exitCode !== 0 || !existsSync(reportPath)) throw new Error(`load exited ${exitCode}: ${stderr.slice(-500)}`);
  const report = JSON.parse(readFileSync(reportPath, "utf8")) as Measured["report"];
  const stored = report.created + report.updated;
  if (stored !== archive.resources || report.rejected + report.failed + report.invalid > 0) {
    throw new Error(
      `load stored ${stored} of ${archive.resources} resources (rejected ${report.rejected}, failed ${report.failed}, invalid ${report.invalid})`,
    );
  }
  return { wallSeconds, cpuSeconds, peakRssBytes, report };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const round = (n: number) => Math.round(n * 100) / 100;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const repo = fileURLToPath(new URL("../../", import.meta.url));
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const at = process.argv.indexOf("--compare");
  await measureSection(
    { log, repo, cli: join(repo, "dist/bin/cli.js"), tmp: join(repo, "bench/tmp/load"), quick: process.argv.includes("--quick") },
    at > 0 ? process.argv[at + 1] : undefined,
  );
}
