// The command line as a user meets it: exit codes, one-line usage errors, privacy of the console, signals,
// SIGKILL at any moment, and two runs on one output folder.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SearchIndex } from "../../src/index/searchIndex.js";
import { SEARCH_INDEX_FILE } from "../../src/core/outputFiles.js";
import { OutputDirectory } from "../../src/lib/outputFolder.js";
import { CLI, REPO, bigArchive, outputFiles, tempDir } from "../helpers/run.js";
import { unprivilegedCli, worldReadableDir } from "../helpers/unprivileged.js";

const FIXTURES = join(REPO, "fixtures/dicom");

function cli(args: string[], options: { cwd?: string; asNobody?: boolean } = {}) {
  const [command, ...rest] = [...(options.asNobody ? unprivilegedCli() : [process.execPath, CLI]), ...args];
  const r = spawnSync(command!, rest, { encoding: "utf8", cwd: options.cwd ?? REPO, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, output: r.stdout + r.stderr };
}

function start(args: string[]): { child: ChildProcess; output: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code, signal) => resolve(code ?? (signal ? -1 : null))));
  return { child, output: () => output, exit };
}

const waitFor = async (condition: () => boolean, timeoutMs = 30_000) => {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe("exit codes and usage errors", () => {
  it("0 for a completed run with failures in the report; 1 with --fail-on-error", () => {
    const out = tempDir();
    expect(cli(["convert", FIXTURES, "--out", out, "--timezone", "UTC"]).status).toBe(0);
    expect(cli(["convert", FIXTURES, "--out", out, "--timezone", "UTC", "--fail-on-error"]).status).toBe(1);
    expect(cli(["convert", join(FIXTURES, "charsets"), "--out", out, "--timezone", "UTC", "--fail-on-error"]).status).toBe(0);
  });

  it.each([
    [[], /name a command/],
    [["convert", "--out", "/tmp/x"], /no inputs: name at least one DICOM file, folder or glob/],
    [["convert", FIXTURES], /Missing required argument: out/],
    [["convert", FIXTURES, "--out", "/tmp/x", "--bogus"], /Unknown argument: bogus/],
    [["convert", "/nonexistent/archive", "--out", "/tmp/x"], /input #1 \(add --verbose to show it\) does not exist/],
    [["convert", FIXTURES, "--out", "/tmp/x", "--timezone", "Mars/Olympus"], /unknown --timezone "Mars\/Olympus": use an IANA zone name/],
    [["convert", FIXTURES, "--out", "/tmp/x", "--endpoint", "ftp://pacs"], /--endpoint must be an http\(s\) URL/],
    [["convert", FIXTURES, "--out", "/tmp/x", "--format", "xml"], /Invalid values:[\s\S]*format/],
    [["convert", FIXTURES, "--out", "/tmp/x", "--workers", "-1"], /--workers takes a whole number/],
  ])("exit 2, one line, no stack trace: %j", (args, message) => {
    const r = cli(args as string[]);
    expect(r.status).toBe(2);
    expect(r.output).toMatch(message);
    expect(r.output).not.toMatch(/\n\s+at /);
  });

  it("exit 3 when the output folder cannot be used", () => {
    const file = join(tempDir(), "a-file");
    writeFileSync(file, "");
    const r = cli(["convert", FIXTURES, "--out", file, "--timezone", "UTC"]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/--out names a file, not a folder/);
    // The input is a copy nobody can read: the checkout itself may lie in a folder only its owner can enter.
    const input = worldReadableDir();
    copyFileSync(join(FIXTURES, "charsets/russian.dcm"), join(input, "a.dcm"));
    const readOnly = worldReadableDir();
    chmodSync(readOnly, 0o555);
    const denied = cli(["convert", input, "--out", join(readOnly, "out"), "--timezone", "UTC"], { asNobody: true, cwd: input });
    expect(denied.status).toBe(3);
    expect(denied.stderr).toMatch(/cannot create the output folder \(EACCES\): choose a writable --out/);
  });

  it("--help answers without loading the converter", () => {
    const r = cli(["--help"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/convert \[inputs\.\.\]/);
    expect(r.stdout).toMatch(/merge <parts\.\.>/);
  });
});

describe("privacy", () => {
  // fixtures/dicom/HOSP-A/Mueller Juergen PAT-0001/ holds files of Jürgen Müller, PAT-0001, born 1970-01-02.
  const phi = [/Mueller/i, /Müller/i, /Juergen/i, /Jürgen/i, /PAT-0001/, /1970/, /Gómez/, /山田/, /Yamada/, /fixtures\/dicom/, /HOSP-A/];

  it("the console carries counts, reasons and timings, not names, IDs, birth dates or paths", () => {
    const r = cli(["convert", FIXTURES, "--out", tempDir(), "--timezone", "UTC", "--progress"]);
    expect(r.status).toBe(0);
    expect(r.output).toMatch(/30 files/);
    for (const pattern of phi) expect(r.output).not.toMatch(pattern);
  });

  it("an interrupted, a failing and a refused run say nothing of the patients either", () => {
    const r = cli(["convert", join(FIXTURES, "HOSP-A"), "--out", join(FIXTURES, "HOSP-A/Mueller Juergen PAT-0001/MR knee/1.dcm")]);
    expect(r.status).toBe(3);
    for (const pattern of phi) expect(r.output).not.toMatch(pattern);
    const missing = cli(["convert", join(FIXTURES, "HOSP-A/Mueller Juergen PAT-0001/none"), "--out", tempDir()]);
    expect(missing.status).toBe(2);
    for (const pattern of phi) expect(missing.output).not.toMatch(pattern);
  });

  it("--verbose adds the paths of the files not converted, on request", () => {
    const r = cli(["convert", FIXTURES, "--out", tempDir(), "--timezone", "UTC", "--verbose"]);
    expect(r.output).toMatch(/truncated: .*fixtures\/dicom\/bad\/truncated\.dcm/);
  });
});

describe("interruption and concurrency", () => {
  let big: string;
  beforeAll(() => {
    big = bigArchive(40_000);
  });
  afterAll(() => rmSync(big, { recursive: true, force: true }));

  it.each([
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const)("%s stops reading, writes nothing, keeps the previous output, exits %i", async (signal, code) => {
    const out = tempDir();
    expect(cli(["convert", join(FIXTURES, "charsets"), "--out", out, "--timezone", "UTC"]).status).toBe(0);
    const before = outputFiles(out);
    const run = start(["convert", big, "--out", out, "--timezone", "UTC", "--workers", "1"]);
    await waitFor(() => existsSync(join(out, ".dcm2fhir.lock")));
    await new Promise((r) => setTimeout(r, 200));
    run.child.kill(signal);
    expect(await run.exit).toBe(code);
    expect(run.output()).toMatch(new RegExp(`${signal}: stopping; nothing will be written`));
    expect(run.output()).toMatch(/interrupted after \d+ files .* nothing written, the previous output is unchanged/);
    expect(outputFiles(out)).toEqual(before);
    expect(readdirSync(out).filter((n) => n.startsWith(".") && n !== SEARCH_INDEX_FILE)).toEqual([]);
  });

  it("SIGKILL at any moment leaves each output file whole: the previous version or the new one, never a part", async () => {
    const out = tempDir();
    expect(cli(["convert", join(FIXTURES, "charsets"), "--out", out, "--timezone", "UTC"]).status).toBe(0);
    const previous = outputFiles(out);
    const complete = tempDir();
    expect(cli(["convert", big, "--out", complete, "--timezone", "UTC"]).status).toBe(0);
    const next = outputFiles(complete);
    const delays = [0, 50, 150, 300, 500, 800, 1200, 1600, 2000, 2600];
    for (const delay of delays) {
      const run = start(["convert", big, "--out", out, "--timezone", "UTC"]);
      await new Promise((r) => setTimeout(r, delay));
      run.child.kill("SIGKILL");
      await run.exit;
      for (const [name, text] of Object.entries(outputFiles(out))) {
        const whole = text === previous[name] || text === next[name] || (name === "report.json" && sameButElapsed(text, next[name]!));
        expect(whole, `${name} after SIGKILL at ${delay} ms`).toBe(true);
      }
      // The search index matches the NDJSON beside it, unless a commit was cut short (the next run completes it).
      if (!existsSync(join(out, ".dcm2fhir.commit.json"))) SearchIndex.open(out).close();
    }
    // The next run clears what the killed ones left: staging folders, a stale lock.
    expect(cli(["convert", big, "--out", out, "--timezone", "UTC"]).status).toBe(0);
    expect(readdirSync(out).filter((n) => n.startsWith(".") && n !== SEARCH_INDEX_FILE)).toEqual([]);
    const final = outputFiles(out);
    for (const name of Object.keys(next)) if (name !== "report.json") expect(final[name], name).toBe(next[name]);
  });

  it.skipIf(!existsSync("/proc/self/stat"))("a reader process does not outlive a run killed with SIGKILL (Linux /proc)", async () => {
    const run = start(["convert", big, "--out", tempDir(), "--timezone", "UTC", "--workers", "2"]);
    const readers = () =>
      readdirSync("/proc")
        .filter((name) => /^\d+$/.test(name))
        .filter((pid) => {
          try {
            return (
              readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("readerProcess") &&
              /^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] === String(run.child.pid)
            );
          } catch {
            return false; // gone meanwhile
          }
        });
    let found: string[] = [];
    await waitFor(() => (found = readers()).length > 0);
    run.child.kill("SIGKILL");
    await run.exit;
    // Its parent gone, the IPC channel closes and the reader exits (a zombie until whoever adopted it reaps it).
    const exited = (pid: string) => {
      try {
        return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
      } catch {
        return true;
      }
    };
    await waitFor(() => found.every(exited), 10_000);
  });

  it("a second run on the same output folder refuses clearly; a lock left by a dead run is taken over", async () => {
    const out = tempDir();
    const first = start(["convert", big, "--out", out, "--timezone", "UTC", "--workers", "1"]);
    await waitFor(() => existsSync(join(out, ".dcm2fhir.lock")));
    const second = cli(["convert", FIXTURES, "--out", out, "--timezone", "UTC"]);
    expect(second.status).toBe(3);
    expect(second.stderr).toMatch(/another dcm2fhir run is writing this output folder .* delete \.dcm2fhir\.lock if no run is active/);
    first.child.kill("SIGKILL");
    await first.exit;
    expect(existsSync(join(out, ".dcm2fhir.lock"))).toBe(true);
    const third = cli(["convert", FIXTURES, "--out", out, "--timezone", "UTC"]);
    expect(third.status, third.stderr).toBe(0);
  });
});

describe("output directory", () => {
  it("completes a commit that was interrupted between two renames", () => {
    const out = tempDir();
    const staging = join(out, ".dcm2fhir-staging-1-x");
    mkdirSync(staging);
    writeFileSync(join(out, "ImagingStudy.ndjson"), "new studies\n"); // renamed before the crash
    writeFileSync(join(staging, "Patient.ndjson"), "new patients\n");
    writeFileSync(join(staging, "report.json"), "{}\n");
    writeFileSync(join(out, "Patient.ndjson"), "old patients\n");
    writeFileSync(join(out, "Endpoint.ndjson"), "old endpoint\n");
    const journal = {
      staging,
      renames: ["ImagingStudy.ndjson", "Patient.ndjson", "report.json"].map((n) => [join(staging, n), join(out, n)]),
      removals: [join(out, "Endpoint.ndjson")],
    };
    writeFileSync(join(out, ".dcm2fhir.commit.json"), JSON.stringify(journal));
    OutputDirectory.open(out).abort();
    expect(outputFiles(out)).toEqual({ "ImagingStudy.ndjson": "new studies\n", "Patient.ndjson": "new patients\n", "report.json": "{}\n" });
    expect(readdirSync(out).filter((n) => n.startsWith(".") && n !== SEARCH_INDEX_FILE)).toEqual([]);
  });

  it("takes over a lock whose process is gone, but not one of a live process", () => {
    const out = tempDir();
    writeFileSync(join(out, ".dcm2fhir.lock"), JSON.stringify({ pid: process.pid, host: hostname() }));
    expect(() => OutputDirectory.open(out)).toThrow(/another dcm2fhir run/);
    writeFileSync(join(out, ".dcm2fhir.lock"), JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname() }));
    OutputDirectory.open(out).abort();
    expect(existsSync(join(out, ".dcm2fhir.lock"))).toBe(false);
  });
});

function sameButElapsed(a: string, b: string): boolean {
  const strip = (t: string) => ({ ...JSON.parse(t), elapsedSeconds: 0 });
  try {
    return JSON.stringify(strip(a)) === JSON.stringify(strip(b));
  } catch {
    return false;
  }
}
