// A search, parsed once from a query string, a form body or the JSON object-of-arrays, into a typed request
// that knows nothing of HTTP or SQL. Everything wrong with a query is found here and returned as a value.
import { type Range, dateRange } from "../fhir/dateRange.js";
import { FHIR_ID, type SearchParameter, TOKEN_PARAMETERS, type TokenParameter } from "../index/parameters.js";

export const DEFAULT_COUNT = 50;
export const MAX_COUNT = 1000;
/** More repetitions than any real search needs; each becomes a condition of one SQL statement. */
export const MAX_FILTERS = 64;
/** Name=value pairs of one request, known or not: thousands are refused before any is looked at. */
export const MAX_PAIRS = 1000;
/** Comma-separated alternatives of one parameter (a list of accession numbers, say). */
export const MAX_ALTERNATIVES = 1000;
/** Date alternatives each add a condition; fewer are allowed. */
const MAX_DATE_ALTERNATIVES = 64;

export type DatePrefix = "eq" | "ne" | "gt" | "lt" | "ge" | "le" | "sa" | "eb" | "ap";
const DATE_PREFIXES: ReadonlySet<string> = new Set(["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"]);

/** One alternative of a token: `code`, `system|code`, `|code` (system ""), `system|` (code undefined). */
export interface TokenValue {
  /** undefined: any system. */
  readonly system?: string;
  /** undefined: any code. */
  readonly code?: string;
}

export type Filter =
  | { readonly kind: "token"; readonly parameter: TokenParameter; readonly not: boolean; readonly values: readonly TokenValue[] }
  | { readonly kind: "date"; readonly parameter: "started"; readonly values: ReadonlyArray<{ readonly prefix: DatePrefix; readonly range: Range }> }
  | { readonly kind: "missing"; readonly parameter: SearchParameter; readonly missing: boolean };

export type SortKey = "started" | "_id";
export interface SortRule {
  readonly key: SortKey;
  readonly descending: boolean;
}

export interface SearchRequest {
  readonly filters: readonly Filter[];
  /** Always ends with _id, so that the order, and with it the cursor, is total. */
  readonly sort: readonly SortRule[];
  readonly count: number;
  /** Where the previous page ended: the sort values of its last match. */
  readonly after?: readonly (string | number)[];
  readonly include: { readonly patient: boolean; readonly endpoint: boolean };
  readonly summaryCount: boolean;
  /** Every pair as given, in order (without _cursor): what `self` and `next` links carry. */
  readonly pairs: ReadonlyArray<readonly [string, string]>;
  /** Parameters ignored (unknown, or empty), and _count capped: said in an OperationOutcome entry. */
  readonly warnings: readonly string[];
}

export type SearchErrorReason =
  | "invalid-encoding"
  | "invalid-body"
  | "invalid-value"
  | "unknown-parameter"
  | "unsupported-modifier"
  | "too-many"
  | "scope-required";

/** A query that cannot be answered; `parameter` names the culprit when there is one. Served as a 400. */
export interface SearchError {
  readonly error: SearchErrorReason;
  readonly parameter?: string;
  readonly message: string;
}

export interface ParseOptions {
  /** IANA zone for date values without one: the zone the folder was converted with. */
  readonly zone: string;
  /** `Prefer: handling=strict`: unknown parameters are an error, not a warning. */
  readonly strict?: boolean;
  /** The seed's rule (at least one of patient, patient.identifier, identifier) is lifted. */
  readonly allowOpenSearch?: boolean;
  /** The server's base URL, to recognize `[base]Patient/{id}`; without it any absolute URL ending in Patient/{id} is taken. */
  readonly base?: string;
  /** For `ap`; tests pin it. */
  readonly now?: number;
}

export type Pairs = ReadonlyArray<readonly [string, string]>;

export const isSearchError = (value: unknown): value is SearchError => typeof value === "object" && value !== null && "error" in value;

const fail = (error: SearchErrorReason, message: string, parameter?: string): SearchError => ({
  error,
  message,
  ...(parameter !== undefined && { parameter }),
});

// ---- the three shapes a search arrives in ------------------------------------------------------------------

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * `a=1&b=2` (a query string, or an application/x-www-form-urlencoded body), as the bytes received or as text
 * (typed at a command line, say): "+" is a space, %XX are bytes, and the bytes of each name and value must be UTF-8.
 */
