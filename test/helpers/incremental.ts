// What the incremental tests share: a writable copy of the fixtures, files edited the way archives change
// (a UID rewritten in place), the outputs of a folder, and the difference changes/ must hold between two outputs.
import { cpSync, existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { DicomFileReader } from "../../src/read/readFile.js";
import { REPO } from "./run.js";
import { expectedChanges } from "../../scripts/lib/expectedChanges.js";

export const FIXTURES = join(REPO, "fixtures/dicom");

/** A copy of fixtures/dicom in `dir` (30 files), to be changed by the test. */
export function copyFixtures(dir: string): string {
  cpSync(FIXTURES, dir, { recursive: true });
  return dir;
}

/**
 * The bytes of a DICOM file with one of its UIDs rewritten to another of the same length (its last digits),
 * everywhere it occurs (the file meta copy of the SOP Instance UID included): the file becomes another
 * instance, or moves to another series or study. Undefined for a file whose UIDs are not in its bytes (gzip).
 */
export function withUid(path: string, which: "sopInstanceUID" | "seriesInstanceUID" | "studyInstanceUID", digits: string): Buffer | undefined {
  const read = new DicomFileReader().read(path).result;
  if ("reason" in read) return undefined;
  const uid = read[which];
  const bytes = readFileSync(path);
  const replacement = Buffer.from(`${uid.slice(0, uid.length - digits.length)}${digits}`);
  const original = Buffer.from(uid);
  let found = false;
  for (let at = bytes.indexOf(original); at >= 0; at = bytes.indexOf(original, at + original.length)) {
    // Only whole values: the UID followed by padding or the end of its element, not a longer UID it begins.
    const next = bytes[at + original.length];
    if (next !== undefined && next >= 0x30 && next <= 0x39) continue;
    if (next === 0x2e) continue;
    replacement.copy(bytes, at);
    found = true;
  }
  return found ? bytes : undefined;
}

export const MAIN_OUTPUTS = ["ImagingStudy.ndjson", "Patient.ndjson", "Endpoint.ndjson", "ImagingStudy.bundle.json", "errors.ndjson"] as const;
export const CHANGE_FILES = ["changes/ImagingStudy.ndjson", "changes/Patient.ndjson", "changes/deleted.ndjson"] as const;

/** The main outputs of a folder by name (absent files left out), report.json aside. */
export function mainOutputs(dir: string): Record<string, string> {
  return Object.fromEntries(MAIN_OUTPUTS.filter((n) => existsSync(join(dir, n))).map((n) => [n, readFileSync(join(dir, n), "utf8")]));
}

export function changeFiles(dir: string): Record<string, string> {
  return Object.fromEntries(CHANGE_FILES.map((n) => [n, readFileSync(join(dir, n), "utf8")]));
}

/** Every file under a folder (hidden ones included) with its bytes: to show a folder was left untouched. */
export function everyFile(dir: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name))
      .sort()
      .map((path) => [path.slice(dir.length), readFileSync(path).toString("base64")]),
  );
}

/** Report keys that describe only one run: every other key of an incremental run's report equals a full run's. */
export function comparableReport(text: string): Record<string, unknown> {
  const {
    elapsedSeconds: _e,
    changes: _c,
    ...report
  } = JSON.parse(text) as Record<string, unknown> & { files: Record<string, unknown>; bytesRead: Record<string, unknown> };
  const { unchanged: _u, added: _a, modified: _m, removed: _r, ...files } = report.files;
  return { ...report, files, bytesRead: { ...report.bytesRead, total: 0 } };
}

export { expectedChanges };
