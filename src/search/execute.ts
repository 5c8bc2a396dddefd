// The one executor: a parsed SearchRequest against the index, as parameterised SQL, giving a page of matches,
// the exact total, the included resources and where the next page starts. `serve` and `search` both call it.
import { PRESENT_BIT, STUDY_COLUMN_PARAMETERS, TOKEN_PARAMETERS } from "../index/parameters.js";
import type { DatePrefix, Filter, SearchRequest, SortRule, TokenValue } from "./request.js";
import { type SearchIndex, STUDY_LINE, type StudyLine } from "../index/searchIndex.js";

/** A study of the page: its id, and where its line is (searchsetBundle reads it straight into the Bundle). */
export interface Match {
  readonly id: string;
  readonly line: StudyLine;
}

export interface Included {
  readonly type: "Patient" | "Endpoint";
  readonly id: string;
  readonly resource: Buffer;
}

export interface SearchPage {
  readonly total: number;
  readonly matches: readonly Match[];
  readonly included: readonly Included[];
  /** The sort values of the page's last match, when more matches follow. */
  readonly nextAfter?: readonly (string | number)[];
}

/** Parameters that single out a few studies: one of them, when given, is where the query starts. */
const SELECTIVE = ["_id", "instance", "series", "identifier", "patient", "patient.identifier"] as const;

export function executeSearch(index: SearchIndex, request: SearchRequest): SearchPage {
  const where = whereClause(request.filters);
  const count = () => (index.statement(`SELECT count(*) AS n FROM study s WHERE ${where.sql}`).get(where.args) as { n: number }).n;
  if (request.summaryCount || request.count === 0) return { total: count(), matches: [], included: [] };

  const order = request.sort.map(sortColumn);
  const after = request.after ? keysetCondition(order, request.after) : undefined;
  const { patient, endpoint } = request.include;
  // The page is chosen and sorted on the small study rows, or on an index alone when that holds all the query
  // needs (a patient's studies by id); only its matches' rows say where their lines are. Rows as arrays (no object
  // per row): id, where its line is (STUDY_LINE, three columns), then what _include needs.
  const extra = `${patient ? ", s.patient" : ""}${endpoint ? ", s.endpoints" : ""}`;
  const sql =
    `SELECT page.id, ${STUDY_LINE}${extra} FROM (` +
    `SELECT s.rowid AS rowid, s.id AS id ` +
    `FROM study s WHERE ${where.sql}${after ? ` AND ${after.sql}` : ""} ORDER BY ${order.map((o) => `${o.column} ${o.descending ? "DESC" : "ASC"}`).join(", ")} LIMIT ${limit(request.count + 1)}) AS page` +
    // CROSS JOIN: SQLite keeps the page as the outer loop, so the rows stay in the page's order.
    " CROSS JOIN study s ON s.rowid = page.rowid";
  const rows = index.statement(sql, true).all([...where.args, ...(after?.args ?? [])]) as Row[];
  const more = rows.length > request.count;
  const page = more ? rows.slice(0, request.count) : rows;
  const last = page[page.length - 1];
  // A first page that holds every match has counted them already: most searches of one patient.
  const total = !more && !after ? page.length : count();
  const column = (i: number) => page.flatMap((row) => (row[i] === null ? [] : [row[i] as string]));
  return {
    total,
    matches: page.map((row) => ({ id: row[0], line: [row[1], row[2], row[3]] })),
    included: [
      ...(patient ? included(index, "Patient", column(4)) : []),
      ...(endpoint
        ? included(
            index,
            "Endpoint",
            column(patient ? 5 : 4).flatMap((ids) => JSON.parse(ids) as string[]),
          )
        : []),
    ],
    ...(more && last && { nextAfter: sortValues(index, order, last[0]) }),
  };
}

/** Where the next page starts: the sort values of a page's last match, read for that one study. */
function sortValues(index: SearchIndex, order: readonly OrderColumn[], id: string): Array<string | number> {
  return index.statement(`SELECT ${order.map((o) => o.column).join(", ")} FROM study s WHERE s.id = ?`, true).get(id) as Array<string | number>;
}

/**
 * The LIMIT is written into the SQL: SQLite re-prepares a statement whose LIMIT is a bound parameter every time
 * that parameter is bound (it plans with the value), which cost more than the search itself. One text per page size.
 */
function limit(n: number): string {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`LIMIT ${n}`);
  return String(n);
}

type Row = [id: string, lineAt: number | null, lineLength: number, resource: Buffer | null, ...included: Array<string | null>];

interface Sql {
  readonly sql: string;
  readonly args: unknown[];
}

