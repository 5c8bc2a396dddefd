// dcm2fhir load: the command line over load(). The console carries counts and resource ids (ours are hashes
// and UIDs), never names, identifiers, birth dates, the token, or the server's messages (which may quote
// values) unless --verbose.
import type { LoadProgress, LoadResult } from "../load/load.js";
import type { ClientCredentialsOptions } from "../load/oauth.js";
import { type CommandModule, EXIT, stopOnSignals, internalError, print, readBearerToken, readSecretFile } from "./common.js";

export const loadCommand: CommandModule = (yargs, done) =>
  yargs.command(
    "load <folder>",
    "put a converted folder into a FHIR server (PUT with our ids, in transaction Bundles; resumable)",
    (y) =>
      y
        .positional("folder", { type: "string", demandOption: true, describe: "the --out folder of dcm2fhir convert" })
        .option("server", { type: "string", demandOption: true, describe: "FHIR base URL, e.g. https://fhir.example.org/R4" })
        .option("batch-size", { type: "number", default: 50, describe: "entries per Bundle" })
        .option("concurrency", { type: "number", default: 4, describe: "Bundles in flight at once" })
        .option("bundle", {
          choices: ["transaction", "batch"] as const,
          default: "transaction" as const,
          describe: "Bundle type: batch for servers that prefer it",
        })
        .option("changes", { type: "boolean", default: false, describe: "load only changes/ of a convert --incremental run (and the folder's Endpoint)" })
        .option("delete", { type: "boolean", default: false, describe: "also DELETE every resource listed in changes/deleted.ndjson" })
        .option("dry-run", { type: "boolean", default: false, describe: "read everything and check the server (GET metadata), but send and write nothing" })
        .option("token-file", { type: "string", describe: "file holding a bearer token (default: the DCM2FHIR_TOKEN environment variable)" })
        .option("client-id", {
          type: "string",
          describe: "OAuth2 client credentials (SMART Backend Services): the client id; with --private-key-file or --client-secret-file",
        })
        .option("private-key-file", { type: "string", describe: "RSA or EC P-384 private key (PEM or JWK) signing the client's JWT (private_key_jwt)" })
        .option("key-id", { type: "string", describe: "kid of that key in the server's JWK Set" })
        .option("client-secret-file", { type: "string", describe: "file holding the client secret (client_secret_basic; default: DCM2FHIR_CLIENT_SECRET)" })
        .option("token-url", { type: "string", describe: "the token endpoint (default: from the server's .well-known/smart-configuration)" })
        .option("scope", { type: "string", describe: "scopes to ask for (default: system/Endpoint.write system/Patient.write system/ImagingStudy.write)" })
        .option("restart", { type: "boolean", default: false, describe: "ignore the checkpoint of an earlier run: send everything again" })
        .option("progress", { type: "boolean", describe: "print progress to stderr (default: when stderr is a terminal)" })
        .option("verbose", { type: "boolean", default: false, describe: "also print the server's message for every resource it refused (it may quote values)" })
        .option("html-report", {
          type: "boolean",
          default: true,
          describe: "also write load-report.html, load-report.json as a page with charts (--no-html-report: not)",
        })
        .example("$0 load /data/fhir --server https://fhir.example.org/R4", "put a converted folder into a FHIR server (token from $DCM2FHIR_TOKEN)")
        .example(
          "$0 load /data/fhir --server https://fhir.example.org/R4 --changes --delete",
          "after a convert --incremental run: send only changes/, and delete what is gone",
        )
        .example("$0 load /data/fhir --server https://fhir.example.org/R4 --dry-run", "check the folder and the server, send nothing"),
    async (args) => {
      done(
        await runLoad({
          folder: args.folder as string,
          server: args.server,
          batchSize: args["batch-size"],
          concurrency: args.concurrency,
          bundle: args.bundle,
          changes: args.changes,
          delete: args.delete,
          dryRun: args["dry-run"],
          tokenFile: args["token-file"],
          clientId: args["client-id"],
          privateKeyFile: args["private-key-file"],
          keyId: args["key-id"],
          clientSecretFile: args["client-secret-file"],
          tokenUrl: args["token-url"],
          scope: args.scope,
          restart: args.restart,
          progress: args.progress ?? process.stderr.isTTY === true,
          verbose: args.verbose,
          htmlReport: args["html-report"],
        }),
      );
    },
  );

interface CliOptions {
  folder: string;
  server: string;
  batchSize: number;
  concurrency: number;
  bundle: "transaction" | "batch";
  changes: boolean;
  delete: boolean;
  dryRun: boolean;
  tokenFile?: string;
  clientId?: string;
  privateKeyFile?: string;
  keyId?: string;
  clientSecretFile?: string;
  tokenUrl?: string;
  scope?: string;
  restart: boolean;
  progress: boolean;
  verbose: boolean;
  htmlReport: boolean;
}

