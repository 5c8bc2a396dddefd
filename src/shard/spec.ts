// --shard: which shard of how many a run is. Given as `i/N` (1 ≤ i ≤ N), or `auto` / `auto/N` to take it from the
// scheduler that started the process, which numbers its tasks in its own way:
//   Kubernetes Indexed Job: JOB_COMPLETION_INDEX, 0-based; the count (spec.completions) is not in the environment.
//   Slurm job array: SLURM_ARRAY_TASK_ID, between SLURM_ARRAY_TASK_MIN and _MAX, SLURM_ARRAY_TASK_COUNT tasks.
//   AWS Batch array job: AWS_BATCH_JOB_ARRAY_INDEX, 0-based, AWS_BATCH_JOB_ARRAY_SIZE tasks.
import { UsageError } from "../core/errors.js";
import type { ShardShare } from "../crawl/split.js";

export interface ShardSpec extends ShardShare {
  /** The scheduler it came from, for messages; absent for an explicit i/N. */
  readonly scheduler?: string;
}

/** Shard counts beyond this are a typo, not a plan (a part per shard, all open at once in merge). */
export const MAX_SHARDS = 10_000;

const SCHEDULERS = [
  { name: "Kubernetes Indexed Job", under: "a Kubernetes Indexed Job", variable: "JOB_COMPLETION_INDEX", size: undefined, count: "the Job's completions" },
  { name: "Slurm job array", under: "a Slurm job array", variable: "SLURM_ARRAY_TASK_ID", size: "SLURM_ARRAY_TASK_COUNT", count: "the array's size" },
  {
    name: "AWS Batch array job",
    under: "an AWS Batch array job",
    variable: "AWS_BATCH_JOB_ARRAY_INDEX",
    size: "AWS_BATCH_JOB_ARRAY_SIZE",
    count: "the array's size",
  },
] as const;

export function parseShard(value: string, env: NodeJS.ProcessEnv = process.env): ShardSpec {
  const explicit = /^(\d+)\/(\d+)$/.exec(value);
  if (explicit) {
    const index = Number(explicit[1]);
    const count = checkCount(Number(explicit[2]));
    if (index < 1 || index > count) throw new UsageError(`--shard ${value}: the shard index runs from 1 to ${count}`);
    return { index, count };
  }
  const auto = /^auto(?:\/(\d+))?$/.exec(value);
  if (!auto) throw new UsageError(`--shard takes i/N (shard i of N, from 1), auto or auto/N (from the scheduler's environment), not "${value}"`);
  const given = auto[1] === undefined ? undefined : checkCount(Number(auto[1]));
  const present = SCHEDULERS.filter((s) => env[s.variable] !== undefined && env[s.variable] !== "");
  if (present.length === 0) {
    throw new UsageError(`--shard auto found no scheduler's task index in the environment (${SCHEDULERS.map((s) => s.variable).join(", ")}): give --shard i/N`);
  }
  if (present.length > 1) {
    const names = present.map((s) => s.variable);
    throw new UsageError(`--shard auto is ambiguous: ${names.slice(0, -1).join(", ")} and ${names[names.length - 1]} are set at once; give --shard i/N`);
  }
  const scheduler = present[0]!;
  const id = wholeNumber(env[scheduler.variable]!, scheduler.variable);
  if (scheduler.variable === "SLURM_ARRAY_TASK_ID") return slurm(id, given, env);
  const size = scheduler.size && env[scheduler.size] ? checkCount(wholeNumber(env[scheduler.size]!, scheduler.size)) : undefined;
  if (size !== undefined && given !== undefined && size !== given) throw new UsageError(`--shard auto/${given}, but ${scheduler.size} is ${size}`);
  const count = size ?? given;
  if (count === undefined) throw new UsageError(`--shard auto under ${scheduler.under} needs the shard count, ${scheduler.count}: give --shard auto/N`);
  if (id >= count) throw new UsageError(`--shard auto: ${scheduler.variable} is ${id}, beyond ${count} shards (it counts from 0)`);
  return { index: id + 1, count, scheduler: scheduler.name };
}

/** A Slurm array must be dense (--array=0-9 or 1-10, no step, no list with gaps) for its task ids to be shard indexes. */
function slurm(id: number, given: number | undefined, env: NodeJS.ProcessEnv): ShardSpec {
  const read = (name: string) => (env[name] === undefined || env[name] === "" ? undefined : wholeNumber(env[name]!, name));
  const min = read("SLURM_ARRAY_TASK_MIN") ?? 0;
  const max = read("SLURM_ARRAY_TASK_MAX");
  const step = read("SLURM_ARRAY_TASK_STEP") ?? 1;
  const count = read("SLURM_ARRAY_TASK_COUNT") ?? given;
  if (count === undefined) throw new UsageError("--shard auto under a Slurm job array found no SLURM_ARRAY_TASK_COUNT: give --shard auto/N");
  checkCount(count);
  if (given !== undefined && given !== count)
    throw new UsageError(`--shard auto/${given}, but the Slurm job array has ${count} tasks (SLURM_ARRAY_TASK_COUNT)`);
  if (step !== 1 || (max !== undefined && max - min + 1 !== count)) {
    throw new UsageError(
      `--shard auto needs a Slurm job array without gaps or steps (e.g. --array=0-${count - 1}); this one runs ${min}-${max ?? "?"} in steps of ${step} with ${count} tasks: give --shard i/N`,
    );
  }
  const index = id - min + 1;
  if (index < 1 || index > count) throw new UsageError(`--shard auto: SLURM_ARRAY_TASK_ID ${id} lies outside the array ${min}-${min + count - 1}`);
  return { index, count, scheduler: "Slurm job array" };
}

function checkCount(count: number): number {
  if (!(Number.isSafeInteger(count) && count >= 1 && count <= MAX_SHARDS)) throw new UsageError(`--shard: the shard count runs from 1 to ${MAX_SHARDS}`);
  return count;
}

function wholeNumber(text: string, name: string): number {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`--shard auto: ${name} is "${text}", not a whole number`);
  return Number(text.trim());
}

/** --out with `{shard}` in it: the shard index (1-based) put in, so that one command line serves every task. */
export const outForShard = (out: string, shard: ShardShare): string => out.replaceAll("{shard}", String(shard.index));
