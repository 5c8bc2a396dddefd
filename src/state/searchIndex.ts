// The search index: a SQLite file beside the NDJSON it indexes, one row per searchable value, and every resource
// stored as its NDJSON line (a study's apart from the small row searches sort and count on), so that what is served
// is byte for byte what was written. Built once (by convert, through the same staging and commit as the other
// outputs, or by `dcm2fhir index`), then only read.
import { isUtf8 } from "node:buffer";
import { createHash } from "node:crypto";
import { closeSync, existsSync, fstatSync, openSync, readSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { type JsonIdentifier, type JsonImagingStudy, patientIdentifierRows, studyValues } from "../search/parameters.js";
import { VERSION } from "../version.js";
import type { OutputDirectory } from "../write/outputDir.js";
import { type Db, openDatabase } from "./db.js";

/**
 * Hidden, like the lock and the commit journal: it is derived from the NDJSON (which are the output), its bytes
 * depend on the SQLite library that wrote it, and tools that take every file of the folder must not pick it up.
 */
export const SEARCH_INDEX_FILE = ".dcm2fhir.search.sqlite";
/** Bumped whenever the schema or the meaning of a stored value changes; an index of another format is rebuilt. */
export const INDEX_FORMAT = "2";

const NDJSON_FILES = { ImagingStudy: "ImagingStudy.ndjson", Patient: "Patient.ndjson", Endpoint: "Endpoint.ndjson" } as const;
type IndexedType = keyof typeof NDJSON_FILES;

export type IndexErrorReason = "no-ndjson" | "no-index" | "not-an-index" | "index-format" | "stale-index";

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

/** A line of an NDJSON file the index could not take: the run goes on without it. */
export interface SkippedLine {
  readonly file: string;
  readonly line: number;
  readonly problem: "not-utf8" | "not-json" | "wrong-resource-type" | "no-id" | "duplicate-id";
}

export interface IndexSummary {
  readonly studies: number;
  readonly patients: number;
  readonly endpoints: number;
  readonly skipped: readonly SkippedLine[];
}

// Sort keys with missing values last in both directions; descending `started` is stored negated so that
// every sort reads an index forwards.
const MISSING_LAST = Number.MAX_SAFE_INTEGER;

// The study row holds what a search filters, sorts and counts on, and the parameters with one value a study
// (STUDY_COLUMN_PARAMETERS); its resource is apart, read only for the page. Token rows hold the parameters with
// many values a study; a patient's identifiers are kept once per Patient, not copied onto each of its studies.
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
  endpoints TEXT
);
CREATE TABLE study_resource (study INTEGER PRIMARY KEY, resource BLOB NOT NULL);
CREATE TABLE token (
  parameter INTEGER NOT NULL,
  code TEXT NOT NULL,
  study INTEGER NOT NULL,
  system TEXT NOT NULL,
  PRIMARY KEY (parameter, code, study, system)
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

/** convert's hook: indexes the NDJSON just staged, into the same staging folder, so the commit moves them together. */
export function stageSearchIndex(out: OutputDirectory, zone: string): IndexSummary {
  const indexPath = out.stage(SEARCH_INDEX_FILE);
  return buildSearchIndex(dirname(indexPath), indexPath, zone);
}

/**
 * Indexes ImagingStudy.ndjson, Patient.ndjson and Endpoint.ndjson of `folder` (read only: they may be hard
 * links) into a new file at `indexPath`. `zone` reads dates without a zone, in the data and in queries.
 */
export function buildSearchIndex(folder: string, indexPath: string, zone: string): IndexSummary {
  const files = presentFiles(folder);
  if (!files.ImagingStudy) throw new IndexError("no-ndjson", "no ImagingStudy.ndjson in this folder: nothing to index");
  rmSync(indexPath, { force: true });
  const db = openDatabase(indexPath, "build");
  try {
    db.exec(SCHEMA);
    const summary = db.transaction(() => load(db, files, zone))();
    db.exec(INDEXES);
    const insertMeta = db.prepare("INSERT INTO meta (key, value) VALUES (?, ?)");
    const meta: Record<string, string> = {
      format: INDEX_FORMAT,
      dcm2fhir: VERSION,
      zone,
      studies: String(summary.studies),
      patients: String(summary.patients),
      endpoints: String(summary.endpoints),
      files: JSON.stringify(Object.fromEntries(Object.entries(files).map(([type, path]) => [type, fingerprint(path)]))),
    };
    db.transaction(() => {
      for (const key of Object.keys(meta).sort()) insertMeta.run(key, meta[key]);
    })();
    return summary;
  } finally {
    db.close();
  }
}

function presentFiles(folder: string): Partial<Record<IndexedType, string>> {
  return Object.fromEntries(
    Object.entries(NDJSON_FILES)
      .map(([type, name]) => [type, join(folder, name)] as const)
      .filter(([, path]) => existsSync(path)),
  );
}

function load(db: Db, files: Partial<Record<IndexedType, string>>, zone: string): IndexSummary {
  const skipped: SkippedLine[] = [];
  const patientsWithIdentifier = new Set<string>();
  const insertPatient = db.prepare("INSERT INTO patient (id, resource) VALUES (?, ?)");
  // A Patient may list the same identifier twice: OR IGNORE.
  const insertIdentifier = db.prepare("INSERT OR IGNORE INTO patient_identifier (code, patient, system) VALUES (?, ?, ?)");
  const patients = eachResource(files.Patient, "Patient", skipped, (resource, bytes) => {
    insertPatient.run(resource.id, bytes);
    const identifiers = patientIdentifierRows(resource as { identifier?: JsonIdentifier[] });
    if (identifiers.length > 0) patientsWithIdentifier.add(resource.id);
    for (const i of identifiers) insertIdentifier.run(i.code, resource.id, i.system);
  });
  const insertEndpoint = db.prepare("INSERT INTO endpoint (id, resource) VALUES (?, ?)");
  const endpoints = eachResource(files.Endpoint, "Endpoint", skipped, (resource, bytes) => insertEndpoint.run(resource.id, bytes));

  const insertStudy = db.prepare("INSERT INTO study (rowid, id, patient, status, started_lo, started_hi, sort_asc, sort_desc, present, endpoints) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  const insertResource = db.prepare("INSERT INTO study_resource (study, resource) VALUES (?, ?)");
  const tokens = new TokenInserter(db);
  const hasIdentifier = (patient: string) => patientsWithIdentifier.has(patient);
  let rowid = 0;
  const studies = eachResource(files.ImagingStudy, "ImagingStudy", skipped, (resource, bytes) => {
    const v = studyValues(resource as JsonImagingStudy, zone, hasIdentifier);
    rowid++;
    insertStudy.run(
      rowid,
      v.id,
      v.patient ?? null,
      v.status ?? null,
      v.started?.lo ?? null,
      v.started?.hi ?? null,
      v.started?.lo ?? MISSING_LAST,
      v.started ? -v.started.hi : MISSING_LAST,
      v.present,
      v.endpoints.length > 0 ? JSON.stringify(v.endpoints) : null,
    );
    insertResource.run(rowid, bytes);
    for (const t of v.tokens) tokens.add(t.parameter, t.code, rowid, t.system);
  });
  tokens.flush();
  return { studies, patients, endpoints, skipped };
}

interface ParsedResource {
  readonly id: string;
  readonly [element: string]: unknown;
}

/** Token rows go in many to a statement: most of the cost of a row is the call that inserts it. */
class TokenInserter {
  private static readonly ROWS = 128;
  private readonly many: ReturnType<Db["prepare"]>;
  private readonly one: ReturnType<Db["prepare"]>;
  private readonly pending: unknown[] = [];

  constructor(db: Db) {
    // A study lists each value of a parameter once, but a modality repeats across its series: OR IGNORE.
    const sql = (rows: number) => `INSERT OR IGNORE INTO token (parameter, code, study, system) VALUES ${Array(rows).fill("(?, ?, ?, ?)").join(", ")}`;
    this.many = db.prepare(sql(TokenInserter.ROWS));
    this.one = db.prepare(sql(1));
  }

  add(parameter: number, code: string, study: number, system: string): void {
    this.pending.push(parameter, code, study, system);
    if (this.pending.length === TokenInserter.ROWS * 4) {
      this.many.run(this.pending);
      this.pending.length = 0;
    }
  }

  flush(): void {
    for (let i = 0; i < this.pending.length; i += 4) this.one.run(this.pending.slice(i, i + 4));
    this.pending.length = 0;
  }
}

/** Calls `take` with each resource of an NDJSON file and its exact bytes; returns how many were taken. */
function eachResource(
  path: string | undefined,
  resourceType: IndexedType,
  skipped: SkippedLine[],
  take: (resource: ParsedResource, bytes: Buffer) => void,
): number {
  if (!path) return 0;
  const file = NDJSON_FILES[resourceType];
  const ids = new Set<string>();
  let taken = 0;
  for (const { bytes, line } of ndjsonLines(path)) {
    const skip = (problem: SkippedLine["problem"]) => skipped.push({ file, line, problem });
    if (!isUtf8(bytes)) {
      skip("not-utf8");
      continue;
    }
    let resource: { resourceType?: unknown; id?: unknown };
    try {
      resource = JSON.parse(bytes.toString("utf8"));
    } catch {
      skip("not-json");
      continue;
    }
    if (resource === null || typeof resource !== "object" || resource.resourceType !== resourceType) skip("wrong-resource-type");
    else if (typeof resource.id !== "string" || resource.id === "") skip("no-id");
    else if (ids.has(resource.id)) skip("duplicate-id");
    else {
      ids.add(resource.id);
      take(resource as ParsedResource, bytes);
      taken++;
    }
  }
  return taken;
}

/** The lines of a file as bytes, without their line break; empty lines are left out. A line's bytes are valid until the next line is read. */
function* ndjsonLines(path: string): Generator<{ readonly bytes: Buffer; readonly line: number }> {
  const fd = openSync(path, "r");
  try {
    const chunk = Buffer.allocUnsafe(1 << 20);
    // The start of a line that runs past the end of the chunk read before.
    let carry = Buffer.alloc(0);
    let line = 0;
    const withoutCR = (bytes: Buffer) => (bytes.length > 0 && bytes[bytes.length - 1] === 13 ? bytes.subarray(0, -1) : bytes);
    for (;;) {
      const read = readSync(fd, chunk, 0, chunk.length, null);
      if (read === 0) {
        line++;
        if (withoutCR(carry).length > 0) yield { bytes: withoutCR(carry), line };
        return;
      }
      const data = chunk.subarray(0, read);
      let start = 0;
      for (let end = data.indexOf(10); end !== -1; end = data.indexOf(10, start)) {
        line++;
        const bytes = withoutCR(carry.length > 0 ? Buffer.concat([carry, data.subarray(0, end)]) : data.subarray(start, end));
        carry = Buffer.alloc(0);
        start = end + 1;
        if (bytes.length > 0) yield { bytes, line };
      }
      // Copied: the chunk is read into again.
      carry = carry.length > 0 ? Buffer.concat([carry, data.subarray(start)]) : Buffer.from(data.subarray(start));
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Size and a hash of the first, last and 62 evenly spaced 4 KiB blocks: enough to notice NDJSON changed after
 * it was indexed, cheap enough for every start of `serve`, and the same for the same bytes (no mtime).
 */
function fingerprint(path: string): string {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const hash = createHash("sha256");
    const block = Buffer.alloc(4096);
    const blocks = 64;
    const positions = size <= blocks * block.length ? [...Array(Math.ceil(size / block.length)).keys()].map((i) => i * block.length) : [...Array(blocks).keys()].map((i) => Math.floor(((size - block.length) * i) / (blocks - 1)));
    for (const position of positions) hash.update(block.subarray(0, readSync(fd, block, 0, block.length, position)));
    return `${size}:${hash.digest("hex").slice(0, 32)}`;
  } finally {
    closeSync(fd);
  }
}

export interface IndexMeta {
  readonly zone: string;
  readonly studies: number;
  readonly patients: number;
  readonly endpoints: number;
}

/** An index opened for searching. Statements are prepared once per SQL text. */
export class SearchIndex {
  private readonly statements = new Map<string, ReturnType<Db["prepare"]>>();

  private constructor(
    readonly db: Db,
    readonly meta: IndexMeta,
  ) {}

  /** Opens the index of `folder`, refusing one that is missing, of another format, or older than the NDJSON beside it. */
  static open(folder: string): SearchIndex {
    const path = join(folder, SEARCH_INDEX_FILE);
    const rebuild = `run: dcm2fhir index <folder>`;
    if (!existsSync(path)) {
      if (!existsSync(join(folder, NDJSON_FILES.ImagingStudy))) throw new IndexError("no-ndjson", "no ImagingStudy.ndjson in this folder: convert into it first (dcm2fhir convert <inputs..> --out <folder>)");
      throw new IndexError("no-index", `the folder has NDJSON but no search index (made by hand or by an older dcm2fhir); ${rebuild}`);
    }
    let db: Db;
    let meta: Record<string, string>;
    try {
      db = openDatabase(path, "read");
      meta = Object.fromEntries((db.prepare("SELECT key, value FROM meta").all() as Array<{ key: string; value: string }>).map((r) => [r.key, r.value]));
    } catch {
      throw new IndexError("not-an-index", `${SEARCH_INDEX_FILE} is not a search index dcm2fhir can read; ${rebuild}`);
    }
    const refuse = (reason: IndexErrorReason, message: string): never => {
      db.close();
      throw new IndexError(reason, message);
    };
    const otherFormat = `the search index was made by another version of dcm2fhir; ${rebuild}`;
    if (meta.format !== INDEX_FORMAT) refuse("index-format", otherFormat);
    try {
      db!.prepare("SELECT 1 FROM study, study_resource, token, patient, patient_identifier, endpoint LIMIT 0").all();
    } catch {
      refuse("index-format", otherFormat);
    }
    const recorded = JSON.parse(meta.files ?? "{}") as Record<string, string>;
    const present = presentFiles(folder);
    for (const type of Object.keys(NDJSON_FILES) as IndexedType[]) {
      const file = present[type];
      if ((file ? fingerprint(file) : undefined) !== recorded[type]) {
        refuse("stale-index", `${NDJSON_FILES[type]} changed after the search index was built; ${rebuild}`);
      }
    }
    return new SearchIndex(db!, { zone: meta.zone!, studies: Number(meta.studies), patients: Number(meta.patients), endpoints: Number(meta.endpoints) });
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
    const sql =
      type === "ImagingStudy"
        ? "SELECT resource FROM study_resource WHERE study = (SELECT rowid FROM study WHERE id = ?)"
        : `SELECT resource FROM ${type === "Patient" ? "patient" : "endpoint"} WHERE id = ?`;
    const row = this.statement(sql).get(id) as { resource: Buffer } | undefined;
    return row?.resource;
  }

  close(): void {
    this.db.close();
  }
}
