// The state of incremental runs (`convert --incremental`): for every entry the last run found, its identity
// (size, mtime, ctime, inode, device) and what reading it gave — the HeaderRead every source yields, or the
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
import type { FilePath } from "../core/reasons.js";
import { openDatabase } from "../lib/sqlite.js";
import type { Report } from "../write/report.js";
import type { Fingerprint } from "../core/fingerprint.js";
import { sopHash } from "../core/hash.js";
import { STATE_DATABASE, STATE_DIGEST } from "../core/outputFiles.js";
import { type EncodedResult, type EntryResult, StateError, decodeResult, pathFromKey, pathKey } from "../core/recordCodec.js";

const FORMAT = "dcm2fhir-state";
/** 2: results know their study and SOP Instance UID hash; studies keep their outcome. */
const SCHEMA_VERSION = 2;
/** PRAGMA application_id: "dcm2". Another program's SQLite file has another (most have 0). */
const APPLICATION_ID = 0x64636d32;

// One `entry` per path, small so that a run loads them all quickly: the path (as given, or "\0" and its bytes
// as Latin-1 when the name is not UTF-8), an id, how often the inputs list it (overlapping inputs list a file
// twice), and the file's identity: null when unknown (the entry could not be stat'ed, or the crawl refused it),
// `racy` when the file changed so shortly before it was looked at that a change in the same clock tick could go
// unseen; either way it is read again. What reading gave is in `result`, by id; study and series attributes, the
// same for every file of a series, are kept once in `variant`. An instance's result also names its study (`owner`,
// a row of `study`) and a hash of its SOP Instance UID (`sop`, core/hash.ts): a run finds the studies a changed
// file touches, and the studies sharing a SOP Instance UID with them, without reading every result. A study keeps
// the counts of its records and what writing it gave (write/writeOutputs.ts StudyOutcome): a study none of whose files
// changed is taken as it is.
const SCHEMA = `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE entry (
    path TEXT PRIMARY KEY, id INTEGER NOT NULL, seen INTEGER NOT NULL,
    size INTEGER, mtime REAL, ctime REAL, ino INTEGER, dev INTEGER, racy INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE result (
    id INTEGER PRIMARY KEY, bytes INTEGER NOT NULL, record TEXT NOT NULL, study INTEGER, series INTEGER, owner INTEGER, sop INTEGER
  );
  CREATE INDEX result_owner ON result (owner);
  CREATE INDEX result_sop ON result (sop);
  CREATE TABLE variant (id INTEGER PRIMARY KEY, json TEXT NOT NULL UNIQUE);
  CREATE TABLE study (id INTEGER PRIMARY KEY, uid TEXT NOT NULL UNIQUE, counts TEXT, outcome TEXT);
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
  private readonly ownerRow: Database.Statement<[number], number | null>;
  private readonly resultsOfStudy: Database.Statement<[number], ResultRow>;
  private readonly failureRows: Database.Statement<[], ResultRow>;
  private readonly sharingSops: Database.Statement<[number, number], number>;
  private readonly withSop: Database.Statement<[number], number>;
  private readonly variants = new Map<number, string>();

  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
    readonly meta: StateMeta,
  ) {
    this.resultRow = db.prepare<[number], unknown[]>("SELECT bytes, record, study, series FROM result WHERE id = ?").raw();
    this.variantRow = db.prepare<[number], string>("SELECT json FROM variant WHERE id = ?").pluck();
    this.ownerRow = db.prepare<[number], number | null>("SELECT owner FROM result WHERE id = ?").pluck();
    this.resultsOfStudy = db.prepare<[number], ResultRow>("SELECT id, bytes, record, study, series FROM result WHERE owner = ?").raw();
    this.failureRows = db.prepare<[], ResultRow>("SELECT id, bytes, record, study, series FROM result WHERE owner IS NULL").raw();
    this.sharingSops = db
      .prepare<[number, number], number>("SELECT DISTINCT other.owner FROM result AS mine JOIN result AS other ON other.sop = mine.sop WHERE mine.owner = ? AND other.owner <> ?")
      .pluck();
    this.withSop = db.prepare<[number], number>("SELECT DISTINCT owner FROM result WHERE sop = ?").pluck();
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
    let json = this.variants.get(id);
    if (json === undefined) {
      json = this.variantRow.get(id);
      if (json === undefined) throw new StateError("a result refers to attributes the state does not hold");
      this.variants.set(id, json);
    }
    return json;
  }

  /** Delivers the stored result of every entry `times` holds a count for, that many times, in id order. */
  forEach(entries: StoredEntries, times: Uint32Array, deliver: (result: EntryResult, times: number) => void): void {
    const variants = new Map(this.db.prepare<[], [number, string]>("SELECT id, json FROM variant").raw().all());
    const rows = this.db.prepare<[], ResultRow>("SELECT id, bytes, record, study, series FROM result").raw();
    this.deliver(rows.iterate(), entries, times, (id) => variants.get(id) ?? null, deliver);
  }

  /** As forEach, for the results of these studies (ids of the study table). */
  forEachOf(studies: Iterable<number>, entries: StoredEntries, times: Uint32Array, deliver: (result: EntryResult, times: number) => void): void {
    for (const study of studies) this.deliver(this.resultsOfStudy.iterate(study), entries, times, (id) => this.variant(id), deliver);
  }

  /** As forEach, for the results that are failures (of no study). */
  forEachFailure(entries: StoredEntries, times: Uint32Array, deliver: (result: EntryResult, times: number) => void): void {
    this.deliver(this.failureRows.iterate(), entries, times, (id) => this.variant(id), deliver);
  }

  private deliver(rows: Iterable<ResultRow>, entries: StoredEntries, times: Uint32Array, variant: (id: number) => string | null, deliver: (result: EntryResult, times: number) => void): void {
    for (const [id, bytes, record, study, series] of rows) {
      const n = times[id] ?? 0;
      const key = entries.keys[id];
      if (n === 0 || key === undefined) continue;
      const studyJSON = study === null ? null : variant(study);
      const seriesJSON = series === null ? null : variant(series);
      deliver(decodeResult(pathFromKey(key), { bytes, record, studyJSON, seriesJSON }), n);
    }
  }

  /** The study (id in the study table) the stored result of entry `id` belongs to: null for a failure or an unknown id. */
  ownerOf(id: number): number | null {
    return this.ownerRow.get(id) ?? null;
  }

  /** Every study of the state: [id, Study Instance UID, counts, outcome] (as JSON; null until the run that found it wrote it). */
  studies(): Array<[number, string, string | null, string | null]> {
    return this.db.prepare<[], [number, string, string | null, string | null]>("SELECT id, uid, counts, outcome FROM study").raw().all();
  }

  /** The other studies holding a file with the SOP Instance UID hash of one of this study's files. */
  studiesSharingSops(study: number): number[] {
    return this.sharingSops.all(study, study);
  }

  /** The studies holding a file with this SOP Instance UID hash. */
  studiesWithSop(sop: number): number[] {
    return this.withSop.all(sop);
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
  private readonly putResult: Database.Statement<[number, number, string, number | null, number | null, number | null, number | null]>;
  private readonly removeEntry: Database.Statement<[string]>;
  private readonly removeResult: Database.Statement<[number]>;
  private readonly addVariant: Database.Statement<[string]>;
  private readonly variantId: Database.Statement<[string], number>;
  private readonly variantIds = new Map<string, number>();
  private readonly addStudy: Database.Statement<[string]>;
  private readonly studyId: Database.Statement<[string], number>;
  private readonly studyIds = new Map<string, number>();
  private readonly updateStudy: Database.Statement<[string, string, string]>;
  private readonly studyUsed: Database.Statement<[string], number>;
  private readonly removeStudy: Database.Statement<[string]>;
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
    this.putResult = db.prepare("INSERT OR REPLACE INTO result (id, bytes, record, study, series, owner, sop) VALUES (?, ?, ?, ?, ?, ?, ?)");
    this.removeEntry = db.prepare("DELETE FROM entry WHERE path = ?");
    this.removeResult = db.prepare("DELETE FROM result WHERE id = ?");
    this.addVariant = db.prepare("INSERT OR IGNORE INTO variant (json) VALUES (?)");
    this.variantId = db.prepare<[string], number>("SELECT id FROM variant WHERE json = ?").pluck();
    this.addStudy = db.prepare("INSERT OR IGNORE INTO study (uid) VALUES (?)");
    this.studyId = db.prepare<[string], number>("SELECT id FROM study WHERE uid = ?").pluck();
    this.updateStudy = db.prepare("UPDATE study SET counts = ?, outcome = ? WHERE uid = ?");
    this.studyUsed = db.prepare<[string], number>("SELECT 1 FROM result WHERE owner = (SELECT id FROM study WHERE uid = ?) LIMIT 1").pluck();
    this.removeStudy = db.prepare("DELETE FROM study WHERE uid = ?");
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

  /**
   * Stores what the entry at `path` gave now, under its identity (null: read it again next time); `id`: its stored
   * id. `instance`: the UIDs of the instance it holds, if it holds one.
   */
  put(path: FilePath, id: number | undefined, identity: FileIdentity | null, seen: number, encoded: EncodedResult, instance?: InstanceUIDs): void {
    const columns = identityColumns(identity);
    if (id === undefined) this.addEntry.run(pathKey(path), (id = this.nextId++), seen, ...columns);
    else this.updateEntry.run(seen, ...columns, pathKey(path));
    const owner = instance ? this.study(instance.studyInstanceUID) : null;
    const sop = instance ? sopHash(instance.sopInstanceUID) : null;
    this.putResult.run(id, encoded.bytes, encoded.record, this.variant(encoded.studyJSON), this.variant(encoded.seriesJSON), owner, sop);
  }

  /** What a study's records count and what writing it gave, for the next run to take if none of its files changes. */
  putStudy(studyInstanceUID: string, counts: string, outcome: string): void {
    this.study(studyInstanceUID);
    this.updateStudy.run(counts, outcome, studyInstanceUID);
  }

  /** Forgets a study no result belongs to any more (its files changed or went). */
  dropStudyIfUnused(studyInstanceUID: string): void {
    if (this.studyUsed.get(studyInstanceUID) === undefined) {
      this.removeStudy.run(studyInstanceUID);
      this.studyIds.delete(studyInstanceUID);
    }
  }

  private study(uid: string): number {
    let id = this.studyIds.get(uid);
    if (id === undefined) {
      this.addStudy.run(uid);
      id = this.studyId.get(uid)!;
      this.studyIds.set(uid, id);
    }
    return id;
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

/** The UIDs a result's row is found by. */
export interface InstanceUIDs {
  readonly studyInstanceUID: string;
  readonly sopInstanceUID: string;
}

/** A result as it is delivered: [id, bytes, record, study variant, series variant]. */
type ResultRow = [number, number, string, number | null, number | null];

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
