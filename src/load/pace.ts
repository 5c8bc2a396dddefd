// How many requests are in flight: at most `concurrency`, fewer while the server pushes back. A 429 or 503
// halves the limit and holds every new request for as long as the server asked (Retry-After) or the backoff
// says; each run of successes as long as the limit raises it by one again, up to `concurrency`.
// (Additive increase, multiplicative decrease: the server gets less load exactly when it says it has too much.)

export class Pace {
  private limit: number;
  private active = 0;
  private successes = 0;
  private pausedUntil = 0;
  private readonly waiting: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly max: number) {
    this.limit = max;
  }

  get inFlight(): number {
    return this.active;
  }

  /** Resolves when a request may start; rejects when the signal aborts. Pair each with release(). */
  acquire(signal?: AbortSignal): Promise<void> {
    if (this.waiting.length === 0 && this.mayStart()) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiting.indexOf(go);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal!.reason);
      };
      const go = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(go);
      this.schedule();
    });
  }

  release(): void {
    this.active--;
    this.schedule();
  }

  /** The server answered a request in full. */
  succeeded(): void {
    if (this.limit >= this.max) return;
    if (++this.successes >= this.limit) {
      this.limit++;
      this.successes = 0;
      this.schedule();
    }
  }

  /** The server said "too many" or "unavailable" (429, 503) and a retry waits `delayMs`. */
  pushedBack(delayMs: number): void {
    this.limit = Math.max(1, Math.floor(this.limit / 2));
    this.successes = 0;
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + delayMs);
  }

  private mayStart(): boolean {
    return this.active < this.limit && Date.now() >= this.pausedUntil;
  }

  private schedule(): void {
    while (this.waiting.length > 0 && this.mayStart()) {
      this.active++;
      this.waiting.shift()!();
    }
    if (this.waiting.length > 0 && this.active < this.limit && !this.timer) {
      this.timer = setTimeout(
        () => {
          this.timer = undefined;
          this.schedule();
        },
        Math.max(1, this.pausedUntil - Date.now()),
      );
    }
  }
}
