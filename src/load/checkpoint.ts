// The checkpoint that makes a load resumable: per server, which lines of which NDJSON files the server
// acknowledged (answered 2xx). Two files in the state folder: a snapshot (the files' fingerprints and their
// acknowledged line ranges, written to a temporary name and renamed) and a log that every acknowledgement is
// appended to, in one write, before anything else happens. A run killed at any moment therefore leaves a
// checkpoint that claims nothing the server did not acknowledge (a torn last line of the log is ignored): the
// next run skips those lines and re-sends only what was in flight. Appending costs microseconds where a rename
// per answer cost milliseconds. Each run starts by folding the log into a new snapshot.
// A file whose size, mtime or inode changed (a new convert run) invalidates what was acknowledged for it.
// A lock per server keeps two loads from sharing a checkpoint; a lock whose process is gone is taken over.
import { createHash } from "node:crypto";
import { closeSync, constants, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { replaceFile, takeLock } from "../lib/atomicFile.js";
import { LoadFailure } from "./errors.js";
import { type Range, LineRanges } from "./ranges.js";

/** The hidden folder inside the converted folder that holds load's checkpoints and locks. */
export const STATE_DIR = ".dcm2fhir";

interface Fingerprint {
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: number;
}

interface Snapshot {
  readonly dcm2fhirLoadCheckpoint: 1;
  readonly server: string;
  readonly files: Record<string, Fingerprint & { readonly acked: Range[] }>;
}

/** One line of the log: lines of `file` acknowledged, as ranges. */
interface Acknowledged {
  readonly file: string;
  readonly acked: Range[];
}

type Files = Map<string, { fingerprint: Fingerprint; acked: LineRanges }>;

export class Checkpoint {
  private log: number | undefined;
  private released = false;

  private constructor(
    private readonly base: string,
    private readonly server: string,
    private readonly files: Files,
    private readonly writable: boolean,
    /** Files of this run whose earlier acknowledgements were dropped because the file changed since. */
    readonly outdated: readonly string[],
  ) {}

  /**
   * Takes the lock for `server` in `folder` and reads its checkpoint, keeping what still holds for `files`
   * (relative paths). `restart` forgets what was acknowledged for them. `readOnly` (a dry run): no lock, no writes.
   */
  static open(folder: string, server: string, files: readonly string[], options: { restart?: boolean; readOnly?: boolean } = {}): Checkpoint {
    const dir = join(folder, STATE_DIR);
    const base = join(dir, `load-${createHash("sha256").update(server).digest("hex").slice(0, 16)}`);
    if (!options.readOnly) {
      try {
        mkdirSync(dir, { recursive: true });
      } catch (error) {
        throw new LoadFailure(
          "folder-unwritable",
          `cannot create ${STATE_DIR}/ in the folder (${(error as NodeJS.ErrnoException).code}): load keeps its checkpoint there`,
        );
      }
      lock(`${base}.lock`);
    }
    const stored = readStored(base, server);
    const kept: Files = new Map();
    // Entries of files this run does not read (a full load's, during a --changes load) stay as they were.
    for (const [file, entry] of stored) if (!files.includes(file)) kept.set(file, entry);
    const outdated: string[] = [];
    for (const file of new Set(files)) {
      const fingerprint = fingerprintOf(join(folder, file));
      const entry = stored.get(file);
      const still = entry && !options.restart && sameFile(entry.fingerprint, fingerprint);
      if (entry && !options.restart && !still) outdated.push(file);
      kept.set(file, { fingerprint, acked: still ? entry.acked : new LineRanges() });
    }
    const checkpoint = new Checkpoint(base, server, kept, !options.readOnly, outdated);
    if (!options.readOnly) checkpoint.fold();
    return checkpoint;
  }

  /** A temporary file of this run in the state folder (the lock makes it ours; one a killed run left is overwritten). */
  tempPath(name: string): string {
    return `${this.base}.${name}.tmp`;
  }

  /** The lines of `file` the server acknowledged (this run's included). */
  acked(file: string): LineRanges {
    return this.files.get(file)!.acked;
  }

  /** Records lines the server acknowledged; on disk before this returns. */
  ack(file: string, lines: readonly number[]): void {
    // A batch is mostly consecutive lines: added a run at a time, not a line at a time.
    const fresh = new LineRanges();
    const acked = this.acked(file);
    for (let i = 0; i < lines.length; ) {
      let end = i + 1;
      while (end < lines.length && lines[end] === lines[end - 1]! + 1) end++;
      acked.addRange(lines[i]!, lines[end - 1]! + 1);
      fresh.addRange(lines[i]!, lines[end - 1]! + 1);
      i = end;
    }
    if (this.log === undefined) return;
    const entry: Acknowledged = { file, acked: fresh.toJSON() };
    try {
      writeSync(this.log, `${JSON.stringify(entry)}\n`);
    } catch (error) {
      throw new LoadFailure("folder-unwritable", `cannot save the checkpoint in ${STATE_DIR}/ (${(error as NodeJS.ErrnoException).code})`);
    }
  }

  /** Every line of this run's files was acknowledged: there is nothing to resume; the next load starts afresh. */
  forget(files: readonly string[]): void {
    for (const file of files) this.files.delete(file);
    if (this.files.size > 0) return this.fold();
    this.closeLog();
    rmSync(`${this.base}.json`, { force: true });
    rmSync(`${this.base}.log`, { force: true });
  }

  release(): void {
    this.closeLog();
    if (this.released || !this.writable) return;
    this.released = true;
    rmSync(`${this.base}.lock`, { force: true });
  }

  /** Writes everything known as a new snapshot, then starts an empty log (a kill in between replays it: harmless). */
  private fold(): void {
    this.closeLog();
    const snapshot: Snapshot = {
      dcm2fhirLoadCheckpoint: 1,
      server: this.server,
      files: Object.fromEntries([...this.files].map(([file, { fingerprint, acked }]) => [file, { ...fingerprint, acked: acked.toJSON() }])),
    };
    try {
      replaceFile(`${this.base}.json`, JSON.stringify(snapshot), this.tempPath("checkpoint"));
      this.log = openSync(`${this.base}.log`, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_APPEND, 0o644);
    } catch (error) {
      throw new LoadFailure("folder-unwritable", `cannot save the checkpoint in ${STATE_DIR}/ (${(error as NodeJS.ErrnoException).code})`);
    }
  }

  private closeLog(): void {
    if (this.log === undefined) return;
    closeSync(this.log);
    this.log = undefined;
  }
}

function fingerprintOf(path: string): Fingerprint {
  const stat = statSync(path);
  return { size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino };
}

const sameFile = (a: Fingerprint, b: Fingerprint) => a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino;

/**
 * The snapshot with the log replayed on it. A snapshot that cannot be read (cut by a crash, foreign) is no
 * checkpoint: everything is sent again. A log line without its line break was cut by a kill: ignored.
 */
function readStored(base: string, server: string): Files {
  const files: Files = new Map();
  let snapshot: Snapshot;
  try {
    snapshot = JSON.parse(readFileSync(`${base}.json`, "utf8")) as Snapshot;
  } catch {
    return files;
  }
  if (snapshot?.dcm2fhirLoadCheckpoint !== 1 || snapshot.server !== server || typeof snapshot.files !== "object" || snapshot.files === null) return files;
  for (const [file, entry] of Object.entries(snapshot.files)) {
    const acked = LineRanges.parse(entry?.acked);
    if (acked && [entry.size, entry.mtimeMs, entry.ino].every(Number.isFinite))
      files.set(file, { fingerprint: { size: entry.size, mtimeMs: entry.mtimeMs, ino: entry.ino }, acked });
  }
  let log = "";
  try {
    log = readFileSync(`${base}.log`, "utf8");
  } catch {
    return files;
  }
  for (const line of log.split("\n").slice(0, -1)) {
    try {
      const entry = JSON.parse(line) as Acknowledged;
      const ranges = LineRanges.parse(entry.acked);
      const acked = files.get(entry.file)?.acked;
      if (ranges && acked) for (const [start, end] of ranges.toJSON()) acked.addRange(start, end);
    } catch {
      // Not JSON: not ours. What it would have claimed is sent again.
    }
  }
  return files;
}

function lock(path: string): void {
  let taken;
  try {
    taken = takeLock(path);
  } catch (error) {
    throw new LoadFailure("folder-unwritable", `cannot write the lock in ${STATE_DIR}/ (${(error as NodeJS.ErrnoException).code})`);
  }
  if (taken === "held") {
    throw new LoadFailure("folder-busy", `another load of this folder into this server is running (see ${STATE_DIR}/ in the folder); wait for it to finish`);
  }
  if (taken === "raced") throw new LoadFailure("folder-busy", `could not take the lock in ${STATE_DIR}/; delete it if no load is running`);
}
