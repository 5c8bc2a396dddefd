// `dcm2fhir load` as a user meets it: --help, exit codes, a console without patient data or the token, and a
// run killed with SIGKILL at a random moment that the next run finishes. The CLI is spawned (dist/bin/cli.js)
// against the test FHIR server running in this process, so spawning must never block (no spawnSync).
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type FhirTestServer, startFhirServer } from "../helpers/fhirServer.js";
import { expectServerHolds, fixtureFolder, resourcesOf, syntheticFolder } from "../helpers/loadData.js";
import { CLI, REPO, readNdjson, tempDir, withoutSecrets } from "../helpers/run.js";

let server: FhirTestServer;
beforeAll(async () => {
  server = await startFhirServer();
});
afterAll(() => server.close());
beforeEach(() => server.reset());

interface Ran {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly output: string;
}

function start(args: string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<Ran> } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, env: { ...withoutSecrets(), ...env } });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const done = new Promise<Ran>((resolve) => child.on("close", (status, signal) => resolve({ status, signal, output })));
  return { child, done };
}
const cli = (args: string[], env: Record<string, string> = {}) => start(args, env).done;
const writes = () => server.received.filter((r) => r.method !== "GET");

describe("dcm2fhir load", () => {
  it("--help names the command and its options", async () => {
    const r = await cli(["load", "--help"]);
    expect(r.status).toBe(0);
    expect(r.output).toMatch(/load <folder>/);
    for (const option of ["--server", "--batch-size", "--concurrency", "--bundle", "--changes", "--delete", "--dry-run", "--token-file"])
      expect(r.output).toContain(option);
    expect((await cli(["--help"])).output).toMatch(/load <folder>/);
  });

  it("exits 0 when every resource is stored, 1 when some were refused (listed), 2 for bad usage, 3 when the server cannot be used", async () => {
    const folder = await fixtureFolder();
    const ok = await cli(["load", folder, "--server", server.base]);
    expect(ok.status, ok.output).toBe(0);
    expect(ok.output).toMatch(/sent 28 resources .*created 28/);

    server.reset();
    const refused = readNdjson<{ id: string }>(join(folder, "Patient.ndjson"))[1]!.id;
    server.faults.refuse.add(`Patient/${refused}`);
    const one = await cli(["load", folder, "--server", server.base]);
    expect(one.status, one.output).toBe(1);
    expect(one.output).toContain(`Patient/${refused} (422)`);
    expect(readNdjson(join(folder, "load-errors.ndjson"))).toHaveLength(1);

    // One of each way to bad usage (yargs, the library's UsageError, the CLI's own); load.test.ts has the rest.
    for (const args of [
      ["load", folder],
      ["load", folder, "--server", server.base, "--bundle", "message"],
      ["load", folder, "--server", server.base, "--changes"],
      ["load", folder, "--server", server.base, "--token-file", join(folder, "no-such-token")],
    ]) {
      const usage = await cli(args);
      expect(usage.status, `${args.join(" ")}: ${usage.output}`).toBe(2);
      expect(usage.output.trim().split("\n").length, usage.output).toBeLessThanOrEqual(2);
    }

    const closed = await cli(["load", folder, "--server", "http://127.0.0.1:9/fhir"]);
    expect(closed.status, closed.output).toBe(3);
    expect(closed.output).toMatch(/cannot be reached/);
    server.faults.token = "right";
    const auth = await cli(["load", folder, "--server", server.base], { DCM2FHIR_TOKEN: "wrong" });
    expect(auth.status, auth.output).toBe(3);
    expect(auth.output).toMatch(/refused our credentials \(HTTP 401/);
    server.faults.refuse.clear();
    const tokenFile = join(tempDir(), "token");
    writeFileSync(tokenFile, "right\n", { mode: 0o600 });
    const withFile = await cli(["load", folder, "--server", server.base, "--token-file", tokenFile]);
    expect(withFile.status, withFile.output).toBe(0);
  });

  it("the console carries counts and our ids, never names, identifiers, birth dates or the token (--verbose adds the server's messages)", async () => {
    const folder = await fixtureFolder();
    const patients = readNdjson<{
      id: string;
      name?: Array<{ text?: string; family?: string; given?: string[] }>;
      identifier?: Array<{ value?: string }>;
      birthDate?: string;
    }>(join(folder, "Patient.ndjson"));
    const phi = patients.flatMap((p) => [
      ...(p.name ?? []).flatMap((n) => [n.text, n.family, ...(n.given ?? [])]),
      ...(p.identifier ?? []).map((i) => i.value),
      p.birthDate,
    ]);
    // The fixtures' "Patient Unknown" and "Date Bad" have names made of words any console may use.
    const words = new Set(["Patient", "Unknown", "Date", "Bad"]);
    const secrets = [...new Set(phi.filter((v): v is string => typeof v === "string" && v.length >= 3 && !words.has(v))), "tok-3f9a1c"];
    expect(secrets).toContain("PAT-0001");
    expect(secrets).toContain("1970-01-02");
    server.faults.token = "tok-3f9a1c";
    server.faults.refuse.add(`Patient/${patients[2]!.id}`);
    server.faults.queue.push({ kind: "status", status: 503 }, { kind: "status", status: 429, retryAfter: "0" });
    const runs = [
      await cli(["load", folder, "--server", server.base, "--progress"], { DCM2FHIR_TOKEN: "tok-3f9a1c" }),
      await cli(["load", folder, "--server", server.base, "--dry-run"], { DCM2FHIR_TOKEN: "tok-3f9a1c" }),
      await cli(["load", folder, "--server", server.base], { DCM2FHIR_TOKEN: "not-tok-3f9a1c" }),
    ];
    expect(runs.map((r) => r.status)).toEqual([1, 0, 3]);
    for (const r of runs) for (const secret of secrets) expect(r.output, secret).not.toContain(secret);
    expect(runs[0]!.output).toContain(`Patient/${patients[2]!.id}`);
    const verbose = await cli(["load", folder, "--server", server.base, "--verbose"], { DCM2FHIR_TOKEN: "tok-3f9a1c" });
    expect(verbose.output).toMatch(/business-rule: .*refused by the test server/);
  });

  it("SIGTERM stops a run cleanly (exit 143, what was acknowledged kept); the same command then finishes it", async () => {
    const folder = await syntheticFolder(60, 2);
    server.faults.latencyMs = 40;
    const { child, done } = start(["load", folder, "--server", server.base, "--batch-size", "10", "--concurrency", "2"]);
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (writes().filter((r) => r.status === 200).length >= 3 || child.exitCode !== null) {
          clearInterval(poll);
          resolve();
        }
      }, 2);
    });
    child.kill("SIGTERM");
    const stopped = await done;
    expect(stopped.status, stopped.output).toBe(143);
    expect(stopped.output).toMatch(/run (load|the same command) again/);
    expect(JSON.parse(readFileSync(join(folder, "load-report.json"), "utf8"))).toMatchObject({ complete: false });
    await server.idle();
    server.faults.latencyMs = 0;
    const finished = await cli(["load", folder, "--server", server.base, "--batch-size", "10", "--concurrency", "2"]);
    expect(finished.status, finished.output).toBe(0);
    const report = JSON.parse(readFileSync(join(folder, "load-report.json"), "utf8")) as { sent: number; skipped: number };
    expect(report.skipped).toBeGreaterThan(0);
    expect(report.sent + report.skipped).toBe(181);
    await expectServerHolds(server, resourcesOf(folder), () => [1, 2]);
  });

  it("a run killed with SIGKILL at a random moment is finished by the next run, which re-sends at most what was in flight", async () => {
    const folder = await syntheticFolder(200, 2);
    const expected = resourcesOf(folder);
    expect(expected.size).toBe(601);
    const [batchSize, concurrency] = [10, 4];
    server.faults.latencyMs = 60;
    const killAfter = 2 + Math.floor(Math.random() * 40); // write requests the server has received
    const { child, done } = start(["load", folder, "--server", server.base, "--batch-size", String(batchSize), "--concurrency", String(concurrency)]);
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (writes().length >= killAfter || child.exitCode !== null) {
          clearInterval(poll);
          resolve();
        }
      }, 2);
    });
    child.kill("SIGKILL");
    const killed = await done;
    expect(killed.signal, `killed after ${killAfter} requests: ${killed.output}`).toBe("SIGKILL");
    // Let the server finish what it was doing: it may store Bundles whose sender is gone.
    await server.idle();
    const storedBeforeKill = (await server.contents()).size;
    expect(storedBeforeKill).toBeLessThan(601);

    server.faults.latencyMs = 0;
    const finished = await cli(["load", folder, "--server", server.base, "--batch-size", String(batchSize), "--concurrency", String(concurrency)]);
    expect(finished.status, finished.output).toBe(0);
    await expectServerHolds(server, expected, () => [1, 2]);
    let storedTwice = 0;
    for (const key of expected.keys()) if ((await server.versions(key)) === 2) storedTwice++;
    const inFlight = batchSize * concurrency;
    expect(storedTwice, `killed after ${killAfter} requests`).toBeLessThanOrEqual(inFlight);
    const report = JSON.parse(readFileSync(join(folder, "load-report.json"), "utf8")) as { sent: number; skipped: number };
    expect(report.sent + report.skipped).toBe(601);
    expect(report.sent, `killed after ${killAfter} requests`).toBeLessThanOrEqual(601 - storedBeforeKill + inFlight);
  });
});
