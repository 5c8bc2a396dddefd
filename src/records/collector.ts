// Where every source of a run delivers what it finds (files, DICOMweb, the incremental state): the records are
// kept until the write (in memory, or in a record file once the run is large, or a shard's part), and what
// report.json counts of them is counted as they come, per run and per source.
import { RecordCounts, type StoredCounts } from "../core/counts.js";
import { type FileFailure, compareFailures } from "../core/reasons.js";
import type { HeaderRead } from "../core/record.js";
import { type IncrementalSink, type SourceReport, SourceTally } from "../source/sink.js";
import type { RecordSet, RecordStore } from "./recordStore.js";

/** What a long run has done so far (convert's onProgress, the CLI's progress line). */
export interface Progress {
  readonly filesSeen: number;
  readonly filesRead: number;
  readonly instances: number;
  readonly failed: number;
  readonly elapsedSeconds: number;
}

const PROGRESS_EVERY_MS = 1000;

export class RecordCollector implements IncrementalSink {
  readonly counts = new RecordCounts();
  private readonly tallies: SourceTally[] = [];
  private failedCount = 0;
  private lastProgress = 0;

  constructor(
    private readonly records: RecordStore,
    /** performance.now() when the run started. */
    readonly started: number,
    private readonly onProgress?: (progress: Progress) => void,
  ) {}

  /** A sink for one source, counting what it delivers for the report's `sources`. */
  source(kind: SourceReport["kind"], root?: string): SourceTally {
    const tally = new SourceTally(this, kind, root);
    this.tallies.push(tally);
    return tally;
  }

  seen(): void {
    this.counts.seen++;
  }

  unread(failure: FileFailure): void {
    this.counts.unread(failure);
    this.failedCount++;
    this.records.add({ unread: failure });
  }

  read(read: HeaderRead, stored = false): void {
    this.counts.read(read, stored);
    if ("failure" in read) this.failedCount++;
    this.records.add({ read });
    this.progress(false);
  }

  kept(counts: StoredCounts): void {
    this.counts.addStored(counts);
  }

  readAgain(bytesRead: number): void {
    this.counts.readAgain(bytesRead);
  }

  /** Instance records delivered so far. */
  get instances(): number {
    return this.records.instanceCount;
  }

  /** Calls onProgress at most once a second, and always when `final`. */
  progress(final: boolean): void {
    const now = performance.now();
    if (!this.onProgress || (!final && now - this.lastProgress < PROGRESS_EVERY_MS)) return;
    this.lastProgress = now;
    this.onProgress({
      filesSeen: this.counts.seen,
      filesRead: this.counts.filesRead,
      instances: this.records.instanceCount,
      failed: this.failedCount,
      elapsedSeconds: (now - this.started) / 1000,
    });
  }

  /** Each source's entry of report.json's `sources`, in the order the sources were opened. */
  sources(): SourceReport[] {
    return this.tallies.map((s) => s.toJSON());
  }

  /** Failures delivered so far, in path order: what a run that stops lists. */
  failuresSoFar(): FileFailure[] {
    return this.records.heldFailures().sort(compareFailures);
  }

  /** The records, for the write: as they are in memory, or the record file finished and opened for reading. */
  async recordSet(): Promise<RecordSet> {
    const sealed = await this.records.seal({});
    if ("memory" in sealed) return sealed.memory;
    const { RecordFileReader } = await import("./recordFile.js");
    const { FileRecords } = await import("./recordStore.js");
    return new FileRecords([RecordFileReader.open(sealed.file)]);
  }

  /** A shard's end: its records sealed into its part's record file, with `meta`. */
  async sealPart(meta: Readonly<Record<string, unknown>>): Promise<{ readonly file: string; readonly instances: number; readonly failures: number }> {
    const sealed = await this.records.seal(meta);
    if (!("file" in sealed)) throw new Error("internal: a shard's records are always in its part");
    return { file: sealed.file, instances: this.records.instanceCount, failures: this.failedCount };
  }
}
