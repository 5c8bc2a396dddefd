// Which lines of an NDJSON file the server acknowledged: a sorted set of half-open [start, end) line ranges.
// Batches take consecutive lines, so a run's acknowledgements merge into a few ranges (a prefix, and holes for
// what is in flight or was refused): the checkpoint stays small whatever the size of the file.

export type Range = readonly [start: number, end: number];

export class LineRanges {
  private ranges: Array<[number, number]>;

  constructor(ranges: readonly Range[] = []) {
    this.ranges = [];
    for (const [start, end] of ranges) this.addRange(start, end);
  }

  /** Ranges as stored in a checkpoint; undefined when `value` is not a list of [start, end) integer pairs. */
  static parse(value: unknown): LineRanges | undefined {
    if (!Array.isArray(value)) return undefined;
    const valid = value.every(
      (r) => Array.isArray(r) && r.length === 2 && Number.isSafeInteger(r[0]) && Number.isSafeInteger(r[1]) && r[0] >= 0 && r[0] < r[1],
    );
    return valid ? new LineRanges(value as Range[]) : undefined;
  }

  get size(): number {
    return this.ranges.reduce((n, [start, end]) => n + end - start, 0);
  }

  has(line: number): boolean {
    const i = this.firstEndingAfter(line);
    return i < this.ranges.length && this.ranges[i]![0] <= line;
  }

  add(line: number): void {
    this.addRange(line, line + 1);
  }

  toJSON(): Range[] {
    return this.ranges.map(([start, end]) => [start, end] as const);
  }

  /** Adds the lines [start, end). */
  addRange(start: number, end: number): void {
    // Every range that touches or overlaps [start, end) is merged into it.
    const i = this.firstEndingAfter(start - 1);
    let j = i;
    while (j < this.ranges.length && this.ranges[j]![0] <= end) {
      start = Math.min(start, this.ranges[j]![0]);
      end = Math.max(end, this.ranges[j]![1]);
      j++;
    }
    this.ranges.splice(i, j - i, [start, end]);
  }

  /** The index of the first range whose end is after `line` (binary search). */
  private firstEndingAfter(line: number): number {
    let lo = 0;
    let hi = this.ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ranges[mid]![1] <= line) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
