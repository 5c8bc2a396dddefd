// The state of incremental runs (`convert --incremental`): for every entry the last run found, its identity
// (size, mtime, ctime, inode, device) and what reading it gave — the WireRead every source yields, or the
// crawl's refusal — so that a later run re-reads only files that are new or changed. SQLite through
// better-sqlite3: embedded, synchronous, one file.
//
// The state is an output file like the others: a run copies it into its staging folder, changes the copy, and
// the journaled commit (write/outputDir.ts) renames it into place with the outputs. A run killed at any moment
// leaves the previous output and its state together. A digest beside it (state.json) is checked before
// anything in the database is trusted, so a corrupt, truncated or foreign file is replaced, never used.
import { createHash } from "node:crypto";
import { closeSync, copyFileSync, existsSync, openSync, readFileSync, readSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type Database from "better-sqlite3";
import type { FilePath } from "../reasons.js";
import { openDatabase } from "./db.js";
import type { Report } from "../write/report.js";
import type { Fingerprint } from "./fingerprint.js";
import { STATE_DATABASE, STATE_DIGEST } from "./layout.js";
import { type EncodedResult, type EntryResult, StateError, decodeResult, pathFromKey, pathKey } from "./records.js";

const FORMAT = "dcm2fhir-state";
const SCHEMA_VERSION = 1;
/** PRAGMA application_id: "dcm2". Another program's SQLite file has another (most have 0). */
const APPLICATION_ID = 0x64636d32;

// One `entry` per path, small so that a run loads them all quickly: the path (as given, or "\0" and its bytes
// as Latin-1 when the name is not UTF-8), an id, how often the inputs list it (overlapping inputs list a file
// twice), and the file's identity: null when unknown (the entry could not be stat'ed, or the crawl refused it),
// `racy` when the file changed so shortly before it was looked at that a change in the same clock tick could go
// unseen; either way it is read again. What reading gave is in `result`, by id; study and series attributes, the
// same for every file of a series, are kept once in `variant`.
const SCHEMA = `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE entry (
    path TEXT PRIMARY KEY, id INTEGER NOT NULL, seen INTEGER NOT NULL,
    size INTEGER, mtime REAL, ctime REAL, ino INTEGER, dev INTEGER, racy INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE result (id INTEGER PRIMARY KEY, bytes INTEGER NOT NULL, record TEXT NOT NULL, study INTEGER, series INTEGER);
  CREATE TABLE variant (id INTEGER PRIMARY KEY, json TEXT NOT NULL UNIQUE);
`;

/**
 * What the state knows of a file without reading it: writing to a file changes its mtime and ctime (and most
 * often its size); replacing it changes its inode. Times are milliseconds with their fraction, as stat gives them.
 */
export interface FileIdentity {
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly ino: number;
  readonly dev: number;
  /** Changed too shortly before it was looked at to be trusted next time: read again whatever its identity. */
  readonly racy: boolean;
}

/** An output file as committed with the state (identity undefined: the run wrote none): renames keep inode, size and mtime. */
export interface OutputIdentity {
  readonly name: string;
  readonly identity?: string;
}

export interface StateMeta {
  readonly fingerprint: Fingerprint;
  /** The report of the run that committed the state, without the keys that describe only that run. */
  readonly report: Report;
  /** The main output files committed with it; report.json and changes/ are rewritten by every run. */
  readonly outputs: readonly OutputIdentity[];
  /** The next row id: ids are never reused, so that a run can mark rows in an array. */
  readonly nextId: number;
}

/** The stored entries, loaded at once: a run looks up every path it finds. Arrays are by id (ids are never reused: some are holes). */
export class StoredEntries {
  readonly ids = new Map<string, number>();
  readonly keys: Array<string | undefined>;
  readonly seen: Uint32Array;
  // NaN equals nothing: an unknown identity never matches.
  private readonly size: Float64Array;
  private readonly mtime: Float64Array;
  private readonly ctime: Float64Array;
  private readonly ino: Float64Array;
  private readonly dev: Float64Array;
  private readonly racy: Uint8Array;

  constructor(readonly count: number) {
    this.keys = new Array<string | undefined>(count);
    this.seen = new Uint32Array(count);
    const unknown = () => new Float64Array(count).fill(Number.NaN);
    this.size = unknown();
    this.mtime = unknown();
    this.ctime = unknown();
    this.ino = unknown();
    this.dev = unknown();
    this.racy = new Uint8Array(count);
  }

  set(id: number, key: string, seen: number, identity: FileIdentity | null): void {
    this.ids.set(key, id);
    this.keys[id] = key;
    this.seen[id] = seen;
    if (!identity) return;
    this.size[id] = identity.size;
    this.mtime[id] = identity.mtimeMs;
    this.ctime[id] = identity.ctimeMs;
    this.ino[id] = identity.ino;
    this.dev[id] = identity.dev;
    this.racy[id] = identity.racy ? 1 : 0;
  }

  /** Whether entry `id` was stored with this identity; `trusted` also asks that it was not racy then. */
  sameIdentity(id: number, s: Omit<FileIdentity, "racy">, trusted: boolean): boolean {
    return s.size === this.size[id] && s.mtimeMs === this.mtime[id] && s.ctimeMs === this.ctime[id] && s.ino === this.ino[id] && s.dev === this.dev[id] && !(trusted && this.racy[id]);
  }

  isRacy(id: number): boolean {
    return this.racy[id] === 1;
  }
}

export type OpenedState = { readonly state: CommittedState } | { readonly absent: true } | { readonly problem: string };

/** The state committed with the output in a folder: opened read-only, verified before use. */
export class CommittedState {
  private readonly resultRow: Database.Statement<[number], unknown[]>;
  private readonly variantRow: Database.Statement<[number], string>;

  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
    readonly meta: StateMeta,
  ) {
    this.resultRow = db.prepare<[number], unknown[]>("SELECT bytes, record, study, series FROM result WHERE id = ?").raw();
    this.variantRow = db.prepare<[number], string>("SELECT json FROM variant WHERE id = ?").pluck();
  }

  /** The state in `dir`, if there is one and it is whole and ours; otherwise why not. */
  static open(dir: string): OpenedState {
    const path = join(dir, STATE_DATABASE);
    const digestPath = join(dir, STATE_DIGEST);
    if (!existsSync(path) && !existsSync(digestPath)) return { absent: true };
    let digest: { format?: unknown; schema?: unknown; bytes?: unknown; sha256?: unknown };
    try {
      digest = JSON.parse(readFileSync(digestPath, "utf8"));
    } catch {
      return { problem: "its digest (state.json) is missing or unreadable" };
    }
    if (digest.format !== FORMAT) return { problem: "its digest is not a dcm2fhir state's" };
    if (digest.schema !== SCHEMA_VERSION) return { problem: `it was written by another version of dcm2fhir (state schema ${String(digest.schema)})` };
    try {
      if (statSync(path).size !== digest.bytes || sha256File(path) !== digest.sha256) return { problem: "it is corrupt: its content does not match its digest" };
    } catch (error) {
      return { problem: `it cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})` };
    }
    let db: Database.Database | undefined;
    try {
      db = openDatabase(path, "read");
      if (db.pragma("application_id", { simple: true }) !== APPLICATION_ID || db.pragma("user_version", { simple: true }) !== SCHEMA_VERSION) {
        db.close();
        return { problem: "it is not a dcm2fhir state database" };
      }
      const rows = db.prepare<[], [string, string]>("SELECT key, value FROM meta").raw().all();
      const meta = Object.fromEntries(rows.map(([key, value]) => [key, JSON.parse(value)])) as Partial<StateMeta> & { format?: string };
      if (meta.format !== FORMAT || !meta.fingerprint || !meta.report || !meta.outputs || typeof meta.nextId !== "number") {
        db.close();
        return { problem: "its database lacks what a dcm2fhir state holds" };
      }
      return { state: new CommittedState(db, path, meta as StateMeta) };
    } catch (error) {
      db?.close();
      return { problem: `its database cannot be read (${(error as { code?: string }).code ?? (error as Error).message})` };
    }
  }

  /** Every stored entry, in memory: one pass over a compact table costs less than a query per path found. */
  entries(): StoredEntries {
    const entries = new StoredEntries(this.meta.nextId);
    const rows = this.db.prepare<[], [string, number, number, number | null, number, number, number, number, number]>("SELECT path, id, seen, size, mtime, ctime, ino, dev, racy FROM entry").raw();
    for (const [key, id, seen, size, mtimeMs, ctimeMs, ino, dev, racy] of rows.iterate()) {
      if (id >= entries.count) throw new StateError("an entry's id is beyond the state's own count");
      entries.set(id, key, seen, size === null ? null : { size, mtimeMs, ctimeMs, ino, dev, racy: racy === 1 });
    }
    return entries;
  }

  /** Whether the stored result of entry `id` is the same as `encoded`. */
  sameResult(id: number, encoded: EncodedResult): boolean {
    const row = this.resultRow.get(id) as [number, string, number | null, number | null] | undefined;
    if (!row || row[0] !== encoded.bytes || row[1] !== encoded.record) return false;
    return this.variant(row[2]) === encoded.studyJSON && this.variant(row[3]) === encoded.seriesJSON;
  }

  private variant(id: number | null): string | null {
    if (id === null) return null;
    const json = this.variantRow.get(id);
    if (json === undefined) throw new StateError("a result refers to attributes the state does not hold");
    return json;
  }

  /** Delivers the stored result of every entry `times` holds a count for, that many times, in id order. */
  forEach(entries: StoredEntries, times: Uint32Array, deliver: (result: EntryResult, times: number) => void): void {
    const variants = new Map(this.db.prepare<[], [number, string]>("SELECT id, json FROM variant").raw().all());
    const rows = this.db.prepare<[], [number, number, string, number | null, number | null]>("SELECT id, bytes, record, study, series FROM result").raw();
    for (const [id, bytes, record, study, series] of rows.iterate()) {
      const n = times[id] ?? 0;
      const key = entries.keys[id];
      if (n === 0 || key === undefined) continue;
      const studyJSON = study === null ? null : (variants.get(study) ?? null);
      const seriesJSON = series === null ? null : (variants.get(series) ?? null);
      deliver(decodeResult(pathFromKey(key), { bytes, record, studyJSON, seriesJSON }), n);
    }
  }

  /** Whether the main outputs in `dir` are the very files this state was committed with (not edited, not replaced). */
  outputsMatch(dir: string, names: readonly string[]): boolean {
    const committed = new Map(this.meta.outputs.map((o) => [o.name, o.identity]));
    return names.every((name) => committed.get(name) === outputIdentity(join(dir, name)));
  }

  close(): void {
    this.db.close();
  }
}

