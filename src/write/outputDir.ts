import { closeSync, constants, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";

/** The output folder cannot be used (not writable, not a folder, or another run holds it); the CLI exits 3. */
export class OutputError extends Error {
  override readonly name = "OutputError";
}

const LOCK = ".dcm2fhir.lock";
/** Lists the renames of a commit in progress, so that a run killed between two renames is completed by the next one. */
const JOURNAL = ".dcm2fhir.commit.json";
const STAGING_PREFIX = ".dcm2fhir-staging-";

interface Journal {
  readonly staging: string;
  readonly renames: ReadonlyArray<readonly [string, string]>;
  readonly removals: readonly string[];
}

/**
 * The output folder of one run. Files are written into a staging folder inside it and renamed into place
 * only when the run completes, so a run killed at any moment leaves the previous output in place and no
 * partial file under a final name. A lock file keeps two runs from writing the same folder at once.
 */
export class OutputDirectory {
  private readonly staging: string;
  private readonly staged = new Set<string>();
  private released = false;

  private constructor(readonly dir: string) {
    this.staging = join(dir, `${STAGING_PREFIX}${process.pid}-${Date.now().toString(36)}`);
  }

  static open(dir: string): OutputDirectory {
    if (existsSync(dir) && !statSync(dir).isDirectory()) throw new OutputError("--out names a file, not a folder: choose a folder");
    try {
      mkdirSync(dir, { recursive: true });
    } catch (error) {
      throw new OutputError(`cannot create the output folder (${(error as NodeJS.ErrnoException).code}): choose a writable --out`);
    }
    const out = new OutputDirectory(dir);
    out.lock();
    try {
      completeInterruptedCommit(dir);
      // Staging folders of runs killed before they committed: we hold the lock, so none of them is live.
      for (const name of readdirSync(dir)) if (name.startsWith(STAGING_PREFIX)) rmSync(join(dir, name), { recursive: true, force: true });
      mkdirSync(out.staging);
    } catch (error) {
      out.release();
      throw error instanceof OutputError ? error : new OutputError(`cannot write in the output folder (${(error as NodeJS.ErrnoException).code}): choose a writable --out`);
    }
    return out;
  }

  /** A path in the staging folder for an output file named `name`. */
  stage(name: string): string {
    this.staged.add(name);
    return join(this.staging, name);
  }

  /**
   * Moves every staged file into place and removes output files of earlier runs that this run did not
   * write (an Endpoint.ndjson from a run with --endpoint must not outlive it). Files are synced first.
   */
  commit(knownOutputs: readonly string[]): void {
    const names = [...this.staged].sort((a, b) => Number(a === "report.json") - Number(b === "report.json") || (a < b ? -1 : 1));
    for (const name of names) syncFile(join(this.staging, name));
    const journal: Journal = {
      staging: this.staging,
      renames: names.map((name) => [join(this.staging, name), join(this.dir, name)] as const),
      removals: knownOutputs.filter((name) => !this.staged.has(name)).map((name) => join(this.dir, name)),
    };
    const journalPath = join(this.dir, JOURNAL);
    writeFileSynced(journalPath, JSON.stringify(journal));
    applyJournal(journal);
    unlinkSync(journalPath);
    syncFile(this.dir);
    this.release();
  }

  /** Leaves the previous output as it was. */
  abort(): void {
    rmSync(this.staging, { recursive: true, force: true });
    this.release();
  }

  private lock(): void {
    const path = join(this.dir, LOCK);
    const owner = JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString() });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSynced(path, owner, constants.O_EXCL);
        return;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== "EEXIST") throw new OutputError(`cannot write in the output folder (${code}): choose a writable --out`);
      }
      if (!isStale(path)) {
        throw new OutputError(
          `another dcm2fhir run is writing this output folder (see ${LOCK} in it); wait for it to finish, or delete ${LOCK} if no run is active`,
        );
      }
      rmSync(path, { force: true });
    }
    throw new OutputError(`could not take the lock ${LOCK} in the output folder; delete it if no run is active`);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    rmSync(this.staging, { recursive: true, force: true });
    rmSync(join(this.dir, LOCK), { force: true });
  }
}

/**
 * Whether a convert run is writing `dir` now (its lock is live) or was killed halfway through its commit (the
 * next convert completes it): either way the outputs may not belong together yet. For readers such as `load`.
 */
export function outputInFlux(dir: string): boolean {
  const lock = join(dir, LOCK);
  return existsSync(join(dir, JOURNAL)) || (existsSync(lock) && !isStale(lock));
}

/** A lock is stale when its run is gone: same host and no such process, or a lock file a crash left unreadable. */
export function isStale(path: string): boolean {
  let owner: { pid?: number; host?: string };
  try {
    owner = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return true;
  }
  if (owner.host !== hostname() || typeof owner.pid !== "number") return false;
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

function completeInterruptedCommit(dir: string): void {
  const journalPath = join(dir, JOURNAL);
  let journal: Journal;
  try {
    journal = JSON.parse(readFileSync(journalPath, "utf8"));
  } catch (error) {
    // No journal: nothing to complete. An unreadable one was cut while being written, before any rename.
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") rmSync(journalPath, { force: true });
    return;
  }
  applyJournal(journal);
  unlinkSync(journalPath);
  rmSync(journal.staging, { recursive: true, force: true });
}

/** Idempotent: a rename whose source is gone was done before the interruption. */
function applyJournal(journal: Journal): void {
  for (const [from, to] of journal.renames) {
    try {
      renameSync(from, to);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  for (const path of journal.removals) rmSync(path, { force: true });
  rmSync(journal.staging, { recursive: true, force: true });
}

function writeFileSynced(path: string, text: string, extraFlags = 0): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | extraFlags, 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function syncFile(path: string): void {
  const fd = openSync(path, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
