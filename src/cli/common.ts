// What every command of the CLI shares: exit codes, the console, and how bad usage is reported.
import { readFileSync, statSync } from "node:fs";
import { closest, distance } from "fastest-levenshtein";
import type { Argv } from "yargs";
import type { SearchIndex } from "../index/searchIndex.js";

/** Documented in the README ("Exit codes"). */
export const EXIT = { ok: 0, failedFiles: 1, usage: 2, output: 3, internal: 4, unavailable: 5, SIGINT: 130, SIGTERM: 143 } as const;

/** The console is stderr: stdout carries only what a command is asked for (a Bundle, a base URL). */
export const print = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** Usage that yargs or a command refuses: printed as one line, exit 2. */
export class BadUsage extends Error {}

export const COMMAND_NAMES = ["convert", "merge", "serve", "search", "index", "load"] as const;

/**
 * yargs's refusal, with the command or option the user probably meant, as git and npm suggest: "conver" is not
 * "Unknown arguments: out, conver, fixtures/dicom" but "unknown command conver: did you mean convert?".
 */
export function withSuggestions(message: string, usage: unknown, argv: readonly string[]): string {
  const first = argv[0];
  if (first !== undefined && !first.startsWith("-") && !(COMMAND_NAMES as readonly string[]).includes(first)) {
    const meant = near(first, COMMAND_NAMES);
    return `unknown command "${first}"${meant ? `: did you mean ${meant}?` : `; the commands are ${COMMAND_NAMES.join(", ")}`}`;
  }
  // Whatever yargs says ("Unknown argument", or "Missing required argument: out" after --outt), a typed option it
  // does not know is named with the one meant.
  const known = knownOptions(usage);
  if (known.length === 0) return message;
  const typed = argv.filter((a) => a.startsWith("--")).map((a) => a.slice(2).split("=")[0]!);
  const hints = typed
    .filter((name) => !known.includes(name) && !(name.startsWith("no-") && known.includes(name.slice(3))))
    .map((name) => {
      const meant = near(name.replace(/^no-/, ""), known);
      return meant ? `--${name}: did you mean --${name.startsWith("no-") ? "no-" : ""}${meant}?` : undefined;
    })
    .filter((hint): hint is string => hint !== undefined);
  return hints.length > 0 ? `${message} (${hints.join("; ")})` : message;
}

/** The nearest of `candidates` if it is near enough to be a typo: a third of the word's letters at most. */
function near(word: string, candidates: readonly string[]): string | undefined {
  if (candidates.length === 0) return undefined;
  const best = closest(word, [...candidates]);
  return distance(word, best) <= Math.max(1, Math.floor(best.length / 3)) ? best : undefined;
}

/** The long options of the command being parsed: yargs hands its fail handler the usage, which knows their descriptions. */
function knownOptions(usage: unknown): string[] {
  const descriptions = (usage as { getDescriptions?: () => Record<string, unknown> } | undefined)?.getDescriptions?.() ?? {};
  return Object.keys(descriptions).filter((name) => name.length > 1);
}

/**
 * One command of the CLI: adds itself to the parser. `done` receives the exit code, since yargs handlers
 * cannot return one. Modules load their library code inside the handler, so that `--help` stays fast.
 */
export type CommandModule = (yargs: Argv, done: (exitCode: number) => void) => Argv;

/** The last words for an error no command anticipated: a bug. */
export function internalError(error: unknown): number {
  print(`dcm2fhir: internal error, please report it: ${(error as Error).stack ?? String(error)}`);
  return EXIT.internal;
}

/** The folder's search index for `serve` and `search`, or undefined once the reason it cannot be used is printed (exit 2). */
export async function openSearchIndex(folder: string): Promise<SearchIndex | undefined> {
  const { IndexError, SearchIndex } = await import("../index/searchIndex.js");
  try {
    return SearchIndex.open(folder);
  } catch (error) {
    if (!(error instanceof IndexError)) throw error;
    print(`dcm2fhir: ${error.message}`);
    return undefined;
  }
}

/** A secret held in a file (a token, a client secret, a private key): trimmed; unreadable or empty is bad usage. */
export function readSecretFile(file: string, option: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8").trim();
  } catch (error) {
    throw new BadUsage(`${option} cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
  if (text === "") throw new BadUsage(`${option} is empty`);
  // Other users of the machine could act as us: say so (the file's name is not printed, it may be telling).
  if (statSync(file).mode & 0o004) print(`dcm2fhir: warning: the ${option} can be read by every user of this machine`);
  return text;
}

/**
 * The bearer token of `convert` (DICOMweb), `serve` and `load`: --token-file wins over DCM2FHIR_TOKEN (`serve --pacs`
 * reads the one it sends to the PACS the same way, from --pacs-token-file or DCM2FHIR_PACS_TOKEN). A token
 * that is set but empty, or holds a line break, is refused rather than sent or taken as none. Never printed.
 */
export function readBearerToken(
  tokenFile: string | undefined,
  source: { readonly option: string; readonly env: string } = { option: "--token-file", env: "DCM2FHIR_TOKEN" },
): string | undefined {
  let token: string | undefined;
  if (tokenFile !== undefined) token = readSecretFile(tokenFile, source.option);
  else {
    const env = process.env[source.env];
    if (env === undefined) return undefined;
    token = env.trim();
    if (token === "") throw new BadUsage(`${source.env} is set but empty`);
  }
  if (/[\r\n]/.test(token)) throw new BadUsage("the token holds a line break: give one token");
  return token;
}

/**
 * SIGINT and SIGTERM stop a command cleanly: the first aborts `signal` and prints `stopping` (what happens to the
 * work so far), a second exits at once. `received` is the signal that came, for the exit code; `dispose` stops
 * listening.
 */
export function stopOnSignals(stopping: string): { signal: AbortSignal; received: () => "SIGINT" | "SIGTERM" | undefined; dispose: () => void } {
  const controller = new AbortController();
  let received: "SIGINT" | "SIGTERM" | undefined;
  const onSignal = (name: "SIGINT" | "SIGTERM") => {
    if (received) process.exit(EXIT[name]);
    received = name;
    print(`dcm2fhir: ${name}: ${stopping}`);
    controller.abort();
  };
  process.on("SIGINT", onSignal).on("SIGTERM", onSignal);
  return { signal: controller.signal, received: () => received, dispose: () => void process.off("SIGINT", onSignal).off("SIGTERM", onSignal) };
}

/** The options of a command that writes a run's report (convert, merge): what the console and report.html show. */
export const RUN_REPORT_OPTIONS = {
  verbose: {
    type: "boolean",
    default: false,
    describe: "also print the path and reason of every file not converted (paths can hold patient names)",
  },
  "html-report": {
    type: "boolean",
    default: true,
    describe: "also write report.html, report.json as a page with charts (--no-html-report: not)",
  },
  "report-details": { type: "boolean", default: false, describe: "list the failing files' paths in report.html (paths can hold patient names)" },
} as const;
