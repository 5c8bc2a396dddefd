// A record file: the instance records of a shard's part, or of a run too large to keep them in memory, on disk
// and partitioned, so that the write path holds one partition at a time. SQLite through better-sqlite3, with the
// encoding of the incremental state (records.ts): what a header read gave, attributes kept once per distinct text.
//
// Instances are clustered by a 32-bit hash of their Study Instance UID (core/hash.ts): a partition is a range
// of that hash, so whoever reads the file chooses the partition count (merge knows the total, no shard does),
// and reads a partition as one range of the table. An index by a hash of the SOP Instance UID finds the few UIDs
// held by files in several partitions. Failures (no study to place them by) have a table of their own.
//
// While a run writes, records are appended to a scratch file in arrival order; finish() sorts them into the
// file once, so the file holds each record once, in partition order, with no free pages.
import { rmSync } from "node:fs";
import { type Db, type Statement, VARIANT_TABLE, VariantIds, VariantTexts, attachScratch, kindMismatch, openDatabase, stampKind } from "../lib/sqlite.js";
import type { InstanceRecord } from "../core/record.js";
import type { FileFailure } from "../core/reasons.js";
import { sopHash, studyHash } from "../core/hash.js";
import { type EntryResult, StateError, decodeResult, encodeResult, pathFromKey, pathKey } from "../core/recordCodec.js";

const FORMAT = "dcm2fhir-records";
/** PRAGMA application_id "dcmr", schema 1. */
const KIND = { applicationId: 0x64636d72, schemaVersion: 1 };

const SCHEMA = `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  ${VARIANT_TABLE}
  CREATE TABLE instance (
    h INTEGER NOT NULL, seq INTEGER NOT NULL, sop INTEGER NOT NULL, path TEXT NOT NULL, bytes INTEGER NOT NULL,
    record TEXT NOT NULL, study INTEGER NOT NULL, series INTEGER NOT NULL, PRIMARY KEY (h, seq)
  ) WITHOUT ROWID;
  CREATE TABLE failure (seq INTEGER PRIMARY KEY, path TEXT NOT NULL, bytes INTEGER NOT NULL, record TEXT NOT NULL);
`;
const PENDING_SCHEMA = `
  CREATE TABLE pending.instance (h INTEGER NOT NULL, sop INTEGER NOT NULL, path TEXT NOT NULL, bytes INTEGER NOT NULL, record TEXT NOT NULL, study INTEGER NOT NULL, series INTEGER NOT NULL);
`;

/** Attribute texts remembered by the writer: a series' files mostly arrive together, so a few suffice. */
const VARIANT_CACHE = 4096;

/** Writes a record file: add() as records come, finish() once. */
export class RecordFileWriter {
  private readonly addInstance: Statement<[number, number, string, number, string, number, number]>;
  private readonly addFailure: Statement<[string, number, string]>;
  private readonly variants: VariantIds;
  private pendingRows = 0;
  instances = 0;
  failures = 0;
  private closed = false;

  private constructor(
    private readonly db: Db,
    readonly path: string,
    private readonly pendingPath: string,
  ) {
    this.addInstance = db.prepare("INSERT INTO pending.instance (h, sop, path, bytes, record, study, series) VALUES (?, ?, ?, ?, ?, ?, ?)");
    this.addFailure = db.prepare("INSERT INTO failure (path, bytes, record) VALUES (?, ?, ?)");
    this.variants = new VariantIds(db, VARIANT_CACHE);
  }

  /** A new record file at `path`; `pendingPath` is scratch space for records before they are sorted. */
  static create(path: string, pendingPath: string): RecordFileWriter {
    rmSync(path, { force: true });
    rmSync(pendingPath, { force: true });
    // Scratch until committed: a run that stops removes the file with its staging folder.
    const db = openDatabase(path, "scratch");
    try {
      stampKind(db, KIND);
      db.exec(SCHEMA);
      attachScratch(db, pendingPath, "pending");
      db.exec(PENDING_SCHEMA);
      db.exec("BEGIN");
    } catch (error) {
      db.close();
      throw error;
    }
    return new RecordFileWriter(db, path, pendingPath);
  }

  add(result: EntryResult): void {
    const encoded = encodeResult(result);
    if ("read" in result && "instance" in result.read) {
      const { instance } = result.read;
      this.addInstance.run(
        studyHash(instance.studyInstanceUID),
        sopHash(instance.sopInstanceUID),
        pathKey(instance.path),
        encoded.bytes,
        encoded.record,
        this.variants.idOf(encoded.studyJSON!),
        this.variants.idOf(encoded.seriesJSON!),
      );
      this.instances++;
    } else {
      this.addFailure.run(
        pathKey("unread" in result ? result.unread.path : (result.read as { failure: FileFailure }).failure.path),
        encoded.bytes,
        encoded.record,
      );
      this.failures++;
    }
    // Commits now and then, so that SQLite's page cache, not this run, holds what waits to be written.
    if (++this.pendingRows === 50_000) {
      this.pendingRows = 0;
      this.db.exec("COMMIT; BEGIN");
    }
  }

