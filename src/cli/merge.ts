// dcm2fhir merge: the command line over merge(). Like convert, only counts, reason codes and timings reach the
// console; a refused set of parts names parts by position, by path only with --verbose.
import { type CommandModule, EXIT, RUN_REPORT_OPTIONS, internalError, print, stopOnSignals } from "./common.js";
import { summarize } from "./convert.js";

export const mergeCommand: CommandModule = (yargs, done) =>
  yargs.command(
    "merge <parts..>",
    "write the parts of a sharded run (convert --shard i/N) as the outputs one convert would write",
    (y) =>
      y
        .positional("parts", { type: "string", array: true, demandOption: true, describe: "the shards' --out folders, one per shard, in any order" })
        .option("out", { type: "string", demandOption: true, describe: "output folder (created if missing)" })
        .option("fail-on-error", { type: "boolean", default: false, describe: "exit 1 when any file failed (skips are not failures)" })
        .option("progress", { type: "boolean", describe: "print progress to stderr (default: when stderr is a terminal)" })
        .options(RUN_REPORT_OPTIONS)
        .example("$0 merge out/shard-1 out/shard-2 out/shard-3 out/shard-4 --out /data/fhir", "the four parts of convert --shard i/4 as one convert's outputs")
        .example("$0 merge out/shard-* --out /data/fhir --fail-on-error", "the same for every part (the shell expands the glob); exit 1 when a file failed"),
    async (args) => {
      done(
        await runMerge({
          parts: args.parts as string[],
          out: args.out,
          failOnError: args["fail-on-error"],
          progress: args.progress ?? process.stderr.isTTY === true,
          verbose: args.verbose,
          htmlReport: args["html-report"],
          reportDetails: args["report-details"],
        }),
      );
    },
  );

interface MergeCliOptions {
  parts: string[];
  out: string;
  failOnError: boolean;
  progress: boolean;
  verbose: boolean;
  htmlReport: boolean;
  reportDetails: boolean;
}

async function runMerge(o: MergeCliOptions): Promise<number> {
  // Loaded here so that --help does not pay for the converter, SQLite and the validators.
  const { merge } = await import("../merge.js");
  const { UsageError } = await import("../core/errors.js");
  const { OutputError, NoSpaceError } = await import("../lib/outputFolder.js");
  const stop = stopOnSignals("stopping; nothing will be written");
  try {
    const onPartition = o.progress ? (done: number, total: number) => print(`merged partition ${done} of ${total}`) : undefined;
    const result = await merge({
      parts: o.parts,
      out: o.out,
      verbose: o.verbose,
      signal: stop.signal,
      onPartition,
      htmlReport: o.htmlReport,
      reportDetails: o.reportDetails,
    });
    summarize(result, o);
    if (result.interrupted) return EXIT[stop.received() ?? "SIGINT"];
    return o.failOnError && result.report.files.failed > 0 ? EXIT.failedFiles : EXIT.ok;
  } catch (error) {
    if (error instanceof UsageError) return (print(`dcm2fhir: ${error.message}`), EXIT.usage);
    if (error instanceof NoSpaceError) return (print(`dcm2fhir: ${error.message}`), EXIT.output);
    if (error instanceof OutputError) return (print(`dcm2fhir: output folder: ${error.message}`), EXIT.output);
    return internalError(error);
  } finally {
    stop.dispose();
  }
}
