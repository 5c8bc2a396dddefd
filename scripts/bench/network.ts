// The network section of `npm run bench` (issue 17): the 10k bench archive through latencyfs (a FUSE mirror that
// adds a fixed delay to every file-system operation: ../shared/tools/latencyfs/) at 0.5 ms and at 2 ms, as a LAN
// and a WAN file server. At each delay, in alternation, as whole processes: `convert` (default flags) against the
// floor of a concurrent walk plus open/read 8 KiB/close with 64 in flight (network-floor.ts), and a no-change
// `convert --incremental` against the floor of a concurrent walk plus lstat of every file with 64 in flight.
// pydicom's converter once at 0.5 ms, for reference. latencyfs caches nothing between opens: every run is cold.
//
//   npm run bench -- --only network [--quick]       (--quick: the 1k archive, one run each, no pydicom)
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { ensureArchive } from "./gen-archive.js";
import { measure, median, pydicomAvailable } from "./process.js";
import type { BenchContext, BenchSection, SectionResult, Target } from "./section.js";

const TARGETS = { convertRatio: 1.5, incrementalRatio: 1.5 } as const;
const DELAYS_US = [500, 2000];
const DEPTH = 64;

interface Timed {
  readonly wallSeconds: number;
  readonly cpuSeconds: number | null;
}

