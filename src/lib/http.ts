// The one way dcm2fhir talks to someone else's server (a PACS, a FHIR server): every request goes through
// send(), which keeps the politeness in one place: a timeout per attempt, a bounded number of attempts,
// exponential backoff with full jitter, and Retry-After honoured. Node's fetch (undici) keeps connections alive.
import { type BackoffPolicy, backoffDelay, sleep } from "./retry.js";

/** Why a request could not be completed: a stable code the caller records (errors.ndjson, load-errors.ndjson). */
export type HttpFailureReason = "unreachable" | "timeout" | "http-error";

export class HttpFailure extends Error {
  override readonly name = "HttpFailure";
  constructor(
    readonly reason: HttpFailureReason,
    message: string,
    /** The last HTTP status, for `http-error`. */
    readonly status: number | undefined,
    readonly attempts: number,
    /** The last response body, for `http-error` (a server's OperationOutcome, say). */
    readonly body?: Buffer,
  ) {
    super(message);
  }
}

export interface SendPolicy extends BackoffPolicy {
  /** Per attempt, from sending to the last byte of the body. */
  readonly timeoutMs: number;
  /** Tries in all, the first included. */
  readonly attempts: number;
  /** A Retry-After longer than this is not waited for: the request fails at once instead. */
  readonly maxRetryAfterMs: number;
  readonly signal?: AbortSignal;
  /** Told before each wait, e.g. to count retries. Must not log URLs: they can carry patient identifiers. */
  readonly onRetry?: (retry: { readonly attempt: number; readonly delayMs: number; readonly cause: string; readonly status?: number }) => void;
  /** Makes one attempt (default: Node's fetch). load brings its own: node:http costs it a fraction of fetch's CPU. */
  readonly transport?: Transport;
}

/** One HTTP exchange, redirects followed, the whole body read; rejects when the connection fails or `signal` aborts. */
export type Transport = (url: URL, request: SendRequest & { readonly signal: AbortSignal }) => Promise<SendResponse>;

export const DEFAULT_POLICY: SendPolicy = { timeoutMs: 30_000, attempts: 5, baseDelayMs: 250, maxDelayMs: 10_000, maxRetryAfterMs: 120_000 };

export interface SendRequest {
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  readonly headers?: Readonly<Record<string, string>>;
  /** Sent as is on every attempt: a retry re-sends exactly the same bytes. */
  readonly body?: string | Uint8Array;
}

export interface SendResponse {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  readonly body: Buffer;
}

/** Statuses that say "later" (RFC 9110 15.5.21, 15.6.3–5; RFC 6585 4): the same request may succeed when sent again. */
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);

/**
 * Sends one request and reads its whole body. Returns any response whose status is not a retryable one
 * (2xx, but also 4xx: the caller reads the server's OperationOutcome); retries resets, refused connections,
 * timeouts and 429/502/503/504. Throws HttpFailure when the attempts are spent, or a Retry-After is too long.
 * Credentials in the URL (https://user:pass@host/) become a Basic Authorization header, as fetch refuses them.
 */
export async function send(url: string | URL, request: SendRequest, policy: SendPolicy = DEFAULT_POLICY): Promise<SendResponse> {
  const { target, authorization } = splitCredentials(url);
  const headers = { ...(authorization ? { authorization } : {}), ...request.headers };
  const shown = `${request.method} ${redact(target)}`;
  let last: { reason: HttpFailureReason; cause: string; status?: number; body?: Buffer; retryAfterMs?: number } | undefined;
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    if (last) {
      const backoff = backoffDelay(policy, attempt - 1);
      if (last.retryAfterMs !== undefined && last.retryAfterMs > policy.maxRetryAfterMs) break;
      const delayMs = Math.max(backoff, last.retryAfterMs ?? 0);
      policy.onRetry?.({ attempt, delayMs, cause: last.cause, status: last.status });
      await sleep(delayMs, policy.signal);
    }
    policy.signal?.throwIfAborted();
    // A timer that holds the process, unlike AbortSignal.timeout's: undici can leave a request whose connection the
    // server cut at once pending until the timeout, and a process waiting on nothing else would exit silently, code 0.
    // One controller per attempt that the run's signal aborts too, not AbortSignal.any: that one keeps weak
    // references and a finalizer per signal, which cost a loader of many requests more than the request itself.
    let timedOut = false;
    const attemptCtl = new AbortController();
    const timer = setTimeout(() => {
      timedOut = true;
      attemptCtl.abort();
    }, policy.timeoutMs);
    const onAbort = () => attemptCtl.abort(policy.signal!.reason);
    policy.signal?.addEventListener("abort", onAbort, { once: true });
    const signal = attemptCtl.signal;
    try {
      const response = await (policy.transport ?? fetchTransport)(target, { method: request.method, headers, body: request.body, signal });
      const body = response.body;
      if (!RETRYABLE_STATUS.has(response.status)) return response;
      last = {
        reason: "http-error",
        cause: `HTTP ${response.status}`,
        status: response.status,
        body,
        retryAfterMs: retryAfter(response.headers.get("retry-after")),
      };
    } catch (error) {
      if (policy.signal?.aborted) throw policy.signal.reason;
      last = timedOut
        ? { reason: "timeout", cause: `no complete answer within ${policy.timeoutMs} ms` }
        : { reason: "unreachable", cause: networkCause(error) };
    } finally {
      clearTimeout(timer);
      policy.signal?.removeEventListener("abort", onAbort);
    }
  }
  const why =
    last!.retryAfterMs !== undefined && last!.retryAfterMs > policy.maxRetryAfterMs
      ? `; the server asked to wait ${Math.round(last!.retryAfterMs / 1000)} s`
      : "";
  throw new HttpFailure(
    last!.reason,
    `${shown}: ${last!.cause}${why} (gave up after ${policy.attempts} attempts or fewer)`,
    last!.status,
    policy.attempts,
    last!.body,
  );
}

const fetchTransport: Transport = async (url, request) => {
  const response = await fetch(url, { method: request.method, headers: request.headers, body: request.body, signal: request.signal, redirect: "follow" });
  return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
};

/** Retry-After as milliseconds: delay-seconds or an HTTP-date (RFC 9110 10.2.3); undefined when absent or unreadable. */
export function retryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function splitCredentials(url: string | URL): { target: URL; authorization?: string } {
  const target = new URL(url);
  if (!target.username && !target.password) return { target };
  const authorization = `Basic ${Buffer.from(`${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`).toString("base64")}`;
  target.username = "";
  target.password = "";
  return { target, authorization };
}

/** A URL fit for a message: no credentials, no query (QIDO and FHIR queries can carry patient identifiers). */
export function redact(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

function networkCause(error: unknown): string {
  const cause = (error as { cause?: { code?: string } }).cause;
  return cause?.code ? `connection failed (${cause.code})` : `connection failed (${(error as Error).message})`;
}
