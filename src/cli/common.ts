// What every command of the CLI shares: exit codes, the console, and how bad usage is reported.
import type { Argv } from "yargs";
import type { SearchIndex } from "../state/searchIndex.js";

/** Documented in the README ("Exit codes"). */
export const EXIT = { ok: 0, failedFiles: 1, usage: 2, output: 3, internal: 4, SIGINT: 130, SIGTERM: 143 } as const;

/** The console is stderr: stdout carries only what a command is asked for (a Bundle, a base URL). */
export const print = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** Usage that yargs or a command refuses: printed as one line, exit 2. */
export class BadUsage extends Error {}

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
  const { IndexError, SearchIndex } = await import("../state/searchIndex.js");
  try {
    return SearchIndex.open(folder);
  } catch (error) {
    if (!(error instanceof IndexError)) throw error;
    print(`dcm2fhir: ${error.message}`);
    return undefined;
  }
}
