// The state file of incremental runs (`convert --incremental`): for every entry the last run found, its identity
// (size, mtime, ctime, inode, device) and what reading it gave — the HeaderRead every source yields, or the
// crawl's refusal — so that a later run re-reads only files that are new or changed. SQLite through
// better-sqlite3: embedded, synchronous, one file. This module holds what the file is (its schema, its meta data,
// its digest); committedState.ts reads the committed one, stagedState.ts writes the next one.
//
// The state is an output file like the others: a run copies it into its staging folder, changes the copy, and
// the journaled commit (lib/outputFolder.ts) renames it into place with the outputs. A run killed at any moment
// leaves the previous output and its state together. A digest beside it (state.json) is checked before
// anything in the database is trusted, so a corrupt, truncated or foreign file is replaced, never used.
import { createHash } from "node:crypto";
import { closeSync, openSync, readSync, statSync } from "node:fs";
import type { Report } from "../write/report.js";
import type { Fingerprint } from "../core/fingerprint.js";
import { VARIANT_TABLE } from "../lib/sqlite.js";

export const FORMAT = "dcm2fhir-state";
/**
 * PRAGMA application_id "dcm2"; schema 2: results know their study and SOP Instance UID hash; studies keep their
 * outcome.
 */
export const KIND = { applicationId: 0x64636d32, schemaVersion: 2 } as const;
export const SCHEMA_VERSION = KIND.schemaVersion;

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
export const SCHEMA = `
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
  ${VARIANT_TABLE}
  CREATE TABLE study (id INTEGER PRIMARY KEY, uid TEXT NOT NULL UNIQUE, counts TEXT, outcome TEXT);
`;

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

/** inode, size and mtime of a file (undefined when there is none): what a rename keeps and an edit changes. */
export function outputIdentity(path: string): string | undefined {
  const s = statSync(path, { bigint: true, throwIfNoEntry: false });
  return s && `${s.ino}:${s.size}:${s.mtimeNs}`;
}

/** A result as it is delivered: [id, bytes, record, study variant, series variant]. */
export type ResultRow = [number, number, string, number | null, number | null];

export function sha256File(path: string): string {
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
