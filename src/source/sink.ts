import type { HeaderRead } from "../core/record.js";
import type { FileFailure } from "../core/reasons.js";
import type { StoredCounts } from "../core/counts.js";

/**
 * Where every source (files, DICOMweb, incremental state, shard parts) delivers what it finds: the same
 * instance record a header read makes, so that one path turns records into resources.
 */
export interface InstanceSink {
  /** An item found (a file, a listed instance); `reading` or `unread` follows for it, later. */
  seen(): void;
  /** An item that will not be read, with its reason (a FIFO, an unreadable folder, a study that could not be fetched). */
  unread(failure: FileFailure): void;
  /**
   * An item read: an instance record with its study and series attributes, or a reasoned failure. `stored`:
   * not read now but taken from an incremental run's state (the file has not changed since it was read), so
   * its bytes count in what reading the archive costs (the medians) but not in what this run read.
   */
  read(result: HeaderRead, stored?: boolean): void;
}

/** The sink of the incremental source: records of kept studies come as their counts, not one by one. */
export interface IncrementalSink extends InstanceSink {
  /** The instance records of a kept study, as the state counted them. */
  kept(counts: StoredCounts): void;
  /** A file read again that gave what the state holds: its bytes count as read now; its record comes later, if at all. */
  readAgain(bytesRead: number): void;
}

/** What one source delivered: an entry of report.json's `sources` (README, "From a PACS"). */
export interface SourceReport {
  readonly kind: "files" | "dicomweb";
  /** DICOMweb: the service root, without credentials. */
  readonly root?: string;
  /** DICOMweb: studies listed, and of them read and failed (each failed study is one errors.ndjson line). */
  readonly studies?: StudyCounts;
  /** Items seen = instances + the items counted in `reasons`. */
  readonly seen: number;
  /** Instance records delivered (before duplicates are resolved and resources validated). */
  readonly instances: number;
  /** Items that did not become an instance record, per reason code. */
  readonly reasons: Readonly<Record<string, number>>;
}

export interface StudyCounts {
  readonly listed: number;
  readonly read: number;
  readonly failed: number;
}

/** Passes everything on to `sink`, counting it for the source's entry in the report. */
export class SourceTally implements IncrementalSink {
  private seenCount = 0;
  private instances = 0;
  private readonly reasons = new Map<string, number>();
  studies: StudyCounts | undefined;

  constructor(
    private readonly sink: IncrementalSink,
    private readonly kind: SourceReport["kind"],
    private readonly root?: string,
  ) {}

  seen(): void {
    this.seenCount++;
    this.sink.seen();
  }

  unread(failure: FileFailure): void {
    this.count(failure.reason);
    this.sink.unread(failure);
  }

  read(result: HeaderRead, stored?: boolean): void {
    if ("failure" in result) this.count(result.failure.reason);
    else this.instances++;
    this.sink.read(result, stored);
  }

  /** The instance records of a study an incremental run keeps, as its state counted them. */
  kept(counts: StoredCounts): void {
    for (const [, n] of counts.bytesPerInstanceFile) this.instances += n;
    this.sink.kept(counts);
  }

  readAgain(bytesRead: number): void {
    this.sink.readAgain(bytesRead);
  }

  private count(reason: string): void {
    this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + 1);
  }

  toJSON(): SourceReport {
    const reasons = Object.fromEntries([...this.reasons.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
    return { kind: this.kind, root: this.root, studies: this.studies, seen: this.seenCount, instances: this.instances, reasons };
  }
}
