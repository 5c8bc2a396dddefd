// scripts/deploy/: the Kubernetes manifests and the Slurm scripts are read, their commands checked, and then run
// here as the schedulers would run them: every shard a process with the scheduler's variables set, a `dcm2fhir`
// on the PATH that is this build, the mount points mapped to folders here; then the merge, compared with a single
// run over the same archive. AWS Batch has no file of its own (a job definition is the user's): its variables are
// run the same way.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CLI, REPO, outputFiles, tempDir } from "../helpers/run.js";
import { parseYamlSubset } from "../helpers/yamlSubset.js";

const DEPLOY = join(REPO, "scripts/deploy");
const FIXTURES = join(REPO, "fixtures/dicom");

/** A manifest as parsed: its shape is checked field by field below. */
type Json = any;

/** A folder holding a `dcm2fhir` that runs this build, to put first on the PATH. */
function dcm2fhirOnPath(): string {
  const bin = tempDir("dcm2fhir-bin-");
  writeFileSync(join(bin, "dcm2fhir"), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  chmodSync(join(bin, "dcm2fhir"), 0o755);
  return bin;
}

interface Task {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
}

/** Runs tasks two at a time (the machine has two cores), as a scheduler runs an array's tasks in parallel. */
async function runAll(tasks: readonly Task[]): Promise<Array<{ status: number | null; output: string }>> {
  const results: Array<{ status: number | null; output: string }> = [];
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      const t = tasks[i]!;
      results[i] = await new Promise((resolve) => {
        const child = spawn(t.command, [...t.args], { env: t.env, cwd: REPO });
        let output = "";
        child.stdout.on("data", (d) => (output += d));
        child.stderr.on("data", (d) => (output += d));
        child.on("exit", (status) => resolve({ status, output }));
      });
    }
  };
  await Promise.all([worker(), worker()]);
  return results;
}

/** The outputs of a folder, report.json without its elapsed time. */
function comparable(dir: string): Record<string, string> {
  const files = outputFiles(dir);
  return { ...files, "report.json": JSON.stringify({ ...JSON.parse(files["report.json"]!), elapsedSeconds: 0 }) };
}

