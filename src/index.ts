// The library: `import { convert } from "dcm2fhir"` does what `dcm2fhir convert` does, without the CLI.
export { convert, OUTPUT_FILES, type ConvertOptions, type ConvertResult, type Progress } from "./convert.js";
export { merge, type MergeOptions } from "./merge.js";
export { parseShard, type ShardSpec } from "./shard/spec.js";
export { PartSetError } from "./shard/part.js";
export { UsageError } from "./crawl/walk.js";
export { OutputError } from "./write/outputDir.js";
export type { Report } from "./write/report.js";
export { REASONS, type Reason, type FileFailure } from "./reasons.js";
export type { ImagingStudy, Patient, Endpoint, SearchSetBundle } from "./fhir/types.js";
