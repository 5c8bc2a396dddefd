// FHIR search over a folder's index, from parameters to the searchset Bundle's bytes: what `serve` answers and
// `dcm2fhir search` prints, through the same parse and the same executor.
import type { SearchIndex } from "../index/searchIndex.js";
import { searchsetBundle } from "./bundle.js";
import { executeSearch } from "./execute.js";
import { type Pairs, type SearchError, isSearchError, parseSearch } from "./request.js";

export interface SearchOptions {
  /** `[base]`, ending with "/": fullUrl and links start with it. */
  readonly base: string;
  readonly strict?: boolean;
  readonly allowOpenSearch?: boolean;
  readonly now?: number;
  /** The buffer the Bundle is written into, `size` bytes long (serve reuses one); by default a new one. */
  readonly allocate?: (size: number) => Buffer;
}

export function runSearch(index: SearchIndex, pairs: Pairs | SearchError, options: SearchOptions): Buffer | SearchError {
  if (isSearchError(pairs)) return pairs;
  const request = parseSearch(pairs, { ...options, zone: index.meta.zone });
  if (isSearchError(request)) return request;
  return searchsetBundle(index, executeSearch(index, request), request, options.base, [], options.allocate);
}
