// The write stage: the one path from instance records to the output files, whatever the records came from (a
// convert whose records are in memory, a convert too large for memory, a merge of shards' parts, an incremental
// run that keeps most studies as they were). In named steps, each in a module of its own:
//   1. studies (write/studies.ts): partition by partition, assembled → ImagingStudy → validated, into spools;
//   2. patients (write/patients.ts): across partitions, in id order; the studies of a rejected Patient listed;
//   3. ImagingStudy.ndjson from the studies spool, in UID order; Endpoint.ndjson; the searchset Bundle;
//   4. the search index (index/), built from what was just staged;
//   5. errors.ndjson from the failures spool, in path order.
// Only one partition's studies are in memory at a time; what crosses partitions (a SOP Instance UID in two
// studies, a patient's studies) is settled as a single run settles it.
import type { RecordCounts } from "../core/counts.js";
import { UsageError } from "../core/errors.js";
import { BUNDLE_FILE, ERRORS_FILE, NDJSON_FILES, REPORT_FILE } from "../core/outputFiles.js";
import type { FileFailure } from "../core/reasons.js";
import { pathFromKey } from "../core/recordCodec.js";
import { toEndpoint } from "../fhir/endpoint.js";
import type { Endpoint, Reference } from "../fhir/types.js";
import { compareStrings } from "../group/studies.js";
import { stageSearchIndex } from "../index/searchIndex.js";
import { LineWriter, resourceIdOf } from "../lib/ndjson.js";
import type { OutputDirectory } from "../lib/outputFolder.js";
import type { RecordSet } from "../records/recordStore.js";
import type { SourceReport } from "../source/sink.js";
import { writeSearchSetBundle } from "./bundle.js";
import { type WriteContext, type WriteSettings, openSpools, spoolFailure } from "./context.js";
import { errorLine } from "./errorsFile.js";
import { type PatientDecisions, listStudiesOfRejectedPatients, patientProblem, writePatients } from "./patients.js";
import { type Report, type Summary, buildReport, emptySummary } from "./report.js";
import { type StudyRow, spoolRecordFailures, spoolStudies } from "./studies.js";
import { assemble, loadValidate, mapStudy } from "./studyResources.js";
import type { FailureRow, KeptStudies, StudyOutcome } from "./studyOutcome.js";

export type { KeptStudies, StudyOutcome };

export { WriteInterrupted } from "./studies.js";
export type { WriteSettings };

/**
 * Groups, maps, validates and writes every output but report.json into the staging folder. Failures found here
 * (duplicates, resources that fail validation) go to `fail` as well as to errors.ndjson; the records' own
 * failures were counted as they were delivered.
 */
export async function writeOutputs(records: RecordSet, out: OutputDirectory, settings: WriteSettings, fail: (failure: FileFailure) => void): Promise<Summary> {
  // Loaded here: an incremental run that finds nothing changed validates nothing.
  const { validateResource } = await import("../validate/index.js");
  const validate = await loadValidate(settings.extraValidation);
  const endpoint = settings.endpoint === undefined ? undefined : checkedEndpoint(settings.endpoint, validateResource);
  const endpointReference: Reference | undefined = endpoint && { reference: `Endpoint/${endpoint.id}` };
  const { zoneRule } = settings;
  const partitions = settings.partitions ?? records.partitions;
  const spools = await openSpools(records.onDisk ? out : undefined);
  const ctx: WriteContext = {
    settings,
    summary: emptySummary(zoneRule),
    spools,
    studyConflicts: [],
    endpointReference,
    validate,
    failedWhileWriting: (row: FailureRow) => {
      fail({ path: pathFromKey(row[0]), reason: row[1], message: row[2] });
      spoolFailure(spools, row);
    },
  };
  const { summary } = ctx;
  try {
    spoolRecordFailures(ctx, records.failures());
    const winners = records.crossPartitionWinners(partitions);
    spoolStudies(ctx, records, partitions, winners);

    const patientWriter = new LineWriter(out.stage(NDJSON_FILES.Patient));
    const decisions = writePatients(ctx, patientWriter);
    patientWriter.close();
    listStudiesOfRejectedPatients(ctx, decisions, records, partitions, winners);

    const studiesPath = out.stage(NDJSON_FILES.ImagingStudy);
    const copied = writeStudyLines(ctx, studiesPath, decisions);
    summary.outputs.push(NDJSON_FILES.ImagingStudy, NDJSON_FILES.Patient);
    ctx.studyConflicts.sort((a, b) => compareStrings(a.studyInstanceUID!, b.studyInstanceUID!));
    summary.conflicts = [...decisions.conflicts, ...ctx.studyConflicts];

    if (endpoint) {
      const endpointWriter = new LineWriter(out.stage(NDJSON_FILES.Endpoint));
      endpointWriter.writeJsonLine(endpoint);
      endpointWriter.close();
      summary.written.Endpoint++;
      summary.outputs.push(NDJSON_FILES.Endpoint);
    }
    if (settings.format === "bundle") {
      const total = summary.written.ImagingStudy;
      // The entries are the ImagingStudies just validated; the envelope is checked here.
      const problem = validateResource({ resourceType: "Bundle", type: "searchset", total });
      if (problem) throw new Error(`internal: the searchset Bundle envelope is invalid: ${problem}`);
      writeSearchSetBundle(studiesPath, out.stage(BUNDLE_FILE), total);
      summary.outputs.push(BUNDLE_FILE);
    }

    // The index serve and search answer from, built from what was just staged, so that it always matches it (or
    // the committed one updated, when most lines were copied from the committed output).
    stageSearchIndex(out, zoneRule.zone, copied);

    writeErrors(ctx, out.stage(ERRORS_FILE), decisions);
    summary.outputs.push(ERRORS_FILE, REPORT_FILE);
    return summary;
  } finally {
    spools.close();
    settings.kept?.close();
  }
}

