import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statfsSync, statSync, unlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { isStale, syncPath, takeLock, writeFileSynced } from "./atomicFile.js";
import { JOURNAL_FILE, LOCK_FILE, OUTPUT_FOLDERS, REPORT_FILE, STAGING_PREFIX } from "../core/outputFiles.js";

/** The output folder cannot be used (not writable, not a folder, or another run holds it); the CLI exits 3. */
export class OutputError extends Error {
  override readonly name: string = "OutputError";
}

/**
 * The device holding the output folder is full (or the quota is spent): an expected condition, not a bug.
 * Thrown after the run's staging folder and lock are gone, so the previous output and state stay as they were.
 */
export class NoSpaceError extends OutputError {
  override readonly name = "NoSpaceError";
}

/** A write refused for lack of space: ENOSPC, EDQUOT, or SQLite's SQLITE_FULL (what it makes of them). */
export function isNoSpace(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === "ENOSPC" || code === "EDQUOT" || code === "SQLITE_FULL";
}

const LOCK = LOCK_FILE;
/** Lists the renames of a commit in progress, so that a run killed between two renames is completed by the next one. */
const JOURNAL = JOURNAL_FILE;

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
  /** Set once the commit's journal is written: from then on the staging folder is the next run's to finish. */
  private journaled = false;

  private constructor(readonly dir: string) {
    this.staging = join(dir, `${STAGING_PREFIX}${process.pid}-${Date.now().toString(36)}`);
  }

  /**
   * `foreignLocksAreStale`: a lock held by a run on another host is taken over. Only for a run a scheduler
   * started (a shard's task): the scheduler runs one task per index at a time, and a task killed on one node and
   * retried on another would otherwise find its own lock and stop.
   */
  static open(dir: string, options: { readonly foreignLocksAreStale?: boolean } = {}): OutputDirectory {
    if (existsSync(dir) && !statSync(dir).isDirectory()) throw new OutputError("--out names a file, not a folder: choose a folder");
    try {
      mkdirSync(dir, { recursive: true });
    } catch (error) {
      throw new OutputError(`cannot create the output folder (${(error as NodeJS.ErrnoException).code}): choose a writable --out`);
    }
    const out = new OutputDirectory(dir);
    out.lock(options.foreignLocksAreStale ?? false);
    try {
      completeInterruptedCommit(dir);
      // Staging folders of runs killed before they committed: we hold the lock, so none of them is live.
      for (const name of readdirSync(dir)) if (name.startsWith(STAGING_PREFIX)) rmSync(join(dir, name), { recursive: true, force: true });
      mkdirSync(out.staging);
    } catch (error) {
      const full = out.noSpace(error, "the staging folder");
      out.release();
      if (full) throw full;
      throw error instanceof OutputError
        ? error
        : new OutputError(`cannot write in the output folder (${(error as NodeJS.ErrnoException).code}): choose a writable --out`);
    }
    return out;
  }

  /** A path in the staging folder for an output file named `name`, which may lie in a subfolder ("changes/…"). */
  stage(name: string): string {
    this.staged.add(name);
    const path = join(this.staging, name);
    if (name.includes("/")) mkdirSync(dirname(path), { recursive: true });
    return path;
  }

  /** A path in the staging folder for a file the run needs only while it runs: never committed, gone with the folder. */
  scratch(name: string): string {
    return join(this.staging, `.scratch-${name}`);
  }

  /** The staging path of an output this run has staged; undefined if it has not. */
  stagedPath(name: string): string | undefined {
    return this.staged.has(name) ? join(this.staging, name) : undefined;
  }

  /**
   * For a write that failed for lack of space: the error to report, with what is known of how much was needed
   * (what this run had staged, what the previous output takes, what is free). Undefined for any other error.
   * Call before abort(), which removes the staging folder.
   */
  noSpace(error: unknown, writing = "the outputs"): NoSpaceError | undefined {
    if (!isNoSpace(error)) return undefined;
    const code = (error as { code: string }).code;
    const what = code === "SQLITE_FULL" ? "the state" : writing;
    const staged = treeBytes(this.staging);
    // The outputs, changes/ and the state; not whatever else a user keeps in the folder.
    const previous = readdirSync(this.dir, { withFileTypes: true })
      .filter((e) => (e.isFile() && e.name !== LOCK && e.name !== JOURNAL) || (e.isDirectory() && OUTPUT_FOLDERS.has(e.name)))
      .reduce((n, e) => n + treeBytes(join(this.dir, e.name)), 0);
    let free: number | undefined;
    try {
      const s = statfsSync(this.dir);
      free = s.bavail * s.bsize;
    } catch {
      free = undefined;
    }
    const known = [
      free === undefined ? undefined : `${bytes(free)} free`,
      staged > 0 ? `this run had written ${bytes(staged)} when it stopped` : undefined,
      previous > 0 ? `the previous output and state take ${bytes(previous)} (a run needs about as much again)` : undefined,
    ].filter(Boolean);
    const outcome = this.journaled
      ? "The commit stopped between two renames: the next run on this folder completes it."
      : "Nothing was written: the previous output and state are kept. Free some space and run again.";
    return new NoSpaceError(
      `no space left on the device holding --out (${code} while writing ${what})${known.length > 0 ? `: ${known.join("; ")}` : ""}. ${outcome}`,
    );
  }

  /**
   * Moves every staged file into place and removes output files of earlier runs that this run did not
   * write (an Endpoint.ndjson from a run with --endpoint must not outlive it). Files are synced first.
   * `last` is renamed after all the others: the file that says the rest is complete (report.json, a part's manifest).
   */
  commit(knownOutputs: readonly string[], last: string = REPORT_FILE): void {
    const names = [...this.staged].sort((a, b) => Number(a === last) - Number(b === last) || (a < b ? -1 : 1));
    for (const name of names) syncPath(join(this.staging, name));
    // Folders are made before the journal, so that applying it needs no space that might be missing.
    const folders = [...new Set(names.map((name) => dirname(join(this.dir, name))))];
    for (const folder of folders) mkdirSync(folder, { recursive: true });
    const journal: Journal = {
      staging: this.staging,
      renames: names.map((name) => [join(this.staging, name), join(this.dir, name)] as const),
      removals: knownOutputs.filter((name) => !this.staged.has(name)).map((name) => join(this.dir, name)),
    };
    const journalPath = join(this.dir, JOURNAL);
    try {
      writeFileSynced(journalPath, JSON.stringify(journal));
    } catch (error) {
      // Not one rename was made: the previous output stands, and no half-written journal may be left to confuse.
      rmSync(journalPath, { force: true });
      throw error;
    }
    this.journaled = true;
    applyJournal(journal);
    unlinkSync(journalPath);
    for (const folder of folders) syncPath(folder);
    this.release();
  }

  /** Leaves the previous output as it was (or, after a commit that failed half-way, for the next run to complete). */
  abort(): void {
    this.release();
  }

  private lock(foreignLocksAreStale: boolean): void {
    let taken;
    try {
      taken = takeLock(join(this.dir, LOCK), { foreignLocksAreStale });
    } catch (error) {
      throw (
        this.noSpace(error, "the lock file") ??
        new OutputError(`cannot write in the output folder (${(error as NodeJS.ErrnoException).code}): choose a writable --out`)
      );
    }
    if (taken === "held") {
      throw new OutputError(
        `another dcm2fhir run is writing this output folder (see ${LOCK} in it); wait for it to finish, or delete ${LOCK} if no run is active`,
      );
    }
    if (taken === "raced") throw new OutputError(`could not take the lock ${LOCK} in the output folder; delete it if no run is active`);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    // A commit that failed between two renames leaves its journal and staging folder: the next run completes it.
    if (!this.journaled || !existsSync(join(this.dir, JOURNAL))) rmSync(this.staging, { recursive: true, force: true });
    rmSync(join(this.dir, LOCK), { force: true });
  }
}

