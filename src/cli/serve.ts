// dcm2fhir serve: the ImagingStudy search API over a converted folder. stdout carries only the base URL (first
// line); the console gets counts, never a query (queries carry patient identifiers).
import { BadUsage, type CommandModule, EXIT, internalError, openSearchIndex, print, readBearerToken } from "./common.js";

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
        .option("allow-open-search", { type: "boolean", default: false, describe: "allow searches without patient, patient.identifier or identifier (internal use)" })
        .option("viewer-url", { type: "string", describe: "the search page links each study to this viewer URL, {study} standing for its Study Instance UID" })
        .example("$0 serve /data/fhir", "the search API and page on http://127.0.0.1:8080/ (open it in a browser)")
        .example("$0 serve /data/fhir --viewer-url 'https://viewer.example.org/viewer?StudyInstanceUIDs={study}'", "with a link from each study to an OHIF viewer")
        .example("DCM2FHIR_TOKEN=secret $0 serve /data/fhir --host 0.0.0.0 --port 8080", "on the network: every search needs the token (the page asks for it)"),
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
}

async function runServe(o: ServeCliOptions): Promise<number> {
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new BadUsage("--port takes a whole number from 0 (any free port) to 65535");
  const basePath = normalizeBasePath(o.basePath);
  if (o.viewerUrl !== undefined && !/^https?:\/\/\S*\{study\}/.test(o.viewerUrl)) {
    throw new BadUsage("--viewer-url is an http(s) URL with {study} where the Study Instance UID goes, e.g. https://viewer.example.org/viewer?StudyInstanceUIDs={study}");
  }
  const token = readBearerToken(o.tokenFile);
  if (!isLoopback(o.host) && token === undefined) {
    throw new BadUsage(`--host ${o.host} would expose patient data to the network: set DCM2FHIR_TOKEN or pass --token-file (requests then need Authorization: Bearer <token>)`);
  }
  const index = await openSearchIndex(o.folder);
  if (!index) return EXIT.usage;
  const { startServer } = await import("../serve/app.js");
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer({ index, host: o.host, port: o.port, basePath, token, allowOpenSearch: o.allowOpenSearch, viewerUrl: o.viewerUrl });
  } catch (error) {
    index.close();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") return print(`dcm2fhir: port ${o.port} is in use on ${o.host}: choose another --port (0 picks a free one)`), EXIT.usage;
    if (code === "EACCES" || code === "EADDRNOTAVAIL" || code === "ENOTFOUND") return print(`dcm2fhir: cannot listen on ${o.host}:${o.port} (${code})`), EXIT.usage;
    return internalError(error);
  }
  process.stdout.write(`${server.base}\n`);
  const { studies, patients } = index.meta;
  print(`dcm2fhir: serving ${studies} studies of ${patients} patients${token ? " (bearer token required)" : ""}${o.allowOpenSearch ? ", open search allowed" : ""}; Ctrl-C stops`);

  // A stopped server has done its job: exit 0 once the requests in flight are answered. A second signal stops at once.
  const signal = await new Promise<"SIGINT" | "SIGTERM">((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT")).once("SIGTERM", () => resolve("SIGTERM"));
  });
  const again = (name: "SIGINT" | "SIGTERM") => () => process.exit(EXIT[name]);
  process.once("SIGINT", again("SIGINT")).once("SIGTERM", again("SIGTERM"));
  print(`dcm2fhir: ${signal}: finishing requests in flight`);
  await server.close();
  index.close();
  const c = server.counts;
  print(`dcm2fhir: stopped after ${c.requests} requests (${c.searches} searches, ${c.reads} reads, ${c.errors} errors)`);
  return EXIT.ok;
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

