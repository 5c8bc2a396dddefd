// The command line people type: a mistyped command or option is answered with the one meant, and every command's
// --help ends with real examples.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { CLI, REPO } from "../helpers/run.js";

const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: REPO, encoding: "utf8" });

describe("suggestions", () => {
  it.each([
    [["conver", "fixtures/dicom", "--out", "x"], 'unknown command "conver": did you mean convert?'],
    [["serv", "x"], "did you mean serve?"],
    [["convert", "fixtures/dicom", "--outt", "/tmp/x"], "--outt: did you mean --out?"],
    [["convert", "fixtures/dicom", "--out", "/tmp/x", "--incremantal"], "--incremantal: did you mean --incremental?"],
    [["convert", "fixtures/dicom", "--out", "/tmp/x", "--no-html-reprot"], "did you mean --no-html-report?"],
    [["serve", "x", "--viewer-ulr", "https://v/{study}"], "did you mean --viewer-url?"],
  ])("%j: exit 2 and the one meant", (args, hint) => {
    const result = run(...args);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(hint);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("names the commands when nothing is near", () => {
    expect(run("frobnicate").stderr).toContain("the commands are convert, merge, serve, search, index, load");
  });
});

describe("--help", () => {
  it.each(["convert", "merge", "serve", "search", "index", "load"])("%s --help ends with examples", (command) => {
    const result = run(command, "--help");
    expect(result.status).toBe(0);
    const examples = result.stdout.slice(result.stdout.indexOf("Examples:"));
    expect(result.stdout).toContain("Examples:");
    expect(examples.match(/dcm2fhir /g)!.length).toBeGreaterThanOrEqual(2);
  });
});
