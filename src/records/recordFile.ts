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
import { rmSync, statSync } from "node:fs";
import Database from "better-sqlite3";
import type { HeaderRead, InstanceRecord } from "../core/record.js";
import type { FileFailure } from "../core/reasons.js";
import { sopHash, studyHash } from "../core/hash.js";
import { type EntryResult, StateError, decodeResult, encodeResult, pathFromKey, pathKey } from "../core/recordCodec.js";

const FORMAT = "dcm2fhir-records";
const SCHEMA_VERSION = 1;
/** PRAGMA application_id: "dcmr". */
const APPLICATION_ID = 0x64636d72;

const SCHEMA = `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE variant (id INTEGER PRIMARY KEY, json TEXT NOT NULL UNIQUE);
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
  private readonly addInstance: Database.Statement<[number, number, string, number, string, number, number]>;
  private readonly addFailure: Database.Statement<[string, number, string]>;
  private readonly addVariant: Database.Statement<[string]>;
  private readonly variantId: Database.Statement<[string], number>;
  private readonly variants = new Map<string, number>();
  private pendingRows = 0;
  instances = 0;
  failures = 0;
  private closed = false;

  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
    private readonly pendingPath: string,
  ) {
    this.addInstance = db.prepare("INSERT INTO pending.instance (h, sop, path, bytes, record, study, series) VALUES (?, ?, ?, ?, ?, ?, ?)");
    this.addFailure = db.prepare("INSERT INTO failure (path, bytes, record) VALUES (?, ?, ?)");
    this.addVariant = db.prepare("INSERT OR IGNORE INTO variant (json) VALUES (?)");
    this.variantId = db.prepare<[string], number>("SELECT id FROM variant WHERE json = ?").pluck();
  }

  /** A new record file at `path`; `pendingPath` is scratch space for records before they are sorted. */
  static create(path: string, pendingPath: string): RecordFileWriter {
    rmSync(path, { force: true });
    rmSync(pendingPath, { force: true });
    const db = new Database(path);
    try {
      // Scratch until committed: a run that stops removes the file with its staging folder.
      db.pragma("journal_mode = OFF");
      db.pragma("synchronous = OFF");
      db.pragma(`application_id = ${APPLICATION_ID}`);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
      db.exec(SCHEMA);
      db.prepare("ATTACH DATABASE ? AS pending").run(pendingPath);
      db.exec("PRAGMA pending.journal_mode = OFF; PRAGMA pending.synchronous = OFF;");
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
        this.variant(encoded.studyJSON!),
        this.variant(encoded.seriesJSON!),
      );
      this.instances++;
    } else {
      this.addFailure.run(pathKey("unread" in result ? result.unread.path : (result.read as { failure: FileFailure }).failure.path), encoded.bytes, encoded.record);
      this.failures++;
    }
    // Commits now and then, so that SQLite's page cache, not this run, holds what waits to be written.
    if (++this.pendingRows === 50_000) {
      this.pendingRows = 0;
      this.db.exec("COMMIT; BEGIN");
    }
  }

  private variant(json: string): number {
    let id = this.variants.get(json);
    if (id === undefined) {
      this.addVariant.run(json);
      id = this.variantId.get(json)!;
      if (this.variants.size === VARIANT_CACHE) this.variants.clear();
      this.variants.set(json, id);
    }
    return id;
  }

  /** Sorts the records into partition order, indexes them, writes `meta` and closes the file. */
  finish(meta: Readonly<Record<string, unknown>>): void {
    this.db.exec("INSERT INTO instance (h, seq, sop, path, bytes, record, study, series) SELECT h, rowid, sop, path, bytes, record, study, series FROM pending.instance ORDER BY h, rowid");
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
  private readonly inRange: Database.Statement<[number, number], unknown[]>;
  private readonly sopsInRange: Database.Statement<[number, number], unknown[]>;
  private readonly withSop: Database.Statement<[number], unknown[]>;
  private readonly variantJson: Database.Statement<[number], string>;
  /** Attribute texts by id, for the partition being read: a partition's records use few of them. */
  private variants = new Map<number, string>();

  private constructor(
    private readonly db: Database.Database,
    readonly meta: Readonly<Record<string, unknown>> & { readonly instances: number; readonly failures: number },
  ) {
    this.inRange = db.prepare<[number, number], unknown[]>("SELECT path, bytes, record, study, series FROM instance WHERE h >= ? AND h < ?").raw();
    this.sopsInRange = db.prepare<[number, number], unknown[]>("SELECT sop, h FROM instance INDEXED BY instance_sop WHERE sop >= ? AND sop < ?").raw();
    this.withSop = db.prepare<[number], unknown[]>("SELECT path, bytes, record, study, series FROM instance INDEXED BY instance_sop WHERE sop = ?").raw();
    this.variantJson = db.prepare<[number], string>("SELECT json FROM variant WHERE id = ?").pluck();
  }

  static open(path: string): RecordFileReader {
    let db: Database.Database | undefined;
    try {
      db = new Database(path, { readonly: true, fileMustExist: true });
      // Merge reads many parts at once: each keeps a small page cache, the operating system caches the rest.
      db.pragma("cache_size = -1024");
      if (db.pragma("application_id", { simple: true }) !== APPLICATION_ID) throw new RecordFileError("it is not a dcm2fhir record file");
      if (db.pragma("user_version", { simple: true }) !== SCHEMA_VERSION) throw new RecordFileError("it was written by another version of dcm2fhir");
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
    this.variants = new Map();
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
    let json = this.variants.get(id);
    if (json === undefined) {
      json = this.variantJson.get(id);
      if (json === undefined) throw new StateError("a record refers to attributes the file does not hold");
      this.variants.set(id, json);
    }
    return json;
  }

  close(): void {
    this.db.close();
  }
}

/** The size of a file, for a manifest to be checked against. */
export const fileSize = (path: string): number => statSync(path).size;
