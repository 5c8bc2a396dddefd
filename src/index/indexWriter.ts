// Resources added to a search index after it was built: what `serve --pacs` fetched from a PACS. Each resource is
// stored exactly as its NDJSON line would be (a study's in study_resource: it is in no NDJSON file), with the same rows a build makes from that line (search/parameters.ts),
// so that a search cannot tell a study fetched on demand from a converted one.
import { type JsonIdentifier, type JsonImagingStudy, type StudyValues, patientIdentifierRows, studyValues } from "./parameters.js";
import type { Statement } from "../lib/sqlite.js";
import { MISSING_LAST, type SearchIndex } from "./searchIndex.js";

export class IndexWriter {
  private readonly statements = new Map<string, Statement<unknown[]>>();

  constructor(private readonly index: SearchIndex) {}

  private sql(text: string): Statement<unknown[]> {
    let s = this.statements.get(text);
    if (!s) this.statements.set(text, (s = this.index.db.prepare<unknown[]>(text)));
    return s;
  }

  /** Runs `write` in one transaction: a search sees all of it or none. */
  transaction<T>(write: () => T): T {
    return this.index.db.transaction(write)();
  }

  resource(type: "ImagingStudy" | "Patient" | "Endpoint", id: string): Buffer | undefined {
    return this.index.read(type, id);
  }

  putEndpoint(id: string, line: Buffer): void {
    this.sql("INSERT OR REPLACE INTO endpoint (id, resource) VALUES (?, ?)").run(id, line);
  }

  /** Adds or replaces a Patient and its identifier rows. */
  putPatient(id: string, line: Buffer): void {
    this.deletePatient(id);
    this.sql("INSERT INTO patient (id, resource) VALUES (?, ?)").run(id, line);
    const insert = this.sql("INSERT OR IGNORE INTO patient_identifier (code, patient, system) VALUES (?, ?, ?)");
    for (const row of patientIdentifierRows(JSON.parse(line.toString("utf8")) as { identifier?: JsonIdentifier[] })) insert.run(row.code, id, row.system);
  }

  deletePatient(id: string): void {
    const old = this.resource("Patient", id);
    if (!old) return;
    // Row by row, by key: patient_identifier has no index by patient.
    const remove = this.sql("DELETE FROM patient_identifier WHERE code = ? AND patient = ? AND system = ?");
    for (const row of patientIdentifierRows(JSON.parse(old.toString("utf8")) as { identifier?: JsonIdentifier[] })) remove.run(row.code, id, row.system);
    this.sql("DELETE FROM patient WHERE id = ?").run(id);
  }

  /** Adds or replaces an ImagingStudy (its Patient first: whether the Patient has an identifier is part of its row). */
  putStudy(id: string, line: Buffer): void {
    const values = this.values(line);
    const row = this.rowOf(id);
    const columns: unknown[] = [
      values.patient ?? null,
      values.status ?? null,
      values.started?.lo ?? null,
      values.started?.hi ?? null,
      values.started?.lo ?? MISSING_LAST,
      values.started ? -values.started.hi : MISSING_LAST,
      values.present,
      values.endpoints.length > 0 ? JSON.stringify(values.endpoints) : null,
      line.length,
    ];
    let rowid: number;
    if (row) {
      rowid = row.rowid;
      this.deleteTokens(rowid, this.values(row.resource));
      this.sql(
        "UPDATE study SET patient = ?, status = ?, started_lo = ?, started_hi = ?, sort_asc = ?, sort_desc = ?, present = ?, endpoints = ?, line_at = NULL, line_length = ? WHERE rowid = ?",
      ).run(...columns, rowid);
      this.sql("INSERT OR REPLACE INTO study_resource (study, resource) VALUES (?, ?)").run(rowid, line);
    } else {
      rowid = Number(
        this.sql(
          "INSERT INTO study (id, patient, status, started_lo, started_hi, sort_asc, sort_desc, present, endpoints, line_length) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ).run(id, ...columns).lastInsertRowid,
      );
      this.sql("INSERT INTO study_resource (study, resource) VALUES (?, ?)").run(rowid, line);
    }
    const insert = this.sql("INSERT OR IGNORE INTO token (parameter, code, study, system) VALUES (?, ?, ?, ?)");
    for (const t of values.tokens) insert.run(t.parameter, t.code, rowid, t.system);
  }

  deleteStudy(id: string): void {
    const row = this.rowOf(id);
    if (!row) return;
    this.deleteTokens(row.rowid, this.values(row.resource));
    this.sql("DELETE FROM study_resource WHERE study = ?").run(row.rowid);
    this.sql("DELETE FROM study WHERE rowid = ?").run(row.rowid);
  }

  private rowOf(id: string): { rowid: number; resource: Buffer } | undefined {
    const row = this.sql("SELECT rowid FROM study WHERE id = ?").get(id) as { rowid: number } | undefined;
    return row && { rowid: row.rowid, resource: this.resource("ImagingStudy", id)! };
  }

  /** A study's index values, as a build computes them from its line. */
  private values(line: Buffer): StudyValues {
    const hasIdentifier = (patient: string) => {
      const resource = this.resource("Patient", patient);
      return resource !== undefined && patientIdentifierRows(JSON.parse(resource.toString("utf8")) as { identifier?: JsonIdentifier[] }).length > 0;
    };
    return studyValues(JSON.parse(line.toString("utf8")) as JsonImagingStudy, this.index.meta.zone, hasIdentifier);
  }

  /** Row by row, by key: token has no index by study. */
  private deleteTokens(rowid: number, values: StudyValues): void {
    const remove = this.sql("DELETE FROM token WHERE code = ? AND parameter = ? AND study = ? AND system = ?");
    for (const t of values.tokens) remove.run(t.code, t.parameter, rowid, t.system);
  }
}
