// The search index: a SQLite file beside the NDJSON it indexes, one row per searchable value, and for every study
// where its NDJSON line lies in ImagingStudy.ndjson (Patients and Endpoints, few and small, as their lines): what is
// served is read from there, byte for byte what was written. Study lines are not copied into the index: they were
// four fifths of its bytes, and writing them a good part of a build. Built once (by convert, through the same
// staging and commit as the other outputs, or by `dcm2fhir index`), then only read, but for `serve --pacs`, which
// adds the studies a PACS answered (their lines are in no NDJSON: kept in study_resource).
import { createHash } from "node:crypto";
import { closeSync, copyFileSync, existsSync, fstatSync, openSync, readSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { VERSION } from "../core/version.js";
import { NDJSON_FILES, SEARCH_INDEX_FILE } from "../core/outputFiles.js";
import type { OutputDirectory } from "../lib/outputFolder.js";
import { type Db, type Statement, openDatabase } from "../lib/sqlite.js";
import { FigureCounts, type StudyFigures } from "./figures.js";
import {
  type IndexedAlready,
  type IndexedType,
  type ReadSummary,
  type RecordBatch,
  type SkippedLine,
  type StudyRecord,
  readIndexRecords,
  takeRecords,
} from "./indexRecords.js";
import { PRESENT_BIT, type JsonImagingStudy, studyValues } from "./parameters.js";
import { readOnThread } from "./indexThread.js";

export type { SkippedLine } from "./indexRecords.js";

/** Bumped whenever the schema or the meaning of a stored value changes; an index of another format is rebuilt. */
export const INDEX_FORMAT = "4";

export type IndexErrorReason = "no-ndjson" | "no-index" | "not-an-index" | "index-format" | "stale-index" | "index-busy";

/** The folder has no usable index (or nothing to index); the message says what to run. */
export class IndexError extends Error {
  override readonly name = "IndexError";
  constructor(
    readonly reason: IndexErrorReason,
    message: string,
  ) {
    super(message);
  }
}

export interface IndexSummary {
  readonly studies: number;
  readonly patients: number;
  readonly endpoints: number;
  readonly skipped: readonly SkippedLine[];
}

// Sort keys with missing values last in both directions; descending `started` is stored negated so that
// every sort reads an index forwards.
export const MISSING_LAST = Number.MAX_SAFE_INTEGER;

// The study row holds what a search filters, sorts and counts on, the parameters with one value a study
// (STUDY_COLUMN_PARAMETERS), and where its line is (line_at, line_length: byte offset and length in
// ImagingStudy.ndjson; line_at NULL for a study `serve --pacs` added, whose line is in study_resource). Token rows hold the parameters with
// many values a study, keyed code first: codes differ where parameters repeat, so finding a row's place (what
// writing the rows costs most) mostly compares one string. A patient's identifiers are kept once per Patient, not
// copied onto each of its studies.
const SCHEMA = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE study (
  id TEXT NOT NULL,
  patient TEXT,
  status TEXT,
  started_lo INTEGER,
  started_hi INTEGER,
  sort_asc INTEGER NOT NULL,
  sort_desc INTEGER NOT NULL,
  present INTEGER NOT NULL,
  endpoints TEXT,
  line_at INTEGER,
  line_length INTEGER NOT NULL
);
CREATE TABLE study_resource (study INTEGER PRIMARY KEY, resource BLOB NOT NULL);
CREATE TABLE token (
  code TEXT NOT NULL,
  parameter INTEGER NOT NULL,
  study INTEGER NOT NULL,
  system TEXT NOT NULL,
  PRIMARY KEY (code, parameter, study, system)
) WITHOUT ROWID;
CREATE TABLE patient (id TEXT PRIMARY KEY, resource BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE patient_identifier (
  code TEXT NOT NULL,
  patient TEXT NOT NULL,
  system TEXT NOT NULL,
  PRIMARY KEY (code, patient, system)
) WITHOUT ROWID;
CREATE TABLE endpoint (id TEXT PRIMARY KEY, resource BLOB NOT NULL) WITHOUT ROWID;
`;
// Built after loading: an index made from sorted rows in one pass is faster to build and smaller than one grown
// row by row.
const INDEXES = `
CREATE UNIQUE INDEX study_id ON study (id);
CREATE INDEX study_patient ON study (patient, id);
CREATE INDEX study_sort_asc ON study (sort_asc, id);
CREATE INDEX study_sort_desc ON study (sort_desc, id);
`;

/**
 * convert's hook: indexes the NDJSON just staged, into the same staging folder, so the commit moves them together.
 * `keptStudies`: an incremental run's ImagingStudy ids whose lines it copied unchanged from the committed output;
 * the committed index is then updated rather than built again (updateSearchIndex).
 */
export function stageSearchIndex(out: OutputDirectory, zone: string, keptStudies?: ReadonlySet<string>): IndexSummary {
  const indexPath = out.stage(SEARCH_INDEX_FILE);
  const folder = dirname(indexPath);
  const updated = keptStudies && keptStudies.size > 0 ? updateSearchIndex(out.dir, folder, indexPath, zone, keptStudies) : undefined;
  return updated ?? buildSearchIndex(folder, indexPath, zone);
}

/**
 * An index of nothing, for a folder that holds no conversion (`serve --pacs` over an empty or missing folder: the index
 * is then only the cache of what the PACS answered). Written beside and renamed into place.
 */
export function createEmptySearchIndex(folder: string, zone: string): void {
  const indexPath = join(folder, SEARCH_INDEX_FILE);
  const building = `${indexPath}.${process.pid}.tmp`;
  rmSync(building, { force: true });
  const db = openDatabase(building, "build", 1);
  try {
    db.exec(SCHEMA);
    db.exec(INDEXES);
    writeMeta(db, zone, { studies: 0, patients: 0, endpoints: 0, skipped: [], figures: new FigureCounts().figures() }, {});
  } finally {
    db.close();
  }
  renameSync(building, indexPath);
}

/** NDJSON below this size is read and parsed on the building thread: starting another one would cost more than it saves. */
const THREAD_FROM_BYTES = 8 << 20;

export interface BuildOptions {
  /** Parse on a thread of its own (true), on this one (false), or by the NDJSON's size (undefined). */
  readonly thread?: boolean;
}

/**
 * Indexes ImagingStudy.ndjson, Patient.ndjson and Endpoint.ndjson of `folder` (read only: they may be hard
 * links) into a new file at `indexPath`. `zone` reads dates without a zone, in the data and in queries.
 */
export function buildSearchIndex(folder: string, indexPath: string, zone: string, options: BuildOptions = {}): IndexSummary {
  const files = presentFiles(folder);
  if (!files.ImagingStudy) throw new IndexError("no-ndjson", "no ImagingStudy.ndjson in this folder: nothing to index");
  rmSync(indexPath, { force: true });
  // 16 MiB of page cache: 64 cost a convert or merge of a million instances ~55 MB more peak RSS for no speed.
  const db = openDatabase(indexPath, "build", 16);
  try {
    db.exec(SCHEMA);
    const thread = options.thread ?? Object.values(files).reduce((n, path) => n + statSync(path).size, 0) >= THREAD_FROM_BYTES;
    const summary = db.transaction(() => load(db, thread ? onThread(files, zone) : here(files, zone)))();
    db.exec(INDEXES);
    db.transaction(() => writeMeta(db, zone, summary, files))();
    return summary;
  } finally {
    db.close();
  }
}

/** The meta rows: what the index holds, and the fingerprints of the NDJSON it was made from. */
function writeMeta(db: Db, zone: string, counts: Loaded, files: Partial<Record<IndexedType, string>>): void {
  const meta: Record<string, string> = {
    figures: JSON.stringify(counts.figures),
    format: INDEX_FORMAT,
    dcm2fhir: VERSION,
    zone,
    studies: String(counts.studies),
    patients: String(counts.patients),
    endpoints: String(counts.endpoints),
    files: JSON.stringify(Object.fromEntries(Object.entries(files).map(([type, path]) => [type, fingerprint(path)]))),
  };
  const insertMeta = db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
  for (const key of Object.keys(meta).sort()) insertMeta.run(key, meta[key]);
}

/**
 * The index of `folder` made from the committed index of `previousFolder`, whose NDJSON it indexes: a copy, from
 * which the studies whose lines are not kept are taken out, and into which the new lines and every Patient and
 * Endpoint are put. A nightly run that adds a few studies to a large archive parses those, not the archive (0.4 s
 * of a 100,000-file run was the index built again). The rows are the ones a new build has; their row ids and the
 * file's bytes differ (rows come and go in another order). Undefined when the committed index cannot be used
 * (missing, stale, another format or zone) or a line would be skipped: the caller builds a new one, which says why.
 */
export function updateSearchIndex(
  previousFolder: string,
  folder: string,
  indexPath: string,
  zone: string,
  keptStudies: ReadonlySet<string>,
): IndexSummary | undefined {
  let previous: SearchIndex;
  try {
    previous = SearchIndex.open(previousFolder);
  } catch (error) {
    if (error instanceof IndexError) return undefined;
    throw error;
  }
  try {
    const files = presentFiles(folder);
    // An index `serve --pacs` wrote into holds what a PACS answered, which a new build would not: built anew.
    const pacs = previous.db.prepare("SELECT 1 FROM sqlite_master WHERE name LIKE 'ondemand%' UNION ALL SELECT 1 FROM study WHERE line_at IS NULL LIMIT 1");
    if (previous.meta.zone !== zone || !files.ImagingStudy || pacs.get() !== undefined) return undefined;
    rmSync(indexPath, { force: true });
    copyFileSync(join(previousFolder, SEARCH_INDEX_FILE), indexPath);
    const db = openDatabase(indexPath, "build", 16);
    try {
      return db.transaction(() => update(db, previous, files, zone, keptStudies))();
    } finally {
      // A run that returned undefined leaves the file half updated: the caller's new build replaces it.
      db.close();
    }
  } finally {
    previous.close();
  }
}

function update(
  db: Db,
  previous: SearchIndex,
  files: Partial<Record<IndexedType, string>>,
  zone: string,
  keptStudies: ReadonlySet<string>,
): IndexSummary | undefined {
  const rows = db.prepare<[], [number, string]>("SELECT rowid, id FROM study").raw().all();
  const dropped = rows.filter(([, id]) => !keptStudies.has(id));
  // Every kept line must be in the index already; and when most studies go, a new build is the cheaper way.
  if (rows.length - dropped.length !== keptStudies.size || dropped.length > keptStudies.size) return undefined;
  const deleteToken = db.prepare("DELETE FROM token WHERE code = ? AND parameter = ? AND study = ? AND system = ?");
  const deleteStudy = db.prepare("DELETE FROM study WHERE rowid = ?");
  const figures = FigureCounts.of(previous.meta.figures);
  for (const [rowid, id] of dropped) {
    // Token rows are keyed value first: a study's are found again from its line, where all its values are.
    const resource = committedStudy(previous, id);
    if (!resource) return undefined;
    figures.add(resource, -1);
    for (const t of studyValues(resource, zone, () => false).tokens) deleteToken.run(t.code, t.parameter, rowid, t.system);
    deleteStudy.run(rowid);
  }
  db.exec("DELETE FROM patient; DELETE FROM patient_identifier; DELETE FROM endpoint");
  // The kept lines lie elsewhere in the new ImagingStudy.ndjson (lines before them came or went).
  const moveLine = db.prepare("UPDATE study SET line_at = ?, line_length = ? WHERE id = ?");
  let moved = 0;
  const lies = (id: string, at: number, length: number) => {
    moveLine.run(at, length, id);
    moved++;
  };
  const first = rows.reduce((max, [rowid]) => Math.max(max, rowid), 0) + 1;
  // Read here, whatever the size: only the new lines are parsed, and a thread would cost more to start.
  const added = load(db, here(files, zone, { ids: keptStudies, lies }, figures), first);
  if (added.skipped.length > 0 || moved !== keptStudies.size) return undefined;
  // A kept study's `present` says whether its Patient has an identifier: its Patient may have gained or lost one.
  const bit = PRESENT_BIT["patient.identifier"];
  db.exec(`CREATE TEMP TABLE identified (patient TEXT PRIMARY KEY) WITHOUT ROWID;
    INSERT OR IGNORE INTO identified SELECT patient FROM patient_identifier;
    UPDATE study SET present = (present & ~${bit}) | (CASE WHEN patient IN identified THEN ${bit} ELSE 0 END)
      WHERE rowid < ${first} AND patient IS NOT NULL AND ((present & ${bit}) <> 0) <> (patient IN identified);
    DROP TABLE identified;`);
  const counts = { studies: keptStudies.size + added.studies, patients: added.patients, endpoints: added.endpoints, skipped: [], figures: added.figures };
  writeMeta(db, zone, counts, files);
  return counts;
}

/**
 * A study's line in the committed NDJSON, parsed; undefined when it cannot be read as the index says (the file
 * edited by hand in a way its fingerprint missed): the update gives way to a new build.
 */
function committedStudy(index: SearchIndex, id: string): JsonImagingStudy | undefined {
  try {
    const line = index.read("ImagingStudy", id);
    return line && (JSON.parse(line.toString("utf8")) as JsonImagingStudy);
  } catch (error) {
    if (error instanceof SyntaxError || error instanceof StaleLineError) return undefined;
    throw error;
  }
}

/** Where records come from: a function that hands every batch to `take`, in file order, and says what it skipped and counted. */
type RecordSource = (take: (batch: RecordBatch) => void) => ReadSummary;

/** Records read on this thread (but the lines of `indexedAlready`, see readIndexRecords), each batch taken as it is made. */
const here =
  (files: Partial<Record<IndexedType, string>>, zone: string, indexedAlready?: IndexedAlready, figures?: FigureCounts): RecordSource =>
  (take) =>
    readIndexRecords(files, zone, take, indexedAlready, figures);

/** Records read on a thread of their own while this one writes them. */
const onThread =
  (files: Partial<Record<IndexedType, string>>, zone: string): RecordSource =>
  (take) => {
    const batches = readOnThread(files, zone);
    let next = batches.next();
    for (; !next.done; next = batches.next()) take(next.value);
    return next.value;
  };

function presentFiles(folder: string): Partial<Record<IndexedType, string>> {
  return Object.fromEntries(
    Object.entries(NDJSON_FILES)
      .map(([type, name]) => [type, join(folder, name)] as const)
      .filter(([, path]) => existsSync(path)),
  );
}

/** What a load put in: the summary, and the figures of the studies (index/figures.ts). */
type Loaded = IndexSummary & { readonly figures: StudyFigures };

/** Inserts the records; studies get row ids from `firstStudy` on. */
function load(db: Db, source: RecordSource, firstStudy = 1): Loaded {
  const insertPatient = db.prepare("INSERT INTO patient (id, resource) VALUES (?, ?)");
  // A Patient may list the same identifier twice: OR IGNORE.
  const insertIdentifier = db.prepare("INSERT OR IGNORE INTO patient_identifier (code, patient, system) VALUES (?, ?, ?)");
  const insertEndpoint = db.prepare("INSERT INTO endpoint (id, resource) VALUES (?, ?)");
  const insertStudy = db.prepare(
    "INSERT INTO study (rowid, id, patient, status, started_lo, started_hi, sort_asc, sort_desc, present, endpoints, line_at, line_length) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const tokens = new TokenInserter(db);
  const count = { patients: 0, endpoints: 0, studies: 0 };
  let patient = "";
  const sink = {
    patient: (id: string, resource: Buffer) => {
      insertPatient.run(id, resource);
      patient = id;
      count.patients++;
    },
    patientIdentifier: (code: string, system: string) => insertIdentifier.run(code, patient, system),
    endpoint: (id: string, resource: Buffer) => {
      insertEndpoint.run(id, resource);
      count.endpoints++;
    },
    study: (v: StudyRecord) => {
      const rowid = firstStudy + count.studies++;
      insertStudy.run(
        rowid,
        v.id,
        v.patient,
        v.status,
        v.started?.lo ?? null,
        v.started?.hi ?? null,
        v.started?.lo ?? MISSING_LAST,
        v.started ? -v.started.hi : MISSING_LAST,
        v.present,
        v.endpoints,
        v.lineAt,
        v.lineLength,
      );
    },
    studyToken: (parameter: number, code: string, system: string) => tokens.add(parameter, code, firstStudy + count.studies - 1, system),
  };
  const { skipped, figures } = source((batch) => takeRecords(batch, sink));
  tokens.flush();
  return { ...count, skipped, figures };
}

/** Token rows go in many to a statement: most of the cost of a row is the call that inserts it. */
class TokenInserter {
  private static readonly ROWS = 128;
  private readonly many: Statement<unknown[]>;
  private readonly one: Statement<unknown[]>;
  // Filled in place and never shrunk: an array emptied by `length = 0` is reallocated as it grows again.
  private readonly pending: unknown[] = new Array(TokenInserter.ROWS * 4);
  private filled = 0;

  constructor(db: Db) {
    // A study lists each value of a parameter once, but a modality repeats across its series: OR IGNORE (which is
    // also faster than a plain INSERT, whose possible failure makes SQLite keep a statement journal).
    const sql = (rows: number) => `INSERT OR IGNORE INTO token (parameter, code, study, system) VALUES ${Array(rows).fill("(?, ?, ?, ?)").join(", ")}`;
    this.many = db.prepare<unknown[]>(sql(TokenInserter.ROWS));
    this.one = db.prepare<unknown[]>(sql(1));
  }

  add(parameter: number, code: string, study: number, system: string): void {
    const p = this.pending;
    let i = this.filled;
    p[i++] = parameter;
    p[i++] = code;
    p[i++] = study;
    p[i++] = system;
    this.filled = i;
    if (i === p.length) {
      // As arguments, not as one array: better-sqlite3 reads an array's elements through V8's generic (slow) lookup.
      this.many.run(...p);
      this.filled = 0;
    }
  }

  flush(): void {
    for (let i = 0; i < this.filled; i += 4) this.one.run(this.pending.slice(i, i + 4));
    this.filled = 0;
  }
}

/**
 * Size and a hash of the first, last and 62 evenly spaced 4 KiB blocks: enough to notice NDJSON changed after
 * it was indexed, cheap enough for every start of `serve`, and the same for the same bytes (no mtime).
 */
function fingerprint(path: string): string {
  const fd = openSync(path, "r");
  try {
    return fingerprintOf(fd);
  } finally {
    closeSync(fd);
  }
}

function fingerprintOf(fd: number): string {
  const size = fstatSync(fd).size;
  const hash = createHash("sha256");
  const block = Buffer.alloc(4096);
  const blocks = 64;
  const positions =
    size <= blocks * block.length
      ? [...Array(Math.ceil(size / block.length)).keys()].map((i) => i * block.length)
      : [...Array(blocks).keys()].map((i) => Math.floor(((size - block.length) * i) / (blocks - 1)));
  for (const position of positions) hash.update(block.subarray(0, readSync(fd, block, 0, block.length, position)));
  return `${size}:${hash.digest("hex").slice(0, 32)}`;
}

export interface IndexMeta {
  readonly zone: string;
  readonly studies: number;
  readonly patients: number;
  readonly endpoints: number;
  /** The study distributions of the run report (index/figures.ts). */
  readonly figures: StudyFigures;
}

/** A study's line went missing or changed under a running server: ImagingStudy.ndjson was written over in place. */
export class StaleLineError extends Error {
  override readonly name = "StaleLineError";
}

// A line the index took is one JSON object, maybe with blanks around it (space, tab, CR).
const OBJECT_START = new Set([0x7b, 0x20, 0x09, 0x0d]);
const OBJECT_END = new Set([0x7d, 0x20, 0x09, 0x0d]);

/** A study line to read: its offset in ImagingStudy.ndjson, its length, and where it goes in the buffer read into. */
export type StudyLineRead = [offset: number, length: number, at: number];

// Lines at most this far apart are read together, in spans of at most this many bytes.
const NEAR_BYTES = 4096;
const SPAN_BYTES = 256 << 10;

/**
 * A line that was not read whole, or no longer starts and ends like a JSON object, was written over since the index
 * was opened: a guard against the usual in-place edit, not a proof.
 */
function checkLine(whole: boolean, line: Buffer, at: number, length: number): void {
  if (!whole || !OBJECT_START.has(line[at]!) || !OBJECT_END.has(line[at + length - 1]!)) {
    throw new StaleLineError(`${NDJSON_FILES.ImagingStudy} changed while it was being served: run dcm2fhir index <folder>, then start again`);
  }
}

/**
 * An index opened for searching, with the ImagingStudy.ndjson its study rows point into. Statements are prepared
 * once per SQL text. The NDJSON is opened with the index and read through that descriptor only: a convert that
 * replaces the folder's files (renaming new ones over them) leaves this process reading the file its index was made
 * from.
 */
export class SearchIndex {
  private readonly statements = new Map<string, ReturnType<Db["prepare"]>>();

  /** Where lines read together land before each is copied into place. */
  private span = Buffer.alloc(0);

  private constructor(
    readonly db: Db,
    readonly meta: IndexMeta,
    private readonly studyLines: number | undefined,
  ) {}

  /**
   * Opens the index of `folder`, refusing one that is missing, of another format, or older than the NDJSON beside it.
   * `writable`: for `serve --pacs`, which adds what the PACS answers (index/indexWriter.ts); held by this process alone.
   */
  static open(folder: string, options: { readonly writable?: boolean } = {}): SearchIndex {
    const path = join(folder, SEARCH_INDEX_FILE);
    const rebuild = `run: dcm2fhir index <folder>`;
    if (!existsSync(path)) {
      if (!existsSync(join(folder, NDJSON_FILES.ImagingStudy)))
        throw new IndexError("no-ndjson", "no ImagingStudy.ndjson in this folder: convert into it first (dcm2fhir convert <inputs..> --out <folder>)");
      throw new IndexError("no-index", `the folder has NDJSON but no search index (made by hand or by an older dcm2fhir); ${rebuild}`);
    }
    let db: Db;
    let meta: Record<string, string>;
    try {
      db = openDatabase(path, options.writable ? "cache" : "read");
      meta = Object.fromEntries((db.prepare("SELECT key, value FROM meta").all() as Array<{ key: string; value: string }>).map((r) => [r.key, r.value]));
    } catch (error) {
      if ((error as { code?: string }).code === "SQLITE_BUSY") {
        throw new IndexError(
          "index-busy",
          `the folder's search index is held by another dcm2fhir (serve or search with --pacs writes into it): stop that one, or serve a copy of the folder`,
        );
      }
      throw new IndexError("not-an-index", `${SEARCH_INDEX_FILE} is not a search index dcm2fhir can read; ${rebuild}`);
    }
    const refuse = (reason: IndexErrorReason, message: string): never => {
      db.close();
      throw new IndexError(reason, message);
    };
    const otherFormat = `the search index was made by another version of dcm2fhir; ${rebuild}`;
    if (meta.format !== INDEX_FORMAT) refuse("index-format", otherFormat);
    try {
      db!.prepare("SELECT study.line_at, study.line_length FROM study, study_resource, token, patient, patient_identifier, endpoint LIMIT 0").all();
    } catch {
      refuse("index-format", otherFormat);
    }
    const recorded = JSON.parse(meta.files ?? "{}") as Record<string, string>;
    const present = presentFiles(folder);
    // The descriptor's file is the one checked: the one every study line will be read from.
    const studyLines = present.ImagingStudy === undefined ? undefined : openSync(present.ImagingStudy, "r");
    for (const type of Object.keys(NDJSON_FILES) as IndexedType[]) {
      const file = present[type];
      const found = type === "ImagingStudy" ? (studyLines === undefined ? undefined : fingerprintOf(studyLines)) : file ? fingerprint(file) : undefined;
      if (found !== recorded[type]) {
        if (studyLines !== undefined) closeSync(studyLines);
        refuse("stale-index", `${NDJSON_FILES[type]} changed after the search index was built; ${rebuild}`);
      }
    }
    const counts = {
      zone: meta.zone!,
      studies: Number(meta.studies),
      patients: Number(meta.patients),
      endpoints: Number(meta.endpoints),
      figures: JSON.parse(meta.figures!) as StudyFigures,
    };
    return new SearchIndex(db!, counts, studyLines);
  }

  /** A prepared statement, once per SQL text; `raw`: rows come as arrays rather than objects. */
  statement(sql: string, raw = false): ReturnType<Db["prepare"]> {
    const key = raw ? `raw:${sql}` : sql;
    let s = this.statements.get(key);
    if (!s) {
      // Each shape of search is one SQL text; a client inventing shapes must not grow the cache without end.
      if (this.statements.size >= 1000) this.statements.clear();
      s = this.db.prepare(sql);
      if (raw) s.raw(true);
      this.statements.set(key, s);
    }
    return s;
  }

  /** A resource's NDJSON line, for a read interaction. */
  read(type: IndexedType, id: string): Buffer | undefined {
    if (type === "ImagingStudy") {
      const row = this.statement(`SELECT ${STUDY_LINE} FROM study s WHERE s.id = ?`, true).get(id) as StudyLine | undefined;
      return row && this.studyBytes(row);
    }
    const row = this.statement(`SELECT resource FROM ${type === "Patient" ? "patient" : "endpoint"} WHERE id = ?`).get(id) as { resource: Buffer } | undefined;
    return row?.resource;
  }

  private studyBytes([at, length, resource]: StudyLine): Buffer {
    if (resource) return resource;
    const bytes = Buffer.allocUnsafe(length);
    this.readStudyLine(at!, bytes, 0, length);
    return bytes;
  }

  /** Reads the study line at `offset` of ImagingStudy.ndjson, `length` bytes, into `into` at `at`: a Bundle is assembled in place. */
  readStudyLine(offset: number, into: Buffer, at: number, length: number): void {
    const read = this.studyLines === undefined ? 0 : readSync(this.studyLines, into, at, length, offset);
    checkLine(read === length, into, at, length);
  }

  /**
   * Reads study lines into `into`: `reads` holds, for each, its offset in ImagingStudy.ndjson, its length and where
   * it goes in `into`. Lines lying close together in the file (a patient's studies, often written one after another)
   * are read with one call and copied into place: a read costs more than copying a few kB.
   */
  readStudyLines(reads: readonly StudyLineRead[], into: Buffer): void {
    if (reads.length === 1) return this.readStudyLine(reads[0]![0], into, reads[0]![2], reads[0]![1]);
    const sorted = [...reads].sort((a, b) => a[0] - b[0]);
    for (let first = 0; first < sorted.length; ) {
      const start = sorted[first]![0];
      let end = start + sorted[first]![1];
      let last = first;
      while (last + 1 < sorted.length) {
        const [offset, length] = sorted[last + 1]!;
        if (offset - end > NEAR_BYTES || offset + length - start > SPAN_BYTES) break;
        end = Math.max(end, offset + length);
        last++;
      }
      if (last === first) this.readStudyLine(start, into, sorted[first]![2], sorted[first]![1]);
      else {
        if (this.span.length < end - start) this.span = Buffer.allocUnsafeSlow(SPAN_BYTES);
        const read = this.studyLines === undefined ? 0 : readSync(this.studyLines, this.span, 0, end - start, start);
        for (let i = first; i <= last; i++) {
          const [offset, length, at] = sorted[i]!;
          this.span.copy(into, at, offset - start, offset - start + length);
          checkLine(read >= offset - start + length, into, at, length);
        }
      }
      first = last + 1;
    }
  }

  close(): void {
    this.db.close();
    if (this.studyLines !== undefined) closeSync(this.studyLines);
  }
}

/**
 * The columns that say where the line of the study `s` is, for a statement's select list: offset, length, and the
 * line itself when the index holds it (a study `serve --pacs` added; read only then).
 */
export const STUDY_LINE = "s.line_at, s.line_length, CASE WHEN s.line_at IS NULL THEN (SELECT resource FROM study_resource WHERE study = s.rowid) END";

/** Where a study's line is: in ImagingStudy.ndjson at `at`, `length` bytes long, or (`at` null) `resource` itself. */
export type StudyLine = [at: number | null, length: number, resource: Buffer | null];
