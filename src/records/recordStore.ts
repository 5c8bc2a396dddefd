// Where the records a run's sources deliver wait until they are written: in memory while the run is small, in a
// record file (records/recordFile.ts), partitioned by study, once it is large, and in the record files of shards'
// parts for merge. The write path (write/writeOutputs.ts) reads every kind the same way, one partition at a time.
import type { FileFailure, FilePath } from "../core/reasons.js";
import { comparePaths } from "../core/reasons.js";
import { SOP_HASH_LIMIT, partitionOf, partitionRange, studyHash } from "../core/hash.js";
import { type EntryResult, failureOf } from "../core/recordCodec.js";
import type { InstanceRecord } from "../core/record.js";
import type { RecordFileReader, RecordFileWriter } from "./recordFile.js";

/**
 * Instance records per partition: one partition's studies are assembled, mapped and validated while the others
 * wait on disk. ~490 bytes per instance in the assembler (BENCHMARKS.md) make a partition's records ~25 MB, and
 * what the JavaScript heap grows to around them stays near 100 MB (measured: merge of 1 M records peaked at 280 MB
 * RSS with 50,000 per partition, 350 MB with 100,000, 660 MB with 200,000).
 */
export const PARTITION_INSTANCES = 50_000;
/**
 * A run keeps its records in memory up to this many (~400 bytes each, besides the assembler's): below it, writing
 * them to disk would cost more time than the memory is worth.
 */
export const SPILL_AT = 100_000;
/** SOP hashes compared at once when looking for SOP Instance UIDs held in several partitions. */
const SOP_BUCKET = 200_000;

/** The records a run has to write, as the write path reads them. */
export interface RecordSet {
  /** Instance records held, duplicates included. */
  readonly instanceCount: number;
  /** The partition count the size asks for (1 for records in memory). */
  readonly partitions: number;
  /** Records on disk are written through spools on disk too (write/writeOutputs.ts); records in memory through memory. */
  readonly onDisk: boolean;
  /** The instance records of partition `p` of `count`, in no particular order. */
  instances(p: number, count: number): Iterable<InstanceRecord>;
  /**
   * For each SOP Instance UID whose files lie in more than one of `count` partitions: the path of the file used,
   * the one whose path sorts first (as group/studies.ts decides within a partition).
   */
  crossPartitionWinners(count: number): Map<string, FilePath>;
  /** The crawl's refusals and the header reads that failed. */
  failures(): Iterable<FileFailure>;
  close(): void;
}

/** Records in memory: one partition. */
class MemoryRecords implements RecordSet {
  readonly partitions = 1;
  readonly onDisk = false;

  constructor(
    private readonly records: readonly InstanceRecord[],
    private readonly failed: readonly EntryResult[],
  ) {}

  get instanceCount(): number {
    return this.records.length;
  }

  instances(p: number, count: number): Iterable<InstanceRecord> {
    if (count !== 1 || p !== 0) throw new Error("internal: records in memory are one partition");
    return this.records;
  }

  crossPartitionWinners(): Map<string, FilePath> {
    return new Map();
  }

  failures(): Iterable<FileFailure> {
    return this.failed.map(failureOf);
  }

  close(): void {}
}

/** Records in record files (one for a large run, one per part for merge), read a partition at a time. */
export class FileRecords implements RecordSet {
  readonly instanceCount: number;
  readonly onDisk = true;

  constructor(private readonly files: readonly RecordFileReader[]) {
    this.instanceCount = files.reduce((n, f) => n + f.meta.instances, 0);
  }

  get partitions(): number {
    return Math.max(1, Math.ceil(this.instanceCount / PARTITION_INSTANCES));
  }

  *instances(p: number, count: number): Iterable<InstanceRecord> {
    const [from, to] = partitionRange(p, count);
    for (const file of this.files) yield* file.instances(from, to);
  }

