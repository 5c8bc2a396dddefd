// A folder as `serve --pacs` and `search --pacs` use it: its search index opened for writing (created, with the
// folder, when there is no conversion in it: the index is then only the cache of what the PACS answered).
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { NDJSON_FILES, SEARCH_INDEX_FILE } from "../core/outputFiles.js";
import { SearchIndex, createEmptySearchIndex } from "../index/searchIndex.js";
import { isTimeZone, systemTimeZone } from "../fhir/timezone.js";
import { UsageError } from "../core/errors.js";
import type { Pairs, SearchError } from "../search/request.js";
import type { SearchOptions } from "../search/search.js";
import { OnDemand, type PacsOptions } from "./onDemand.js";
import { type OnDemandAnswer, searchWithPacs } from "./search.js";

/** Opens (or creates) the folder's index for writing; IndexError when it holds a conversion whose index is unusable. */
export function openCacheIndex(folder: string, timezone?: string): SearchIndex {
  if (timezone !== undefined && !isTimeZone(timezone))
    throw new UsageError(`unknown --timezone "${timezone}": use an IANA zone name such as Europe/Zurich or UTC`);
  mkdirSync(folder, { recursive: true });
  if (!existsSync(join(folder, SEARCH_INDEX_FILE)) && !existsSync(join(folder, NDJSON_FILES.ImagingStudy)))
    createEmptySearchIndex(folder, timezone ?? systemTimeZone());
  return SearchIndex.open(folder, { writable: true });
}

export interface FolderSearchOptions extends SearchOptions {
  readonly pacs: PacsOptions;
  readonly noCache?: boolean;
}

/**
 * One search of a folder with PACS behind it, no server: what `dcm2fhir search <folder> <query> --pacs <root>` runs.
 * The folder's index is held (written) for the time of the search.
 */
export async function searchFolder(folder: string, pairs: Pairs | SearchError, options: FolderSearchOptions): Promise<OnDemandAnswer> {
  const index = openCacheIndex(folder, options.pacs.timezone);
  try {
    return await searchWithPacs(index, new OnDemand(index, options.pacs), pairs, options);
  } finally {
    index.close();
  }
}
