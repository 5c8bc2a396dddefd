// What report.json counts of the records a run's sources deliver, as they come. Every count is a sum and every
// median comes from a histogram, so that a shard can store its counts with its part and merge can add them up
// exactly (shard/part.ts), and an incremental run can keep a study's counts with the study (incremental/).
import type { HeaderRead } from "./record.js";
import { REASONS, type Reason } from "./reasons.js";

/** Counts values without keeping them: an exact median of millions of numbers that take few distinct values. */
export class Histogram {
  private readonly counts = new Map<number, number>();
  private n = 0;
  total = 0;

  add(value: number, times = 1): void {
    this.counts.set(value, (this.counts.get(value) ?? 0) + times);
    this.n += times;
    this.total += value * times;
  }

  /** [value, count] pairs in value order: what a shard's part stores, so that merge's median is exact. */
  toJSON(): Array<[number, number]> {
    return [...this.counts.entries()].sort(([a], [b]) => a - b);
  }

  median(): number {
    if (this.n === 0) return 0;
    const sorted = [...this.counts.entries()].sort(([a], [b]) => a - b);
    const lower = rank(sorted, Math.floor((this.n - 1) / 2));
    const upper = rank(sorted, Math.floor(this.n / 2));
    return (lower + upper) / 2;
  }
}

function rank(sorted: ReadonlyArray<[number, number]>, index: number): number {
  let seen = 0;
  for (const [value, count] of sorted) {
    seen += count;
    if (index < seen) return value;
  }
  return sorted[sorted.length - 1]?.[0] ?? 0;
}

/** Counts by key, listed in key order so that the report is byte-identical from run to run. */
export class Tally<K extends string = string> {
  private readonly counts = new Map<K, number>();

  add(key: K, n = 1): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
  }

  get(key: K): number {
    return this.counts.get(key) ?? 0;
  }

  toJSON(): Partial<Record<K, number>> {
    return Object.fromEntries([...this.counts.entries()].filter(([, n]) => n > 0).sort(([a], [b]) => (a < b ? -1 : 1))) as Partial<Record<K, number>>;
  }
}

/**
 * What report.json counts of the records a run's sources delivered, as they come: items seen, reasons of the
 * items that did not become instance records, bytes read, values dropped while reading. A shard stores these
 * with its part and merge sums them; every count is a sum, and the medians come from the summed histograms.
 */
export class RecordCounts {
  seen = 0;
  /** Items read now (the progress line); not stored. */
  filesRead = 0;
  /** Bytes read now; files an incremental run takes from its state count in the medians only. */
  bytesReadNow = 0;
  readonly bytesPerFile = new Histogram();
  readonly bytesPerInstanceFile = new Histogram();
  readonly reasons = new Tally<Reason>();
  readonly warnings = new Tally();

  unread(failure: { readonly reason: Reason }): void {
    this.reasons.add(failure.reason);
  }

  /** A file read again whose record is taken from an incremental run's state (or counted with its study's). */
  readAgain(bytesRead: number): void {
    this.filesRead++;
    this.bytesReadNow += bytesRead;
  }

  read(read: HeaderRead, stored: boolean): void {
    if (!stored) {
      this.filesRead++;
      this.bytesReadNow += read.bytesRead;
    }
    this.bytesPerFile.add(read.bytesRead);
    if ("failure" in read) this.reasons.add(read.failure.reason);
    else {
      this.bytesPerInstanceFile.add(read.bytesRead);
      for (const w of read.instance.warnings) this.warnings.add(w);
    }
  }

  toJSON(): StoredCounts {
    return {
      seen: this.seen,
      bytesRead: this.bytesReadNow,
      bytesPerFile: this.bytesPerFile.toJSON(),
      bytesPerInstanceFile: this.bytesPerInstanceFile.toJSON(),
      reasons: this.reasons.toJSON(),
      warnings: this.warnings.toJSON(),
    };
  }

  /** Adds counts another run stored (a shard's). */
  addStored(stored: StoredCounts): void {
    this.seen += stored.seen;
    this.bytesReadNow += stored.bytesRead;
    for (const [value, n] of stored.bytesPerFile) this.bytesPerFile.add(value, n);
    for (const [value, n] of stored.bytesPerInstanceFile) this.bytesPerInstanceFile.add(value, n);
    for (const [reason, n] of Object.entries(stored.reasons)) this.reasons.add(reason as Reason, n ?? 0);
    for (const [warning, n] of Object.entries(stored.warnings)) this.warnings.add(warning, n ?? 0);
  }
}

/** RecordCounts as JSON. */
export interface StoredCounts {
  readonly seen: number;
  readonly bytesRead: number;
  readonly bytesPerFile: ReadonlyArray<readonly [number, number]>;
  readonly bytesPerInstanceFile: ReadonlyArray<readonly [number, number]>;
  readonly reasons: Partial<Record<string, number>>;
  readonly warnings: Partial<Record<string, number>>;
}

export function sumByOutcome(reasons: Tally<Reason>, outcome: "skipped" | "failed"): number {
  return (Object.keys(REASONS) as Reason[]).filter((r) => REASONS[r].outcome === outcome).reduce((n, r) => n + reasons.get(r), 0);
}
