import { copyFileSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll } from "vitest";

export const REPO = fileURLToPath(new URL("../../", import.meta.url));
export const CORPUS = join(REPO, "../shared/corpus");
export const CLI = join(REPO, "dist/bin/cli.js");

const made: string[] = [];
/** A fresh folder under the system's temp folder, removed when the test process exits. */
export function tempDir(prefix = "dcm2fhir-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}
// Registered at import, so it runs after the tests of every file that uses tempDir.
afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Every line of an NDJSON file, parsed. */
export function readNdjson<T = Record<string, unknown>>(path: string): T[] {
  const text = readFileSync(path, "utf8");
  return text === ""
    ? []
    : text
        .trimEnd()
        .split("\n")
        .map((line) => JSON.parse(line) as T);
}

/** The output files of a run (final names only: not the lock, journal or staging folder), by name, as text. */
export function outputFiles(dir: string): Record<string, string> {
  // report.html is report.json as a page (with the run's peak memory): test/pages/pages.test.ts checks it against report.json.
  const names = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isFile() && !e.name.startsWith(".") && e.name !== "report.html");
  return Object.fromEntries(
    names
      .map((e) => e.name)
      .sort()
      .map((name) => [name, readFileSync(join(dir, name), "utf8")]),
  );
}

/** This process's environment without the credentials dcm2fhir reads from it (an empty one is refused, not taken as none). */
export function withoutSecrets(): NodeJS.ProcessEnv {
  const { DCM2FHIR_TOKEN: _token, DCM2FHIR_CLIENT_SECRET: _secret, ...env } = process.env;
  return env;
}

/** Many hard links to a few fixture files, a thousand per folder: a run long enough to interrupt, made in a fraction of a second. */
export function bigArchive(files: number): string {
  const dir = tempDir("dcm2fhir-big-");
  // Links to copies of its own: a file system allows a file only so many links (65,000 on ext4).
  const sources = ["charsets/russian.dcm", "charsets/greek.dcm", "conflict/a.dcm", "bad/notes.txt"].map((p, i) => {
    const copy = join(dir, `source-${i}`);
    copyFileSync(join(REPO, "fixtures/dicom", p), copy);
    return copy;
  });
  for (let d = 0; d < files / 1000; d++) {
    mkdirSync(join(dir, `d${d}`));
    for (let i = 0; i < 1000; i++) linkSync(sources[i % sources.length]!, join(dir, `d${d}`, `f${i}`));
  }
  return dir;
}
