#!/usr/bin/env node
// The command line: a thin yargs shell; each command lives in src/cli/ and loads its library code only when run.
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { BadUsage, EXIT, internalError, print, withSuggestions } from "./common.js";
import { convertCommand } from "./convert.js";
import { indexCommand } from "./indexCommand.js";
import { loadCommand } from "./load.js";
import { mergeCommand } from "./merge.js";
import { searchCommand } from "./search.js";
import { serveCommand } from "./serve.js";
import { VERSION } from "../core/version.js";

const COMMANDS = [convertCommand, mergeCommand, serveCommand, searchCommand, indexCommand, loadCommand];

async function main(argv: string[]): Promise<number> {
  let exitCode: number = EXIT.ok;
  const done = (code: number) => {
    exitCode = code;
  };
  let parser = yargs(standardInputArguments(argv))
    .scriptName("dcm2fhir")
    .usage("$0 <command>\n\nConverts DICOM archives to FHIR R4 ImagingStudy, Patient and Endpoint NDJSON, and answers the ImagingStudy search over them.");
  for (const command of COMMANDS) parser = command(parser, done);
  parser = parser
    .demandCommand(1, "name a command: dcm2fhir convert <inputs..> --out <folder>")
    .strict()
    .recommendCommands()
    .example("$0 convert /archive/dicom --out /data/fhir", "convert an archive; report.html shows what happened")
    .example("$0 serve /data/fhir", "search the result in a browser at http://127.0.0.1:8080/")
    .help()
    .version(VERSION)
    .fail((message, error, y) => {
      // Throwing is what stops yargs: a fail handler that returns lets the command run anyway.
      if (error && error.name !== "YError") throw error;
      throw new BadUsage(withSuggestions(message || error?.message, y, argv));
    });
  skipHelpCache(parser);
  try {
    // yargs may throw synchronously from validation, or reject: both are caught here.
    await parser.parseAsync();
  } catch (error) {
    if (!(error instanceof BadUsage)) throw error;
    print(`dcm2fhir: ${error.message} (see dcm2fhir --help)`);
    exitCode = EXIT.usage;
  }
  return exitCode;
}

/**
 * yargs drops a lone "-", the usual name of standard input, as an option's value (`--files-from -` gives an empty
 * string): it is passed in the `--option=-` form, which yargs keeps.
 */
function standardInputArguments(argv: readonly string[]): string[] {
  const result: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--files-from" && argv[i + 1] === "-") result.push(`--files-from=${argv[++i]}`);
    else result.push(argv[i]!);
  }
  return result;
}

/**
 * yargs renders the whole help text whenever a command starts, to have it ready for a help screen after the
 * command; we never show one then (failures are one line, see .fail above), and the rendering costs every run
 * tens of milliseconds, a tenth of an incremental run that finds nothing changed. Internal API: if it moves,
 * yargs just goes on caching.
 */
function skipHelpCache(parser: unknown): void {
  const usage = (parser as { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } } })
    .getInternalMethods?.()
    .getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === "function") usage.cacheHelpMessage = () => {};
}

// exitCode rather than exit(): output to a pipe is written asynchronously and must not be cut off.
main(hideBin(process.argv)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.exitCode = internalError(error);
  },
);