export function pairsFromQuery(query: string | Buffer): Pairs | SearchError {
  // One character per byte, so that %XX and bytes sent unencoded decode alike.
  const text = (typeof query === "string" ? Buffer.from(query, "utf8") : query).toString("latin1");
  const pairs: Array<[string, string]> = [];
  for (const part of text.split("&")) {
    if (part === "") continue;
    if (pairs.length === MAX_PAIRS) return fail("too-many", `more than ${MAX_PAIRS} parameters in one search`);
    const eq = part.indexOf("=");
    const name = decodeComponent(eq === -1 ? part : part.slice(0, eq));
    const value = decodeComponent(eq === -1 ? "" : part.slice(eq + 1));
    if (name === undefined || value === undefined) return fail("invalid-encoding", "the query is not valid UTF-8 once percent-decoded");
    pairs.push([name, value]);
  }
  return pairs;
}

/** Percent-decoding to bytes, then strict UTF-8 (decodeURIComponent would throw on some bad input and not on other). */
function decodeComponent(raw: string): string | undefined {
  const s = raw.replace(/\+/g, " ");
  if (!s.includes("%") && /^[\x00-\x7f]*$/.test(s)) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(c);
  }
  try {
    return utf8.decode(Uint8Array.from(bytes));
  } catch {
    return undefined;
  }
}

/** The seed API's JSON body: an object whose values are arrays of strings, each element one repetition. */
export function pairsFromJson(body: unknown): Pairs | SearchError {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return fail("invalid-body", 'the JSON body must be an object of arrays of strings, e.g. {"patient":["Patient/abc"],"modality":["CT","MR"]}');
  }
  const pairs: Array<[string, string]> = [];
  for (const [name, values] of Object.entries(body)) {
    if (!Array.isArray(values) || !values.every((v) => typeof v === "string")) {
      return fail("invalid-body", `${name}: each value of the JSON body must be an array of strings`, name);
    }
    for (const value of values) {
      if (pairs.length === MAX_PAIRS) return fail("too-many", `more than ${MAX_PAIRS} parameters in one search`);
      pairs.push([name, value as string]);
    }
  }
  return pairs;
}

// ---- from pairs to a request ----------------------------------------------------------------------------

/** The parameters whose presence satisfies the seed's rule: a search names a patient or a study. */
const SCOPING: ReadonlySet<string> = new Set(["patient", "patient.identifier", "identifier"]);
const RESULT_PARAMETERS: ReadonlySet<string> = new Set(["_count", "_sort", "_summary", "_include", "_cursor", "_total"]);
const DICOM_UID_SYSTEM = "urn:dicom:uid";

export function parseSearch(pairs: Pairs, options: ParseOptions): SearchRequest | SearchError {
  if (pairs.length > MAX_PAIRS) return fail("too-many", `more than ${MAX_PAIRS} parameters in one search`);
  const filters: Filter[] = [];
  const warnings: string[] = [];
  const once = new Map<string, string>();
  const include = { patient: false, endpoint: false };
  let cursor: string | undefined;

  for (const [rawName, value] of pairs) {
    const colon = rawName.indexOf(":");
    const name = colon === -1 ? rawName : rawName.slice(0, colon);
    const modifier = colon === -1 ? undefined : rawName.slice(colon + 1);
    if (RESULT_PARAMETERS.has(name)) {
      if (modifier !== undefined) return fail("unsupported-modifier", `${rawName}: ${name} takes no modifier`, rawName);
      if (name === "_include") {
        if (value === "ImagingStudy:patient") include.patient = true;
        else if (value === "ImagingStudy:endpoint") include.endpoint = true;
        else if (options.strict)
          return fail("invalid-value", `_include=${value} is not supported: use ImagingStudy:patient or ImagingStudy:endpoint`, "_include");
        else warnings.push(`_include=${value} is not supported and was ignored (ImagingStudy:patient and ImagingStudy:endpoint are)`);
        continue;
      }
      if (once.has(name)) return fail("invalid-value", `${name} is given more than once`, name);
      once.set(name, value);
      if (name === "_cursor") cursor = value;
      continue;
    }
    if (!isSearchParameter(name)) {
      if (options.strict) return fail("unknown-parameter", `unknown search parameter ${rawName} (Prefer: handling=strict)`, rawName);
      warnings.push(`unknown search parameter ${rawName} was ignored`);
      continue;
    }
    if (value === "") {
      if (options.strict) return fail("invalid-value", `${rawName} has no value`, rawName);
      warnings.push(`${rawName} has no value and was ignored`);
      continue;
    }
    if (filters.length === MAX_FILTERS) return fail("too-many", `more than ${MAX_FILTERS} search parameters in one search`);
    const filter = parseFilter(name, modifier, value, rawName, options);
    if (isSearchError(filter)) return filter;
    filters.push(filter);
  }

  if (!options.allowOpenSearch && !filters.some((f) => SCOPING.has(f.parameter) && f.kind !== "missing" && !(f.kind === "token" && f.not))) {
    return fail(
      "scope-required",
      "a search must include patient, patient.identifier or identifier (it asks for one patient's or one study's images); _id, :not and :missing do not count",
    );
  }

  const count = parseCount(once.get("_count"), warnings);
  if (isSearchError(count)) return count;
  const sort = parseSort(once.get("_sort"));
  if (isSearchError(sort)) return sort;
  const summary = once.get("_summary");
  if (summary !== undefined && summary !== "count" && summary !== "false") {
    return fail("invalid-value", `_summary=${summary} is not supported: use _summary=count (or false)`, "_summary");
  }
  const total = once.get("_total");
  if (total !== undefined && !["none", "estimate", "accurate"].includes(total))
    return fail("invalid-value", `_total=${total}: use none, estimate or accurate (the total is always exact)`, "_total");
  let after: Array<string | number> | undefined;
  if (cursor !== undefined) {
    const decoded = decodeCursor(cursor, sort);
    if (isSearchError(decoded)) return decoded;
    after = decoded;
  }
  return {
    filters,
    sort,
    count,
    ...(after && { after }),
    include,
    summaryCount: summary === "count",
    pairs: pairs.filter(([name]) => name !== "_cursor"),
    warnings,
  };
}

