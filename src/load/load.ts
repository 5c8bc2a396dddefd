// dcm2fhir load: puts a converted folder into a FHIR server, exactly once in effect. Every resource goes as a
// `PUT <type>/<id>` entry (an idempotent upsert with our stable ids) of a transaction (or batch) Bundle, in
// complete phases (Endpoint, Patient, ImagingStudy, then deletions), so every reference resolves when it lands.
// A checkpoint per server, saved after every answer, lets a run killed at any moment be finished by the next
// one, which re-sends only what was in flight.
import { FailureStreak } from "../lib/retry.js";
import { LOAD_OUTPUT_FILES } from "../core/outputFiles.js";
import { join } from "node:path";
import { UsageError } from "../core/errors.js";
import { DEFAULT_POLICY, type HttpFailure, type SendPolicy, redact } from "../lib/http.js";
import { folderState } from "../lib/outputFolder.js";
import { type Credentials, NO_CREDENTIALS, bearerToken } from "./auth.js";
import { Batches } from "./batches.js";
import type { BundleType } from "./bundle.js";
import { Checkpoint, STATE_DIR } from "./checkpoint.js";
import { Deliverer, type NotStored } from "./deliver.js";
import { LoadFailure } from "./errors.js";
import { type ClientCredentialsOptions, clientCredentials } from "./oauth.js";
import { type LoadEntry, readPhase } from "./ndjson.js";
import { Pace } from "./pace.js";
import { nodeTransport } from "../lib/nodeTransport.js";
import { type Phase, planPhases } from "./plan.js";
import { ErrorLog, type LoadErrorLine, type LoadReport, type PhaseCounts, Tally, buildReport, phaseCounts, writeReport } from "./report.js";
import { type ServerInfo, checkServer } from "./server.js";

export interface LoadOptions {
  /** The output folder of `dcm2fhir convert`. Only read: load writes load-errors.ndjson, load-report.json and .dcm2fhir/. */
  readonly folder: string;
  /** The FHIR base URL (https://fhir.example.org/R4). Credentials in it (https://user:pass@…) are sent as Basic auth. */
  readonly server: string;
  /** Entries per Bundle (default 50, which Medplum's server allows). */
  readonly batchSize?: number;
  /** Bundles in flight at once (default 4). */
  readonly concurrency?: number;
  /** "transaction" (default) or "batch" for servers that prefer it. */
  readonly bundle?: BundleType;
  /** Only `changes/` of an incremental run. */
  readonly changes?: boolean;
  /** Also DELETE what `changes/deleted.ndjson` lists. */
  readonly delete?: boolean;
  /** Read everything and ask the server for its CapabilityStatement, but send and write nothing. */
  readonly dryRun?: boolean;
  /** Ignore the checkpoint: send everything again. */
  readonly restart?: boolean;
  /** load-report.html beside load-report.json (default true). */
  readonly htmlReport?: boolean;
  /** Sent as `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** OAuth2 client credentials (SMART Backend Services): tokens fetched, renewed before they expire and after a 401. */
  readonly oauth?: ClientCredentialsOptions;
  /** Or any other source of Authorization headers. */
  readonly credentials?: Credentials;
  /** Timeouts, attempts and backoff of every request (see src/lib/http.ts). */
  readonly policy?: Partial<Omit<SendPolicy, "signal" | "onRetry" | "transport">>;
  /** A Bundle body grows to about this many bytes at most (default 4 MiB); a single larger resource goes alone. */
  readonly maxBundleBytes?: number;
  /** The run stops (exit 3) after this many batches in a row got no final answer (default 3). */
  readonly maxConsecutiveFailures?: number;
  /** Aborting stops the run: what was acknowledged stays in the checkpoint. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: LoadProgress) => void;
  readonly progressEveryMs?: number;
}

export interface LoadProgress {
  readonly phase: string;
  readonly sent: number;
  readonly stored: number;
  readonly notStored: number;
  readonly retried: number;
  readonly elapsedSeconds: number;
}

export interface LoadResult {
  readonly report: LoadReport;
  readonly server: ServerInfo;
  /** The first lines of load-errors.ndjson (at most 100), for the console. */
  readonly errors: readonly LoadErrorLine[];
  /** Why the run stopped early, when the server became unusable. */
  readonly stopped?: LoadFailure;
  /** The signal stopped the run. */
  readonly interrupted: boolean;
  /** Files of this run whose checkpoint was dropped because they changed since it was written. */
  readonly outdatedCheckpoint: readonly string[];
}

const [ERRORS_FILE, REPORT_FILE, REPORT_PAGE] = LOAD_OUTPUT_FILES;
const DEFAULT_BATCH = 50;
const DEFAULT_CONCURRENCY = 4;
const DEFAULT_BUNDLE_BYTES = 4 << 20;
/** Longer than send()'s default: a transaction of 50 studies can take a busy server a while. */
const LOAD_TIMEOUT_MS = 120_000;

