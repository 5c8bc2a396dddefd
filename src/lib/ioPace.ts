// How many file-system operations a process keeps in flight (--io-depth). On files in the page cache or on a
// local SSD an operation returns in microseconds: a synchronous call costs ~1 µs, an asynchronous one several
// more (a hand-over to libuv's thread pool and back), so one at a time, synchronously, is cheapest. On network
// storage (NFS, SMB, a SAN across a WAN) every lookup, open, read and close is a round trip of 0.5 ms or more,
// and what counts is how many are in flight: one at a time leaves the storage idle 99 % of the time.
//
// "auto" (the default) starts synchronous and times the operations it makes; once the median of the last few
// takes longer than SLOW_OPERATION_MS (an operation that waited on a disk or the network, not on the CPU), the
// process goes asynchronous with AUTO_DEPTH in flight, and stays so for the rest of the run. A number sets the
// depth for the whole run instead: 1 is synchronous throughout, more is asynchronous throughout.

/** The --io-depth setting: operations in flight at once for the whole run, or "auto". */
export type IoDepth = number | "auto";

/** The depth "auto" goes to on slow storage: what it takes to keep a file server 0.5-2 ms away busy. */
export const AUTO_DEPTH = 64;
/** libuv's thread pool, which does the asynchronous operations, has at most 1024 threads. */
export const MAX_IO_DEPTH = 1024;
/**
 * Page-cache operations take 1-20 µs here, 100 µs with a busy CPU; a local SSD's uncached read ~100 µs; a LAN file
 * server's round trip 500 µs. Above this, asynchronous operations pay for their hand-over many times.
 */
export const SLOW_OPERATION_MS = 0.25;
/** The median of this many recent operations decides: a thread preempted once must not make a run asynchronous. */
const WINDOW = 9;

/** A valid --io-depth, or undefined. */
export function parseIoDepth(value: unknown): IoDepth | undefined {
  if (value === undefined || value === "auto") return "auto";
  const n = typeof value === "number" ? value : typeof value === "string" && /^\d+$/.test(value) ? Number(value) : Number.NaN;
  return Number.isInteger(n) && n >= 1 && n <= MAX_IO_DEPTH ? n : undefined;
}

/**
 * Whether this process makes its file-system operations synchronously (timing them, with "auto") or
 * asynchronously, and how many in flight then. `share`: this process's part of the run's depth (reader
 * processes split it between them).
 */
export class IoPace {
  /** Whether each of the last WINDOW operations was slow, and how many were. */
  private readonly recent = new Uint8Array(WINDOW);
  private timed = 0;
  private slowInWindow = 0;
  private slow: boolean;

  constructor(
    private readonly setting: IoDepth,
    /** Processes sharing the depth: the reader processes reading, this one included. */
    public share = 1,
  ) {
    this.slow = setting !== "auto" && setting > 1;
  }

  /** True: operations go asynchronously, `depth` at a time. */
  get concurrent(): boolean {
    return this.slow;
  }

  /** Operations this process keeps in flight when concurrent. */
  get depth(): number {
    const total = this.setting === "auto" ? AUTO_DEPTH : this.setting;
    return Math.max(1, Math.ceil(total / this.share));
  }

  /** From now on asynchronous (another process found the storage slow); a fixed depth of 1 stays synchronous. */
  goConcurrent(): void {
    if (this.setting === "auto") this.slow = true;
  }

  /** A synchronous operation, timed while "auto" has not decided yet. */
  time<T>(operation: () => T): T {
    if (this.setting !== "auto" || this.slow) return operation();
    const started = performance.now();
    try {
      return operation();
    } finally {
      this.note(performance.now() - started);
    }
  }

  /** An operation's duration, in milliseconds. */
  note(ms: number): void {
    if (this.setting !== "auto" || this.slow) return;
    const at = this.timed++ % WINDOW;
    const slow = ms > SLOW_OPERATION_MS ? 1 : 0;
    this.slowInWindow += slow - this.recent[at]!;
    this.recent[at] = slow;
    // The median is slow when more than half are.
    if (this.slowInWindow > WINDOW >> 1) this.slow = true;
  }
}
