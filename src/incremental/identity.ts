// What an incremental run compares a file by: its identity (size, mtime, ctime, inode, device), from a stat. On
// network storage a stat is a round trip, and the scan of an archive that did not change is nothing but stats:
// they are made many at once there (lib/ioPace.ts), and handed on in the crawl's order.
import { type Stats, statSync } from "node:fs";
import { stat } from "node:fs/promises";
import pLimit, { type LimitFunction } from "p-limit";
import type { FilePath } from "../core/reasons.js";
import type { CrawlEntry } from "../crawl/walk.js";
import type { IoPace } from "../lib/ioPace.js";
import type { FileIdentity } from "./entries.js";

/** A file's identity now; null when it cannot be stat'ed (it is read, and the reader says why). */
export function identityOf(path: FilePath, racyFrom: number, pace?: IoPace): FileIdentity | null {
  let s;
  try {
    const look = () => statSync(path, { throwIfNoEntry: false });
    s = pace ? pace.time(look) : look();
  } catch {
    s = undefined;
  }
  return s ? identityFrom(s, racyFrom) : null;
}

const identityFrom = (s: Stats, racyFrom: number): FileIdentity => ({
  size: s.size,
  mtimeMs: s.mtimeMs,
  ctimeMs: s.ctimeMs,
  ino: s.ino,
  dev: s.dev,
  racy: Math.max(s.mtimeMs, s.ctimeMs) >= racyFrom,
});

/** Identities looked up many at once (at most `pace.depth` stats in flight), as promises in entry order. */
export class ConcurrentIdentities {
  private limit: LimitFunction | undefined;

  constructor(
    private readonly racyFrom: number,
    private readonly pace: IoPace,
  ) {}

  /** The identities of `entries` from `from` on (null for a refusal, and for the entries before `from`). */
  of(entries: readonly CrawlEntry[], from = 0): Array<Promise<FileIdentity | null> | null> {
    this.limit ??= pLimit(this.pace.depth);
    const limit = this.limit;
    return entries.map((entry, i) =>
      i < from || "reason" in entry
        ? null
        : limit(() =>
            stat(entry.path as string).then(
              (s) => identityFrom(s, this.racyFrom),
              () => null,
            ),
          ),
    );
  }
}

/**
 * The crawl's pieces, each with its files' identities being looked up, many at once, when the pace is concurrent
 * (network storage: a stat is a round trip): up to `pace.depth` stats in flight, and the pieces after the one
 * handed on already being stat'ed. Pieces come out in the crawl's order, whatever order the stats finish in.
 */
export async function* identified(
  pieces: AsyncIterable<readonly CrawlEntry[]>,
  lookup: ConcurrentIdentities | undefined,
  pace: IoPace | undefined,
): AsyncGenerator<{ entries: readonly CrawlEntry[]; identities?: Array<Promise<FileIdentity | null> | null> }> {
  const queue: Array<{ entries: readonly CrawlEntry[]; identities?: Array<Promise<FileIdentity | null> | null> }> = [];
  let queued = 0;
  for await (const entries of pieces) {
    if (!pace?.concurrent || !lookup) {
      yield* queue.splice(0);
      queued = 0;
      yield { entries };
      continue;
    }
    const depth = pace.depth;
    queue.push({ entries, identities: lookup.of(entries) });
    queued += entries.length;
    // Handed on once enough stats are under way behind it to keep the storage busy meanwhile.
    while (queue.length > 0 && queued - queue[0]!.entries.length >= depth) {
      queued -= queue[0]!.entries.length;
      yield queue.shift()!;
    }
  }
  yield* queue;
}