async function runLoad(o: CliOptions): Promise<number> {
  const { load } = await import("../load/load.js");
  const { LoadFailure } = await import("../load/errors.js");
  const { UsageError } = await import("../core/errors.js");
  let token: string | undefined;
  let oauth: ClientCredentialsOptions | undefined;
  try {
    oauth = readClientCredentials(o);
    token = oauth ? undefined : readBearerToken(o.tokenFile);
  } catch (error) {
    return (print(`dcm2fhir: ${(error as Error).message}`), EXIT.usage);
  }
  const signals = stopOnSignals("stopping; what the server acknowledged is in the checkpoint, run load again to finish");
  try {
    const result = await load({
      folder: o.folder,
      server: o.server,
      batchSize: o.batchSize,
      concurrency: o.concurrency,
      bundle: o.bundle,
      changes: o.changes,
      delete: o.delete,
      dryRun: o.dryRun,
      restart: o.restart,
      htmlReport: o.htmlReport,
      token,
      oauth,
      signal: signals.signal,
      onProgress: o.progress ? showProgress : undefined,
    });
    if (o.progress && process.stderr.isTTY) process.stderr.write("\n");
    summarize(result, o);
    if (result.stopped) return EXIT.output;
    if (result.interrupted) return EXIT[signals.received() ?? "SIGINT"];
    const r = result.report;
    return r.rejected + r.failed + r.invalid > 0 ? EXIT.failedFiles : EXIT.ok;
  } catch (error) {
    if (error instanceof UsageError) return (print(`dcm2fhir: ${error.message}`), EXIT.usage);
    if (error instanceof LoadFailure) return (print(`dcm2fhir: ${error.message}`), EXIT.output);
    return internalError(error);
  } finally {
    signals.dispose();
  }
}

/** Client credentials when --client-id is given; secrets and keys are read from files, never from the command line. */
function readClientCredentials(o: CliOptions): ClientCredentialsOptions | undefined {
  const others = [
    o.privateKeyFile && "--private-key-file",
    o.clientSecretFile && "--client-secret-file",
    o.keyId && "--key-id",
    o.tokenUrl && "--token-url",
    o.scope && "--scope",
  ].filter(Boolean);
  if (o.clientId === undefined) {
    if (others.length > 0) throw new Error(`${others[0]} goes with --client-id`);
    return undefined;
  }
  if (o.tokenFile !== undefined) throw new Error("give --token-file or --client-id, not both");
  const secret =
    o.clientSecretFile !== undefined
      ? readSecretFile(o.clientSecretFile, "--client-secret-file")
      : o.privateKeyFile === undefined
        ? process.env.DCM2FHIR_CLIENT_SECRET || undefined
        : undefined;
  const privateKey = o.privateKeyFile !== undefined ? readSecretFile(o.privateKeyFile, "--private-key-file") : undefined;
  if ((secret === undefined) === (privateKey === undefined))
    throw new Error("--client-id needs --private-key-file or --client-secret-file (or DCM2FHIR_CLIENT_SECRET), one of them");
  return { clientId: o.clientId, clientSecret: secret, privateKey, keyId: o.keyId, tokenUrl: o.tokenUrl, scope: o.scope };
}

function showProgress(p: LoadProgress): void {
  const rate = p.elapsedSeconds > 0 ? Math.round(p.sent / p.elapsedSeconds) : 0;
  const n = (x: number) => x.toLocaleString("en-US");
  const line = `${p.phase}: sent ${n(p.sent)} (${n(rate)}/s), stored ${n(p.stored)}, not stored ${n(p.notStored)}, retries ${n(p.retried)}`;
  if (process.stderr.isTTY) process.stderr.write(`\r${line}\x1b[K`);
  else print(line);
}

function summarize({ report: r, server, errors, stopped, interrupted, outdatedCheckpoint }: LoadResult, o: CliOptions): void {
  const about = [server.fhirVersion && `FHIR ${server.fhirVersion}`, server.software].filter(Boolean).join(", ");
  print(`dcm2fhir load: ${r.server}${about ? ` (${about})` : ""}`);
  for (const warning of server.warnings) print(`  note: ${warning}`);
  if (outdatedCheckpoint.length > 0) print(`  note: the checkpoint was for other versions of ${outdatedCheckpoint.join(", ")}: everything is sent again`);
  if (o.dryRun) {
    print(
      `  dry run: would send ${r.sent} resources; ${r.skipped} acknowledged by an earlier run; ${r.invalid} lines that cannot be sent. Nothing was sent or written.`,
    );
    return;
  }
  const rate = Math.round(r["resources/s"]);
  print(
    `  sent ${r.sent} resources in ${r.elapsed} s (${rate}/s): created ${r.created}, updated ${r.updated}, deleted ${r.deleted}, rejected ${r.rejected}, failed ${r.failed}, invalid lines ${r.invalid}`,
  );
  print(`  skipped ${r.skipped} (acknowledged by an earlier run), ${r.requests} requests, ${r.retried} retried`);
  const notStored = r.rejected + r.failed + r.invalid;
  if (notStored > 0) {
    const shown = errors.slice(0, o.verbose ? errors.length : 10);
    const list = shown.map((e) => `${e.resourceType}/${e.id ?? "?"} (${e.status === 0 ? "no answer" : e.status})`).join(", ");
    print(`  not stored: ${list}${notStored > shown.length ? `, and ${notStored - shown.length} more` : ""}; every one is in load-errors.ndjson`);
    if (o.verbose) for (const e of shown) print(`    ${e.resourceType}/${e.id ?? "?"}: ${firstIssue(e.outcome)}`);
  }
  if (stopped) print(`dcm2fhir: stopped: ${stopped.message}`);
  else if (interrupted) print("dcm2fhir: interrupted; run the same command again to finish (what the server acknowledged is skipped)");
  else if (notStored > 0) print("  run the same command again to retry only what was not stored");
}

function firstIssue(outcome: unknown): string {
  const issue = (outcome as { issue?: Array<{ code?: string; diagnostics?: string; details?: { text?: string } }> })?.issue?.[0];
  return [issue?.code, issue?.details?.text ?? issue?.diagnostics].filter(Boolean).join(": ") || "no OperationOutcome";
}
