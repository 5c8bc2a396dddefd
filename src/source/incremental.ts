// The incremental source: walks the inputs with stat only, reads again only the files that are new or whose
// identity (size, mtime, ctime, inode, device) changed, and takes every other file's record from the state the
// last run committed. All of them go into the same InstanceSink as a full run's, so one path turns records into
// resources and the output is the one a full run would write.
import { statSync } from "node:fs";
import { type CrawlEntry, type ResolvedInput, crawlInPieces } from "../crawl/walk.js";
import type { HeaderReader } from "../dicom/readerPool.js";
import type { WireRead } from "../dicom/wire.js";
import type { FileFailure, FilePath } from "../reasons.js";
import { type EntryResult, encodeResult, pathKey } from "../state/records.js";
import { type CommittedState, type FileIdentity, type StagedState, StoredEntries } from "../state/runState.js";
import { type FileSourceOptions, readEntries } from "./files.js";
import type { InstanceSink } from "./sink.js";

/**
 * A file whose mtime or ctime is this close to the moment it was looked at may change again within the same
 * clock tick (file systems stamp times from a coarse clock) without its identity showing it; such files are
 * read again next time (git calls them "racily clean"). Two seconds also covers a file server's clock running
 * a little behind this machine's.
 */
const RACY_WINDOW_MS = 2000;

/** How the entries found compare with the last run's: each one found is unchanged, added or modified. */
export interface FileChanges {
  unchanged: number;
  added: number;
  modified: number;
  /** Paths the last run found and this one did not. */
  removed: number;
}

export interface IncrementalScan {
  readonly files: FileChanges;
  /**
   * True when every entry gave what it gave last time (a touched file read again, say) and none came or went:
   * the output would be the committed one, byte for byte.
   */
  readonly sameResults: boolean;
  /** Delivers into the sink the stored results of the entries not read again; call once, after the scan. */
  readonly deliverStored: () => void;
}

export interface IncrementalSourceOptions extends FileSourceOptions {
  /** Where the next state is written as results come in; made on first use (a run that changes nothing writes none). */
  readonly staged: () => StagedState;
}

/** An entry read (or refused) this run: its result is compared with the stored one and stored. */
interface Pending {
  readonly path: FilePath;
  /** Its stored id; undefined for a path the last run did not find. */
  readonly id: number | undefined;
  /** As it will be stored: null when unknown. */
  readonly identity: FileIdentity | null;
  times: number;
  result?: EntryResult;
}

/**
 * Scans the inputs against `previous` (undefined: every entry is new) and reads what changed through `reader`.
 * Every entry goes to `sink` as `seen`; new and changed ones as `read`/`unread` during the scan, unchanged ones
 * when `deliverStored` is called. New results go to the staged state once the scan is over.
 */
