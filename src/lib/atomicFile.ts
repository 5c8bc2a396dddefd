// Files that are whole or absent, and locks: the output folder's journaled commit (lib/outputFolder.ts), load's
// checkpoint and its report files all write through here. A file is written under a temporary name, synced to
// disk, then renamed over its final name: a reader (or the next run after a crash) sees the old file or the new
// one, never half of one. A lock is a file created exclusively, naming its owner, so that a lock whose process is
// gone can be told from a live one and taken over.
import { closeSync, constants, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { dirname } from "node:path";

/** Writes `text` to `path` and syncs it before returning. `extraFlags`: O_EXCL to fail when it exists. */
export function writeFileSynced(path: string, text: string, extraFlags = 0): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | extraFlags, 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Syncs a file, or a folder (its entries: a rename is durable once its folder is synced). */
export function syncPath(path: string): void {
  const fd = openSync(path, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Moves a finished file (`temp`, written by the caller and closed) over `path`: synced first, then renamed, then
 * the folder synced, so that after a crash `path` holds the old or the new file, whole.
 */
export function moveIntoPlace(temp: string, path: string): void {
  syncPath(temp);
  renameSync(temp, path);
  syncPath(dirname(path));
}

/** Replaces `path` with `text` atomically, through `temp` (beside it, on the same file system). */
export function replaceFile(path: string, text: string, temp: string): void {
  writeFileSynced(temp, text);
  renameSync(temp, path);
  syncPath(dirname(path));
}

/**
 * Takes the lock file `path`: "taken"; "held" when a live owner holds it; "raced" when it stayed taken after a
 * stale one was removed twice (another run taking it at the same moment). A stale lock (its process gone) is taken
 * over. Errors other than "it exists" are thrown (the caller says what could not be written).
 */
export function takeLock(path: string, options: { readonly foreignLocksAreStale?: boolean } = {}): "taken" | "held" | "raced" {
  const owner = JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString() });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSynced(path, owner, constants.O_EXCL);
      return "taken";
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
        // Any lock file there is ours, created but not written (a full disk, say), and it goes.
        rmSync(path, { force: true });
        throw error;
      }
    }
    if (!isStale(path, options.foreignLocksAreStale)) return "held";
    rmSync(path, { force: true });
  }
  return "raced";
}

/**
 * A lock is stale when its run is gone: same host and no such process, or a lock file a crash left unreadable;
 * with `foreignLocksAreStale`, any lock of another host.
 */
export function isStale(path: string, foreignLocksAreStale = false): boolean {
  let owner: { pid?: number; host?: string };
  try {
    owner = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return true;
  }
  if (owner.host !== hostname()) return foreignLocksAreStale;
  if (typeof owner.pid !== "number") return false;
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}
