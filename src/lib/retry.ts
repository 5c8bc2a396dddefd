// Politeness toward someone else's server, in one place: how long to wait before a retry (exponential backoff with
// full jitter), a wait that an abort cuts short, and the count of failures in a row after which a run stops asking
// a server that is down (a PACS for convert, a FHIR server for load).

export interface BackoffPolicy {
  /** The first backoff; each retry doubles it, up to `maxDelayMs`; the wait is drawn from [0, that] (full jitter). */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** For tests: the jitter's random source. */
  readonly random?: () => number;
}

/** The wait before retry number `retry` (1: the first retry). */
export function backoffDelay(policy: BackoffPolicy, retry: number): number {
  return (policy.random ?? Math.random)() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
}

/**
 * Waits `ms`. An abort of `signal` ends the wait at once: `onAbort` "reject" rejects with the signal's reason (a
 * caller with nothing to do after an abort), "resolve" returns (a caller that checks the signal and winds down).
 */
export function sleep(ms: number, signal?: AbortSignal, onAbort: "reject" | "resolve" = "reject"): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = () => (onAbort === "reject" ? reject(signal!.reason) : resolve());
    if (signal?.aborted) return settle();
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", aborted);
      resolve();
    }, ms);
    const aborted = () => {
      clearTimeout(timer);
      settle();
    };
    signal?.addEventListener("abort", aborted, { once: true });
  });
}

/** Failures in a row: a server whose every request fails after its retries is down, and the run stops asking it. */
export class FailureStreak {
  private inARow = 0;

  constructor(readonly limit: number) {}

  succeeded(): void {
    this.inARow = 0;
  }

  /** Counts a failure; true once `limit` failures came in a row. */
  failed(): boolean {
    return ++this.inARow >= this.limit;
  }

  get count(): number {
    return this.inARow;
  }
}
