// dcm2fhir convert: the command line over convert(). Only counts, reason codes and timings reach the
// console; paths (archive folders are often named after patients) only with --verbose.
import type { ConvertResult, Progress } from "../convert.js";
import { REASONS, displayPath } from "../core/reasons.js";
import { BadUsage, type CommandModule, EXIT, RUN_REPORT_OPTIONS, internalError, print, readBearerToken, stopOnSignals } from "./common.js";

export const convertCommand: CommandModule = (yargs, done) =>
  yargs.command(
    "convert [inputs..]",
    "convert DICOM files, folders (recursively), globs and DICOMweb services (http(s) URLs)",
    (y) =>
      y
        .positional("inputs", { type: "string", array: true, describe: "files, folders and globs (quote globs); an http(s) URL is a DICOMweb service root" })
        .option("out", {
          type: "string",
          demandOption: true,
          describe: "output folder (created if missing); with --shard, {shard} in it stands for the shard's index",
        })
        .option("files-from", {
          type: "string",
          describe: "also read the files and folders a list names, one per line (or NUL-separated); - for standard input",
        })
        .option("shard", {
          type: "string",
          describe: "read only shard i of N (i/N, from 1) and write a part for merge; auto or auto/N: from the scheduler (Kubernetes, Slurm, AWS Batch)",
        })
        .option("endpoint", { type: "string", describe: "DICOMweb WADO-RS base URL: writes Endpoint.ndjson, referenced by every ImagingStudy" })
        .option("format", {
          choices: ["ndjson", "bundle"] as const,
          default: "ndjson" as const,
          describe: "bundle: also write ImagingStudy.bundle.json (searchset)",
        })
        .option("timezone", { type: "string", describe: "IANA zone for times without Timezone Offset From UTC (default: this machine's zone)" })
        .option("follow-symlinks", { type: "boolean", default: false, describe: "follow symbolic links found in folders (loops are detected)" })
        .option("workers", {
          type: "number",
          describe: "processes reading headers, this one included (default: number of cores, at most 4; 1: this process only)",
        })
        .option("io-depth", {
          type: "string",
          describe:
            "file operations kept in flight (listings, stats, opens, reads): auto (default: one at a time while they are fast, 64 on slow storage) or 1-1024",
        })
        .option("incremental", {
          type: "boolean",
          default: false,
          describe: "keep the run's state in --out and read again only files that are new or changed; also write changes/ (the first run is a full one)",
        })
        .option("max-delete", {
          type: "number",
          describe:
            "with --incremental: the largest share (percent) of the previous output's studies a run may delete (default 10); a run that would delete more stops, exit 3",
        })
        .option("fail-on-error", { type: "boolean", default: false, describe: "exit 1 when any file failed (skips are not failures)" })
        .option("progress", { type: "boolean", describe: "print progress to stderr (default: when stderr is a terminal)" })
        .option("concurrency", { type: "number", describe: "DICOMweb: studies read at once (default 4)" })
        .option("studies-since", { type: "string", describe: "DICOMweb: only studies with a Study Date on or after this day (YYYY-MM-DD)" })
        .option("studies-until", { type: "string", describe: "DICOMweb: only studies with a Study Date on or before this day (YYYY-MM-DD)" })
        .option("token-file", { type: "string", describe: "DICOMweb: a file holding the bearer token (default: $DCM2FHIR_TOKEN)" })
        .options(RUN_REPORT_OPTIONS)
        .example("$0 convert /archive/dicom --out /data/fhir", "convert a folder; outputs, report.json and report.html in /data/fhir")
        .example("$0 convert /archive/dicom --out /data/fhir --incremental", "a nightly run: read only new and changed files, write changes/")
        .example("$0 convert https://pacs.example.org/dicom-web --out /data/fhir --studies-since 2024-01-01", "read the studies of a PACS over DICOMweb"),
    async (args) => {
      done(
        await runConvert({
          inputs: (args.inputs as string[] | undefined) ?? [],
          filesFrom: args["files-from"],
          shard: args.shard,
          out: args.out,
          endpoint: args.endpoint,
          format: args.format,
          timezone: args.timezone,
          followSymlinks: args["follow-symlinks"],
          workers: args.workers,
          ioDepth: args["io-depth"],
          incremental: args.incremental,
          maxDelete: args["max-delete"],
          failOnError: args["fail-on-error"],
          concurrency: args.concurrency,
          studiesSince: args["studies-since"],
          studiesUntil: args["studies-until"],
          tokenFile: args["token-file"],
          progress: args.progress ?? process.stderr.isTTY === true,
          verbose: args.verbose,
          htmlReport: args["html-report"],
          reportDetails: args["report-details"],
        }),
      );
    },
  );

