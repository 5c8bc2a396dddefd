// The load side of the search benchmark, run as its own process so that it never shares the server's event loop.
//
//   tsx scripts/bench/search-load.ts <config.json>     prints one JSON line
//
// config: { mode: "latency" | "throughput", base, paths: string[], connections, seconds }
// - latency: `connections` keep-alive connections, each sending the paths one after another (each connection
//   starting at its own offset), timing every request with process.hrtime: exact percentiles. (autocannon keeps
//   latencies in whole milliseconds, too coarse for a 2 ms target.)
// - throughput: autocannon (a real HTTP load tool) over the same paths, in turn.
import { readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import autocannon from "autocannon";

interface Config {
  readonly mode: "latency" | "throughput";
  readonly base: string;
  readonly paths: readonly string[];
  readonly connections: number;
  readonly seconds: number;
}

const config = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as Config;
const base = config.base.replace(/\/$/, "");

async function latency(): Promise<object> {
  const agent = new Agent({ keepAlive: true, maxSockets: config.connections });
  const samples: number[] = [];
  let errors = 0;
  const until = performance.now() + config.seconds * 1000;
  const one = (path: string) =>
    new Promise<void>((resolve) => {
      const started = process.hrtime.bigint();
      request(`${base}${path}`, { agent }, (res) => {
        res.on("data", () => {});
        res.on("end", () => {
          if (res.statusCode === 200) samples.push(Number(process.hrtime.bigint() - started) / 1e6);
          else errors++;
          resolve();
        });
      })
        .on("error", () => {
          errors++;
          resolve();
        })
        .end();
    });
  await Promise.all(
    Array.from({ length: config.connections }, async (_, c) => {
      for (let i = c * 97; performance.now() < until; i++) await one(config.paths[i % config.paths.length]!);
    }),
  );
  agent.destroy();
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? Number.NaN;
  return { requests: samples.length, errors, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: samples.at(-1), perSecond: samples.length / config.seconds };
}

async function throughput(): Promise<object> {
  const result = await autocannon({
    url: base,
    connections: config.connections,
    duration: config.seconds,
    requests: config.paths.map((path) => ({ method: "GET", path })),
  });
  return {
    requests: result.requests.total,
    perSecond: result.requests.average,
    errors: result.errors,
    non2xx: result.non2xx,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
    bytesPerSecond: result.throughput.average,
  };
}

const result = config.mode === "latency" ? await latency() : await throughput();
process.stdout.write(`${JSON.stringify(result)}\n`);
