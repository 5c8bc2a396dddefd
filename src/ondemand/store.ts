// What `serve --pacs` remembers of the PACS, in the folder's search index beside the resources it added: each answer
// a PACS gave for a key (when, and which studies it listed), each study fetched (from which PACS, and what its Patient
// is made of), and the Patients it made. A study or Patient the index holds without a row here is the folder's own
// conversion: the PACS never replaces or removes it.
import type { Statement } from "../lib/sqlite.js";
import type { SearchIndex } from "../index/searchIndex.js";
import type { PatientAttributes, PatientVariant } from "../group/patients.js";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS ondemand_answer (
  root TEXT NOT NULL,
  key TEXT NOT NULL,
  fetched INTEGER NOT NULL,
  stale INTEGER NOT NULL,
  studies TEXT NOT NULL,
  failed TEXT NOT NULL,
  rejected TEXT NOT NULL,
  PRIMARY KEY (root, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ondemand_study (
  id TEXT PRIMARY KEY,
  root TEXT NOT NULL,
  listing TEXT NOT NULL,
  patient_key TEXT NOT NULL,
  patient TEXT NOT NULL,
  instances INTEGER NOT NULL,
  resource BLOB
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ondemand_study_patient ON ondemand_study (patient_key);
CREATE TABLE IF NOT EXISTS ondemand_patient (id TEXT PRIMARY KEY) WITHOUT ROWID;
`;

/** What a PACS answered for one key. */
export interface Answer {
  /** When (ms since the epoch). */
  readonly fetched: number;
  /** A later answer for another key dropped one of its studies: it is asked again before it is reused. */
  readonly stale: boolean;
  /** Study Instance UIDs it listed (and that match the key exactly). */
  readonly studies: readonly string[];
  /** Listed, but their metadata could not be read: left out, named in the outcome. */
  readonly failed: readonly string[];
  /** Read, but their ImagingStudy (or its Patient) failed validation: left out, named in the outcome. */
  readonly rejected: readonly string[];
}

/** A study fetched from a PACS, as kept to make its Patient and to know when to read it again. */
export interface FetchedStudy {
  readonly id: string;
  readonly root: string;
  /** A digest of its QIDO-RS listing entry: when the PACS lists it differently, it is read again. */
  readonly listing: string;
  readonly patientKey: string;
  readonly patient: PatientVariant;
  /** Its ImagingStudy line; undefined when it failed validation. */
  readonly resource: Buffer | undefined;
}

export class OnDemandStore {
  /** Every answer, in memory: a search within max-age asks a Map, not SQLite. */
  private readonly answers = new Map<string, Answer>();
  private readonly statements = new Map<string, Statement<unknown[]>>();

  constructor(private readonly index: SearchIndex) {
    index.db.exec(SCHEMA);
    const rows = index.db.prepare("SELECT root, key, fetched, stale, studies, failed, rejected FROM ondemand_answer").all() as Array<
      Record<string, string | number>
    >;
    for (const r of rows) {
      this.answers.set(answerKey(r.root as string, r.key as string), {
        fetched: r.fetched as number,
        stale: r.stale === 1,
        studies: JSON.parse(r.studies as string) as string[],
        failed: JSON.parse(r.failed as string) as string[],
        rejected: JSON.parse(r.rejected as string) as string[],
      });
    }
  }

  answer(root: string, key: string): Answer | undefined {
    return this.answers.get(answerKey(root, key));
  }

  putAnswer(root: string, key: string, answer: Answer): void {
    this.sql("INSERT OR REPLACE INTO ondemand_answer (root, key, fetched, stale, studies, failed, rejected) VALUES (?, ?, ?, ?, ?, ?, ?)").run(
      root,
      key,
      answer.fetched,
      answer.stale ? 1 : 0,
      JSON.stringify(answer.studies),
      JSON.stringify(answer.failed),
      JSON.stringify(answer.rejected),
    );
    this.answers.set(answerKey(root, key), answer);
  }

  /** Every other answer that lists `study` is asked again before it is reused: the PACS no longer lists it for one key. */
  invalidateAnswersListing(study: string, except: { readonly root: string; readonly key: string }): void {
    for (const [k, answer] of this.answers) {
      if (answer.stale || k === answerKey(except.root, except.key) || !answer.studies.includes(study)) continue;
      const [root, key] = splitAnswerKey(k);
      this.putAnswer(root, key, { ...answer, stale: true });
    }
  }

  study(id: string): FetchedStudy | undefined {
    const row = this.sql("SELECT id, root, listing, patient_key, patient, instances, resource FROM ondemand_study WHERE id = ?").get(id) as
      | StudyRow
      | undefined;
    return row && fromRow(row);
  }

  studiesOfPatient(patientKey: string): FetchedStudy[] {
    return (
      this.sql("SELECT id, root, listing, patient_key, patient, instances, resource FROM ondemand_study WHERE patient_key = ? ORDER BY id").all(
        patientKey,
      ) as StudyRow[]
    ).map(fromRow);
  }

  putStudy(study: FetchedStudy): void {
    this.sql("INSERT OR REPLACE INTO ondemand_study (id, root, listing, patient_key, patient, instances, resource) VALUES (?, ?, ?, ?, ?, ?, ?)").run(
      study.id,
      study.root,
      study.listing,
      study.patientKey,
      JSON.stringify(study.patient.attributes),
      study.patient.count,
      study.resource ?? null,
    );
  }

  deleteStudy(id: string): void {
    this.sql("DELETE FROM ondemand_study WHERE id = ?").run(id);
  }

  /** The Patient was made from fetched studies (not the folder's conversion): it may be replaced or removed. */
  ownsPatient(id: string): boolean {
    return this.sql("SELECT 1 FROM ondemand_patient WHERE id = ?").get(id) !== undefined;
  }

  setPatientOwned(id: string, owned: boolean): void {
    this.sql(owned ? "INSERT OR IGNORE INTO ondemand_patient (id) VALUES (?)" : "DELETE FROM ondemand_patient WHERE id = ?").run(id);
  }

  private sql(text: string): Statement<unknown[]> {
    let s = this.statements.get(text);
    if (!s) this.statements.set(text, (s = this.index.db.prepare<unknown[]>(text)));
    return s;
  }
}

interface StudyRow {
  readonly id: string;
  readonly root: string;
  readonly listing: string;
  readonly patient_key: string;
  readonly patient: string;
  readonly instances: number;
  readonly resource: Buffer | null;
}

const fromRow = (r: StudyRow): FetchedStudy => ({
  id: r.id,
  root: r.root,
  listing: r.listing,
  patientKey: r.patient_key,
  patient: { attributes: JSON.parse(r.patient) as PatientAttributes, count: r.instances },
  resource: r.resource ?? undefined,
});

// A root is a URL and a key starts with an attribute name: neither holds a line break.
const answerKey = (root: string, key: string) => `${root}\n${key}`;
const splitAnswerKey = (k: string): [string, string] => {
  const at = k.indexOf("\n");
  return [k.slice(0, at), k.slice(at + 1)];
};