function isSearchParameter(name: string): name is SearchParameter {
  return name === "started" || Object.hasOwn(TOKEN_PARAMETERS, name);
}

function parseFilter(name: SearchParameter, modifier: string | undefined, value: string, rawName: string, options: ParseOptions): Filter | SearchError {
  if (modifier === "missing") {
    if (value !== "true" && value !== "false") return fail("invalid-value", `${rawName} takes true or false`, rawName);
    return { kind: "missing", parameter: name, missing: value === "true" };
  }
  if (name === "started") {
    if (modifier !== undefined)
      return fail("unsupported-modifier", `${rawName}: the modifier :${modifier} is not supported on started (only :missing is)`, rawName);
    return parseDate(value, rawName, options);
  }
  // :not applies to tokens (R4 search.html#modifiers); patient is a reference.
  if (modifier !== undefined && !(modifier === "not" && name !== "patient")) {
    return fail(
      "unsupported-modifier",
      `${rawName}: the modifier :${modifier} is not supported on ${name} (${name === "patient" ? "only :missing is" : "only :missing and :not are"})`,
      rawName,
    );
  }
  const alternatives = splitEscaped(value, ",");
  if (alternatives.length > MAX_ALTERNATIVES) return fail("too-many", `${rawName} has more than ${MAX_ALTERNATIVES} comma-separated values`, rawName);
  const values: TokenValue[] = [];
  for (const alternative of alternatives) {
    const parsed = name === "patient" ? parseReference(alternative, options.base) : parseToken(alternative, name);
    if (parsed === undefined) {
      return fail(
        "invalid-value",
        name === "patient"
          ? `${rawName}: each value must be Patient/{id}, {id} or [base]Patient/{id}`
          : `${rawName}: each comma-separated value must be code, system|code, |code or system|`,
        rawName,
      );
    }
    values.push(parsed);
  }
  return { kind: "token", parameter: name, not: modifier === "not", values };
}

/** Splits on a separator not escaped with "\" (R4 search.html#escaping), and unescapes. */
function splitEscaped(value: string, separator: string): string[] {
  const parts: string[] = [];
  let current = "";
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === "\\" && i + 1 < value.length) {
      const next = value[i + 1]!;
      // Escapes are kept for the next split (| inside a value), and resolved there.
      current += separator === "," && next !== "," ? `\\${next}` : next;
      i++;
    } else if (c === separator) {
      parts.push(current);
      current = "";
    } else current += c;
  }
  parts.push(current);
  return parts;
}

function parseToken(text: string, name: TokenParameter): TokenValue | undefined {
  const parts = splitEscaped(text, "|");
  if (parts.length > 2) return undefined;
  if (parts.length === 1) return parts[0] === "" ? undefined : { code: parts[0] };
  const [system, code] = parts as [string, string];
  if (system === "" && code === "") return undefined;
  if (code === "") return { system };
  // The seed's scripts write the Study Instance UID bare; the identifier holds it as urn:oid:.
  if (name === "identifier" && system === DICOM_UID_SYSTEM && !code.startsWith("urn:oid:")) return { system, code: `urn:oid:${code}` };
  return { system, code };
}

/** R4 search.html#reference: a reference is [type]/[id], [id] or an absolute URL; only Patients are subjects here. */
function parseReference(text: string, base: string | undefined): TokenValue | undefined {
  if (FHIR_ID.test(text)) return { code: text };
  const relative = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(text);
  if (relative) return { code: relative[1] };
  const absolute = /^https?:\/\/\S+\/Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(text);
  if (!absolute) return undefined;
  // A Patient of another server is no Patient of this one: a valid value that matches nothing.
  if (base !== undefined && text !== `${base}Patient/${absolute[1]}`) return { code: text };
  return { code: absolute[1] };
}

