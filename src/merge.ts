// merge: the parts of a sharded run (convert --shard i/N) written as the outputs one convert over the same inputs
// would write, byte for byte, report.json's counts included. The parts' records are read where they lie, a
// partition at a time, through the same write path as convert's (write/writeOutputs.ts).
import { join } from "node:path";
import { RecordCounts } from "./core/counts.js";
import { ERRORS_FILE, KNOWN_FILES, PART_DATABASE } from "./core/outputFiles.js";
import type { ConvertResult } from "./convertOptions.js";
import { readErrors, withFailures } from "./write/errorsFile.js";
import { UsageError } from "./core/errors.js";
import { PartSetError, type CheckedPart, checkParts, isOneOf } from "./shard/part.js";
import { FileRecords } from "./records/recordStore.js";
import { converterHash } from "./core/fingerprint.js";
import type { RecordFileReader } from "./records/recordFile.js";
import { OutputDirectory } from "./lib/outputFolder.js";
import { buildReport, emptySummary, writeReport } from "./write/report.js";
import { WriteInterrupted, type WriteSettings, writeAndReport } from "./write/writeOutputs.js";
import { VERSION } from "./core/version.js";
import { stageReportPage } from "./pages/stage.js";
import type { ImagingStudy, Patient } from "./fhir/types.js";

export interface MergeOptions {
  /** The parts' folders (each a shard's --out), one per shard, in any order. */
  readonly parts: readonly string[];
  readonly out: string;
  /** A site's own checks on top of FHIR R4 (see ConvertOptions); shards do not validate, merge does. */
  readonly extraValidation?: (resource: ImagingStudy | Patient) => string | undefined;
  /** Partitions to write in; default: one per 50,000 instance records. */
  readonly partitions?: number;
  /** Include paths in refusals (they can hold patient names). */
  readonly verbose?: boolean;
  /** Aborting stops between two partitions; nothing is written and the previous output stays. */
  readonly signal?: AbortSignal;
  /** After each partition is written. */
  readonly onPartition?: (done: number, total: number) => void;
  /** report.html beside report.json (default true); `reportDetails` adds the failing files' paths to it. */
  readonly htmlReport?: boolean;
  readonly reportDetails?: boolean;
}

/**
 * Merges the parts into the usual outputs in `out`. A set of parts that is incomplete or mixed (a shard missing or
 * given twice, another shard count, other options or inputs, a part a killed shard left) throws PartSetError
 * naming what is wrong, before anything is written.
 */
export async function merge(options: MergeOptions): Promise<ConvertResult> {
  const started = performance.now();
  if (!options.out) throw new UsageError("no output folder: pass --out <folder>");
  if (options.partitions !== undefined && !(Number.isInteger(options.partitions) && options.partitions >= 1))
    throw new UsageError("partitions takes a whole number from 1 up");
  const parts = checkParts(options.parts, { verbose: options.verbose ?? false, converter: `${VERSION} ${converterHash()}` });
  if (isOneOf(options.out, options.parts)) throw new UsageError("--out is one of the parts: merge into another folder");
  const readers = await openRecords(parts, options.verbose ?? false);
  const records = new FileRecords(readers);
  const first = parts[0]!.manifest;
  const zoneRule = first.options.zoneRule;
  const counts = new RecordCounts();
  for (const part of parts) counts.addStored(part.manifest.counts);
  const sources = [sumSources(parts)];
  const settings: WriteSettings = {
    zoneRule,
    endpoint: first.options.endpoint ?? undefined,
    format: first.options.format,
    extraValidation: options.extraValidation,
    partitions: options.partitions,
    signal: options.signal,
    onPartition: options.onPartition,
  };
  let out: OutputDirectory | undefined;
  try {
    out = OutputDirectory.open(options.out);
    let report;
    try {
      report = await writeAndReport(records, counts, sources, out, settings, started);
    } catch (error) {
      if (!(error instanceof WriteInterrupted)) throw error;
      out.abort();
      return { report: buildReport(counts, sources, emptySummary(zoneRule), started), interrupted: true, failures: [] };
    }
    writeReport(out, report);
    await stageReportPage(out, report, { ...options, parts: parts.length });
    out.commit(KNOWN_FILES);
    const errors = join(out.dir, ERRORS_FILE);
    return withFailures(() => readErrors(errors), { report, interrupted: false });
  } catch (error) {
    const full = out?.noSpace(error);
    out?.abort();
    throw full ?? error;
  } finally {
    records.close();
  }
}

/** Each part's record file, checked to be the one its manifest describes (the same run). */
async function openRecords(parts: readonly CheckedPart[], verbose: boolean): Promise<RecordFileReader[]> {
  // Loaded here: importing the library does not load SQLite.
  const { RecordFileError, RecordFileReader } = await import("./records/recordFile.js");
  const readers: RecordFileReader[] = [];
  const problems: string[] = [];
  for (const part of parts) {
    const name = verbose ? `part #${part.position} (${part.dir})` : `part #${part.position}`;
    try {
      const reader = RecordFileReader.open(join(part.dir, PART_DATABASE));
      readers.push(reader);
      if (reader.meta.run !== part.manifest.run)
        problems.push(`${name} is damaged: its ${PART_DATABASE} is from another run than its manifest; run that shard again`);
    } catch (error) {
      if (!(error instanceof RecordFileError)) throw error;
      problems.push(`${name} is damaged: its ${PART_DATABASE} ${error.message}; run that shard again`);
    }
  }
  if (problems.length > 0) {
    for (const reader of readers) reader.close();
    throw new PartSetError(problems, "unusable-part");
  }
  return readers;
}

/** The files source of a single run over all the shards' inputs: each count is the sum of the shards'. */
function sumSources(parts: readonly CheckedPart[]) {
  const reasons = new Map<string, number>();
  let seen = 0;
  let instances = 0;
  for (const part of parts) {
    for (const source of part.manifest.sources) {
      seen += source.seen;
      instances += source.instances;
      for (const [reason, n] of Object.entries(source.reasons)) reasons.set(reason, (reasons.get(reason) ?? 0) + n);
    }
  }
  return { kind: "files" as const, seen, instances, reasons: Object.fromEntries([...reasons.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) };
}