export async function load(options: LoadOptions): Promise<LoadResult> {
  const started = performance.now();
  const batchSize = integerOption("--batch-size", options.batchSize ?? DEFAULT_BATCH, 1, 1000);
  const concurrency = integerOption("--concurrency", options.concurrency ?? DEFAULT_CONCURRENCY, 1, 64);
  const bundle = options.bundle ?? "transaction";
  if (bundle !== "transaction" && bundle !== "batch") throw new UsageError("--bundle is transaction or batch");
  const { url, shown } = serverUrl(options.server);
  const phases = planPhases(options.folder, options);
  if (folderState(options.folder) !== "idle")
    throw new LoadFailure("folder-busy", "a convert run is writing this folder (or was killed while committing it): load it once convert has finished");

  const tally = new Tally();
  const phaseResults: PhaseCounts[] = [];
  /** Resources stored by the end of each second: the rate over time in load-report.json and its page. */
  const storedBySecond: number[] = [];
  const sampleRate = setInterval(() => storedBySecond.push(tally.created + tally.updated + tally.deleted), 1000).unref();
  const controller = new AbortController();
  let stopped: LoadFailure | undefined;
  const stop = (failure: LoadFailure) => {
    stopped ??= failure;
    controller.abort(failure);
  };
  const pace = new Pace(concurrency);
  const http = nodeTransport();
  const policy: SendPolicy = {
    ...DEFAULT_POLICY,
    timeoutMs: LOAD_TIMEOUT_MS,
    ...options.policy,
    // Ours, always: it lets a Bundle's buffer be reused once its request has settled (see deliver.ts).
    transport: http.transport,
    signal: controller.signal,
    onRetry: (retry) => {
      tally.retried++;
      if (retry.status === 429 || retry.status === 503) pace.pushedBack(retry.delayMs);
    },
  };

  const quietPolicy = { ...policy, onRetry: undefined };
  const credentials =
    options.credentials ??
    (options.oauth ? clientCredentials(options.oauth, url, quietPolicy) : options.token !== undefined ? bearerToken(options.token) : NO_CREDENTIALS);
  const onAbort = () => controller.abort(options.signal!.reason);
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const files = [...new Set(phases.map((p) => p.file))];
  let server: ServerInfo;
  let checkpoint: Checkpoint;
  let errors: ErrorLog;
  try {
    server = await checkServer(url, credentials, quietPolicy, bundle, [...new Set(phases.map((p) => p.resourceType))]);
    checkpoint = Checkpoint.open(options.folder, shown, files, { restart: options.restart, readOnly: options.dryRun });
  } catch (error) {
    options.signal?.removeEventListener("abort", onAbort);
    http.close();
    throw error;
  }
  try {
    errors = new ErrorLog(options.dryRun ? undefined : checkpoint.tempPath(ERRORS_FILE));
  } catch (error) {
    checkpoint.release();
    options.signal?.removeEventListener("abort", onAbort);
    http.close();
    throw new LoadFailure("folder-unwritable", `cannot write in ${STATE_DIR}/ (${(error as NodeJS.ErrnoException).code})`);
  }
  let internal: unknown;

  let batchLimit = batchSize;
  const failures = new FailureStreak(options.maxConsecutiveFailures ?? 3);
  let phaseName = "";
  const progress = options.onProgress
    ? setInterval(() => {
        options.onProgress!({
          phase: phaseName,
          sent: tally.sent,
          stored: tally.created + tally.updated + tally.deleted,
          notStored: tally.rejected + tally.failed + tally.invalid,
          retried: tally.retried,
          elapsedSeconds: (performance.now() - started) / 1000,
        });
      }, options.progressEveryMs ?? 1000).unref()
    : undefined;

  const runPhase = async (phase: Phase, firstDelete: boolean) => {
    phaseName = `${phase.action === "delete" ? "DELETE " : ""}${phase.resourceType}`;
    const acked = checkpoint.acked(phase.file);
    const deliverer = new Deliverer({
      url,
      shownBase: shown,
      bundle,
      credentials,
      policy,
      pace,
      tally,
      signal: controller.signal,
      acknowledge: (lines) => checkpoint.ack(phase.file, lines),
      stop,
      failing: (error: HttpFailure) => {
        if (failures.failed()) {
          const reason = error.reason === "http-error" ? "server-failing" : "server-unreachable";
          stop(
            new LoadFailure(
              reason,
              `${failures.count} batches in a row got no answer after their retries (last: ${error.message}); the checkpoint is saved: run load again to finish`,
            ),
          );
        }
      },
      succeeding: () => failures.succeeded(),
      shrinkBatches: (size) => {
        batchLimit = Math.max(1, Math.min(batchLimit, size));
      },
    });
    const inFlight = new Set<Promise<void>>();
    const dispatch = async (batch: LoadEntry[]) => {
      if (!options.dryRun) await pace.acquire(controller.signal);
      tally.sent += batch.length;
      const seq = errors.take();
      if (options.dryRun) return errors.settle(seq, []);
      const delivery: Promise<void> = deliverer
        .deliver(batch, true)
        .then((notStored) => errors.settle(seq, inFileOrder(notStored)))
        .catch((error: unknown) => {
          // A checkpoint that cannot be saved stops the run like an unusable server; anything else is a bug.
          if (error instanceof LoadFailure) stop(error);
          else controller.abort((internal ??= error));
        })
        .finally(() => inFlight.delete(delivery));
      inFlight.add(delivery);
    };
    const batches = new Batches({ acked, tally, errors, limit: () => batchLimit, maxBytes: options.maxBundleBytes ?? DEFAULT_BUNDLE_BYTES });
    try {
      reading: for await (const items of readPhase(join(options.folder, phase.file), phase, firstDelete)) {
        for (let i = 0; i < items.length; ) {
          if (controller.signal.aborted) break reading;
          const { next, full } = batches.fill(items, i);
          if (full) await dispatch(full);
          i = next;
        }
      }
      const rest = batches.rest();
      if (rest.length > 0 && !controller.signal.aborted) await dispatch(rest);
    } catch (error) {
      // pace.acquire rejects once the run is stopped: nothing more is sent.
      if (!controller.signal.aborted) throw error;
    }
    while (inFlight.size > 0) await Promise.all(inFlight);
  };

  try {
    let firstDelete = true;
    for (const phase of phases) {
      if (controller.signal.aborted) break;
      const before = Object.assign(new Tally(), tally);
      await runPhase(phase, phase.action === "delete" && firstDelete);
      phaseResults.push(phaseCounts(phase.resourceType, phase.action === "delete" ? "delete" : "upsert", before, tally));
      if (phase.action === "delete") firstDelete = false;
    }
    if (internal !== undefined) throw internal;
  } catch (error) {
    errors.discard();
    checkpoint.release();
    throw error;
  } finally {
    if (progress) clearInterval(progress);
    clearInterval(sampleRate);
    options.signal?.removeEventListener("abort", onAbort);
    http.close();
  }

  const interrupted = stopped === undefined && controller.signal.aborted;
  const complete = !controller.signal.aborted;
  const report = buildReport(tally, (performance.now() - started) / 1000, {
    server: shown,
    bundle,
    mode: options.changes ? "changes" : "full",
    delete: options.delete === true,
    dryRun: options.dryRun === true,
    complete,
    ...(stopped ? { stopped: { reason: stopped.reason, message: stopped.message } } : {}),
    phases: phaseResults,
    storedBySecond: [...storedBySecond, tally.created + tally.updated + tally.deleted],
  });
  try {
    if (!options.dryRun) {
      errors.commit(join(options.folder, ERRORS_FILE));
      // The page first: load-report.json, renamed last, says the run's files are complete.
      if (options.htmlReport !== false)
        (await import("./reportPage.js")).writeLoadReportPage(checkpoint.tempPath(REPORT_PAGE), join(options.folder, REPORT_PAGE), report);
      writeReport(checkpoint.tempPath(REPORT_FILE), join(options.folder, REPORT_FILE), report);
      // Everything this run read is on the server: nothing is left to resume, and the next load starts afresh.
      if (complete && errors.lines === 0) checkpoint.forget(files);
    }
  } finally {
    errors.discard();
    checkpoint.release();
  }
  return { report, server, errors: errors.first, stopped, interrupted, outdatedCheckpoint: checkpoint.outdated };
}

function inFileOrder(notStored: readonly NotStored[]): LoadErrorLine[] {
  return [...notStored].sort((a, b) => a.line - b.line).map((n) => n.error);
}

function integerOption(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new UsageError(`${name} is a whole number from ${min} to ${max}`);
  return value;
}

/** The URL requests go to (without trailing slash), and the same without credentials, for messages, fullUrl and the checkpoint. */
function serverUrl(server: string): { url: string; shown: string } {
  let parsed: URL;
  try {
    parsed = new URL(server);
  } catch {
    throw new UsageError("--server is not a URL: give the FHIR base URL, e.g. https://fhir.example.org/R4");
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new UsageError("--server must be an http or https URL");
  if (parsed.search || parsed.hash) throw new UsageError("--server is the FHIR base URL, without ?query or #fragment");
  parsed.pathname = parsed.pathname.replace(/\/+$/, "");
  const url = parsed.href.replace(/\/+$/, "");
  return { url, shown: redact(parsed).replace(/\/+$/, "") };
}