function whereClause(filters: readonly Filter[]): Sql {
  const driver = chooseDriver(filters);
  const parts: string[] = [];
  const args: unknown[] = [];
  for (const filter of filters) {
    const condition = filterCondition(filter, filter === driver);
    parts.push(condition.sql);
    args.push(...condition.args);
  }
  return { sql: parts.length > 0 ? parts.join(" AND ") : "1", args };
}

/** The positive token filter on the most selective parameter, whose values all name a code. */
type TokenFilter = Filter & { readonly kind: "token" };

function chooseDriver(filters: readonly Filter[]): TokenFilter | undefined {
  for (const parameter of SELECTIVE) {
    const f = filters.find((f): f is TokenFilter => f.kind === "token" && !f.not && f.parameter === parameter && f.values.every((v) => v.code !== undefined));
    if (f) return f;
  }
  return undefined;
}

/**
 * The condition of one filter on the study row `s`. The driving filter's is written so that SQLite starts from it
 * (an index of its values); every other one only tests the rows found, so that a query never starts from a
 * parameter as common as a modality.
 */
function filterCondition(filter: Filter, driving: boolean): Sql {
  switch (filter.kind) {
    case "missing":
      return { sql: `(s.present & ?) ${filter.missing ? "=" : "!="} 0`, args: [PRESENT_BIT[filter.parameter]] };
    case "token": {
      const inColumn = Object.hasOwn(STUDY_COLUMN_PARAMETERS, filter.parameter)
        ? STUDY_COLUMN_PARAMETERS[filter.parameter as keyof typeof STUDY_COLUMN_PARAMETERS]
        : undefined;
      // R4 search.html#modifiers, :not: studies none of whose values match, studies without any value included.
      if (inColumn) {
        // "+" keeps SQLite from starting at the column's index when another filter drives.
        const column = `${driving ? "" : "+"}s.${inColumn.column}`;
        const match = columnValues(filter.values, column, inColumn.system);
        return filter.not ? { sql: `(${column} IS NULL OR NOT (${match.sql}))`, args: match.args } : match;
      }
      // Rows are found by their code: each study's are looked up when every value names one (a few lookups a
      // study); otherwise the matching rows are listed once for the whole query (one pass over the rows).
      const lookedUp = filter.values.every((v) => v.code !== undefined);
      const not = filter.not ? "NOT " : "";
      if (filter.parameter === "patient.identifier") {
        const values = tokenValues(filter.values, "i.");
        const patients = `SELECT i.patient FROM patient_identifier i WHERE (${values.sql})`;
        if (driving) return { sql: `s.patient IN (${patients})`, args: values.args };
        if (lookedUp) return { sql: `${not}EXISTS (SELECT 1 FROM patient_identifier i WHERE i.patient = s.patient AND (${values.sql}))`, args: values.args };
        return { sql: `${not}ifnull(+s.patient IN (${patients}), 0)`, args: values.args };
      }
      const values = tokenValues(filter.values, "t.");
      const parameter = TOKEN_PARAMETERS[filter.parameter];
      const studies = `SELECT t.study FROM token t WHERE t.parameter = ? AND (${values.sql})`;
      if (driving) return { sql: `s.rowid IN (${studies})`, args: [parameter, ...values.args] };
      if (lookedUp)
        return {
          sql: `${not}EXISTS (SELECT 1 FROM token t WHERE t.parameter = ? AND t.study = s.rowid AND (${values.sql}))`,
          args: [parameter, ...values.args],
        };
      return { sql: `${not}(+s.rowid IN (${studies}))`, args: [parameter, ...values.args] };
    }
    case "date": {
      const alternatives = filter.values.map(({ prefix, range: { lo, hi } }) => DATE_CONDITION[prefix](lo, hi));
      return { sql: `(${alternatives.map((a) => a.sql).join(" OR ")})`, args: alternatives.flatMap((a) => a.args) };
    }
  }
}

/** Token values against a study column whose values all have `system`: a value naming another system matches nothing. */
function columnValues(values: readonly TokenValue[], column: string, system: string): Sql {
  const ours = values.filter((v) => v.system === undefined || v.system === system);
  if (ours.some((v) => v.code === undefined)) return { sql: `${column} IS NOT NULL`, args: [] };
  const codes = ours.map((v) => v.code!);
  if (codes.length === 0) return { sql: "0", args: [] };
  if (codes.length === 1) return { sql: `${column} = ?`, args: codes };
  return { sql: `${column} IN (SELECT value FROM json_each(?))`, args: [JSON.stringify(codes)] };
}

/**
 * R4 search.html#date and #prefix: the study's range [lo, hi) against the searched range [slo, shi). A study without `started`
 * matches no prefix, ne included: NULL compares to nothing.
 */