export async function readIncremental(
  inputs: readonly ResolvedInput[],
  previous: CommittedState | undefined,
  reader: HeaderReader,
  sink: InstanceSink,
  options: IncrementalSourceOptions,
): Promise<IncrementalScan> {
  const racyFrom = Date.now() - RACY_WINDOW_MS;
  const files: FileChanges = { unchanged: 0, added: 0, modified: 0, removed: 0 };
  const stored = previous?.entries() ?? new StoredEntries(0);
  /** Per stored id: how often this run found the entry unchanged (its stored result is delivered that often). */
  const kept = new Uint32Array(stored.seen.length);
  const pending = new Map<string, Pending>();

  const keep = (id: number) => {
    kept[id]! += 1;
    files.unchanged++;
    sink.seen();
  };

  async function* toRead(): AsyncGenerator<CrawlEntry> {
    for await (const batch of crawlInPieces(inputs, options)) {
      for (const entry of batch) {
        const key = pathKey(entry.path);
        const again = pending.get(key);
        if (again) {
          // Overlapping inputs list a path twice: a full run reads it twice, and so does this one.
          again.times++;
          count(again.id, again.identity);
          yield entry;
          continue;
        }
        const id = stored.ids.get(key);
        if (id !== undefined && kept[id]! > 0) {
          keep(id);
          continue;
        }
        if ("reason" in entry) {
          // Refused by the crawl (a link, a FIFO, an unreadable folder): nothing to read; compared by its reason.
          if (id !== undefined && previous!.sameResult(id, encodeResult({ unread: entry }))) {
            keep(id);
            continue;
          }
          if (id === undefined) files.added++;
          else files.modified++;
          pending.set(key, { path: entry.path, id, identity: null, times: 1 });
          yield entry;
          continue;
        }
        const identity = identityOf(entry.path, racyFrom);
        if (id !== undefined && identity && stored.sameIdentity(id, identity, true)) {
          keep(id);
          continue;
        }
        count(id, identity);
        pending.set(key, { path: entry.path, id, identity, times: 1 });
        yield entry;
      }
    }
  }

  /** An entry to read: new, changed, of unknown identity, or unchanged but too recent to trust. */
  const count = (id: number | undefined, identity: FileIdentity | null) => {
    if (id === undefined) files.added++;
    else if (identity && stored.sameIdentity(id, identity, false)) files.unchanged++;
    else files.modified++;
  };

  // Refusals and reads pass through here on their way to the sink, to be compared and stored.
  const record = (path: FilePath, result: EntryResult) => {
    const p = pending.get(pathKey(path));
    if (p && p.result === undefined) p.result = result;
  };
  const recording: InstanceSink = {
    seen: () => sink.seen(),
    unread: (failure: FileFailure) => {
      record(failure.path, { unread: failure });
      sink.unread(failure);
    },
    read: (read: WireRead) => {
      record("failure" in read ? read.failure.path : read.instance.path, { read });
      sink.read(read);
    },
  };
  await readEntries(toRead(), reader, recording, options);

  let sameResults = previous !== undefined;
  for (const p of pending.values()) {
    if (!p.result) continue; // the run was stopped before this entry was read
    const encoded = encodeResult(p.result);
    const same = p.id !== undefined && stored.seen[p.id] === p.times && previous!.sameResult(p.id, encoded);
    if (!same) sameResults = false;
    // A file read again for nothing (still too recent to trust) leaves its entry as it was.
    const sameEntry = same && p.identity !== null && stored.sameIdentity(p.id!, p.identity, false) && stored.isRacy(p.id!) === p.identity.racy;
    if (!sameEntry) options.staged().put(p.path, p.id, p.identity, p.times, encoded);
  }
  let found = 0;
  for (const p of pending.values()) if (p.id !== undefined) found++;
  for (let id = 0; id < kept.length; id++) {
    if (kept[id] === 0) continue;
    found++;
    // A path the inputs list more or fewer times than before makes more or fewer duplicates.
    if (kept[id] !== stored.seen[id]) {
      sameResults = false;
      options.staged().setSeen(stored.keys[id]!, kept[id]!);
    }
  }
  files.removed = stored.ids.size - found;
  if (files.removed > 0) {
    sameResults = false;
    for (const [key, id] of stored.ids) {
      if (kept[id] === 0 && !pending.has(key)) options.staged().remove(key, id);
    }
  }

  return {
    files,
    sameResults,
    deliverStored: () => {
      previous?.forEach(stored, kept, (result, n) => {
        for (let i = 0; i < n; i++) {
          if ("unread" in result) sink.unread(result.unread);
          else sink.read(result.read, true);
        }
      });
    },
  };
}

/** A file's identity now; null when it cannot be stat'ed (it is read, and the reader says why). */
function identityOf(path: FilePath, racyFrom: number): FileIdentity | null {
  let s;
  try {
    s = statSync(path, { throwIfNoEntry: false });
  } catch {
    s = undefined;
  }
  if (!s) return null;
  return { size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs, ino: s.ino, dev: s.dev, racy: Math.max(s.mtimeMs, s.ctimeMs) >= racyFrom };
}