interface CliOptions {
  inputs: string[];
  filesFrom?: string;
  shard?: string;
  out: string;
  endpoint?: string;
  format: "ndjson" | "bundle";
  timezone?: string;
  followSymlinks: boolean;
  workers?: number;
  ioDepth?: string;
  incremental: boolean;
  maxDelete?: number;
  failOnError: boolean;
  concurrency?: number;
  studiesSince?: string;
  studiesUntil?: string;
  tokenFile?: string;
  progress: boolean;
  verbose: boolean;
  htmlReport: boolean;
  reportDetails: boolean;
}

async function runConvert(o: CliOptions): Promise<number> {
  // Loaded here so that --help does not pay for the converter and its validators.
  const { convert } = await import("../convert.js");
  const { UsageError } = await import("../core/errors.js");
  const { OutputError, NoSpaceError } = await import("../lib/outputFolder.js");
  const { DeletionLimitError } = await import("../incremental/changes.js");
  const { parseShard } = await import("../shard/spec.js");
  const { parseIoDepth } = await import("../lib/ioPace.js");
  const stop = stopOnSignals("stopping; nothing will be written");
  // Once the event loop is empty everything is written and flushed: exit then, rather than let node free the
  // heap page by page first (measured: ~0.1 G instructions, ~20 ms, at 10k files; more at larger runs).
  process.once("beforeExit", () => process.exit());
  try {
    const dicomweb = { concurrency: o.concurrency, studiesSince: o.studiesSince, studiesUntil: o.studiesUntil, token: readBearerToken(o.tokenFile) };
    const shard = o.shard === undefined ? undefined : parseShard(o.shard);
    const ioDepth = o.ioDepth === undefined ? undefined : (parseIoDepth(o.ioDepth) ?? Number.NaN);
    const result = await convert({ ...o, ioDepth, shard, dicomweb, signal: stop.signal, onProgress: o.progress ? showProgress : undefined });
    if (o.progress && process.stderr.isTTY) process.stderr.write("\n");
    summarize(result, o);
    if (result.interrupted) return EXIT[stop.received() ?? "SIGINT"];
    return o.failOnError && result.report.files.failed > 0 ? EXIT.failedFiles : EXIT.ok;
  } catch (error) {
    if (error instanceof UsageError || error instanceof BadUsage) return (print(`dcm2fhir: ${error.message}`), EXIT.usage);
    if (error instanceof DeletionLimitError || error instanceof NoSpaceError) return (print(`dcm2fhir: ${error.message}`), EXIT.output);
    if (error instanceof OutputError) return (print(`dcm2fhir: output folder: ${error.message}`), EXIT.output);
    return internalError(error);
  } finally {
    stop.dispose();
  }
}

function showProgress(p: Progress): void {
  const rate = p.elapsedSeconds > 0 ? Math.round(p.filesRead / p.elapsedSeconds) : 0;
  const line = `read ${p.filesRead.toLocaleString("en-US")} of ${p.filesSeen.toLocaleString("en-US")} files seen (${rate.toLocaleString("en-US")}/s), ${p.instances.toLocaleString("en-US")} instances, ${p.failed} not converted`;
  if (process.stderr.isTTY) process.stderr.write(`\r${line}\x1b[K`);
  else print(line);
}