const DATE_CONDITION: Record<DatePrefix, (slo: number, shi: number) => Sql> = {
  // the search range fully contains the study's
  eq: (slo, shi) => ({ sql: "(s.started_lo >= ? AND s.started_hi <= ?)", args: [slo, shi] }),
  ne: (slo, shi) => ({ sql: "(s.started_lo < ? OR s.started_hi > ?)", args: [slo, shi] }),
  // the range above the search value overlaps the study's
  gt: (_slo, shi) => ({ sql: "s.started_hi > ?", args: [shi] }),
  lt: (slo) => ({ sql: "s.started_lo < ?", args: [slo] }),
  // gt or eq, lt or eq
  ge: (slo, shi) => ({ sql: "(s.started_hi > ? OR s.started_lo >= ?)", args: [shi, slo] }),
  le: (slo, shi) => ({ sql: "(s.started_lo < ? OR s.started_hi <= ?)", args: [slo, shi] }),
  // starts after the search range ends; ends before it starts
  sa: (_slo, shi) => ({ sql: "s.started_lo >= ?", args: [shi] }),
  eb: (slo) => ({ sql: "s.started_hi <= ?", args: [slo] }),
  // overlaps the (already widened) search range
  ap: (slo, shi) => ({ sql: "(s.started_lo < ? AND s.started_hi > ?)", args: [shi, slo] }),
};

/**
 * The alternatives of a token value in at most three terms whatever their number, each usable with the
 * (parameter, code, study) key: lists travel as one JSON argument.
 */
function tokenValues(values: readonly TokenValue[], t: string): Sql {
  const anySystem = values.flatMap((v) => (v.system === undefined && v.code !== undefined ? [v.code] : []));
  const pairs = values.flatMap((v) => (v.system !== undefined && v.code !== undefined ? [[v.code, v.system]] : []));
  const anyCode = values.flatMap((v) => (v.code === undefined && v.system !== undefined ? [v.system] : []));
  const terms: Sql[] = [];
  if (anySystem.length === 1) terms.push({ sql: `${t}code = ?`, args: anySystem });
  else if (anySystem.length > 1) terms.push({ sql: `${t}code IN (SELECT value FROM json_each(?))`, args: [JSON.stringify(anySystem)] });
  if (pairs.length === 1) terms.push({ sql: `(${t}code = ? AND ${t}system = ?)`, args: pairs[0]! });
  else if (pairs.length > 1) {
    const json = JSON.stringify(pairs);
    terms.push({
      sql: `(${t}code IN (SELECT value ->> 0 FROM json_each(?)) AND (${t}code, ${t}system) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?)))`,
      args: [json, json],
    });
  }
  if (anyCode.length === 1) terms.push({ sql: `${t}system = ?`, args: anyCode });
  else if (anyCode.length > 1) terms.push({ sql: `${t}system IN (SELECT value FROM json_each(?))`, args: [JSON.stringify(anyCode)] });
  return { sql: terms.map((term) => term.sql).join(" OR "), args: terms.flatMap((term) => term.args) };
}

interface OrderColumn {
  readonly column: string;
  readonly descending: boolean;
}

/** started sorts on the start of its range ascending, the end descending; studies without it come last either way. */
function sortColumn(rule: SortRule): OrderColumn {
  if (rule.key === "started") return { column: rule.descending ? "s.sort_desc" : "s.sort_asc", descending: false };
  return { column: "s.id", descending: rule.descending };
}

/** Rows after the given sort values, in the order of the sort: (a > x) OR (a = x AND b > y) OR … */
function keysetCondition(order: readonly OrderColumn[], after: readonly (string | number)[]): Sql {
  const alternatives: string[] = [];
  const args: unknown[] = [];
  for (let i = 0; i < order.length; i++) {
    const equal = order.slice(0, i).map((o) => `${o.column} = ?`);
    alternatives.push(`(${[...equal, `${order[i]!.column} ${order[i]!.descending ? "<" : ">"} ?`].join(" AND ")})`);
    args.push(...after.slice(0, i + 1));
  }
  return { sql: `(${alternatives.join(" OR ")})`, args };
}

/** The Patients (or Endpoints) the page's matches reference, each once, in the order they are first referenced. */
function included(index: SearchIndex, type: Included["type"], ids: readonly string[]): Included[] {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return [];
  const table = type === "Patient" ? "patient" : "endpoint";
  const found = index.statement(`SELECT id, resource FROM ${table} WHERE id IN (SELECT value FROM json_each(?))`).all(JSON.stringify(unique)) as Array<{
    id: string;
    resource: Buffer;
  }>;
  const byId = new Map(found.map((r) => [r.id, r.resource]));
  return unique.flatMap((id) => {
    const resource = byId.get(id);
    return resource ? [{ type, id, resource }] : [];
  });
}
