// The load section of `npm run bench`: resources/s that `dcm2fhir load` puts into the test FHIR server
// (test/helpers/fhirServer.ts: Medplum's router, memory repository and validator) with 20 ms added to every
// request, at concurrency 1, 4 and 8 (target: 4 ≥ 3 × 1: the loader keeps a slow server busy); the loader's
// own CPU time per 1,000 resources; and its peak RSS at two archive sizes (streaming: it must not grow).
// The server runs in a process of its own, so the loader's CPU and memory are its own (GNU time's %U %S %M).
//
//   npx tsx scripts/bench/load.ts [--quick]
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BenchContext, BenchSection, SectionResult, Target } from "./section.js";

const LATENCY_MS = 20;
const CONCURRENCIES = [1, 4, 8] as const;
const TARGET_SCALING = 3;
/** Peak RSS at 4× the resources may exceed the smaller run's by this much at most (noise, JIT, allocator). */
const RSS_GROWTH_LIMIT = 1.25;
const GNU_TIME = "/usr/bin/time";
/** The V8 old-space limit of the memory runs: 4× the archive must fit in it too (18,001 resources are 81 MB of NDJSON). */
const HEAP_CAP_MB = 32;

interface Measured {
  readonly wallSeconds: number;
  readonly cpuSeconds: number | null;
  readonly peakRssBytes: number | null;
  readonly exitCode: number | null;
  readonly report: { sent: number; rejected: number; failed: number; elapsed: number; "resources/s": number };
  readonly stderr: string;
}

/** One way of running the loader against the server; the first is the target's. */
interface Setup {
  readonly name: string;
  /** The test FHIR server, with or without Medplum's validator; or a sink that only waits (not a FHIR server). */
  readonly server: "latency-only" | "validating" | "sink";
  readonly batchSize: number;
}

const SETUPS: readonly Setup[] = [
  // The target's: the defaults (--batch-size 50) against a server whose work per request is mostly the latency.
  { name: "server: latency only, batch 50", server: "latency-only", batchSize: 50 },
  // Latency a larger share of each request: what concurrency buys when the server's own CPU matters less.
  { name: "server: latency only, batch 10", server: "latency-only", batchSize: 10 },
  { name: "server: validating, batch 50", server: "validating", batchSize: 50 },
  // No server work at all: the loader's own limit.
  { name: "sink (waits, stores nothing), batch 50", server: "sink", batchSize: 50 },
];

interface Rates {
  readonly setup: Setup;
  readonly rates: Record<number, number[]>;
  readonly cpuSeconds: number[];
}

export const loadSection: BenchSection = async (ctx) => {
  mkdirSync(ctx.tmp, { recursive: true });
  const patients = ctx.quick ? 150 : 1500;
  const runs = ctx.quick ? 1 : 3;
  const small = writeArchive(join(ctx.tmp, "archive"), ctx.repo, patients, 2);
  const large = writeArchive(join(ctx.tmp, "archive-4x"), ctx.repo, patients * 4, 2);
  const empty = writeArchive(join(ctx.tmp, "archive-empty"), ctx.repo, 0, 0);
  ctx.log(`load: ${small.resources} resources (${large.resources} for the memory check), ${LATENCY_MS} ms added per request, ${runs} run(s) per concurrency`);

  const servers: Partial<Record<Setup["server"], Server>> = {};
  try {
    servers["latency-only"] = await startServer(ctx.repo, LATENCY_MS, false);
    servers.validating = await startServer(ctx.repo, LATENCY_MS, true);
    servers.sink = await startSink(LATENCY_MS);
    const measured: Rates[] = SETUPS.map((setup) => ({ setup, rates: { 1: [], 4: [], 8: [] }, cpuSeconds: [] }));
    // Rounds of every setup and concurrency in turn, so that a busy spell of the machine spreads over all of them.
    for (let round = 0; round < runs; round++) {
      for (const r of measured) {
        const server = servers[r.setup.server]!;
        for (const concurrency of CONCURRENCIES) {
          const m = await measureLoad(ctx, small.dir, server.base, ["--concurrency", String(concurrency), "--batch-size", String(r.setup.batchSize)]);
          r.rates[concurrency]!.push(m.report["resources/s"]);
          if (m.cpuSeconds !== null) r.cpuSeconds.push(m.cpuSeconds);
          ctx.log(`  ${r.setup.name}, concurrency ${concurrency}: ${Math.round(m.report["resources/s"])} resources/s (${m.report.elapsed} s; loader CPU ${m.cpuSeconds?.toFixed(2) ?? "?"} s)`);
        }
      }
    }
    // Start-up, the metadata check and the report: what a run costs whatever its size, subtracted from the CPU time.
    const baseline = await measureLoad(ctx, empty.dir, servers["latency-only"].base, []);
    // With V8's old space capped, what peak RSS still grows with the archive is memory the loader keeps, not garbage
    // a roomy heap has not collected yet (measured once uncapped: 147 MB, then 183 MB at 4× the resources).
    const heapCap = [`--max-old-space-size=${HEAP_CAP_MB}`];
    const smallRss = await measureLoad(ctx, small.dir, servers["latency-only"].base, ["--concurrency", "8"], heapCap);
    const largeRss = await measureLoad(ctx, large.dir, servers["latency-only"].base, ["--concurrency", "8"], heapCap);
    return result(ctx, { small, large, baseline, measured, smallRss, largeRss });
  } finally {
    for (const server of Object.values(servers)) server.stop();
  }
};

