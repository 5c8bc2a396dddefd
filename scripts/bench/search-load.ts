// The load side of the search benchmark: wrk (C, Debian package `wrk`), never a Node load generator. A Node client on
// the same two cores takes CPU from whichever server it loads, and takes more from the faster one (the floor), which
// flattered the product's share of the floor.
//
// wrk sends the request paths of one search mix in turn, from a file of paths one a line, over keep-alive
// connections, each connection sending its next request when the last is answered (closed loop: the server is
// saturated, and latency includes waiting behind the other connections). Its latency distribution is kept in
// microseconds, so percentiles are exact enough for a 10 ms target.
//
//   tsx scripts/bench/search-load.ts <base> <paths-file> <seconds> [connections]    prints one JSON line
import { execFileSync, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export interface WrkResult {
  readonly requests: number;
  readonly seconds: number;
  readonly perSecond: number;
  /** Socket errors (connect, read, write, timeout) and answers other than 2xx/3xx. */
  readonly errors: number;
  readonly non2xx: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly bytesPerSecond: number;
}

// Each wrk thread has its own Lua state: it reads the paths, formats every request once (wrk.format is the costly
// part of a Lua `request`), and starts at its own offset so that threads do not send the same search at once. `done`
// prints the figures as one JSON line after wrk's own summary.
const SCRIPT = `
local requests = {}
local at = 0
local threads = 0
function setup(thread)
  thread:set("offset", threads * 97)
  threads = threads + 1
end
function init(args)
  for path in io.lines(args[1]) do
    requests[#requests + 1] = wrk.format("GET", path)
  end
  at = (offset or 0) % #requests
end
function request()
  at = at % #requests + 1
  return requests[at]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\nWRK-JSON {"requests":%d,"microseconds":%d,"bytes":%d,"socketErrors":%d,"non2xx":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`;

let scriptFile: string | undefined;

/** The wrk executable, or an error saying how to get it. */
export function wrkPath(): string {
  try {
    return execFileSync("sh", ["-c", "command -v wrk"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error("the search bench needs wrk (apt-get install wrk, brew install wrk)");
  }
}

/** Runs wrk against `base` (ending with "/") for `seconds`, sending the paths of `pathsFile` (each starting with "/") in turn. */
export async function runWrk(options: { base: string; pathsFile: string; seconds: number; connections: number; threads?: number }): Promise<WrkResult> {
  if (!scriptFile) {
    scriptFile = join(tmpdir(), `dcm2fhir-bench-rotate-${process.pid}.lua`);
    writeFileSync(scriptFile, SCRIPT);
  }
  const url = new URL(options.base);
  // wrk's own URL gives host and port; the paths carry the base path, if any.
  const args = [
    "-t",
    String(options.threads ?? 1),
    "-c",
    String(options.connections),
    "-d",
    `${options.seconds}s`,
    "--timeout",
    "10s",
    "--latency",
    "-s",
    scriptFile,
    `${url.protocol}//${url.host}/`,
    "--",
    options.pathsFile,
  ];
  const child = spawn(wrkPath(), args, { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  const line = /WRK-JSON (\{.*\})/.exec(stdout)?.[1];
  if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}): ${stderr || stdout}`);
  const r = JSON.parse(line) as Record<string, number>;
  const seconds = r.microseconds! / 1e6;
  return {
    requests: r.requests!,
    seconds,
    perSecond: r.requests! / seconds,
    errors: r.socketErrors! + r.non2xx!,
    non2xx: r.non2xx!,
    p50Ms: r.p50! / 1000,
    p90Ms: r.p90! / 1000,
    p99Ms: r.p99! / 1000,
    maxMs: r.max! / 1000,
    bytesPerSecond: r.bytes! / seconds,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [base, pathsFile, seconds, connections] = process.argv.slice(2);
  if (!base || !pathsFile || !seconds) throw new Error("usage: search-load.ts <base> <paths-file> <seconds> [connections]");
  const result = await runWrk({ base, pathsFile, seconds: Number(seconds), connections: Number(connections ?? 16) });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
