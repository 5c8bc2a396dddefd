// A phase's lines made into Bundles' worth of entries: invalid lines recorded, lines an earlier run got
// acknowledged skipped, the rest gathered until a Bundle is full (in entries or in bytes). Synchronous and
// separate from the sending loop on purpose: the per-line work stays one small function that V8 compiles once,
// where the same loop inside the async phase loop had the optimizing compiler redo the whole of it (~0.1 s of
// compiler CPU in a load of 10,000 resources, more than the lines' own work).
import { madeOutcome } from "./bundle.js";
import { type InvalidLine, type LoadEntry, isInvalid } from "./ndjson.js";
import type { LineRanges } from "./ranges.js";
import type { ErrorLog, Tally } from "./report.js";

/** Bytes counted for an entry without a body (a DELETE). */
const DELETE_BYTES = 64;

export class Batches {
  private batch: LoadEntry[] = [];
  private bytes = 0;

  constructor(
    private readonly o: {
      readonly acked: LineRanges;
      readonly tally: Tally;
      readonly errors: ErrorLog;
      /** Entries per Bundle at most, now (it shrinks when a server refuses Bundles as too large). */
      readonly limit: () => number;
      readonly maxBytes: number;
    },
  ) {}

  /**
   * Takes `items` from `from` on until a Bundle is full: returns where it stopped and the full Bundle's entries,
   * or `items.length` and no Bundle when all of them were taken.
   */
  fill(items: ReadonlyArray<LoadEntry | InvalidLine>, from: number): { next: number; full?: LoadEntry[] } {
    const { acked, tally, errors } = this.o;
    for (let i = from; i < items.length; i++) {
      const item = items[i]!;
      if (isInvalid(item)) {
        tally.invalid++;
        errors.settle(errors.take(), [{ resourceType: item.resourceType, id: item.id, status: 0, outcome: madeOutcome("structure", item.problem) }]);
        continue;
      }
      if (acked.has(item.line)) {
        tally.skipped++;
        continue;
      }
      const size = item.text?.length ?? DELETE_BYTES;
      if (this.batch.length > 0 && (this.batch.length >= this.o.limit() || this.bytes + size > this.o.maxBytes)) {
        const full = this.batch;
        // Filled by push() from empty, as every batch: an array literal of one entry would be another kind of array
        // to V8, and the optimized code of this loop would be thrown away for it.
        this.batch = [];
        this.batch.push(item);
        this.bytes = size;
        return { next: i + 1, full };
      }
      this.batch.push(item);
      this.bytes += size;
    }
    return { next: items.length };
  }

  /** The last, partly filled Bundle's entries (empty when there are none). */
  rest(): LoadEntry[] {
    const rest = this.batch;
    this.batch = [];
    this.bytes = 0;
    return rest;
  }
}
