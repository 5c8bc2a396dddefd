// Every SQLite store of dcm2fhir opens its file here, so that each kind of use gets the same, deliberate pragmas.
import Database from "better-sqlite3";

export type Db = Database.Database;

/**
 * - `build`: a new file written once by one process and renamed into place afterwards (the search index in a
 *   staging folder). No journal and no syncs while writing: a crash leaves a staging file that is thrown
 *   away, and the commit syncs the finished file before renaming it.
 * - `read`: a finished file, read-only (`serve`, `search`). Opening never writes beside it (no -wal, -shm or
 *   -journal file), so a folder anyone may only read can be served.
 *
 * - `cache`: a finished search index that `serve --pacs` (or `search --pacs`) adds what the PACS answers to, in
 *   place. One process holds it (an exclusive lock, taken at open and kept); each write is a short transaction with
 *   a rollback journal beside the file, so that a crash leaves the index as it was before that write.
 *
 * The incremental state is `build` too: each run writes a copy in its staging folder, and the commit renames it.
 */
export type OpenMode = "build" | "read" | "cache";

/**
 * `cacheMiB`: SQLite's page cache. The default suits the incremental state, rewritten row by row; the search index,
 * whose build inserts far more rows than it revisits, asks for less (a bigger cache made it no faster, only larger).
 */
export function openDatabase(path: string, mode: OpenMode, cacheMiB = mode === "build" ? 64 : 16): Db {
  const db = new Database(path, { readonly: mode === "read", fileMustExist: mode !== "build" });
  try {
    if (mode === "build") {
      // A fixed page size, so the same rows in the same order give the same bytes on any machine.
      db.pragma("page_size = 8192");
      db.pragma("journal_mode = OFF");
      db.pragma("synchronous = OFF");
      db.pragma("locking_mode = EXCLUSIVE");
      db.pragma(`cache_size = -${cacheMiB * 1024}`);
    } else if (mode === "cache") {
      db.pragma("journal_mode = DELETE");
      // A crashed process leaves the index as before its last write (the journal sees to that); fewer syncs than FULL,
      // as this is a cache that the PACS can fill again.
      db.pragma("synchronous = NORMAL");
      db.pragma("locking_mode = EXCLUSIVE");
      // Taken now, and kept: a second writer is refused at open rather than in the middle of a search.
      db.exec("BEGIN EXCLUSIVE; COMMIT");
      db.pragma(`cache_size = -${cacheMiB * 1024}`);
      db.pragma("mmap_size = 0");
      db.pragma("temp_store = MEMORY");
    } else {
      db.pragma("query_only = ON");
      // The file is never written in place (a new index is renamed over it), so one shared lock, held from the first
      // read on, spares every statement taking and releasing it and checking the file for a journal and a change
      // (about 15 µs of a 50 µs search). Set after a first read: a WAL file (one changed by hand) opened exclusive from the start
      // cannot be read at all.
      db.pragma("schema_version");
      db.pragma("locking_mode = EXCLUSIVE");
      // 16 MiB of page cache (by default) and no memory map: the index stays on disk, and the server's memory small.
      db.pragma(`cache_size = -${cacheMiB * 1024}`);
      db.pragma("mmap_size = 0");
      db.pragma("temp_store = MEMORY");
    }
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}