function parseDate(value: string, rawName: string, options: ParseOptions): Filter | SearchError {
  const alternatives = value.split(",");
  if (alternatives.length > MAX_DATE_ALTERNATIVES) return fail("too-many", `${rawName} has more than ${MAX_DATE_ALTERNATIVES} comma-separated values`, rawName);
  const values: Array<{ prefix: DatePrefix; range: Range }> = [];
  for (const alternative of alternatives) {
    const hasPrefix = /^[a-z]{2}/.test(alternative);
    const prefix = hasPrefix ? alternative.slice(0, 2) : "eq";
    if (!DATE_PREFIXES.has(prefix)) return fail("invalid-value", `${rawName}: unknown prefix "${prefix}" (use eq, ne, gt, lt, ge, le, sa, eb or ap)`, rawName);
    const text = hasPrefix ? alternative.slice(2) : alternative;
    const range = searchedRange(text, options.zone);
    if (!range)
      return fail(
        "invalid-value",
        `${rawName}: "${text}" is not a date (YYYY, YYYY-MM, YYYY-MM-DD, or with a time THH:MM[:SS[.fff]] and an optional zone)`,
        rawName,
      );
    values.push({ prefix: prefix as DatePrefix, range: prefix === "ap" ? widen(range, options.now ?? Date.now()) : range });
  }
  return { kind: "date", parameter: "started", values };
}

// Searches name the same few dates over and over, and reading one costs a few Date objects (~2 µs): each once.
const searchedRanges = new Map<string, Range | undefined>();

function searchedRange(text: string, zone: string): Range | undefined {
  const key = `${zone} ${text}`;
  if (searchedRanges.has(key)) return searchedRanges.get(key);
  if (searchedRanges.size >= 10_000) searchedRanges.clear();
  const range = dateRange(text, zone);
  searchedRanges.set(key, range);
  return range;
}

/** R4 search.html#prefix on ap: the range is widened by 10 % of the distance between the value and now, on each side. */
function widen(range: Range, now: number): Range {
  const gap = Math.abs(now - (range.lo + range.hi) / 2);
  return { lo: Math.floor(range.lo - gap / 10), hi: Math.ceil(range.hi + gap / 10) };
}

function parseCount(value: string | undefined, warnings: string[]): number | SearchError {
  if (value === undefined) return DEFAULT_COUNT;
  if (!/^\d{1,9}$/.test(value)) return fail("invalid-value", `_count=${value}: use a whole number from 0 to ${MAX_COUNT}`, "_count");
  const count = Number(value);
  if (count > MAX_COUNT) {
    warnings.push(`_count=${count} was capped at ${MAX_COUNT}`);
    return MAX_COUNT;
  }
  return count;
}

function parseSort(value: string | undefined): SortRule[] | SearchError {
  const rules: SortRule[] = [];
  for (const item of value === undefined || value === "" ? [] : value.split(",")) {
    const descending = item.startsWith("-");
    const key = descending ? item.slice(1) : item;
    if (key !== "started" && key !== "_id") return fail("invalid-value", `_sort=${value}: sort by started, -started, _id or -_id`, "_sort");
    if (rules.some((r) => r.key === key)) return fail("invalid-value", `_sort=${value} names ${key} twice`, "_sort");
    rules.push({ key, descending });
  }
  if (!rules.some((r) => r.key === "_id")) rules.push({ key: "_id", descending: false });
  return rules;
}

// ---- the cursor of `next` links --------------------------------------------------------------------------

/** The sort values of the last match of a page, and the sort they belong to, as base64url JSON. */
export function encodeCursor(sort: readonly SortRule[], values: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify({ s: sortSignature(sort), v: values })).toString("base64url");
}

function decodeCursor(text: string, sort: readonly SortRule[]): Array<string | number> | SearchError {
  const invalid = fail("invalid-value", "_cursor is not a cursor of this search: follow the next link as given", "_cursor");
  let decoded: { s?: unknown; v?: unknown };
  try {
    decoded = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    return invalid;
  }
  if (decoded === null || typeof decoded !== "object" || decoded.s !== sortSignature(sort) || !Array.isArray(decoded.v) || decoded.v.length !== sort.length)
    return invalid;
  const values = decoded.v as unknown[];
  for (const [i, rule] of sort.entries()) {
    const v = values[i];
    if (rule.key === "_id" ? typeof v !== "string" : !Number.isSafeInteger(v)) return invalid;
  }
  return values as Array<string | number>;
}

const sortSignature = (sort: readonly SortRule[]) => sort.map((r) => `${r.descending ? "-" : ""}${r.key}`).join(",");
