// The state committed with the output in a folder (stateFile.ts): opened read-only and verified against its
// digest before anything in it is trusted; what a run takes from it instead of reading files again.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { type Db, type Statement, VariantTexts, kindMismatch } from "../lib/sqlite.js";
import { openDatabase } from "../lib/sqlite.js";
import { STATE_DATABASE, STATE_DIGEST } from "../core/outputFiles.js";
import { type EncodedResult, type EntryResult, StateError, decodeResult, pathFromKey } from "../core/recordCodec.js";
import { StoredEntries } from "./entries.js";
import { FORMAT, KIND, type ResultRow, SCHEMA_VERSION, type StateMeta, outputIdentity, sha256File } from "./stateFile.js";

export type OpenedState = { readonly state: CommittedState } | { readonly absent: true } | { readonly problem: string };

/** The state committed with the output in a folder: opened read-only, verified before use. */
export class CommittedState {
  private readonly resultRow: Statement<[number], unknown[]>;
  private readonly ownerRow: Statement<[number], number | null>;
  private readonly resultsOfStudy: Statement<[number], ResultRow>;
  private readonly failureRows: Statement<[], ResultRow>;
  private readonly sharingSops: Statement<[number, number], number>;
  private readonly withSop: Statement<[number], number>;
  private readonly variants: VariantTexts;

  private constructor(
    private readonly db: Db,
    readonly path: string,
    readonly meta: StateMeta,
  ) {
    this.resultRow = db.prepare<[number], unknown[]>("SELECT bytes, record, study, series FROM result WHERE id = ?").raw();
    this.variants = new VariantTexts(db);
    this.ownerRow = db.prepare<[number], number | null>("SELECT owner FROM result WHERE id = ?").pluck();
    this.resultsOfStudy = db.prepare<[number], ResultRow>("SELECT id, bytes, record, study, series FROM result WHERE owner = ?").raw();
    this.failureRows = db.prepare<[], ResultRow>("SELECT id, bytes, record, study, series FROM result WHERE owner IS NULL").raw();
    this.sharingSops = db
      .prepare<[number, number], number>(
        "SELECT DISTINCT other.owner FROM result AS mine JOIN result AS other ON other.sop = mine.sop WHERE mine.owner = ? AND other.owner <> ?",
      )
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
      if (statSync(path).size !== digest.bytes || sha256File(path) !== digest.sha256)
        return { problem: "it is corrupt: its content does not match its digest" };
    } catch (error) {
      return { problem: `it cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})` };
    }
    let db: Db | undefined;
    try {
      db = openDatabase(path, "read");
      if (kindMismatch(db, KIND) !== undefined) {
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
    const rows = this.db
      .prepare<[], [string, number, number, number | null, number, number, number, number, number]>(
        "SELECT path, id, seen, size, mtime, ctime, ino, dev, racy FROM entry",
      )
      .raw();
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
    const json = this.variants.textOf(id);
    if (json === undefined) throw new StateError("a result refers to attributes the state does not hold");
    return json;
  }

  /** Delivers the stored result of every entry `times` holds a count for, that many times, in id order. */
  forEach(entries: StoredEntries, times: Uint32Array, deliver: (result: EntryResult, times: number) => void): void {
    const variants = this.variants.all();
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

  private deliver(
    rows: Iterable<ResultRow>,
    entries: StoredEntries,
    times: Uint32Array,
    variant: (id: number) => string | null,
    deliver: (result: EntryResult, times: number) => void,
  ): void {
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
