// dcm2fhir search: the search `serve` answers, without a server: the searchset Bundle on stdout.
import { type CommandModule, EXIT, openSearchIndex, print } from "./common.js";

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
        .example("$0 search /data/fhir 'patient.identifier=PAT-0001'", "the studies of one patient, as a searchset Bundle")
        .example("$0 search /data/fhir 'patient.identifier=PAT-0001&modality=CT&started=ge2024-01-01'", "their CT studies since 2024"),
    async (args) => {
      done(await runSearchCommand(args.folder, args.query, { base: args.base, strict: args.strict, allowOpenSearch: args["allow-open-search"] }));
    },
  );

async function runSearchCommand(folder: string, query: string, options: { base: string; strict: boolean; allowOpenSearch: boolean }): Promise<number> {
  const base = options.base.endsWith("/") ? options.base : `${options.base}/`;
  if (!/^https?:\/\/\S+$/.test(base)) return print("dcm2fhir: --base must be an http(s) URL"), EXIT.usage;
  const index = await openSearchIndex(folder);
  if (!index) return EXIT.usage;
  const { pairsFromQuery, isSearchError } = await import("../search/request.js");
  const { runSearch } = await import("../search/search.js");
  try {
    // Also as copied from a URL: "?…" or "ImagingStudy?…".
    const result = runSearch(index, pairsFromQuery(query.replace(/^(ImagingStudy)?\?/, "")), { base, strict: options.strict, allowOpenSearch: options.allowOpenSearch });
    if (isSearchError(result)) return print(`dcm2fhir: bad query: ${result.message}`), EXIT.usage;
    process.stdout.write(result);
    process.stdout.write("\n");
    return EXIT.ok;
  } finally {
    index.close();
  }
}
