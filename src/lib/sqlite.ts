// The one SQLite layer: every store of dcm2fhir (the incremental state, record files, the write stage's spools, the
// search index) opens its file here, so that each kind of use gets the same, deliberate pragmas; and the two things
// several stores do alike live here too: the stamp that says which kind of dcm2fhir file a file is (application_id
// and user_version), and attribute texts kept once per distinct text (a `variant` table).
import Database from "better-sqlite3";

export type Db = Database.Database;
export type Statement<P extends unknown[] | object = unknown[], R = unknown> = Database.Statement<P, R>;

/**
 * - `build`: a new file written once by one process and renamed into place afterwards (the search index, the
 *   incremental state in a staging folder). No journal and no syncs while writing: a crash leaves a staging file
 *   that is thrown away, and the commit syncs the finished file before renaming it. A fixed page size, so the same
 *   rows in the same order give the same bytes on any machine.
 * - `read`: a finished file, read-only (`serve`, `search`, the committed state, a shard's part). Opening never
 *   writes beside it (no -wal, -shm or -journal file), so a folder anyone may only read can be served.
 * - `scratch`: a file of the run's staging folder that the run writes and reads back itself (the write stage's
 *   spools, a record file before it is finished): no journal, no syncs, SQLite's own page size.
 * - `cache`: a finished search index that `serve --pacs` (or `search --pacs`) adds what the PACS answers to, in
 *   place. One process holds it (an exclusive lock, taken at open and kept); each write is a short transaction with
 *   a rollback journal beside the file, so that a crash leaves the index as it was before that write.
 */
export type OpenMode = "build" | "read" | "scratch" | "cache";

const DEFAULT_CACHE_MIB: Record<OpenMode, number | undefined> = { build: 64, read: 16, scratch: undefined, cache: 16 };

/**
 * `cacheMiB`: SQLite's page cache. The defaults suit the incremental state, rewritten row by row; the search index,
 * whose build inserts far more rows than it revisits, asks for less (a bigger cache made it no faster, only larger);
 * a spool, written once and read once in order, for little; merge, which reads many parts at once, for little each.
 */
export function openDatabase(path: string, mode: OpenMode, cacheMiB = DEFAULT_CACHE_MIB[mode]): Db {
  const db = new Database(path, { readonly: mode === "read", fileMustExist: mode === "read" || mode === "cache" });
  try {
    if (mode === "build") {
      db.pragma("page_size = 8192");
      db.pragma("journal_mode = OFF");
      db.pragma("synchronous = OFF");
      db.pragma("locking_mode = EXCLUSIVE");
    } else if (mode === "scratch") {
      db.pragma("journal_mode = OFF");
      db.pragma("synchronous = OFF");
    } else if (mode === "cache") {
      db.pragma("journal_mode = DELETE");
      // A crashed process leaves the index as before its last write (the journal sees to that); fewer syncs than FULL,
      // as this is a cache that the PACS can fill again.
      db.pragma("synchronous = NORMAL");
      db.pragma("locking_mode = EXCLUSIVE");
      // Taken now, and kept: a second writer is refused at open rather than in the middle of a search.
      db.exec("BEGIN EXCLUSIVE; COMMIT");
      db.pragma("mmap_size = 0");
      db.pragma("temp_store = MEMORY");
    } else {
      db.pragma("query_only = ON");
      // The file is never written in place (a new one is renamed over it), so one shared lock, held from the first
      // read on, spares every statement taking and releasing it and checking the file for a journal and a change
      // (about 15 µs of a 50 µs search). Set after a first read: a WAL file (one changed by hand) opened exclusive
      // from the start cannot be read at all.
      db.pragma("schema_version");
      db.pragma("locking_mode = EXCLUSIVE");
      // No memory map: the file stays on disk, and the process's memory small.
      db.pragma("mmap_size = 0");
      db.pragma("temp_store = MEMORY");
    }
    if (cacheMiB !== undefined) db.pragma(`cache_size = -${cacheMiB * 1024}`);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

/** Attaches a scratch file to `db` under `schema` (a record file's unsorted records, say), with scratch's pragmas. */
export function attachScratch(db: Db, path: string, schema: string): void {
  db.prepare(`ATTACH DATABASE ? AS ${schema}`).run(path);
  db.exec(`PRAGMA ${schema}.journal_mode = OFF; PRAGMA ${schema}.synchronous = OFF;`);
}

/** Which kind of dcm2fhir file, and which schema of it: PRAGMA application_id and user_version. */
export interface FileKind {
  /** Four ASCII letters as a number; another program's SQLite file has another (most have 0). */
  readonly applicationId: number;
  readonly schemaVersion: number;
}

export function stampKind(db: Db, kind: FileKind): void {
  db.pragma(`application_id = ${kind.applicationId}`);
  db.pragma(`user_version = ${kind.schemaVersion}`);
}

/** Whether `db` is a file of this kind: "other-file" (not ours at all), "other-version" (another schema), or undefined. */
export function kindMismatch(db: Db, kind: FileKind): "other-file" | "other-version" | undefined {
  if (db.pragma("application_id", { simple: true }) !== kind.applicationId) return "other-file";
  if (db.pragma("user_version", { simple: true }) !== kind.schemaVersion) return "other-version";
  return undefined;
}

/**
 * Study and series attributes travel as their JSON text, the same for every file of a series: a store keeps each
 * distinct text once, in this table, and refers to it by id.
 */
export const VARIANT_TABLE = "CREATE TABLE variant (id INTEGER PRIMARY KEY, json TEXT NOT NULL UNIQUE);";

/** Gives each text its id in the variant table, adding the texts it has not seen; the last `remember` texts are kept in memory. */
export class VariantIds {
  private readonly add: Statement<[string]>;
  private readonly find: Statement<[string], number>;
  private readonly known = new Map<string, number>();

  constructor(
    db: Db,
    private readonly remember: number,
  ) {
    this.add = db.prepare("INSERT OR IGNORE INTO variant (json) VALUES (?)");
    this.find = db.prepare<[string], number>("SELECT id FROM variant WHERE json = ?").pluck();
  }

  idOf(json: string): number {
    let id = this.known.get(json);
    if (id === undefined) {
      this.add.run(json);
      id = this.find.get(json)!;
      if (this.known.size === this.remember) this.known.clear();
      this.known.set(json, id);
    }
    return id;
  }
}

/** The texts of the variant table by id, each read once until `forget`. */
export class VariantTexts {
  private readonly find: Statement<[number], string>;
  private known = new Map<number, string>();

  constructor(private readonly db: Db) {
    this.find = db.prepare<[number], string>("SELECT json FROM variant WHERE id = ?").pluck();
  }

  /** Undefined for an id the table does not hold: a store that contradicts itself. */
  textOf(id: number): string | undefined {
    let json = this.known.get(id);
    if (json === undefined) {
      json = this.find.get(id);
      if (json !== undefined) this.known.set(id, json);
    }
    return json;
  }

  /** Every text, by id, at once: for reading a whole store. */
  all(): Map<number, string> {
    return new Map(this.db.prepare<[], [number, string]>("SELECT id, json FROM variant").raw().all());
  }

  /** Drops the texts read so far (a new partition uses others). */
  forget(): void {
    this.known = new Map();
  }
}
