// The checkpoint that makes a load resumable: per server, which lines of which NDJSON files the server
// acknowledged (answered 2xx). It is saved (temp file + rename) after every answer, before anything else
// happens, so a run killed at any moment leaves a checkpoint that claims nothing the server did not
// acknowledge: the next run skips those lines and re-sends only what was in flight. A file whose size,
// mtime or inode changed (a new convert run) invalidates what was acknowledged for it.
// A lock per server keeps two loads from sharing a checkpoint; a lock whose process is gone is taken over.
import { createHash } from "node:crypto";
import { closeSync, constants, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { isStale } from "../write/outputDir.js";
import { LoadFailure } from "./errors.js";
import { type Range, LineRanges } from "./ranges.js";

/** The hidden folder inside the converted folder that holds load's checkpoints and locks. */
export const STATE_DIR = ".dcm2fhir";

interface Fingerprint {
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: number;
}

interface StoredFile extends Fingerprint {
  readonly acked: Range[];
}

interface Stored {
  readonly dcm2fhirLoadCheckpoint: 1;
  readonly server: string;
  readonly files: Record<string, StoredFile>;
}

export class Checkpoint {
  private released = false;

  private constructor(
    private readonly path: string,
    private readonly lockPath: string | undefined,
    private readonly server: string,
    private readonly files: Map<string, { fingerprint: Fingerprint; acked: LineRanges }>,
    /** Files of this run whose earlier acknowledgements were dropped because the file changed since. */
    readonly outdated: readonly string[],
  ) {}

  /**
   * Takes the lock for `server` in `folder` and reads its checkpoint, keeping what still holds for `files`
   * (relative paths). `restart` forgets what was acknowledged for them. `readOnly` (a dry run): no lock, no writes.
   */
  static open(folder: string, server: string, files: readonly string[], options: { restart?: boolean; readOnly?: boolean } = {}): Checkpoint {
    const dir = join(folder, STATE_DIR);
    const name = `load-${createHash("sha256").update(server).digest("hex").slice(0, 16)}`;
    const path = join(dir, `${name}.json`);
    let lockPath: string | undefined;
    if (!options.readOnly) {
      try {
        mkdirSync(dir, { recursive: true });
      } catch (error) {
        throw new LoadFailure("folder-unwritable", `cannot create ${STATE_DIR}/ in the folder (${(error as NodeJS.ErrnoException).code}): load keeps its checkpoint there`);
      }
      lockPath = join(dir, `${name}.lock`);
      lock(lockPath);
    }
    const stored = readStored(path, server);
    const kept = new Map<string, { fingerprint: Fingerprint; acked: LineRanges }>();
    // Entries of files this run does not read (a full load's, during a --changes load) stay as they were.
    for (const [file, entry] of Object.entries(stored?.files ?? {})) {
      const acked = LineRanges.parse(entry.acked);
      if (acked && !files.includes(file)) kept.set(file, { fingerprint: entry, acked });
    }
    const outdated: string[] = [];
    for (const file of new Set(files)) {
      const fingerprint = fingerprintOf(join(folder, file));
      const entry = stored?.files[file];
      const acked = entry && !options.restart && sameFile(entry, fingerprint) ? LineRanges.parse(entry.acked) : undefined;
      if (entry && !options.restart && !acked) outdated.push(file);
      kept.set(file, { fingerprint, acked: acked ?? new LineRanges() });
    }
    return new Checkpoint(path, lockPath, server, kept, outdated);
  }

  /** A temporary file of this run in the state folder (the lock makes it ours; one a killed run left is overwritten). */
  tempPath(name: string): string {
    return `${this.path.slice(0, -".json".length)}.${name}.tmp`;
  }

  /** The lines of `file` the server acknowledged (this run's included). */
  acked(file: string): LineRanges {
    return this.files.get(file)!.acked;
  }

  /** Records lines the server acknowledged and saves the checkpoint before returning. */
  ack(file: string, lines: readonly number[]): void {
    const acked = this.acked(file);
    for (const line of lines) acked.add(line);
    this.save();
  }

  /** Every line of this run's files was acknowledged: there is nothing to resume; the next load starts afresh. */
  forget(files: readonly string[]): void {
    for (const file of files) this.files.delete(file);
    if (this.files.size === 0) rmSync(this.path, { force: true });
    else this.save();
  }

  release(): void {
    if (this.released || !this.lockPath) return;
    this.released = true;
    rmSync(this.lockPath, { force: true });
  }

  private save(): void {
    if (!this.lockPath) return;
    const stored: Stored = {
      dcm2fhirLoadCheckpoint: 1,
      server: this.server,
      files: Object.fromEntries([...this.files].map(([file, { fingerprint, acked }]) => [file, { ...fingerprint, acked: acked.toJSON() }])),
    };
    const temp = `${this.path}.tmp`;
    try {
      writeFileSync(temp, JSON.stringify(stored));
      renameSync(temp, this.path);
    } catch (error) {
      throw new LoadFailure("folder-unwritable", `cannot save the checkpoint in ${STATE_DIR}/ (${(error as NodeJS.ErrnoException).code})`);
    }
  }
}

function fingerprintOf(path: string): Fingerprint {
  const stat = statSync(path);
  return { size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino };
}

const sameFile = (a: Fingerprint, b: Fingerprint) => a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino;

/** A checkpoint that cannot be read (cut by a crash, foreign) is no checkpoint: everything is sent again. */
function readStored(path: string, server: string): Stored | undefined {
  try {
    const stored = JSON.parse(readFileSync(path, "utf8")) as Stored;
    return stored?.dcm2fhirLoadCheckpoint === 1 && stored.server === server && typeof stored.files === "object" && stored.files !== null ? stored : undefined;
  } catch {
    return undefined;
  }
}

function lock(path: string): void {
  const owner = JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString() });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
      writeSync(fd, owner);
      closeSync(fd);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "EEXIST") throw new LoadFailure("folder-unwritable", `cannot write the lock in ${STATE_DIR}/ (${code})`);
    }
    if (!isStale(path)) {
      throw new LoadFailure("folder-busy", `another load of this folder into this server is running (see ${STATE_DIR}/ in the folder); wait for it to finish`);
    }
    rmSync(path, { force: true });
  }
  throw new LoadFailure("folder-busy", `could not take the lock in ${STATE_DIR}/; delete it if no load is running`);
}
