// --shard: i/N given, or auto from the environment of Kubernetes Indexed Jobs, Slurm job arrays and AWS Batch array
// jobs, each numbering its tasks its own way; and the one-line refusals when it cannot be known.
import { describe, expect, it } from "vitest";
import { outForShard, parseShard } from "../../src/shard/spec.js";

const refusal = (value: string, env: NodeJS.ProcessEnv = {}) => {
  try {
    parseShard(value, env);
  } catch (error) {
    expect((error as Error).name).toBe("UsageError");
    return (error as Error).message;
  }
  throw new Error(`--shard ${value} was accepted`);
};

describe("--shard i/N", () => {
  it("takes shard i of N, from 1", () => {
    expect(parseShard("1/1", {})).toEqual({ index: 1, count: 1 });
    expect(parseShard("3/8", {})).toEqual({ index: 3, count: 8 });
  });

  it("refuses an index outside 1..N, a count of 0, and anything else", () => {
    expect(refusal("0/4")).toBe("--shard 0/4: the shard index runs from 1 to 4");
    expect(refusal("5/4")).toBe("--shard 5/4: the shard index runs from 1 to 4");
    expect(refusal("1/0")).toMatch(/the shard count runs from 1 to/);
    expect(refusal("2")).toMatch(/--shard takes i\/N/);
    expect(refusal("auto/x")).toMatch(/--shard takes i\/N/);
  });

  it("{shard} in --out becomes the index", () => {
    expect(outForShard("/parts/part-{shard}", { index: 7, count: 8 })).toBe("/parts/part-7");
  });
});

describe("--shard auto", () => {
  it("Kubernetes Indexed Job: JOB_COMPLETION_INDEX from 0, the count given as auto/N", () => {
    expect(parseShard("auto/4", { JOB_COMPLETION_INDEX: "0" })).toEqual({ index: 1, count: 4, scheduler: "Kubernetes Indexed Job" });
    expect(parseShard("auto/4", { JOB_COMPLETION_INDEX: "3" })).toMatchObject({ index: 4, count: 4 });
    expect(refusal("auto", { JOB_COMPLETION_INDEX: "0" })).toBe(
      "--shard auto under a Kubernetes Indexed Job needs the shard count, the Job's completions: give --shard auto/N",
    );
    expect(refusal("auto/4", { JOB_COMPLETION_INDEX: "4" })).toBe("--shard auto: JOB_COMPLETION_INDEX is 4, beyond 4 shards (it counts from 0)");
    expect(refusal("auto/4", { JOB_COMPLETION_INDEX: "-1" })).toMatch(/JOB_COMPLETION_INDEX is "-1", not a whole number/);
  });

  it("Slurm job array: the task's place in the array (minding SLURM_ARRAY_TASK_MIN), SLURM_ARRAY_TASK_COUNT tasks", () => {
    const array = (id: number, min: number, max: number) => ({
      SLURM_ARRAY_TASK_ID: String(id),
      SLURM_ARRAY_TASK_MIN: String(min),
      SLURM_ARRAY_TASK_MAX: String(max),
      SLURM_ARRAY_TASK_COUNT: String(max - min + 1),
      SLURM_ARRAY_TASK_STEP: "1",
    });
    expect(parseShard("auto", array(0, 0, 7))).toEqual({ index: 1, count: 8, scheduler: "Slurm job array" });
    expect(parseShard("auto", array(10, 1, 10))).toMatchObject({ index: 10, count: 10 });
    expect(parseShard("auto/8", array(7, 0, 7))).toMatchObject({ index: 8, count: 8 });
    expect(refusal("auto/4", array(0, 0, 7))).toBe("--shard auto/4, but the Slurm job array has 8 tasks (SLURM_ARRAY_TASK_COUNT)");
    // --array=1-7:2 (1, 3, 5, 7) and --array=1,3,5: task ids are no shard indexes.
    expect(refusal("auto", { ...array(3, 1, 7), SLURM_ARRAY_TASK_COUNT: "4", SLURM_ARRAY_TASK_STEP: "2" })).toMatch(
      /needs a Slurm job array without gaps or steps/,
    );
    expect(refusal("auto", { ...array(3, 1, 5), SLURM_ARRAY_TASK_COUNT: "3" })).toMatch(/needs a Slurm job array without gaps or steps/);
    expect(refusal("auto", { SLURM_ARRAY_TASK_ID: "2" })).toBe("--shard auto under a Slurm job array found no SLURM_ARRAY_TASK_COUNT: give --shard auto/N");
  });

  it("AWS Batch array job: AWS_BATCH_JOB_ARRAY_INDEX from 0, AWS_BATCH_JOB_ARRAY_SIZE children or auto/N", () => {
    expect(parseShard("auto", { AWS_BATCH_JOB_ARRAY_INDEX: "2", AWS_BATCH_JOB_ARRAY_SIZE: "5" })).toEqual({
      index: 3,
      count: 5,
      scheduler: "AWS Batch array job",
    });
    expect(parseShard("auto/5", { AWS_BATCH_JOB_ARRAY_INDEX: "4" })).toMatchObject({ index: 5, count: 5 });
    expect(refusal("auto/4", { AWS_BATCH_JOB_ARRAY_INDEX: "0", AWS_BATCH_JOB_ARRAY_SIZE: "5" })).toBe("--shard auto/4, but AWS_BATCH_JOB_ARRAY_SIZE is 5");
    expect(refusal("auto", { AWS_BATCH_JOB_ARRAY_INDEX: "0" })).toMatch(/under an AWS Batch array job needs the shard count/);
  });

  it("refuses when no scheduler's index is set, or more than one is", () => {
    expect(refusal("auto/4", { HOME: "/root" })).toBe(
      "--shard auto found no scheduler's task index in the environment (JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID, AWS_BATCH_JOB_ARRAY_INDEX): give --shard i/N",
    );
    expect(refusal("auto/4", { JOB_COMPLETION_INDEX: "1", AWS_BATCH_JOB_ARRAY_INDEX: "1" })).toBe(
      "--shard auto is ambiguous: JOB_COMPLETION_INDEX and AWS_BATCH_JOB_ARRAY_INDEX are set at once; give --shard i/N",
    );
  });
});
