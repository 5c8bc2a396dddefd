// dcm2fhir serve: the ImagingStudy search API over a converted folder, and with --pacs over the PACS behind it (data
// on demand). stdout carries only the base URL (first line); the console gets counts, never a query (queries carry
// patient identifiers).
import type { PacsOptions } from "../ondemand/onDemand.js";
import { BadUsage, type CommandModule, EXIT, internalError, print, readBearerToken } from "./common.js";

export const serveCommand: CommandModule = (yargs, done) =>
  yargs.command(
    "serve <folder>",
    "answer FHIR ImagingStudy searches over a converted folder (until Ctrl-C)",
    (y) =>
      y
        .positional("folder", { type: "string", demandOption: true, describe: "a folder made by dcm2fhir convert (or indexed by dcm2fhir index)" })
        .option("host", { type: "string", default: "127.0.0.1", describe: "address to listen on; anything but loopback needs a bearer token" })
        .option("port", { type: "number", default: 8080, describe: "port (0: any free port)" })
        .option("base-path", { type: "string", default: "", describe: "path prefix of the FHIR base, e.g. /fhir" })
        .option("token-file", { type: "string", describe: "file holding the bearer token every request must carry (or set DCM2FHIR_TOKEN)" })
        .option("allow-open-search", {
          type: "boolean",
          default: false,
          describe: "allow searches without patient, patient.identifier or identifier (internal use)",
        })
        .option("viewer-url", { type: "string", describe: "the search page links each study to this viewer URL, {study} standing for its Study Instance UID" })
        .option("pacs", {
          type: "string",
          array: true,
          describe: "DICOMweb service root asked at search time (data on demand); repeatable, the first root wins for a study two hold",
        })
        .option("max-age", { type: "number", describe: "with --pacs: seconds a PACS answer is reused without asking again (default 300)" })
        .option("pacs-token-file", { type: "string", describe: "with --pacs: file holding the bearer token sent to the PACS (or set DCM2FHIR_PACS_TOKEN)" })
        .option("timezone", { type: "string", describe: "with --pacs: IANA zone for PACS times without an offset, as convert (default: this machine's zone)" })
        .option("concurrency", { type: "number", describe: "with --pacs: study metadata read at once per PACS (default 4)" })
        .example("$0 serve /data/fhir", "the search API and page on http://127.0.0.1:8080/ (open it in a browser)")
        .example(
          "$0 serve /data/fhir --viewer-url 'https://viewer.example.org/viewer?StudyInstanceUIDs={study}'",
          "with a link from each study to an OHIF viewer",
        )
        .example("DCM2FHIR_TOKEN=secret $0 serve /data/fhir --host 0.0.0.0 --port 8080", "on the network: every search needs the token (the page asks for it)")
        .example("$0 serve ./fhir --pacs https://pacs.example.org/dicom-web", "answers from the PACS at search time, the folder as its cache (data on demand)"),
    async (args) => {
      done(
        await runServe({
          folder: args.folder,
          host: args.host,
          port: args.port,
          basePath: args["base-path"],
          tokenFile: args["token-file"],
          allowOpenSearch: args["allow-open-search"],
          viewerUrl: args["viewer-url"],
          pacs: args.pacs ?? [],
          maxAge: args["max-age"],
          pacsTokenFile: args["pacs-token-file"],
          timezone: args.timezone,
          concurrency: args.concurrency,
        }),
      );
    },
  );

interface ServeCliOptions {
  folder: string;
  host: string;
  port: number;
  basePath: string;
  tokenFile?: string;
  allowOpenSearch: boolean;
  viewerUrl?: string;
  pacs: string[];
  maxAge?: number;
  pacsTokenFile?: string;
  timezone?: string;
  concurrency?: number;
}

/** How often, at most, the PACS counts are printed while serving (only when they changed). */
const PACS_LOG_EVERY_MS = 60_000;

