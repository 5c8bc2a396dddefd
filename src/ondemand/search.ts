// A search with the PACS behind it: parsed as any search (the same 400s), its keys asked of the PACS where the
// index's answer is older than max-age, then answered from the index by the one executor, with what the PACS could
// not give said in the Bundle's outcome entry. Knows nothing of HTTP: `serve` and `search --pacs` both call it.
import type { SearchIndex } from "../index/searchIndex.js";
import { searchsetBundle } from "../search/bundle.js";
import { executeSearch } from "../search/execute.js";
import type { OperationOutcome } from "../search/outcome.js";
import { type Pairs, type SearchError, type SearchRequest, isSearchError, parseSearch } from "../search/request.js";
import type { SearchOptions } from "../search/search.js";
import { type QueryKey, searchKeys } from "./keys.js";
import type { OnDemand, PacsState } from "./onDemand.js";
import { type Issue, fetchedAt } from "./outcome.js";

/** How long a client is asked to wait after a 503 (Retry-After): the PACS's retries are spent by then. */
export const RETRY_AFTER_SECONDS = 30;

export type OnDemandAnswer =
  | { readonly status: 200; readonly body: Buffer }
  | { readonly status: 400; readonly error: SearchError }
  /** No PACS could be asked, none ever answered this search, and the index has nothing for it. */
  | { readonly status: 503; readonly outcome: OperationOutcome; readonly retryAfter: number };

export interface OnDemandSearchOptions extends SearchOptions {
  /** `Cache-Control: no-cache`: every PACS is asked now, whatever the age of its answer. */
  readonly noCache?: boolean;
}

export async function searchWithPacs(
  index: SearchIndex,
  onDemand: OnDemand,
  pairs: Pairs | SearchError,
  options: OnDemandSearchOptions,
): Promise<OnDemandAnswer> {
  const prepared = prepare(index, onDemand, pairs, options);
  if ("answer" in prepared) return prepared.answer;
  const states = prepared.keys.length === 0 ? [] : await onDemand.ensure(prepared.keys, options.noCache ?? false);
  return finish(index, prepared, states, options.base);
}

/**
 * The answer, when it needs no PACS now (every key within max-age, or none to ask, or a bad query), else undefined:
 * the server answers such a search synchronously, as plain `serve` does, and calls searchWithPacs for the others.
 */
export function searchWithPacsNow(
  index: SearchIndex,
  onDemand: OnDemand,
  pairs: Pairs | SearchError,
  options: OnDemandSearchOptions,
): OnDemandAnswer | undefined {
  const prepared = prepare(index, onDemand, pairs, options);
  if ("answer" in prepared) return prepared.answer;
  const states = prepared.keys.length === 0 ? [] : onDemand.freshStates(prepared.keys, options.noCache ?? false);
  return states && finish(index, prepared, states, options.base);
}

interface Prepared {
  readonly request: SearchRequest;
  readonly keys: readonly QueryKey[];
  readonly notes: readonly Issue[];
}

function prepare(
  index: SearchIndex,
  onDemand: OnDemand,
  pairs: Pairs | SearchError,
  options: OnDemandSearchOptions,
): Prepared | { readonly answer: OnDemandAnswer } {
  if (isSearchError(pairs)) return { answer: { status: 400, error: pairs } };
  const request = parseSearch(pairs, { ...options, zone: index.meta.zone });
  if (isSearchError(request)) return { answer: { status: 400, error: request } };
  return { request, ...searchKeys(request, onDemand.knownPatient) };
}

function finish(index: SearchIndex, { request, notes }: Prepared, states: readonly PacsState[], base: string): OnDemandAnswer {
  const page = executeSearch(index, request);
  const said = pacsIssues(states);
  const issues = said.length === 0 ? notes : [...notes, ...said];
  // Never an empty 200 for a search no PACS answered: to a clinician that reads as "no images".
  if (states.length > 0 && states.every((s) => s.state === "unanswered") && page.total === 0) {
    const outcome: OperationOutcome = {
      resourceType: "OperationOutcome",
      issue: issues.map((i) => (i.code === "transient" ? { ...i, severity: "error" } : i)),
    };
    return { status: 503, outcome, retryAfter: RETRY_AFTER_SECONDS };
  }
  return { status: 200, body: searchsetBundle(index, page, request, base, issues) };
}

/** What the PACS did not give: each said once, naming the PACS (its root without credentials) and never a query value. */
export function pacsIssues(states: readonly PacsState[]): Issue[] {
  // The common case, every answer within max-age and complete: nothing to say.
  if (states.every((s) => s.state === "fresh" && s.rejected.length === 0)) return [];
  const issues = new Map<string, Issue>();
  const add = (issue: Issue) => issues.set(issue.diagnostics, issue);
  for (const s of states) {
    if (s.state === "fallback") {
      add({
        severity: "warning",
        code: "transient",
        diagnostics: `the PACS ${s.root} could not be asked (${s.reason}): its studies are given as it listed them at ${fetchedAt(s.fetched!)}, and may have changed since`,
      });
    } else if (s.state === "unanswered") {
      add({
        severity: "warning",
        code: "transient",
        diagnostics: `the PACS ${s.root} could not be asked (${s.reason}) and has not answered this search before: studies it holds are missing from this answer; try again later`,
      });
    }
    for (const uid of s.failed)
      add({
        severity: "warning",
        code: "incomplete",
        diagnostics: `study ${uid}, listed by the PACS ${s.root}, could not be read: it is left out of this answer`,
      });
    for (const uid of s.rejected)
      add({
        severity: "warning",
        code: "incomplete",
        diagnostics: `study ${uid} of the PACS ${s.root} does not make a valid FHIR ImagingStudy (or its Patient is not valid): it is left out of this answer`,
      });
  }
  return [...issues.values()];
}
