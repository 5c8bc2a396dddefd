import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = fileURLToPath(new URL("../../", import.meta.url));
export const CORPUS = join(REPO, "../shared/corpus");
export const CLI = join(REPO, "dist/cli.js");

export const tempDir = (prefix = "dcm2fhir-test-") => mkdtempSync(join(tmpdir(), prefix));

/** Every line of an NDJSON file, parsed. */
export function readNdjson<T = Record<string, unknown>>(path: string): T[] {
  const text = readFileSync(path, "utf8");
  return text === "" ? [] : text.trimEnd().split("\n").map((line) => JSON.parse(line) as T);
}

/** The output files of a run (final names only: not the lock, journal or staging folder), by name, as text. */
export function outputFiles(dir: string): Record<string, string> {
  const names = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isFile() && !e.name.startsWith("."));
  return Object.fromEntries(names.map((e) => e.name).sort().map((name) => [name, readFileSync(join(dir, name), "utf8")]));
}