  crossPartitionWinners(count: number): Map<string, FilePath> {
    const winners = new Map<string, FilePath>();
    if (count === 1) return winners;
    // A first pass over SOP hashes only, a bucket at a time: the hashes seen in two partitions are candidates.
    const buckets = Math.max(1, Math.ceil(this.instanceCount / SOP_BUCKET));
    const candidates: number[] = [];
    for (let b = 0; b < buckets; b++) {
      const from = Math.floor((b * SOP_HASH_LIMIT) / buckets);
      const to = Math.floor(((b + 1) * SOP_HASH_LIMIT) / buckets);
      const partitionOfSop = new Map<number, number>();
      for (const file of this.files) {
        for (const [sop, h] of file.sops(from, to) as IterableIterator<[number, number]>) {
          const p = partitionOf(h, count);
          const seen = partitionOfSop.get(sop);
          if (seen === undefined) partitionOfSop.set(sop, p);
          else if (seen !== p) partitionOfSop.set(sop, -1);
        }
      }
      for (const [sop, p] of partitionOfSop) if (p === -1) candidates.push(sop);
    }
    // Then the records of the candidates, compared by UID: a hash shared by two UIDs is no duplicate.
    for (const sop of candidates) {
      const byUID = new Map<string, InstanceRecord[]>();
      for (const file of this.files) {
        for (const read of file.instancesWithSop(sop)) {
          const list = byUID.get(read.instance.sopInstanceUID);
          if (list) list.push(read);
          else byUID.set(read.instance.sopInstanceUID, [read]);
        }
      }
      for (const [uid, reads] of byUID) {
        if (new Set(reads.map((r) => partitionOf(studyHash(r.instance.studyInstanceUID), count))).size < 2) continue;
        winners.set(
          uid,
          reads.map((r) => r.instance.path).reduce((a, b) => (comparePaths(a, b) <= 0 ? a : b)),
        );
      }
    }
    return winners;
  }

  *failures(): Iterable<FileFailure> {
    for (const file of this.files) for (const result of file.failures()) yield failureOf(result);
  }

  close(): void {
    for (const file of this.files) file.close();
  }
}

/**
 * What a run's sink keeps of the records delivered to it: in memory up to about `spillAt` instance records, then
 * in a record file (`open` makes it; loading SQLite takes a moment, during which records still go to memory), the
 * ones held so far included. With `spillAt` 0 the file is opened by start(), before the first record.
 */
export class RecordStore {
  private records: InstanceRecord[] = [];
  private failed: EntryResult[] = [];
  private file: RecordFileWriter | undefined;
  private opening: Promise<void> | undefined;
  private opened: RecordFileWriter | undefined;
  private openFailed: { error: unknown } | undefined;
  /**
   * Study and series attributes by their text: every record from a reader thread brings its own copy of the
   * same few texts, and one copy of each is all the memory needs to keep.
   */
  private readonly texts = new Map<string, string>();
  instanceCount = 0;

  constructor(
    private readonly spillAt: number,
    private readonly open: () => Promise<RecordFileWriter>,
  ) {}

  async start(): Promise<void> {
    if (this.spillAt === 0) this.file = await this.open();
  }

  add(result: EntryResult): void {
    const instance = "read" in result && "instance" in result.read ? result.read : undefined;
    if (instance) this.instanceCount++;
    if (this.openFailed) throw this.openFailed.error;
    if (this.opened && !this.file) this.spill(this.opened);
    if (this.file) return this.file.add(result);
    if (!instance) {
      this.failed.push(result);
      return;
    }
    this.records.push({ ...instance, studyJSON: this.text(instance.studyJSON), seriesJSON: this.text(instance.seriesJSON) });
    if (this.records.length > this.spillAt && !this.opening) {
      this.opening = this.open().then(
        (file) => {
          this.opened = file;
        },
        (error: unknown) => {
          this.openFailed = { error };
        },
      );
    }
  }

  private text(json: string): string {
    const known = this.texts.get(json);
    if (known !== undefined) return known;
    this.texts.set(json, json);
    return json;
  }

  private spill(file: RecordFileWriter): void {
    this.file = file;
    for (const read of this.records) file.add({ read });
    for (const result of this.failed) file.add(result);
    this.records = [];
    this.failed = [];
    this.texts.clear();
  }

  /** Failures held so far, for a run that stops. */
  heldFailures(): FileFailure[] {
    return this.file ? this.file.failureRecords().map(failureOf) : this.failed.map(failureOf);
  }

  /**
   * Ends the run's records: those in memory as they are, or the record file finished (sorted into partitions, with
   * `meta`) and closed, to be read by path.
   */
  async seal(meta: Readonly<Record<string, unknown>>): Promise<{ readonly memory: RecordSet } | { readonly file: string }> {
    await this.opening;
    if (this.openFailed) throw this.openFailed.error;
    if (this.opened && !this.file) this.spill(this.opened);
    if (!this.file) return { memory: new MemoryRecords(this.records, this.failed) };
    this.file.finish(meta);
    return { file: this.file.path };
  }

  async close(): Promise<void> {
    await this.opening;
    (this.file ?? this.opened)?.close();
  }
}