export default loadSection;

function result(ctx: BenchContext, m: { small: Archive; large: Archive; baseline: Measured; measured: readonly Rates[]; smallRss: Measured; largeRss: Measured }): SectionResult {
  const rate = (r: Rates, c: number) => median(r.rates[c]!);
  const scaling = (r: Rates, c: number) => rate(r, c) / rate(r, 1);
  const cpu = m.measured.filter((r) => r.setup.batchSize === 50 && r.setup.server !== "sink").flatMap((r) => r.cpuSeconds);
  const cpuPer1000Ms = cpu.length > 0 && m.baseline.cpuSeconds !== null ? ((median(cpu) - m.baseline.cpuSeconds) / m.small.resources) * 1e6 : null;
  const rssGrowth = m.smallRss.peakRssBytes && m.largeRss.peakRssBytes ? m.largeRss.peakRssBytes / m.smallRss.peakRssBytes : null;
  const mb = (bytes: number | null) => (bytes === null ? "?" : `${Math.round(bytes / 1e6)} MB`);
  const main = m.measured[0]!;
  const scaling4 = scaling(main, 4);
  const targets: Target[] = [
    { name: `load: resources/s at concurrency 4 ÷ at concurrency 1 (${LATENCY_MS} ms per request, ${main.setup.name})`, value: round(scaling4), target: `≥ ${TARGET_SCALING}`, pass: scaling4 >= TARGET_SCALING },
    {
      name: `load: peak RSS at ${m.large.resources} ÷ at ${m.small.resources} resources (old space capped at ${HEAP_CAP_MB} MB)`,
      value: rssGrowth === null ? null : round(rssGrowth),
      target: `≤ ${RSS_GROWTH_LIMIT}`,
      pass: rssGrowth === null ? null : rssGrowth <= RSS_GROWTH_LIMIT,
      ...(rssGrowth === null ? { note: `no ${GNU_TIME} on this machine` } : {}),
    },
  ];
  const lines = [
    `\`dcm2fhir load\` into the test FHIR server (test/helpers/fhirServer.ts: Medplum fhir-router 4.5.2 and its memory repository, in a process of its own) with ${LATENCY_MS} ms added to every request;`,
    `${m.small.resources} resources (${m.small.resources - 1 - m.small.patients} ImagingStudy of ${m.small.studyBytes} bytes, ${m.small.patients} Patient, 1 Endpoint) in transaction Bundles;`,
    `resources/s as load-report.json gives it (the run without Node's start-up), median of ${main.rates[1]!.length} run(s); × is the rate over concurrency 1's.`,
    "",
    `| concurrency | ${m.measured.map((r) => `${r.setup.name} | ×`).join(" | ")} |`,
    `| --- | ${m.measured.map(() => "--- | ---").join(" | ")} |`,
    ...CONCURRENCIES.map((c) => `| ${c} | ${m.measured.map((r) => `${Math.round(rate(r, c))} | ${scaling(r, c).toFixed(2)}`).join(" | ")} |`),
    "",
    `The sink is no FHIR server: it waits ${LATENCY_MS} ms and answers 201 for every entry, so that only the loader's own CPU limits the rate. "Latency only": the test server stores without Medplum's validator, so that its work per request is mostly the added latency, as a remote server's is. Medplum's router still costs this single-threaded server CPU per resource (deep copies), on the same ${availableParallelism()} cores as the loader, and with the validator (~0.5 ms per resource) that CPU is what limits the rate.`,
    `Loader CPU (user + system, GNU time) per 1,000 resources: ${cpuPer1000Ms === null ? "not measured" : `${Math.round(cpuPer1000Ms)} ms`} (median run with Bundles of 50, less a run over an empty folder: ${m.baseline.cpuSeconds?.toFixed(2) ?? "?"} s of start-up, metadata check and report).`,
    `Loader peak RSS at concurrency 8 with V8's old space capped at ${HEAP_CAP_MB} MB: ${mb(m.smallRss.peakRssBytes)} for ${m.small.resources} resources, ${mb(m.largeRss.peakRssBytes)} for ${m.large.resources} (it streams the NDJSON).`,
  ];
  for (const line of lines) ctx.log(line);
  for (const t of targets) ctx.log(`${t.pass === null ? "n/a " : t.pass ? "PASS" : "FAIL"} ${t.name}: ${t.value ?? "?"} (target ${t.target})`);
  return {
    title: "Load into a FHIR server",
    lines,
    targets,
    data: {
      latencyMs: LATENCY_MS,
      resources: m.small.resources,
      resourcesPerSecond: Object.fromEntries(m.measured.map((r) => [r.setup.name, r.rates])),
      loaderCpuSeconds: Object.fromEntries(m.measured.map((r) => [r.setup.name, r.cpuSeconds])),
      baselineCpuSeconds: m.baseline.cpuSeconds,
      cpuMsPer1000Resources: cpuPer1000Ms === null ? null : round(cpuPer1000Ms),
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
}

/** Patients and studies made from fixtures/expected's first Patient and ImagingStudy, with ids of their own. */
function writeArchive(dir: string, repo: string, patients: number, studiesPerPatient: number): Archive {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const first = (name: string) => JSON.parse(readFileSync(join(repo, "fixtures/expected", name), "utf8").split("\n")[0]!) as Record<string, unknown>;
  const patient = first("Patient.ndjson");
  const study = first("ImagingStudy.ndjson");
  writeFileSync(join(dir, "Endpoint.ndjson"), readFileSync(join(repo, "fixtures/expected/Endpoint.ndjson")));
  const patientLines: string[] = [];
  const studyLines: string[] = [];
  for (let p = 0; p < patients; p++) {
    const id = `${p.toString(16).padStart(8, "0")}${"0".repeat(24)}`;
    patientLines.push(`${JSON.stringify({ ...patient, id, identifier: [{ value: `BENCH-${p}` }] })}\n`);
    for (let s = 0; s < studiesPerPatient; s++) {
      const uid = `2.25.${100000 + p}.${s + 1}`;
      studyLines.push(`${JSON.stringify({ ...study, id: uid, identifier: [{ system: "urn:dicom:uid", value: `urn:oid:${uid}` }], subject: { reference: `Patient/${id}` } })}\n`);
    }
  }
  writeFileSync(join(dir, "Patient.ndjson"), patientLines.join(""));
  writeFileSync(join(dir, "ImagingStudy.ndjson"), studyLines.join(""));
  return { dir, resources: 1 + patients * (1 + studiesPerPatient), patients, studyBytes: studyLines[0]?.length ?? 0 };
}

// ---- processes ----------------------------------------------------------------------------------------

/** In this process (idle while a run is measured): answers GET metadata and every Bundle after `latencyMs`. */
async function startSink(latencyMs: number): Promise<Server> {
  const sink = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () =>
      setTimeout(() => {
        if (req.url?.endsWith("/metadata")) return void res.writeHead(200, { "content-type": "application/fhir+json" }).end('{"resourceType":"CapabilityStatement","fhirVersion":"4.0.1"}');
        const entries = Buffer.concat(chunks).toString("latin1").split('"request":{"method"').length - 1;
        const entry = Array.from({ length: entries }, () => '{"response":{"status":"201 Created"}}').join(",");
        res.writeHead(200, { "content-type": "application/fhir+json" }).end(`{"resourceType":"Bundle","type":"transaction-response","entry":[${entry}]}`);
      }, latencyMs),
    );
  });
  await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve));
  return { base: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/fhir`, stop: () => void sink.close() };
}

interface Server {
  readonly base: string;
  readonly stop: () => void;
}

async function startServer(repo: string, latencyMs: number, validate: boolean): Promise<Server> {
  const args = ["--import", "tsx", "test/helpers/fhirServer.ts", "--latency", String(latencyMs), ...(validate ? [] : ["--skip-validation"])];
  const child = spawn(process.execPath, args, { cwd: repo, stdio: ["ignore", "pipe", "inherit"] });
  const base = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      if (out.includes("\n")) resolve(out.trim());
    });
    child.on("exit", (code) => reject(new Error(`the test FHIR server exited (${code}) before it listened`)));
  });
  return { base, stop: () => void (child.exitCode === null && child.kill("SIGTERM")) };
}

async function measureLoad(ctx: BenchContext, folder: string, server: string, options: readonly string[], nodeArgs: readonly string[] = []): Promise<Measured> {
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
  return { wallSeconds, cpuSeconds, peakRssBytes, exitCode, report, stderr };
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
  await loadSection({ log, repo, cli: join(repo, "dist/bin/cli.js"), tmp: join(repo, "bench/tmp/load"), quick: process.argv.includes("--quick") });
}
