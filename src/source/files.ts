import pLimit from "p-limit";
import { type ShardShare, crawlShare } from "../crawl/split.js";
import type { ResolvedInput } from "../crawl/inputs.js";
import { type CrawlEntry, type CrawlOptions, crawlInPieces } from "../crawl/walk.js";
import type { HeaderReader } from "../read/readerPool.js";
import type { FilePath } from "../core/reasons.js";
import type { InstanceSink } from "./sink.js";

const BATCH_SIZE = 64;

export interface FileSourceOptions extends CrawlOptions {
  /** Readers of headers (processes, this one included): sets how many batches are kept in flight. */
  readonly threads: number;
  /** A shard's share of the inputs (crawl/split.ts); absent: all of them. */
  readonly share?: ShardShare;
}

/**
 * Crawls the inputs and reads every file found, a bounded number of batches at a time, so the crawl never
 * runs far ahead of the readers.
 */
export async function readFiles(inputs: readonly ResolvedInput[], reader: HeaderReader, sink: InstanceSink, options: FileSourceOptions): Promise<void> {
  const share = options.share;
  await readEntryPieces(share && share.count > 1 ? crawlShare(inputs, share, options) : crawlInPieces(inputs, options), reader, sink, options);
}

/** Reads crawled entries; those the crawl already refused go to the sink as unread. */
export async function readEntries(entries: AsyncIterable<CrawlEntry>, reader: HeaderReader, sink: InstanceSink, options: FileSourceOptions): Promise<void> {
  await readEntryPieces(
    (async function* () {
      for await (const entry of entries) yield [entry];
    })(),
    reader,
    sink,
    options,
  );
}

/** readEntries for entries that come in pieces (see crawlInPieces). */
export async function readEntryPieces(
  pieces: AsyncIterable<readonly CrawlEntry[]>,
  reader: HeaderReader,
  sink: InstanceSink,
  options: FileSourceOptions,
): Promise<void> {
  // Enough batches in flight to keep every reader's queue full; the crawl waits beyond that.
  const limit = pLimit(options.threads * 4);
  const inFlight = new Set<Promise<void>>();
  const dispatch = (paths: FilePath[]) => {
    const p = limit(() => reader.read(paths)).then((results) => {
      for (const r of results) sink.read(r);
    });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  let batch: FilePath[] = [];
  crawling: for await (const piece of pieces) {
    for (const entry of piece) {
      sink.seen();
      if ("reason" in entry) sink.unread(entry);
      else batch.push(entry.path);
      if (batch.length === BATCH_SIZE) {
        dispatch(batch);
        batch = [];
        while (limit.pendingCount > 0) await Promise.race(inFlight);
        if (options.signal?.aborted) break crawling;
      }
    }
    if (options.signal?.aborted) break;
  }
  if (batch.length > 0 && !options.signal?.aborted) dispatch(batch);
  await Promise.all(inFlight);
}