export const networkSection: BenchSection = async (context: BenchContext): Promise<SectionResult> => {
  const { log, cli, quick, repo } = context;
  const runs = Number(process.env.DCM2FHIR_BENCH_RUNS ?? (quick ? 1 : 3));
  const archive = await ensureArchive({ files: quick ? 1000 : 10_000, log });
  mkdirSync(context.tmp, { recursive: true });
  const latencyfs = buildLatencyfs(repo, context.tmp, log);
  if (!latencyfs) {
    const note = "latencyfs could not be built or /dev/fuse is missing: nothing measured";
    return {
      title: "Network storage (latencyfs)",
      lines: [note],
      targets: [{ name: "convert ÷ floor", value: null, target: `≤ ${TARGETS.convertRatio}`, pass: null, note }],
      data: { skipped: note },
    };
  }
  const floorScript = transpile(repo, context.tmp);
  const run = async (command: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<Timed & { stdout: string }> => {
    const m = await measure(command, args, { cwd: repo, tmp: context.tmp, env });
    if (m.exitCode !== 0) throw new Error(`${command} ${args.join(" ")} exited with ${m.exitCode}: ${m.stderr.trim().slice(-2000)}`);
    log(`  ${m.wallSeconds.toFixed(2).padStart(7)} s  ${[command, ...args].map((a) => a.replace(`${repo}/`, "")).join(" ")}`);
    return { wallSeconds: m.wallSeconds, cpuSeconds: m.cpuSeconds, stdout: m.stdout };
  };
  const floorEnv = { ...process.env, UV_THREADPOOL_SIZE: String(DEPTH) };

  const lines: string[] = [];
  const targets: Target[] = [];
  const data: Record<string, unknown> = { files: archive.info.files, runs };
  for (const delay of DELAYS_US) {
    const mount = join(context.tmp, `mnt-${delay}`);
    mkdirSync(mount, { recursive: true });
    execFileSync(latencyfs, [archive.data, mount, "-o", `delay_us=${delay}`, "-o", "max_threads=256"]);
    const results = {
      floor: [] as Timed[],
      convert: [] as Timed[],
      statFloor: [] as Timed[],
      incremental: [] as Timed[],
      pydicom: undefined as Timed | undefined,
    };
    try {
      const out = join(context.tmp, "out");
      const outIncremental = join(context.tmp, "out-incremental");
      rmSync(outIncremental, { recursive: true, force: true });
      log(`network: ${delay / 1000} ms: the incremental state (a first --incremental run, not timed)`);
      await run(process.execPath, [cli, "convert", mount, "--out", outIncremental, "--timezone", "UTC", "--incremental"]);
      for (let r = 1; r <= runs; r++) {
        log(`network: ${delay / 1000} ms, round ${r} of ${runs}: floor, convert, stat floor, no-change incremental`);
        results.floor.push(await run(process.execPath, [floorScript, "read", mount, String(DEPTH)], floorEnv));
        rmSync(out, { recursive: true, force: true });
        results.convert.push(await run(process.execPath, [cli, "convert", mount, "--out", out, "--timezone", "UTC"]));
        results.statFloor.push(await run(process.execPath, [floorScript, "lstat", mount, String(DEPTH)], floorEnv));
        const incremental = await run(process.execPath, [
          cli,
          "convert",
          mount,
          "--out",
          outIncremental,
          "--timezone",
          "UTC",
          "--incremental",
          "--max-delete",
          "100",
        ]);
        const report = JSON.parse(readFileSync(join(outIncremental, "report.json"), "utf8")) as { bytesRead: { total: number }; files: { unchanged?: number } };
        if (report.bytesRead.total !== 0) throw new Error(`the no-change incremental run read ${report.bytesRead.total} bytes`);
        results.incremental.push(incremental);
      }
      const py = pydicomAvailable("/usr/bin/python3");
      if (delay === 500 && !quick && "version" in py) {
        log("network: 0.5 ms: pydicom, once");
        results.pydicom = await run("/usr/bin/python3", [join(repo, "scripts/bench/pydicom_baseline.py"), mount]);
      }
    } finally {
      unmount(mount);
    }
    const wall = (list: Timed[]) => median(list.map((t) => t.wallSeconds));
    const range = (list: Timed[]) => `${Math.min(...list.map((t) => t.wallSeconds)).toFixed(2)}–${Math.max(...list.map((t) => t.wallSeconds)).toFixed(2)}`;
    const convertRatio = wall(results.convert) / wall(results.floor);
    const incrementalRatio = wall(results.incremental) / wall(results.statFloor);
    const ms = `${delay / 1000} ms`;
    lines.push(
      `${ms} per operation (${archive.info.files.toLocaleString("en-US")} files; medians of ${runs}, wall s, range in brackets):`,
      `  floor: concurrent walk + open/read 8 KiB/close, ${DEPTH} in flight  ${wall(results.floor).toFixed(2)} (${range(results.floor)})`,
      `  dcm2fhir convert (default flags)                                  ${wall(results.convert).toFixed(2)} (${range(results.convert)})  ${convertRatio.toFixed(2)}× the floor`,
      `  floor: concurrent walk + lstat, ${DEPTH} in flight                   ${wall(results.statFloor).toFixed(2)} (${range(results.statFloor)})`,
      `  dcm2fhir convert --incremental, nothing changed                   ${wall(results.incremental).toFixed(2)} (${range(results.incremental)})  ${incrementalRatio.toFixed(2)}× the stat floor`,
    );
    if (results.pydicom) lines.push(`  pydicom dcmread(stop_before_pixels), one at a time (one run)      ${results.pydicom.wallSeconds.toFixed(2)}`);
    lines.push("");
    targets.push(
      { name: `${ms}: convert wall ÷ floor wall`, value: round(convertRatio), target: `≤ ${TARGETS.convertRatio}`, pass: convertRatio <= TARGETS.convertRatio },
      {
        name: `${ms}: no-change --incremental wall ÷ stat floor wall`,
        value: round(incrementalRatio),
        target: `≤ ${TARGETS.incrementalRatio}`,
        pass: incrementalRatio <= TARGETS.incrementalRatio,
      },
    );
    data[ms] = results;
  }
  lines.push("Whole processes, start-up included. latencyfs caches nothing between opens: every run is a cold run.");
  lines.push("Above ~32 operations in flight the FUSE round trips cost CPU of their own: on two cores the floors are partly CPU-bound.");
  return { title: "Network storage: the 10k archive through latencyfs", lines, targets, data };
};

const round = (n: number) => (Number.isFinite(n) ? Math.round(n * 100) / 100 : null);

/** latencyfs built into the section's scratch folder; undefined where it cannot be (no FUSE, no compiler). */
function buildLatencyfs(repo: string, tmp: string, log: (line: string) => void): string | undefined {
  const script = [
    join(repo, "../shared/tools/latencyfs/build.sh"),
    join(repo, "../../shared/tools/latencyfs/build.sh"),
    "/work/shared/tools/latencyfs/build.sh",
  ].find(existsSync);
  if (!script || !existsSync("/dev/fuse")) return undefined;
  try {
    return execFileSync("sh", [script, join(tmp, "latencyfs-bin")], { encoding: "utf8" })
      .trim()
      .split("\n")
      .pop();
  } catch (error) {
    log(`network: latencyfs did not build: ${(error as Error).message}`);
    return undefined;
  }
}

/** Unmounts, waiting out a mount still busy for a moment after its last process exited. */
function unmount(mount: string): void {
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      execFileSync("fusermount3", ["-u", mount], { stdio: "ignore" });
      return;
    } catch {
      execFileSync("sleep", ["0.25"]);
    }
  }
  execFileSync("fusermount3", ["-uz", mount], { stdio: "ignore" });
}

/** network-floor.ts as plain JavaScript, so that no TypeScript loader adds to its start-up. */
function transpile(repo: string, tmp: string): string {
  const source = readFileSync(join(repo, "scripts", "bench", "network-floor.ts"), "utf8");
  const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  const file = join(tmp, "network-floor.mjs");
  writeFileSync(file, js);
  return file;
}
