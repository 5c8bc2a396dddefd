// dcm2fhir index: builds the search index of a folder that has NDJSON but no index (made by hand or by an older
// dcm2fhir), through the same staging and commit as convert's outputs. The NDJSON files are only read.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { type CommandModule, EXIT, print } from "./common.js";
import type { OutputDirectory } from "../lib/outputFolder.js";

export const indexCommand: CommandModule = (yargs, done) =>
  yargs.command(
    "index <folder>",
    "build the search index of a folder of ImagingStudy/Patient/Endpoint NDJSON",
    (y) =>
      y
        .positional("folder", { type: "string", demandOption: true, describe: "folder holding ImagingStudy.ndjson (Patient.ndjson, Endpoint.ndjson if any)" })
        .option("timezone", { type: "string", describe: "IANA zone for dates without one (default: report.json's, else this machine's)" })
        .example("$0 index /data/fhir", "index a folder of NDJSON made elsewhere, for serve and search")
        .example("$0 index /data/fhir --timezone Europe/Zurich", "the same, reading dates without a zone in Zurich's"),
    async (args) => {
      done(await runIndex(args.folder, args.timezone));
    },
  );

async function runIndex(folder: string, timezone: string | undefined): Promise<number> {
  if (!existsSync(folder) || !statSync(folder).isDirectory()) return (print("dcm2fhir: the folder does not exist"), EXIT.usage);
  const { isTimeZone, systemTimeZone } = await import("../fhir/timezone.js");
  if (timezone !== undefined && !isTimeZone(timezone))
    return (print(`dcm2fhir: unknown --timezone "${timezone}": use an IANA zone name such as Europe/Zurich or UTC`), EXIT.usage);
  const zone = timezone ?? zoneOfReport(folder);
  const { IndexError, buildSearchIndex } = await import("../index/searchIndex.js");
  const { SEARCH_INDEX_FILE } = await import("../core/outputFiles.js");
  const { OutputDirectory, OutputError } = await import("../lib/outputFolder.js");
  let out: OutputDirectory;
  try {
    out = OutputDirectory.open(folder);
  } catch (error) {
    if (error instanceof OutputError) return (print(`dcm2fhir: folder: ${error.message}`), EXIT.output);
    throw error;
  }
  const started = performance.now();
  try {
    const chosen = zone ?? systemTimeZone();
    const summary = buildSearchIndex(folder, out.stage(SEARCH_INDEX_FILE), chosen);
    out.commit([SEARCH_INDEX_FILE]);
    const seconds = (performance.now() - started) / 1000;
    print(`dcm2fhir: indexed ${summary.studies} studies, ${summary.patients} patients, ${summary.endpoints} endpoints in ${seconds.toFixed(2)} s`);
    if (zone === undefined)
      print(
        `  note: no report.json names the zone these files were converted in; dates without a zone are read in this machine's zone, ${chosen} (pass --timezone to choose)`,
      );
    for (const s of summary.skipped) print(`  skipped ${s.file} line ${s.line}: ${s.problem}`);
    return EXIT.ok;
  } catch (error) {
    out.abort();
    if (error instanceof IndexError) return (print(`dcm2fhir: ${error.message}`), EXIT.usage);
    throw error;
  }
}

/** report.json's dateTimes.zone: the zone convert read times without an offset in. */
function zoneOfReport(folder: string): string | undefined {
  try {
    const zone = (JSON.parse(readFileSync(join(folder, "report.json"), "utf8")) as { dateTimes?: { zone?: unknown } }).dateTimes?.zone;
    return typeof zone === "string" ? zone : undefined;
  } catch {
    return undefined;
  }
}
