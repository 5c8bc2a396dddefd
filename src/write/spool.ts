// Spools: what the write path produces partition by partition (studies, a patient's studies, failures) and must
// give back in output order (studies by UID, patients by id, failures by path). A key is bytes, and bytes compare
// the same way in memory (Buffer.compare) and in SQLite (BLOB: memcmp, then length), so the order is the same
// whichever keeps them: memory for a run whose records are in memory, an SQLite file (sorted by SQLite's external
// sort, in bounded memory) for a partitioned one. Equal keys keep the order they were added in.

export interface Spool {
  add(key: Buffer, value: string): void;
  /** Every value, in key order. */
  sorted(): Iterable<string>;
}

/** Joins the parts of a key so that keys compare part by part: NUL, which no part holds, sorts before every byte. */
export const spoolKey = (...parts: ReadonlyArray<string | Buffer>): Buffer => {
  const buffers: Buffer[] = [];
  parts.forEach((part, i) => {
    if (i > 0) buffers.push(NUL);
    buffers.push(typeof part === "string" ? Buffer.from(part) : part);
  });
  return Buffer.concat(buffers);
};
const NUL = Buffer.from([0]);

export class MemorySpool implements Spool {
  private readonly items: Array<{ readonly key: Buffer; readonly value: string }> = [];

  add(key: Buffer, value: string): void {
    this.items.push({ key, value });
  }

  *sorted(): Iterable<string> {
    // Array.prototype.sort is stable: equal keys keep the order they were added in.
    for (const item of this.items.sort((a, b) => Buffer.compare(a.key, b.key))) yield item.value;
  }
}

/**
 * A spool in an SQLite scratch file of its own (which goes with the run's staging folder): one connection per spool,
 * so that one can be read while another is written.
 */
export async function spoolFile(path: string): Promise<Spool & { close(): void }> {
  // Loaded here: runs whose records are in memory need no SQLite. Written once, read once in order: a small page
  // cache does (this build's default is 16 MB per connection).
  const { openDatabase } = await import("../lib/sqlite.js");
  const db = openDatabase(path, "scratch", 2);
  db.exec("CREATE TABLE spool (seq INTEGER PRIMARY KEY, key BLOB NOT NULL, value TEXT NOT NULL)");
  const insert = db.prepare<[Buffer, string]>("INSERT INTO spool (key, value) VALUES (?, ?)");
  let pending = 0;
  const commit = () => {
    if (db.inTransaction) db.exec("COMMIT");
  };
  return {
    add: (key, value) => {
      // Rows go in by transactions of many: one per row would sync nothing but still cost a journal each.
      if (!db.inTransaction) db.exec("BEGIN");
      insert.run(key, value);
      if (++pending % 10_000 === 0) commit();
    },
    sorted: () => {
      commit();
      // Read in key order through an index made once, at the end: sorting the rows themselves would copy every
      // value (an ImagingStudy line is tens of kB) through SQLite's sorter.
      db.exec("CREATE INDEX IF NOT EXISTS spool_order ON spool (key, seq)");
      return db.prepare<[], string>("SELECT value FROM spool INDEXED BY spool_order ORDER BY key, seq").pluck().iterate();
    },
    close: () => {
      commit();
      db.close();
    },
  };
}