  /** Sorts the records into partition order, indexes them, writes `meta` and closes the file. */
  finish(meta: Readonly<Record<string, unknown>>): void {
    this.db.exec(
      "INSERT INTO instance (h, seq, sop, path, bytes, record, study, series) SELECT h, rowid, sop, path, bytes, record, study, series FROM pending.instance ORDER BY h, rowid",
    );
    this.db.exec("COMMIT");
    this.db.exec("DETACH DATABASE pending");
    rmSync(this.pendingPath, { force: true });
    this.db.exec("CREATE INDEX instance_sop ON instance (sop)");
    const put = this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
    const all = { format: FORMAT, instances: this.instances, failures: this.failures, ...meta };
    this.db.transaction(() => {
      for (const [key, value] of Object.entries(all)) put.run(key, JSON.stringify(value));
    })();
    this.db.close();
    this.closed = true;
  }

  /** The failures added so far, for a run that stops. */
  failureRecords(): EntryResult[] {
    const rows = this.db.prepare<[], [string, number, string]>("SELECT path, bytes, record FROM failure ORDER BY seq").raw().all();
    return rows.map(([key, bytes, record]) => decodeResult(pathFromKey(key), { bytes, record, studyJSON: null, seriesJSON: null }));
  }

  /** For a run that stops: the files go with the staging folder. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
    rmSync(this.pendingPath, { force: true });
  }
}

/** A record file is not one, or not whole: merge names the part it belongs to. */
export class RecordFileError extends Error {
  override readonly name = "RecordFileError";
}

/** A finished record file, read-only. */
export class RecordFileReader {
  private readonly inRange: Statement<[number, number], unknown[]>;
  private readonly sopsInRange: Statement<[number, number], unknown[]>;
  private readonly withSop: Statement<[number], unknown[]>;
  /** Attribute texts by id, for the partition being read: a partition's records use few of them. */
  private readonly variants: VariantTexts;

  private constructor(
    private readonly db: Db,
    readonly meta: Readonly<Record<string, unknown>> & { readonly instances: number; readonly failures: number },
  ) {
    this.inRange = db.prepare<[number, number], unknown[]>("SELECT path, bytes, record, study, series FROM instance WHERE h >= ? AND h < ?").raw();
    this.sopsInRange = db.prepare<[number, number], unknown[]>("SELECT sop, h FROM instance INDEXED BY instance_sop WHERE sop >= ? AND sop < ?").raw();
    this.withSop = db.prepare<[number], unknown[]>("SELECT path, bytes, record, study, series FROM instance INDEXED BY instance_sop WHERE sop = ?").raw();
    this.variants = new VariantTexts(db);
  }

  static open(path: string): RecordFileReader {
    let db: Db | undefined;
    try {
      // Merge reads many parts at once: each keeps a small page cache, the operating system caches the rest.
      db = openDatabase(path, "read", 1);
      const mismatch = kindMismatch(db, KIND);
      if (mismatch === "other-file") throw new RecordFileError("it is not a dcm2fhir record file");
      if (mismatch === "other-version") throw new RecordFileError("it was written by another version of dcm2fhir");
      const rows = db.prepare<[], [string, string]>("SELECT key, value FROM meta").raw().all();
      const meta = Object.fromEntries(rows.map(([key, value]) => [key, JSON.parse(value)])) as Record<string, unknown>;
      if (meta.format !== FORMAT || typeof meta.instances !== "number" || typeof meta.failures !== "number") throw new RecordFileError("it was not finished");
      return new RecordFileReader(db, meta as RecordFileReader["meta"]);
    } catch (error) {
      db?.close();
      if (error instanceof RecordFileError) throw error;
      throw new RecordFileError(`it cannot be read (${(error as { code?: string }).code ?? (error as Error).message})`);
    }
  }

  /** The instance records whose study hash lies in [from, to), in hash order. */
  *instances(from: number, to: number): Generator<InstanceRecord> {
    this.variants.forget();
    for (const row of this.inRange.iterate(from, to)) yield this.decode(row);
  }

  /** [SOP hash, study hash] of the records whose SOP hash lies in [from, to). */
  sops(from: number, to: number): IterableIterator<unknown[]> {
    return this.sopsInRange.iterate(from, to);
  }

  /** The instance records with this SOP hash. */
  instancesWithSop(sop: number): InstanceRecord[] {
    return this.withSop.all(sop).map((row) => this.decode(row));
  }

  /** Every failure: the crawl's refusals and the header reads that failed, in the order they came. */
  *failures(): Generator<EntryResult> {
    const rows = this.db.prepare<[], [string, number, string]>("SELECT path, bytes, record FROM failure ORDER BY seq").raw();
    for (const [key, bytes, record] of rows.iterate()) yield decodeResult(pathFromKey(key), { bytes, record, studyJSON: null, seriesJSON: null });
  }

  private decode(row: unknown[]): InstanceRecord {
    const [key, bytes, record, study, series] = row as [string, number, string, number, number];
    const decoded = decodeResult(pathFromKey(key), { bytes, record, studyJSON: this.variant(study), seriesJSON: this.variant(series) });
    if (!("read" in decoded) || !("instance" in decoded.read)) throw new StateError("an instance row holds no instance");
    return decoded.read;
  }

  private variant(id: number): string {
    const json = this.variants.textOf(id);
    if (json === undefined) throw new StateError("a record refers to attributes the file does not hold");
    return json;
  }

  close(): void {
    this.db.close();
  }
}
