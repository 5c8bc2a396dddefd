// The library: `import { convert } from "dcm2fhir"` does what `dcm2fhir convert` does, without the CLI.
export { convert, OUTPUT_FILES, type ConvertOptions, type ConvertResult, type IncrementalOutcome, type Progress } from "./convert.js";
export { merge, type MergeOptions } from "./merge.js";
export { parseShard, type ShardSpec } from "./shard/spec.js";
export { PartSetError } from "./shard/part.js";
export { UsageError } from "./core/errors.js";
export { OutputError } from "./lib/outputFolder.js";
export type { Report } from "./write/report.js";
export { REASONS, type Reason, type FileFailure } from "./core/reasons.js";
export type { ImagingStudy, Patient, Endpoint, SearchSetBundle } from "./fhir/types.js";
export { load, LOAD_OUTPUT_FILES, type LoadOptions, type LoadResult, type LoadProgress } from "./load/load.js";
export { LoadFailure, type LoadFailureReason } from "./load/errors.js";
export type { LoadReport, LoadErrorLine } from "./load/report.js";
export { bearerToken, type Credentials } from "./load/auth.js";
export type { ClientCredentialsOptions } from "./load/oauth.js";
export { SEARCH_INDEX_FILE, IndexError, SearchIndex, buildSearchIndex, type IndexSummary } from "./index/searchIndex.js";
export { runSearch, type SearchOptions } from "./search/search.js";
export { isSearchError, pairsFromJson, pairsFromQuery, parseSearch, type SearchError, type SearchRequest } from "./search/request.js";