/** writeOutputs, then the run's report: `counts` and `sources` are what the records' sources delivered. */
export async function writeAndReport(
  records: RecordSet,
  counts: RecordCounts,
  sources: readonly SourceReport[],
  out: OutputDirectory,
  settings: WriteSettings,
  started: number,
): Promise<Report> {
  const summary = await writeOutputs(records, out, settings, (failure) => counts.unread(failure));
  return buildReport(counts, sources, summary, started);
}

function checkedEndpoint(address: string, validate: (resource: Endpoint) => string | undefined): Endpoint {
  const endpoint = toEndpoint(address);
  const problem = validate(endpoint);
  if (problem) throw new UsageError(`--endpoint does not make a valid FHIR Endpoint: ${problem}`);
  return endpoint;
}

/**
 * Step 3: the studies spool, in UID order, without the invalid studies and those of rejected Patients. Returns the
 * ids of the ImagingStudies whose lines were copied from the committed output as they were.
 */
function writeStudyLines(ctx: WriteContext, path: string, decisions: PatientDecisions): Set<string> {
  const { summary } = ctx;
  const writer = new LineWriter(path);
  const copied = new Set<string>();
  for (const value of ctx.spools.studies.sorted()) {
    const newline = value.indexOf("\n");
    const row = JSON.parse(value.slice(0, newline)) as StudyRow;
    if (!row.valid || decisions.rejected.has(row.patient)) continue;
    if (row.partition === "kept") {
      const line = keptLine(ctx, row.uid);
      if (typeof line !== "string") copied.add(resourceIdOf(line)!);
      writer.write(line);
    } else writer.write(value.slice(newline + 1));
    writer.write("\n");
    summary.written.ImagingStudy++;
    summary.instances += row.instances;
    summary.series += row.series;
  }
  writer.close();
  return copied;
}

/**
 * A kept study's ImagingStudy line: the previous output's bytes, or (when its Patient was rejected last time and no
 * longer is) its resource made again from its records, as text.
 */
function keptLine(ctx: WriteContext, uid: string): string | Buffer {
  const kept = ctx.settings.kept!;
  const line = kept.line(uid);
  if (line !== undefined) return line;
  const study = assemble(kept.records([uid]), new Map()).studies.find((s) => s.studyInstanceUID === uid);
  if (!study) throw new Error("internal: a kept study has no files in the state");
  // Its notes were counted with its outcome.
  return JSON.stringify(mapStudy(study, ctx.endpointReference, ctx.settings.zoneRule).resource);
}

/** Step 5: errors.ndjson from the failures spool, in path order. */
function writeErrors(ctx: WriteContext, path: string, decisions: PatientDecisions): void {
  const writer = new LineWriter(path);
  for (const value of ctx.spools.failures.sorted()) {
    const [key, reason, message, study] = JSON.parse(value) as FailureRow;
    // A study that failed validation itself and whose Patient was rejected: a single run names the Patient.
    const rejected = study === null ? undefined : decisions.rejectedStudies.get(study);
    const text = rejected ? `ImagingStudy ${study} failed validation: ${patientProblem(rejected.problem)}` : message;
    writer.writeJsonLine(errorLine({ path: pathFromKey(key), reason, message: text }));
  }
  writer.close();
}
