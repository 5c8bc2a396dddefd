// Errors that stop a run, each one cause; problems with single files are never thrown but counted (core/reasons.ts).

/** Bad usage that names the problem and the fix; the CLI prints it as one line and exits 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}
