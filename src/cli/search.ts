// dcm2fhir search: the search `serve` answers, without a server: the searchset Bundle on stdout. With --pacs, the
// PACS is asked as `serve --pacs` asks it, and what it answered is kept in the folder's index for the next search.
import { type CommandModule, EXIT, openSearchIndex, print } from "./common.js";
import { pacsOptionsOf } from "./serve.js";

/** `serve`'s default base, so that the Bundle is the one `serve` would give with its defaults. */
export const DEFAULT_BASE = "http://127.0.0.1:8080/";

export const searchCommand: CommandModule = (yargs, done) =>
  yargs.command(
    "search <folder> <query>",
    "search a converted folder's ImagingStudies (FHIR search syntax); prints the searchset Bundle",
    (y) =>
      y
        .positional("folder", { type: "string", demandOption: true, describe: "a folder made by dcm2fhir convert (or indexed by dcm2fhir index)" })
        .positional("query", { type: "string", demandOption: true, describe: "e.g. 'patient.identifier=PAT-0001&started=ge2024-01-01' (quote it)" })
        .option("base", { type: "string", default: DEFAULT_BASE, describe: "FHIR base URL for fullUrl and links" })
        .option("strict", { type: "boolean", default: false, describe: "unknown parameters are an error (as Prefer: handling=strict)" })
        .option("allow-open-search", { type: "boolean", default: false, describe: "allow searches without patient, patient.identifier or identifier" })
        .option("pacs", { type: "string", array: true, describe: "DICOMweb service root asked for this search (as serve --pacs); repeatable" })
        .option("max-age", { type: "number", describe: "with --pacs: seconds an earlier PACS answer in the folder is reused (default 300; 0 asks now)" })
        .option("pacs-token-file", { type: "string", describe: "with --pacs: file holding the bearer token sent to the PACS (or set DCM2FHIR_PACS_TOKEN)" })
        .option("timezone", { type: "string", describe: "with --pacs: IANA zone for PACS times without an offset (default: this machine's zone)" })
        .option("concurrency", { type: "number", describe: "with --pacs: study metadata read at once per PACS (default 4)" })
        .example("$0 search /data/fhir 'patient.identifier=PAT-0001'", "the studies of one patient, as a searchset Bundle")
        .example("$0 search /data/fhir 'patient.identifier=PAT-0001&modality=CT&started=ge2024-01-01'", "their CT studies since 2024")
        .example(
          "$0 search ./fhir 'patient.identifier=PAT001&modality=CT' --pacs https://pacs.example.org/dicom-web",
          "asks the PACS too, at search time (data on demand)",
        ),
    async (args) => {
      const pacs = {
        pacs: args.pacs ?? [],
        maxAge: args["max-age"],
        pacsTokenFile: args["pacs-token-file"],
        timezone: args.timezone,
        concurrency: args.concurrency,
      };
      done(await runSearchCommand(args.folder, args.query, { base: args.base, strict: args.strict, allowOpenSearch: args["allow-open-search"] }, pacs));
    },
  );

type SearchCliOptions = { base: string; strict: boolean; allowOpenSearch: boolean };

async function runSearchCommand(folder: string, query: string, options: SearchCliOptions, pacs: Parameters<typeof pacsOptionsOf>[0]): Promise<number> {
  const base = options.base.endsWith("/") ? options.base : `${options.base}/`;
  if (!/^https?:\/\/\S+$/.test(base)) return (print("dcm2fhir: --base must be an http(s) URL"), EXIT.usage);
  const pacsOptions = pacsOptionsOf(pacs);
  if (pacsOptions) return searchWithPacs(folder, query, { ...options, base }, pacsOptions);
  const index = await openSearchIndex(folder);
  if (!index) return EXIT.usage;
  const { pairsFromQuery, isSearchError } = await import("../search/request.js");
  const { runSearch } = await import("../search/search.js");
  try {
    // Also as copied from a URL: "?…" or "ImagingStudy?…".
    const result = runSearch(index, pairsFromQuery(query.replace(/^(ImagingStudy)?\?/, "")), {
      base,
      strict: options.strict,
      allowOpenSearch: options.allowOpenSearch,
    });
    if (isSearchError(result)) return (print(`dcm2fhir: bad query: ${result.message}`), EXIT.usage);
    process.stdout.write(result);
    process.stdout.write("\n");
    return EXIT.ok;
  } finally {
    index.close();
  }
}

/**
 * With --pacs: a 503 of `serve` (no PACS could be asked, none answered this search before, nothing in the folder) is
 * the OperationOutcome on stdout and exit 5.
 */
async function searchWithPacs(folder: string, query: string, options: SearchCliOptions, pacs: NonNullable<ReturnType<typeof pacsOptionsOf>>): Promise<number> {
  const { pairsFromQuery } = await import("../search/request.js");
  const { searchFolder } = await import("../ondemand/folder.js");
  const { UsageError } = await import("../core/errors.js");
  const { IndexError } = await import("../index/searchIndex.js");
  try {
    const result = await searchFolder(folder, pairsFromQuery(query.replace(/^(ImagingStudy)?\?/, "")), { ...options, pacs });
    if (result.status === 400) return (print(`dcm2fhir: bad query: ${result.error.message}`), EXIT.usage);
    if (result.status === 503) {
      process.stdout.write(`${JSON.stringify(result.outcome)}\n`);
      print("dcm2fhir: no PACS could be asked and none answered this search before: try again later");
      return EXIT.unavailable;
    }
    process.stdout.write(result.body);
    process.stdout.write("\n");
    return EXIT.ok;
  } catch (error) {
    if (error instanceof UsageError || error instanceof IndexError) return (print(`dcm2fhir: ${error.message}`), EXIT.usage);
    throw error;
  }
}