/** A copy of the fixtures as the archive, and a single run over it with the shards' options. */
function archiveAndSingleRun(options: readonly string[]): { archive: string; single: Record<string, string> } {
  const archive = join(tempDir(), "archive");
  cpSync(FIXTURES, archive, { recursive: true });
  const out = tempDir();
  const r = spawnSync(process.execPath, [CLI, "convert", archive, "--out", out, ...options], { encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
  return { archive, single: comparable(out) };
}

const optionValue = (args: readonly string[], name: string) => {
  const i = args.indexOf(name);
  return i === -1 ? undefined : args[i + 1];
};

describe("Kubernetes: scripts/deploy/kubernetes", () => {
  const shards: Json = parseYamlSubset(readFileSync(join(DEPLOY, "kubernetes/shards.yaml"), "utf8"));
  const merge: Json = parseYamlSubset(readFileSync(join(DEPLOY, "kubernetes/merge.yaml"), "utf8"));
  const shardPod = shards.spec.template.spec;
  const shardContainer = shardPod.containers[0];
  const command: string[] = shardContainer.command;
  const count: number = shards.spec.completions;
  const mount = (pod: Json, container: Json, volume: string) => {
    const m = container.volumeMounts.find((v: Json) => v.name === volume);
    const claim = pod.volumes.find((v: Json) => v.name === volume).persistentVolumeClaim.claimName;
    return { path: m.mountPath as string, readOnly: m.readOnly === true, claim: claim as string };
  };

  it("the shards are an Indexed Job whose every pod runs dcm2fhir convert --shard auto/N, N its completions, into a part of its own", () => {
    expect(shards).toMatchObject({ apiVersion: "batch/v1", kind: "Job", spec: { completionMode: "Indexed", podReplacementPolicy: "Failed" } });
    expect(shards.spec.parallelism).toBeLessThanOrEqual(count);
    expect(shardPod.restartPolicy).toBe("Never");
    expect(shardPod.containers).toHaveLength(1);
    expect(command.slice(0, 2)).toEqual(["dcm2fhir", "convert"]);
    expect(optionValue(command, "--shard")).toBe(`auto/${count}`);
    const archive = mount(shardPod, shardContainer, "archive");
    const parts = mount(shardPod, shardContainer, "parts");
    expect(archive.readOnly).toBe(true);
    expect(command[2]).toBe(archive.path);
    expect(optionValue(command, "--out")).toBe(`${parts.path}/part-{shard}`);
    expect(optionValue(command, "--timezone")).toMatch(/^[A-Za-z_]+\/[A-Za-z_]+$/);
  });

  it("the merge Job reads the parts volume the shards wrote and merges every part", () => {
    const pod = merge.spec.template.spec;
    const container = pod.containers[0];
    const parts = mount(pod, container, "parts");
    const fhir = mount(pod, container, "fhir");
    expect(parts.claim).toBe(mount(shardPod, shardContainer, "parts").claim);
    expect(merge.spec.completionMode).toBeUndefined();
    expect(container.command).toEqual(["sh", "-c", `exec dcm2fhir merge ${parts.path}/part-* --out ${fhir.path}`]);
  });

  it("run here: the shard pods (JOB_COMPLETION_INDEX 0…N-1), then the merge pod, give the single run's files", async () => {
    const { archive, single } = archiveAndSingleRun(["--timezone", optionValue(command, "--timezone")!]);
    const root = tempDir();
    const paths = { "/archive": archive, "/parts": join(root, "parts"), "/fhir": join(root, "fhir") };
    const mapped = (text: string) => Object.entries(paths).reduce((t, [from, to]) => t.replaceAll(from, to), text);
    const env = { ...process.env, PATH: `${dcm2fhirOnPath()}:${process.env.PATH}` };
    // The container's environment as the manifest sets it, its paths mapped too.
    const podEnv = Object.fromEntries(((shardContainer.env ?? []) as Array<{ name: string; value: string }>).map((e) => [e.name, mapped(e.value)]));
    expect(podEnv.SQLITE_TMPDIR).toBe(paths["/parts"]);
    mkdirSync(paths["/parts"], { recursive: true });
    const shardRuns = await runAll(
      Array.from({ length: count }, (_, index) => ({
        command: command[0]!,
        args: command.slice(1).map(mapped),
        env: { ...env, ...podEnv, JOB_COMPLETION_INDEX: String(index) },
      })),
    );
    for (const r of shardRuns) expect(r.status, r.output).toBe(0);
    const [sh, ...shArgs] = merge.spec.template.spec.containers[0].command as string[];
    const [merged] = await runAll([{ command: sh!, args: shArgs.map(mapped), env }]);
    expect(merged!.status, merged!.output).toBe(0);
    expect(comparable(paths["/fhir"])).toEqual(single);
  });
});

describe("Slurm: scripts/deploy/slurm", () => {
  const shardsScript = readFileSync(join(DEPLOY, "slurm/shards.sbatch"), "utf8");
  const directives = (script: string) => Object.fromEntries([...script.matchAll(/^#SBATCH --([a-z-]+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
  const array = /^(\d+)-(\d+)$/.exec(directives(shardsScript).array ?? "");

  it("the shards are a job array without gaps or steps whose tasks run dcm2fhir convert --shard auto", () => {
    expect(array).not.toBeNull();
    expect(Number(array![1])).toBe(0);
    expect(shardsScript).toMatch(/^exec dcm2fhir convert "\$ARCHIVE" --shard auto --out "\$PARTS\/part-\{shard\}" --timezone [A-Za-z_]+\/[A-Za-z_]+$/m);
    expect(readFileSync(join(DEPLOY, "slurm/merge.sbatch"), "utf8")).toMatch(/^exec dcm2fhir merge "\$PARTS"\/part-\* --out "\$OUT"$/m);
  });

  it("submit.sh submits the array, then the merge with a dependency on every task succeeding (afterok)", () => {
    const bin = tempDir("sbatch-bin-");
    const log = join(bin, "calls");
    // An sbatch that records what it is asked and answers as `sbatch --parsable` does: "<job id>;<cluster>".
    writeFileSync(
      join(bin, "sbatch"),
      `#!/bin/sh\necho "$*" >> "${log}"\nif [ -f "${log}.n" ]; then echo "4712;cluster"; else touch "${log}.n"; echo "4711;cluster"; fi\n`,
    );
    chmodSync(join(bin, "sbatch"), 0o755);
    const r = spawnSync("bash", [join(DEPLOY, "slurm/submit.sh")], { encoding: "utf8", env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(log, "utf8").trim().split("\n")).toEqual(["--parsable shards.sbatch", "--parsable --dependency=afterok:4711 merge.sbatch"]);
    expect(r.stdout).toBe("shards: job 4711; merge: job 4712\n");
  });

  it("run here: every task of the array (SLURM_ARRAY_TASK_* set), then the merge script, give the single run's files", async () => {
    const timezone = /^exec dcm2fhir convert .* --timezone (\S+)$/m.exec(shardsScript)![1]!;
    const { archive, single } = archiveAndSingleRun(["--timezone", timezone]);
    const root = tempDir();
    const env = { ...process.env, PATH: `${dcm2fhirOnPath()}:${process.env.PATH}`, ARCHIVE: archive, PARTS: join(root, "parts"), OUT: join(root, "fhir") };
    const [min, max] = [Number(array![1]), Number(array![2])];
    const tasks = Array.from({ length: max - min + 1 }, (_, i) => ({
      command: "bash",
      args: [join(DEPLOY, "slurm/shards.sbatch")],
      env: {
        ...env,
        SLURM_ARRAY_TASK_ID: String(min + i),
        SLURM_ARRAY_TASK_MIN: String(min),
        SLURM_ARRAY_TASK_MAX: String(max),
        SLURM_ARRAY_TASK_COUNT: String(max - min + 1),
        SLURM_ARRAY_TASK_STEP: "1",
      },
    }));
    for (const r of await runAll(tasks)) expect(r.status, r.output).toBe(0);
    const [merged] = await runAll([{ command: "bash", args: [join(DEPLOY, "slurm/merge.sbatch")], env }]);
    expect(merged!.status, merged!.output).toBe(0);
    expect(comparable(join(root, "fhir"))).toEqual(single);
  });
});

describe("AWS Batch array job", () => {
  it("run here: children with AWS_BATCH_JOB_ARRAY_INDEX and _SIZE set running --shard auto, then merge, give the single run's files", async () => {
    const { archive, single } = archiveAndSingleRun(["--timezone", "UTC"]);
    const root = tempDir();
    const size = 2;
    const children = Array.from({ length: size }, (_, index) => ({
      command: process.execPath,
      args: [CLI, "convert", archive, "--shard", "auto", "--out", join(root, "part-{shard}"), "--timezone", "UTC"],
      env: { ...process.env, AWS_BATCH_JOB_ARRAY_INDEX: String(index), AWS_BATCH_JOB_ARRAY_SIZE: String(size) },
    }));
    for (const r of await runAll(children)) expect(r.status, r.output).toBe(0);
    const parts = Array.from({ length: size }, (_, i) => join(root, `part-${i + 1}`));
    const [merged] = await runAll([{ command: process.execPath, args: [CLI, "merge", ...parts, "--out", join(root, "fhir")], env: process.env }]);
    expect(merged!.status, merged!.output).toBe(0);
    expect(comparable(join(root, "fhir"))).toEqual(single);
  });
});
