// The next state (stateFile.ts), written in the staging folder as a run finds what changed.
import { copyFileSync, statSync, writeFileSync } from "node:fs";
import { type Db, type Statement, VariantIds, stampKind } from "../lib/sqlite.js";
import type { FilePath } from "../core/reasons.js";
import { openDatabase } from "../lib/sqlite.js";
import { sopHash } from "../core/hash.js";
import { type EncodedResult, pathKey } from "../core/recordCodec.js";
import type { CommittedState } from "./committedState.js";
import type { FileIdentity } from "./entries.js";
import { FORMAT, KIND, SCHEMA, SCHEMA_VERSION, type StateMeta, sha256File } from "./stateFile.js";

/**
 * The next state, written in the staging folder: a copy of the committed one changed row by row, or a new one.
 * Written in one transaction without a journal: until the commit renames it into place it is a scratch file,
 * which a failed run removes with the rest of its staging folder.
 */
export class StagedState {
  private readonly addEntry: Statement<[string, number, number, ...IdentityColumns]>;
  private readonly updateEntry: Statement<[number, ...IdentityColumns, string]>;
  private readonly updateSeen: Statement<[number, string]>;
  private readonly putResult: Statement<[number, number, string, number | null, number | null, number | null, number | null]>;
  private readonly removeEntry: Statement<[string]>;
  private readonly removeResult: Statement<[number]>;
  private readonly variantIds: VariantIds;
  private readonly addStudy: Statement<[string]>;
  private readonly studyId: Statement<[string], number>;
  private readonly studyIds = new Map<string, number>();
  private readonly updateStudy: Statement<[string, string, string]>;
  private readonly studyUsed: Statement<[string], number>;
  private readonly removeStudy: Statement<[string]>;
  private nextId: number;
  private closed = false;
  /** Whether a stored result was replaced or removed: only then can attributes have lost their last row. */
  private dropped = false;

  private constructor(
    private readonly db: Db,
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
    // Every text this run stores is remembered: a state is rewritten row by row, its texts asked for again and again.
    this.variantIds = new VariantIds(db, Number.POSITIVE_INFINITY);
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
        stampKind(db, KIND);
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
    else {
      this.updateEntry.run(seen, ...columns, pathKey(path));
      this.dropped = true;
    }
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
    this.dropped = true;
    this.removeEntry.run(key);
    this.removeResult.run(id);
  }

  private variant(json: string | null): number | null {
    if (json === null) return null;
    return this.variantIds.idOf(json);
  }

  /** Writes the meta data, drops attributes no row uses, closes the database and writes its digest beside it. */
  finish(meta: Omit<StateMeta, "nextId">, digestPath: string): void {
    const put = this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
    const all: StateMeta & { format: string } = { format: FORMAT, ...meta, nextId: this.nextId };
    for (const [key, value] of Object.entries(all)) put.run(key, JSON.stringify(value));
    // A pass over every result: a run that only adds files (the usual night) skips it.
    if (this.dropped)
      this.db.exec(
        "DELETE FROM variant WHERE id NOT IN (SELECT study FROM result WHERE study IS NOT NULL UNION SELECT series FROM result WHERE series IS NOT NULL)",
      );
    this.db.exec("COMMIT");
    this.db.close();
    this.closed = true;
    writeFileSync(
      digestPath,
      `${JSON.stringify({ format: FORMAT, schema: SCHEMA_VERSION, bytes: statSync(this.path).size, sha256: sha256File(this.path) })}\n`,
    );
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

type IdentityColumns = [number | null, number | null, number | null, number | null, number | null, number];

const identityColumns = (i: FileIdentity | null): IdentityColumns =>
  i ? [i.size, i.mtimeMs, i.ctimeMs, i.ino, i.dev, i.racy ? 1 : 0] : [null, null, null, null, null, 0];