/**
 * What a folder's lock and journal say of the run that wrote it, for a reader of its outputs (merge reads parts,
 * load reads a converted folder: neither may take outputs that do not belong together yet):
 * "running" while a live run holds it, "interrupted" when a commit stopped between two renames, else "idle".
 */
export function folderState(dir: string): "running" | "interrupted" | "idle" {
  if (existsSync(join(dir, JOURNAL))) return "interrupted";
  const lock = join(dir, LOCK);
  return existsSync(lock) && !isStale(lock) ? "running" : "idle";
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
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT" && existsSync(from)) {
        mkdirSync(dirname(to), { recursive: true });
        renameSync(from, to);
      } else if (code !== "ENOENT") throw error;
    }
  }
  const dir = dirname(journal.staging);
  for (const path of journal.removals) {
    rmSync(path, { force: true });
    // A subfolder of outputs (changes/, the state's) that the removals leave empty goes with them.
    if (dirname(path) === dir) continue;
    try {
      rmdirSync(dirname(path));
    } catch {
      // not empty
    }
  }
  rmSync(journal.staging, { recursive: true, force: true });
}

/** Bytes of the files under a path (0 when it is gone). */
function treeBytes(path: string): number {
  try {
    const s = lstatSync(path);
    if (!s.isDirectory()) return s.size;
    return readdirSync(path).reduce((n, name) => n + treeBytes(join(path, name)), 0);
  } catch {
    return 0;
  }
}

const bytes = (n: number) => (n < 1e6 ? `${Math.ceil(n / 1e3)} kB` : n < 1e9 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e9).toFixed(2)} GB`);