export function summarize(result: ConvertResult, o: { readonly verbose: boolean; readonly htmlReport?: boolean }): void {
  const { report: r, interrupted, incremental, part } = result;
  const reasons = (outcome: "skipped" | "failed") =>
    Object.entries(r.files.reasons)
      .filter(([reason]) => REASON_OUTCOME.get(reason) === outcome)
      .map(([reason, n]) => `${reason} ${n}`)
      .join(", ");
  const rate = r.elapsedSeconds > 0 ? Math.round(r.files.seen / r.elapsedSeconds) : r.files.seen;
  if (interrupted) {
    print(
      `dcm2fhir: interrupted after ${r.files.seen} files (${r.instances} instances read) in ${r.elapsedSeconds} s; nothing written, the previous output is unchanged`,
    );
    return;
  }
  if (part) {
    const from = part.shard.scheduler ? ` (from the ${part.shard.scheduler})` : "";
    print(
      `dcm2fhir: shard ${part.shard.index} of ${part.shard.count}${from}: ${r.files.seen} files in ${r.elapsedSeconds} s (${rate} files/s): ${part.instanceRecords} instance records, ${r.files.skipped} skipped, ${r.files.failed} failed`,
    );
    if (r.files.skipped > 0) print(`  skipped: ${reasons("skipped")}`);
    if (r.files.failed > 0) print(`  failed: ${reasons("failed")}`);
    print(`  part written${o.verbose ? ` to ${part.out}` : ""}: records, not resources; run dcm2fhir merge over all ${part.shard.count} parts`);
    if (o.verbose) for (const f of result.failures) print(`  ${f.reason}: ${displayPath(f.path)}: ${f.message}`);
    return;
  }
  print(
    `dcm2fhir: ${r.files.seen} files in ${r.elapsedSeconds} s (${rate} files/s): ${r.files.converted} converted, ${r.files.skipped} skipped, ${r.files.failed} failed`,
  );
  print(`  studies ${r.studies}, series ${r.series}, instances ${r.instances}, patients ${r.patients}, duplicates ${r.duplicates}`);
  for (const s of r.sources) {
    if (s.studies) print(`  from ${s.root}: ${s.studies.listed} studies listed, ${s.studies.read} read, ${s.studies.failed} failed; ${s.instances} instances`);
  }
  if (r.files.skipped > 0) print(`  skipped: ${reasons("skipped")}`);
  if (r.files.failed > 0) print(`  failed: ${reasons("failed")}`);
  const rejected = Object.values(r.resources.rejected).reduce((a, b) => a + b, 0);
  print(
    `  written: ImagingStudy ${r.resources.written.ImagingStudy}, Patient ${r.resources.written.Patient}, Endpoint ${r.resources.written.Endpoint}; rejected by validation: ${rejected}`,
  );
  if (r.conflicts.length > 0) print(`  conflicts: ${r.conflicts.length} attributes differ between files of one study, series or patient (see report.json)`);
  const warnings = Object.entries(r.warnings).map(([w, n]) => `${w} ${n}`);
  if (warnings.length > 0) print(`  warnings: ${warnings.join(", ")}`);
  if (r.dateTimes.offsetFromZone > 0 && r.dateTimes.zoneSource === "system") {
    print(
      `  note: ${r.dateTimes.offsetFromZone} date-times had no Timezone Offset From UTC (0008,0201) and were read in this machine's zone, ${r.dateTimes.zone}; pass --timezone to choose`,
    );
  }
  print(`  outputs: ${[...r.outputs, ...(o.htmlReport === false ? [] : ["report.html"])].join(", ")}`);
  if (incremental) {
    const f = incremental.files;
    const counts = (type: "ImagingStudy" | "Patient") =>
      `${type} ${incremental.changes[type].new} new, ${incremental.changes[type].changed} changed, ${incremental.changes[type].deleted} deleted`;
    if (incremental.why) print(`  incremental: ${incremental.why}`);
    print(
      `  files since the last run: ${f.unchanged} unchanged, ${f.added} added, ${f.modified} modified, ${f.removed} removed; ${r.bytesRead.total} bytes read`,
    );
    if (incremental.mode === "unchanged") print("  changes: none; the outputs are kept as they were");
    else print(`  changes: ${counts("ImagingStudy")}; ${counts("Patient")} (see changes/)`);
  }
  // Only here: a run that kept its outputs reads its failures back from errors.ndjson when asked.
  if (o.verbose) for (const f of result.failures) print(`  ${f.reason}: ${displayPath(f.path)}: ${f.message}`);
}

const REASON_OUTCOME = new Map(Object.entries(REASONS).map(([reason, { outcome }]) => [reason, outcome]));