/** inode, size and mtime of a file (undefined when there is none): what a rename keeps and an edit changes. */
export function outputIdentity(path: string): string | undefined {
  const s = statSync(path, { bigint: true, throwIfNoEntry: false });
  return s && `${s.ino}:${s.size}:${s.mtimeNs}`;
}

/**
 * The next state, written in the staging folder: a copy of the committed one changed row by row, or a new one.
 * Written in one transaction without a journal: until the commit renames it into place it is a scratch file,
 * which a failed run removes with the rest of its staging folder.
 */
export class StagedState {
  private readonly addEntry: Database.Statement<[string, number, number, ...IdentityColumns]>;
  private readonly updateEntry: Database.Statement<[number, ...IdentityColumns, string]>;
  private readonly updateSeen: Database.Statement<[number, string]>;
  private readonly putResult: Database.Statement<[number, number, string, number | null, number | null]>;
  private readonly removeEntry: Database.Statement<[string]>;
  private readonly removeResult: Database.Statement<[number]>;
  private readonly addVariant: Database.Statement<[string]>;
  private readonly variantId: Database.Statement<[string], number>;
  private readonly variantIds = new Map<string, number>();
  private nextId: number;
  private closed = false;

  private constructor(
    private readonly db: Database.Database,
    private readonly path: string,
    nextId: number,
  ) {
    this.nextId = nextId;
    this.addEntry = db.prepare("INSERT INTO entry (path, id, seen, size, mtime, ctime, ino, dev, racy) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    this.updateEntry = db.prepare("UPDATE entry SET seen = ?, size = ?, mtime = ?, ctime = ?, ino = ?, dev = ?, racy = ? WHERE path = ?");
    this.updateSeen = db.prepare("UPDATE entry SET seen = ? WHERE path = ?");
    this.putResult = db.prepare("INSERT OR REPLACE INTO result (id, bytes, record, study, series) VALUES (?, ?, ?, ?, ?)");
    this.removeEntry = db.prepare("DELETE FROM entry WHERE path = ?");
    this.removeResult = db.prepare("DELETE FROM result WHERE id = ?");
    this.addVariant = db.prepare("INSERT OR IGNORE INTO variant (json) VALUES (?)");
    this.variantId = db.prepare<[string], number>("SELECT id FROM variant WHERE json = ?").pluck();
  }

  /** At `path`: a copy of `from`, or an empty state. */
  static create(path: string, from?: CommittedState): StagedState {
    if (from) copyFileSync(from.path, path);
    const db = openDatabase(path, "build");
    try {
      if (!from) {
        db.pragma(`application_id = ${APPLICATION_ID}`);
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
        db.exec(SCHEMA);
      }
      db.exec("BEGIN");
    } catch (error) {
      db.close();
      throw error;
    }
    return new StagedState(db, path, from?.meta.nextId ?? 0);
  }

  /** Stores what the entry at `path` gave now, under its identity (null: read it again next time); `id`: its stored id. */
  put(path: FilePath, id: number | undefined, identity: FileIdentity | null, seen: number, encoded: EncodedResult): void {
    const columns = identityColumns(identity);
    if (id === undefined) this.addEntry.run(pathKey(path), (id = this.nextId++), seen, ...columns);
    else this.updateEntry.run(seen, ...columns, pathKey(path));
    this.putResult.run(id, encoded.bytes, encoded.record, this.variant(encoded.studyJSON), this.variant(encoded.seriesJSON));
  }

  setSeen(key: string, seen: number): void {
    this.updateSeen.run(seen, key);
  }

  remove(key: string, id: number): void {
    this.removeEntry.run(key);
    this.removeResult.run(id);
  }

  private variant(json: string | null): number | null {
    if (json === null) return null;
    let id = this.variantIds.get(json);
    if (id === undefined) {
      this.addVariant.run(json);
      id = this.variantId.get(json)!;
      this.variantIds.set(json, id);
    }
    return id;
  }

  /** Writes the meta data, drops attributes no row uses, closes the database and writes its digest beside it. */
  finish(meta: Omit<StateMeta, "nextId">, digestPath: string): void {
    const put = this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
    const all: StateMeta & { format: string } = { format: FORMAT, ...meta, nextId: this.nextId };
    for (const [key, value] of Object.entries(all)) put.run(key, JSON.stringify(value));
    this.db.exec("DELETE FROM variant WHERE id NOT IN (SELECT study FROM result WHERE study IS NOT NULL UNION SELECT series FROM result WHERE series IS NOT NULL)");
    this.db.exec("COMMIT");
    this.db.close();
    this.closed = true;
    writeFileSync(digestPath, `${JSON.stringify({ format: FORMAT, schema: SCHEMA_VERSION, bytes: statSync(this.path).size, sha256: sha256File(this.path) })}\n`);
  }

  /** For a run that stops: the file goes with the staging folder. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}

type IdentityColumns = [number | null, number | null, number | null, number | null, number | null, number];

const identityColumns = (i: FileIdentity | null): IdentityColumns => (i ? [i.size, i.mtimeMs, i.ctimeMs, i.ino, i.dev, i.racy ? 1 : 0] : [null, null, null, null, null, 0]);

function sha256File(path: string): string {
  const hash = createHash("sha256");
  const buffer = Buffer.allocUnsafe(1 << 20);
  const fd = openSync(path, "r");
  try {
    for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0; ) hash.update(buffer.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}
