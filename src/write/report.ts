// report.json: what a run did, counted. Built once at the end of a run from what its sources delivered (the
// counts, core/counts.ts), what writing produced (the summary, write/writeOutputs.ts) and, for an incremental
// run, how its files and resources compare with the last run's.
import { type RecordCounts, sumByOutcome } from "../core/counts.js";
import { VERSION } from "../core/version.js";
import type { ResourceType } from "../fhir/types.js";
import type { Conflict } from "../group/studies.js";
import type { Reason } from "../core/reasons.js";
import { LineWriter } from "../lib/ndjson.js";
import type { OutputDirectory } from "../lib/outputFolder.js";
import type { SourceReport } from "../source/sink.js";
import { type MappingNotes, emptyNotes } from "../fhir/imagingStudy.js";
import type { ZoneRule } from "../fhir/datatypes.js";

/** How the entries an incremental run found compare with the last run's: each one found is unchanged, added or modified. */
export interface FileChanges {
  unchanged: number;
  added: number;
  modified: number;
  /** Paths the last run found and this one did not. */
  removed: number;
}

/** Resources of one type new, changed and deleted since the previous output (changes/ lists them). */
export interface ChangeCounts {
  readonly new: number;
  readonly changed: number;
  readonly deleted: number;
}

/** What writing produced, for the report. */
export interface Summary {
  readonly zoneRule: ZoneRule;
  readonly notes: MappingNotes;
  readonly written: Record<ResourceType, number>;
  readonly rejected: Record<ResourceType, number>;
  readonly outputs: string[];
  conflicts: Report["conflicts"];
  instances: number;
  series: number;
  duplicates: number;
}

export const emptySummary = (zoneRule: ZoneRule): Summary => ({
  zoneRule,
  notes: emptyNotes(),
  written: { ImagingStudy: 0, Patient: 0, Endpoint: 0 },
  rejected: { ImagingStudy: 0, Patient: 0, Endpoint: 0 },
  outputs: [],
  conflicts: [],
  instances: 0,
  series: 0,
  duplicates: 0,
});

/** report.json: the run's summary. Everything but `elapsedSeconds` is the same for the same input. */
export interface Report {
  readonly dcm2fhir: string;
  readonly files: {
    readonly seen: number;
    readonly converted: number;
    readonly skipped: number;
    readonly failed: number;
    /** Files per reason code; each code is a skip or a failure (README, "Reason codes"). */
    readonly reasons: Partial<Record<Reason, number>>;
  } & Partial<FileChanges>;
  /** Where the items came from: the file inputs together (if any), then each DICOMweb service in input order. */
  readonly sources: readonly SourceReport[];
  readonly bytesRead: {
    /** Bytes this run read; an incremental run reads only new and changed files (0 when none). */
    readonly total: number;
    /**
     * What reading a file's header costs, over every file of the archive: in an incremental run, the files not
     * read again count with what they cost when they were read, so the medians equal a full run's.
     */
    readonly medianPerFile: number;
    /** Over the files that became instances: what reading a header costs. */
    readonly medianPerInstanceFile: number;
  };
  readonly patients: number;
  readonly studies: number;
  readonly series: number;
  readonly instances: number;
  readonly duplicates: number;
  readonly conflicts: readonly Conflict[];
  readonly resources: {
    readonly written: Record<ResourceType, number>;
    readonly rejected: Record<ResourceType, number>;
  };
  readonly dateTimes: {
    /** The zone times without Timezone Offset From UTC (0008,0201) were read in, and where it came from. */
    readonly zone: string;
    readonly zoneSource: "option" | "system";
    readonly offsetFromZone: number;
    readonly hourOnlyTimesDropped: number;
  };
  /** Values dropped or adjusted while reading or mapping, by kind (e.g. invalid-study-date). */
  readonly warnings: Partial<Record<string, number>>;
  readonly outputs: readonly string[];
  /** With --incremental: resources new, changed and deleted since the previous output (changes/ lists them). */
  readonly changes?: Record<ResourceType, ChangeCounts>;
  readonly elapsedSeconds: number;
}

/**
 * The report of a run: what its sources delivered (`counts`, `sources`) and what writing gave (`summary`). For
 * an interrupted run or a shard, `summary` is empty and `instances` counts what was read.
 */
export function buildReport(counts: RecordCounts, sources: readonly SourceReport[], summary: Summary, started: number): Report {
  notesAsWarnings(summary.notes, counts.warnings);
  return {
    dcm2fhir: VERSION,
    files: {
      seen: counts.seen,
      converted: summary.instances,
      skipped: sumByOutcome(counts.reasons, "skipped"),
      failed: sumByOutcome(counts.reasons, "failed"),
      reasons: counts.reasons.toJSON(),
    },
    sources,
    bytesRead: { total: counts.bytesReadNow, medianPerFile: counts.bytesPerFile.median(), medianPerInstanceFile: counts.bytesPerInstanceFile.median() },
    patients: summary.written.Patient,
    studies: summary.written.ImagingStudy,
    series: summary.series,
    instances: summary.instances,
    duplicates: summary.duplicates,
    conflicts: summary.conflicts,
    resources: { written: summary.written, rejected: summary.rejected },
    dateTimes: {
      zone: summary.zoneRule.zone,
      zoneSource: summary.zoneRule.source,
      offsetFromZone: summary.notes.zoneFromRule,
      hourOnlyTimesDropped: summary.notes.timeDropped,
    },
    warnings: counts.warnings.toJSON(),
    outputs: summary.outputs,
    elapsedSeconds: secondsSince(started),
  };
}

/** Seconds since `started` (performance.now()), to the hundredth: report.json's elapsedSeconds. */
export const secondsSince = (started: number): number => Math.round((performance.now() - started) / 10) / 100;

/**
 * The report of an incremental run: a full run's (every key equal) with what only this run did — how its files
 * compare with the last run's, the resources that changed, and the bytes it read itself.
 */
export function incrementalReport(
  full: Report,
  files: FileChanges,
  changes: Record<ResourceType, ChangeCounts>,
  bytesRead: number,
  elapsedSeconds: number,
): Report {
  const { elapsedSeconds: _, ...rest } = full;
  return {
    ...rest,
    files: { ...full.files, ...files },
    bytesRead: { ...full.bytesRead, total: bytesRead },
    changes: { ImagingStudy: changes.ImagingStudy, Patient: changes.Patient, Endpoint: changes.Endpoint },
    elapsedSeconds,
  };
}

export function writeReport(out: OutputDirectory, report: Report): void {
  const writer = new LineWriter(out.stage("report.json"));
  writer.write(`${JSON.stringify(report, null, 2)}\n`);
  writer.close();
}

function notesAsWarnings(notes: MappingNotes, warnings: RecordCounts["warnings"]): void {
  if (notes.modalityAbsent > 0) warnings.add("series-without-modality", notes.modalityAbsent);
  if (notes.bodyPartUncoded > 0) warnings.add("body-part-without-snomed-code", notes.bodyPartUncoded);
}
