// A bench section run alone (`npx tsx scripts/bench/<section>.ts [--quick] [--runs N]`): its lines and targets
// printed as `npm run bench` would print them, in the same scratch folder (bench/tmp/<section>).
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { BenchSection } from "./section.js";

export async function runAlone(section: BenchSection, name: string): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: "boolean", default: false }, runs: { type: "string" } } });
  if (values.runs) process.env.DCM2FHIR_BENCH_RUNS = values.runs;
  const repo = fileURLToPath(new URL("../../", import.meta.url));
  const cli = join(repo, "dist", "bin", "cli.js");
  if (!existsSync(cli)) {
    process.stderr.write(`${name}: dist/bin/cli.js is missing: run npm run build\n`);
    process.exitCode = 2;
    return;
  }
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const result = await section({ log, repo, cli, tmp: join(repo, "bench", "tmp", name), quick: values.quick });
  process.stdout.write(`${result.title}\n\n${result.lines.join("\n")}\n\nTargets:\n`);
  for (const t of result.targets)
    process.stdout.write(
      `  ${t.pass === null ? "SKIP" : t.pass ? "PASS" : "FAIL"}  ${t.name}: ${t.value} (target ${t.target})${t.note ? `; ${t.note}` : ""}\n`,
    );
  if (execFileSync("git", ["-C", repo, "status", "--porcelain", "src"], { encoding: "utf8" }).trim()) process.stdout.write("(src/ has uncommitted changes)\n");
}
