// errors.ndjson: one line per input that did not become (part of) a resource, written by the write stage and read
// back for a caller who asks for a run's failures (convert's and merge's `failures`).
import type { FileFailure, Reason } from "../core/reasons.js";
import { displayPath } from "../core/reasons.js";
import { ndjsonLines } from "../lib/ndjson.js";

/** A line of errors.ndjson. A path that is not valid UTF-8 is also given as base64, so it can be found again. */
export function errorLine(f: FileFailure): Record<string, string> {
  const line: Record<string, string> = { path: displayPath(f.path), reason: f.reason, message: f.message };
  if (typeof f.path !== "string") line.pathBase64 = f.path.toString("base64");
  return line;
}

/** errors.ndjson read back: the failures of the run that wrote it. */
export function readErrors(path: string): FileFailure[] {
  const failures: FileFailure[] = [];
  for (const { line } of ndjsonLines(path)) {
    const e = JSON.parse(line.toString("utf8")) as { path: string; pathBase64?: string; reason: Reason; message: string };
    failures.push({ path: e.pathBase64 === undefined ? e.path : Buffer.from(e.pathBase64, "base64"), reason: e.reason, message: e.message });
  }
  return failures;
}

/**
 * `result` with `failures` read by `read` when first asked for: a large run's failures do not stay in memory (the
 * CLI asks only with --verbose).
 */
export function withFailures<T extends object>(read: () => FileFailure[], result: T): T & { readonly failures: readonly FileFailure[] } {
  let failures: FileFailure[] | undefined;
  return Object.defineProperty(result, "failures", { enumerable: true, get: () => (failures ??= read()) }) as T & { readonly failures: readonly FileFailure[] };
}
