// What every command of the CLI shares: exit codes, the console, and how bad usage is reported.
import type { Argv } from "yargs";

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

/**
 * SIGINT and SIGTERM stop a command that writes: the first aborts `signal` (reading stops, nothing is written), a
 * second exits at once. `received` is the signal that came, for the exit code; `dispose` stops listening.
 */
export function stopOnSignals(): { signal: AbortSignal; received: () => "SIGINT" | "SIGTERM" | undefined; dispose: () => void } {
  const controller = new AbortController();
  let received: "SIGINT" | "SIGTERM" | undefined;
  const onSignal = (name: "SIGINT" | "SIGTERM") => {
    if (received) process.exit(EXIT[name]); // a second signal: stop now
    received = name;
    print(`dcm2fhir: ${name}: stopping; nothing will be written`);
    controller.abort();
  };
  process.on("SIGINT", onSignal).on("SIGTERM", onSignal);
  return { signal: controller.signal, received: () => received, dispose: () => process.off("SIGINT", onSignal).off("SIGTERM", onSignal) };
}
