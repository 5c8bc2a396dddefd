// Running a command as a whole process and weighing it, for the bench and its sections: wall time from spawn
// to exit, CPU time and peak RSS from GNU time where it exists; plus the transpiled I/O floor and the pydicom
// check, which more than one part of the bench runs.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";

const GNU_TIME = "/usr/bin/time";
export const hasGnuTime = existsSync(GNU_TIME);

export interface Measured {
  readonly wallSeconds: number;
  /** User + system CPU seconds of the process and the children it waited for; null without GNU time. */
  readonly cpuSeconds: number | null;
  /** Peak resident set size of the process (its threads included); null where it could not be measured. */
  readonly peakRssBytes: number | null;
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** When the process was started, as performance.timeOrigin + performance.now() (epoch milliseconds). */
  readonly startedAtMs: number;
}

export const median = (values: readonly number[]): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/**
 * Runs a command to its end. Wall time is taken here (process.hrtime around spawn and exit); CPU time and peak
 * RSS from GNU time's %U %S %M where /usr/bin/time exists, else peak RSS from polling the child's VmHWM in /proc.
 */
export async function measure(command: string, args: readonly string[], options: { cwd: string; tmp: string; env?: NodeJS.ProcessEnv }): Promise<Measured> {
  const timeFile = join(options.tmp, `time-${process.pid}.txt`);
  const [file, argv] = hasGnuTime ? [GNU_TIME, ["-f", "%e %M %U %S", "-o", timeFile, command, ...args]] : [command, [...args]];
  const startedAtMs = performance.timeOrigin + performance.now();
  const started = process.hrtime.bigint();
  const child = spawn(file, argv, { stdio: ["ignore", "pipe", "pipe"], cwd: options.cwd, env: options.env ?? process.env });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  let polledPeak: number | null = null;
  let poller: NodeJS.Timeout | undefined;
  if (!hasGnuTime && child.pid !== undefined) {
    const pid = child.pid;
    poller = setInterval(() => {
      const rss = rssOf(pid);
      if (rss !== null) polledPeak = Math.max(polledPeak ?? 0, rss);
    }, 10);
  }
  const exitCode = await new Promise<number | null>((done, fail) => {
    child.on("error", fail);
    child.on("close", (code) => done(code));
  });
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (poller) clearInterval(poller);
  let peakRssBytes: number | null = polledPeak;
  let cpuSeconds: number | null = null;
  if (hasGnuTime) {
    // GNU time prefixes "Command exited with non-zero status N" when the command fails: the numbers are the last line.
    const lines = readFileSync(timeFile, "utf8").trim().split("\n");
    const [, kb, user, system] = lines[lines.length - 1]!.split(" ").map(Number);
    peakRssBytes = Number.isFinite(kb) ? kb! * 1024 : null;
    cpuSeconds = Number.isFinite(user) && Number.isFinite(system) ? user! + system! : null;
    rmSync(timeFile, { force: true });
  }
  return { wallSeconds, cpuSeconds, peakRssBytes, exitCode, stdout, stderr, startedAtMs };
}

/** The high-water mark of a running process's RSS: /proc/<pid>/status VmHWM, else `ps -o rss=`. */
function rssOf(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // no /proc, or the process is gone
  }
  try {
    const kb = Number(execFileSync("ps", ["-o", "rss=", "-p", String(pid)], { encoding: "utf8" }).trim());
    return Number.isFinite(kb) && kb > 0 ? kb * 1024 : null;
  } catch {
    return null;
  }
}

/** io-floor.ts transpiled to plain JavaScript in `tmp`, so that no TypeScript loader adds to its start-up; returns its path. */
export function ioFloorScript(repo: string, tmp: string): string {
  const source = readFileSync(join(repo, "scripts", "bench", "io-floor.ts"), "utf8");
  const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  const file = join(tmp, "io-floor.mjs");
  writeFileSync(file, js);
  return file;
}

/** The pydicom version of `python`, or why the baseline cannot run here. */
export function pydicomAvailable(python: string): { version: string } | { skipped: string } {
  if (!existsSync(python)) return { skipped: `${python} not found` };
  try {
    return {
      version: execFileSync(python, ["-c", "import pydicom; print(pydicom.__version__)"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim(),
    };
  } catch {
    return { skipped: `pydicom is not installed for ${python} (Debian: apt-get install python3-pydicom)` };
  }
}
