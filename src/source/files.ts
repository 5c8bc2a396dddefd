import pLimit from "p-limit";
import { type ShardShare, crawlShare } from "../crawl/split.js";
import { type CrawlEntry, type CrawlOptions, type ResolvedInput, crawl } from "../crawl/walk.js";
import type { HeaderReader } from "../dicom/readerPool.js";
import type { InstanceSink } from "./sink.js";

const BATCH_SIZE = 64;

export interface FileSourceOptions extends CrawlOptions {
  /** Threads reading headers: sets how many batches are kept in flight. */
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
  await readEntries(share && share.count > 1 ? flatten(crawlShare(inputs, share, options)) : crawl(inputs, options), reader, sink, options);
}

async function* flatten<T>(batches: AsyncIterable<readonly T[]>): AsyncGenerator<T> {
  for await (const batch of batches) yield* batch;
}

/** Reads crawled entries; those the crawl already refused go to the sink as unread. */
export async function readEntries(entries: AsyncIterable<CrawlEntry>, reader: HeaderReader, sink: InstanceSink, options: FileSourceOptions): Promise<void> {
  // Enough batches in flight to keep every reader thread's queue full; the crawl waits beyond that.
  const limit = pLimit(options.threads * 4);
  const inFlight = new Set<Promise<void>>();
  const dispatch = (batch: CrawlEntry[]) => {
    const paths = batch.map((e) => e.path);
    const p = limit(() => reader.read(paths)).then((results) => results.forEach((r) => sink.read(r)));
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  let batch: CrawlEntry[] = [];
  for await (const entry of entries) {
    sink.seen();
    if ("reason" in entry) sink.unread(entry);
    else batch.push(entry);
    if (batch.length === BATCH_SIZE) {
      dispatch(batch);
      batch = [];
      while (limit.pendingCount > 0) await Promise.race(inFlight);
    }
    if (options.signal?.aborted) break;
  }
  if (batch.length > 0 && !options.signal?.aborted) dispatch(batch);
  await Promise.all(inFlight);
}