async function runServe(o: ServeCliOptions): Promise<number> {
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new BadUsage("--port takes a whole number from 0 (any free port) to 65535");
  const basePath = normalizeBasePath(o.basePath);
  if (o.viewerUrl !== undefined && !/^https?:\/\/\S*\{study\}/.test(o.viewerUrl)) {
    throw new BadUsage(
      "--viewer-url is an http(s) URL with {study} where the Study Instance UID goes, e.g. https://viewer.example.org/viewer?StudyInstanceUIDs={study}",
    );
  }
  const token = readBearerToken(o.tokenFile);
  if (!isLoopback(o.host) && token === undefined) {
    throw new BadUsage(
      `--host ${o.host} would expose patient data to the network: set DCM2FHIR_TOKEN or pass --token-file (requests then need Authorization: Bearer <token>)`,
    );
  }
  const pacsOptions = pacsOptionsOf(o);
  const { serve } = await import("../serve/serve.js");
  const { UsageError } = await import("../core/errors.js");
  const { IndexError } = await import("../index/searchIndex.js");
  let server: Awaited<ReturnType<typeof serve>>;
  try {
    server = await serve({
      folder: o.folder,
      host: o.host,
      port: o.port,
      basePath,
      token,
      allowOpenSearch: o.allowOpenSearch,
      viewerUrl: o.viewerUrl,
      pacs: pacsOptions,
    });
  } catch (error) {
    if (error instanceof UsageError || error instanceof IndexError) return (print(`dcm2fhir: ${error.message}`), EXIT.usage);
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") return (print(`dcm2fhir: port ${o.port} is in use on ${o.host}: choose another --port (0 picks a free one)`), EXIT.usage);
    if (code === "EACCES" || code === "EADDRNOTAVAIL" || code === "ENOTFOUND")
      return (print(`dcm2fhir: cannot listen on ${o.host}:${o.port} (${code})`), EXIT.usage);
    return internalError(error);
  }
  process.stdout.write(`${server.base}\n`);
  const { index, onDemand } = server;
  const { studies, patients } = index.meta;
  const onDemandNote = onDemand ? `, data on demand from ${onDemand.pacs.length} PACS (answers reused for ${onDemand.maxAge} s)` : "";
  print(
    `dcm2fhir: serving ${studies} studies of ${patients} patients${onDemandNote}${token ? " (bearer token required)" : ""}${o.allowOpenSearch ? ", open search allowed" : ""}; Ctrl-C stops`,
  );
  if (onDemand && o.timezone === undefined && index.meta.zone !== onDemand.zone) {
    print(
      `dcm2fhir: note: the folder's dates are read in ${index.meta.zone}, PACS times without an offset in ${onDemand.zone} (this machine's zone, as convert): pass --timezone to choose`,
    );
  }
  // Counts only, never a root's query or a study: the console is no place for patient data.
  let logged = "";
  const pacsLine = () => {
    const c = onDemand!.counts;
    return `dcm2fhir: PACS: ${c.queries} queries, ${c.hits} answered from the cache, ${c.studies} studies read, ${c.failures} failures`;
  };
  const pacsLog = onDemand
    ? setInterval(() => {
        const line = pacsLine();
        if (line !== logged) print((logged = line));
      }, PACS_LOG_EVERY_MS).unref()
    : undefined;

  // A stopped server has done its job: exit 0 once the requests in flight are answered. A second signal stops at once.
  const signal = await new Promise<"SIGINT" | "SIGTERM">((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT")).once("SIGTERM", () => resolve("SIGTERM"));
  });
  const again = (name: "SIGINT" | "SIGTERM") => () => process.exit(EXIT[name]);
  process.once("SIGINT", again("SIGINT")).once("SIGTERM", again("SIGTERM"));
  print(`dcm2fhir: ${signal}: finishing requests in flight`);
  clearInterval(pacsLog);
  await server.close();
  const c = server.counts;
  print(`dcm2fhir: stopped after ${c.requests} requests (${c.searches} searches, ${c.reads} reads, ${c.errors} errors)`);
  if (onDemand) print(pacsLine());
  return EXIT.ok;
}

/** The PACS options, or undefined without --pacs (then the options that only apply with it are refused). */
export function pacsOptionsOf(o: {
  pacs: string[];
  maxAge?: number;
  pacsTokenFile?: string;
  timezone?: string;
  concurrency?: number;
}): PacsOptions | undefined {
  if (o.pacs.length === 0) {
    const given = [
      o.maxAge !== undefined && "--max-age",
      o.pacsTokenFile !== undefined && "--pacs-token-file",
      o.timezone !== undefined && "--timezone",
      o.concurrency !== undefined && "--concurrency",
    ].filter(Boolean);
    if (given.length > 0) throw new BadUsage(`${given.join(", ")} apply to the PACS: give --pacs <root>`);
    return undefined;
  }
  const token = readBearerToken(o.pacsTokenFile, { option: "--pacs-token-file", env: "DCM2FHIR_PACS_TOKEN" });
  return { roots: o.pacs, maxAge: o.maxAge, token, timezone: o.timezone, concurrency: o.concurrency };
}

/** 127.0.0.0/8, ::1 and localhost stay on this machine. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function normalizeBasePath(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  if (trimmed === "") return "";
  const withSlash = trimmed.startsWith("/") ? trimmed : `/${trimmed}`;
  if (!/^(\/[A-Za-z0-9._~-]+)+$/.test(withSlash)) throw new BadUsage("--base-path is a URL path of letters, digits and . _ ~ - segments, e.g. /fhir");
  return withSlash;
}
