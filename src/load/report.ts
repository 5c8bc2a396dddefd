// What a load did: counters, load-errors.ndjson (one line per resource not stored) and load-report.json. Both
// files are written to a temporary name and renamed into place: a reader never sees half of one.
import { closeSync, openSync, rmSync, writeSync } from "node:fs";
import { moveIntoPlace, replaceFile } from "../lib/atomicFile.js";
import { VERSION } from "../core/version.js";
import type { BundleType } from "./bundle.js";
import { LoadFailure } from "./errors.js";

/** One line of load-errors.ndjson. `status` 0: no HTTP answer (a line that could not be sent, or no answer after retries). */
export interface LoadErrorLine {
  readonly resourceType: string;
  readonly id: string | null;
  readonly status: number;
  readonly outcome: unknown;
}

export class Tally {
  /** Resources this run sent (each once, whatever its retries and splits). */
  sent = 0;
  created = 0;
  updated = 0;
  deleted = 0;
  /** Refused by the server (an answer that is not 2xx and not "later"). */
  rejected = 0;
  /** No final answer after the bounded retries. */
  failed = 0;
  /** Lines that are not a resource this run can send. */
  invalid = 0;
  /** Acknowledged by an earlier run (the checkpoint), not sent again. */
  skipped = 0;
  /** Requests sent again: after a 429/5xx/reset/timeout, or for the entries of a batch answered "later". */
  retried = 0;
  requests = 0;
  /** Bundles the server refused as a whole, split in two to find what it refused. */
  splits = 0;
}

/** What one phase (one resource type, upserted or deleted) did: phases run one after the other, so these add up. */
export interface PhaseCounts {
  readonly resourceType: string;
  readonly action: "upsert" | "delete";
  readonly sent: number;
  readonly created: number;
  readonly updated: number;
  readonly deleted: number;
  readonly rejected: number;
  readonly failed: number;
  readonly invalid: number;
  readonly skipped: number;
}

/** The counts of `after` less those of `before`, for one phase. */
export function phaseCounts(resourceType: string, action: PhaseCounts["action"], before: Tally, after: Tally): PhaseCounts {
  const d = (key: "sent" | "created" | "updated" | "deleted" | "rejected" | "failed" | "invalid" | "skipped") => after[key] - before[key];
  return {
    resourceType,
    action,
    sent: d("sent"),
    created: d("created"),
    updated: d("updated"),
    deleted: d("deleted"),
    rejected: d("rejected"),
    failed: d("failed"),
    invalid: d("invalid"),
    skipped: d("skipped"),
  };
}

export interface LoadReport {
  readonly sent: number;
  readonly created: number;
  readonly updated: number;
  readonly rejected: number;
  readonly retried: number;
  /** Seconds. */
  readonly elapsed: number;
  readonly "resources/s": number;
  readonly deleted: number;
  readonly failed: number;
  readonly invalid: number;
  readonly skipped: number;
  readonly requests: number;
  readonly dcm2fhir: string;
  /** The base URL without credentials. */
  readonly server: string;
  readonly bundle: BundleType;
  readonly mode: "full" | "changes";
  readonly delete: boolean;
  readonly dryRun: boolean;
  /** False when the run stopped early (server unusable, interrupted): run load again to finish. */
  readonly complete: boolean;
  readonly stopped?: { readonly reason: string; readonly message: string };
  /** Bundles split in two because the server refused them whole. */
  readonly splits: number;
  /** Per phase, in the order they ran. */
  readonly phases: readonly PhaseCounts[];
  /** Resources stored (created, updated, deleted) by the end of each second of the run: its rate over time. */
  readonly storedBySecond: readonly number[];
}

export function buildReport(
  t: Tally,
  elapsedSeconds: number,
  about: Pick<LoadReport, "server" | "bundle" | "mode" | "delete" | "dryRun" | "complete" | "stopped" | "phases" | "storedBySecond">,
): LoadReport {
  const elapsed = Math.round(elapsedSeconds * 1000) / 1000;
  return {
    sent: t.sent,
    created: t.created,
    updated: t.updated,
    rejected: t.rejected,
    retried: t.retried,
    elapsed,
    "resources/s": elapsed > 0 ? Math.round((t.sent / elapsed) * 10) / 10 : 0,
    deleted: t.deleted,
    failed: t.failed,
    invalid: t.invalid,
    skipped: t.skipped,
    requests: t.requests,
    splits: t.splits,
    dcm2fhir: VERSION,
    ...about,
  };
}

/**
 * load-errors.ndjson, in the order of the NDJSON files whatever order the answers come in: each batch (or
 * invalid line) has a sequence number in file order, and its lines are written once every earlier one has
 * settled. Only error lines wait, so memory holds no more than the errors of batches overtaken by a slow one.
 */
export class ErrorLog {
  private fd: number | undefined;
  private readonly waiting = new Map<number, LoadErrorLine[]>();
  private nextSeq = 0;
  private flushedSeq = 0;
  /** The first lines, for the console. */
  readonly first: LoadErrorLine[] = [];
  lines = 0;

  constructor(
    private readonly temp: string | undefined,
    private readonly keepFirst = 100,
  ) {
    this.fd = temp === undefined ? undefined : openSync(temp, "w", 0o644);
  }

  /** A place in file order for a unit of work that will settle later. */
  take(): number {
    return this.nextSeq++;
  }

  settle(seq: number, lines: readonly LoadErrorLine[]): void {
    this.waiting.set(seq, [...lines]);
    while (this.waiting.has(this.flushedSeq)) {
      this.write(this.waiting.get(this.flushedSeq)!);
      this.waiting.delete(this.flushedSeq++);
    }
  }

  /** Writes what settled after a gap left by a stopped run, and moves the file into place. */
  commit(path: string): void {
    for (const seq of [...this.waiting.keys()].sort((a, b) => a - b)) this.write(this.waiting.get(seq)!);
    this.waiting.clear();
    if (this.fd === undefined || this.temp === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
    try {
      moveIntoPlace(this.temp, path);
    } catch (error) {
      throw new LoadFailure("folder-unwritable", `cannot write load-errors.ndjson in the folder (${(error as NodeJS.ErrnoException).code})`);
    }
  }

  /** Closes and removes the temporary file if it was not committed. */
  discard(): void {
    if (this.fd === undefined || this.temp === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
    rmSync(this.temp, { force: true });
  }

  private write(lines: readonly LoadErrorLine[]): void {
    if (lines.length === 0) return;
    for (const line of lines) if (this.first.length < this.keepFirst) this.first.push(line);
    this.lines += lines.length;
    if (this.fd !== undefined) writeSync(this.fd, lines.map((line) => `${JSON.stringify(line)}\n`).join(""));
  }
}

export function writeReport(temp: string, path: string, report: LoadReport): void {
  try {
    replaceFile(path, `${JSON.stringify(report, null, 2)}\n`, temp);
  } catch (error) {
    throw new LoadFailure("folder-unwritable", `cannot write load-report.json in the folder (${(error as NodeJS.ErrnoException).code})`);
  }
}
