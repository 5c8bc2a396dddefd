// The incremental source: walks the inputs with stat only, reads again only the files that are new or whose
// identity (size, mtime, ctime, inode, device) changed, and takes every other file's record from the state the
// last run committed. All of them go into the same InstanceSink as a full run's, so one path turns records into
// resources and the output is the one a full run would write.
//
// A file changed just before the scan looked at it is read only once its change is old enough to trust (racy.ts).
// What comes after the scan (delivery.ts) is in the types: scanIncrementally gives ScannedFiles, whose one
// delivery gives the StudyAssembly the write path uses.
import type { ResolvedInput } from "../crawl/inputs.js";
import { type CrawlEntry, crawlInPieces } from "../crawl/walk.js";
import type { HeaderReader } from "../read/readerPool.js";
import type { HeaderRead } from "../core/record.js";
import type { FileFailure, FilePath } from "../core/reasons.js";
import { sopHash } from "../core/hash.js";
import { type EncodedResult, type EntryResult, encodeResult, pathKey } from "../core/recordCodec.js";
import type { CommittedState } from "./committedState.js";
import { Delivering, ScannedFiles, StudyCounts } from "./delivery.js";
import type { FileChanges } from "../write/report.js";
import { type FileIdentity, StoredEntries } from "./entries.js";
import type { StagedState } from "./stagedState.js";
import { RACY_WINDOW_MS, RacyWindows, waitOutRacyWindows } from "./racy.js";
import { type FileSourceOptions, readEntries } from "../source/files.js";
import type { IncrementalSink, InstanceSink } from "../source/sink.js";
import { ConcurrentIdentities, identified, identityOf } from "./identity.js";

export interface IncrementalSourceOptions extends FileSourceOptions {
  /** Where the next state is written as results come in; made on first use (a run that changes nothing writes none). */
  readonly staged: () => StagedState;
}

/** An entry read (or refused) this run: its result is compared with the stored one and stored. */
interface Pending {
  readonly path: FilePath;
  /** Its stored id; undefined for a path the last run did not find. */
  readonly id: number | undefined;
  /** As it will be stored: null when unknown. Taken again before a racy file is read (racy.ts). */
  identity: FileIdentity | null;
  times: number;
  /** Its read waits until its last change is older than the racy window (racy.ts). */
  deferred: boolean;
  result?: EntryResult;
  encoded?: EncodedResult;
  /** Whether `result` is the stored one. */
  sameResult?: boolean;
  /** Reads that gave the stored result, held back: their record is the stored one, delivered only with its study. */
  withheld: number;
}

/**
 * Scans the inputs against `previous` (undefined: every entry is new) and reads what changed through `reader`.
 * Every entry goes to `sink` as `seen`; new and changed ones as `read`/`unread` during the scan. New results go to
 * the staged state once the scan is over. What comes next is the ScannedFiles' to say: the unchanged entries are
 * delivered by one of its two methods, after the scan and not before.
 */
export async function scanIncrementally(
  inputs: readonly ResolvedInput[],
  previous: CommittedState | undefined,
  reader: HeaderReader,
  sink: IncrementalSink,
  options: IncrementalSourceOptions,
): Promise<ScannedFiles> {
  const racyFrom = Date.now() - RACY_WINDOW_MS;
  const files: FileChanges = { unchanged: 0, added: 0, modified: 0, removed: 0 };
  const stored = previous?.entries() ?? new StoredEntries(0);
  /** Per stored id: how often this run found the entry unchanged (its stored result is delivered that often). */
  const kept = new Uint32Array(stored.seen.length);
  const pending = new Map<string, Pending>();
  const counts = new StudyCounts();
  /** Studies whose records are delivered one by one: the studies of new records; more are added after the scan. */
  const touchedUids = new Set<string>();
  /** SOP Instance UID hashes of the records delivered during the scan. */
  const newSops = new Set<number>();
  /** Racy entries, read once the crawl is done and their window is over. */
  const deferred: CrawlEntry[] = [];
  const windows = new RacyWindows();

  const keep = (id: number) => {
    kept[id]! += 1;
    files.unchanged++;
    sink.seen();
  };

  async function* toRead(): AsyncGenerator<CrawlEntry> {
    const lookup = options.pace && new ConcurrentIdentities(racyFrom, options.pace);
    for await (const { entries: batch, identities } of identified(crawlInPieces(inputs, options), lookup, options.pace)) {
      // A piece taken while the pace was still synchronous: once the stats show the storage is slow, the rest of
      // the piece is looked up many at once too (on a network share a piece is up to 256 round trips).
      let ids = identities;
      for (const [i, entry] of batch.entries()) {
        if (!ids && lookup && options.pace!.concurrent) ids = lookup.of(batch, i);
        const key = pathKey(entry.path);
        const again = pending.get(key);
        if (again) {
          // Overlapping inputs list a path twice: a full run reads it twice, and so does this one.
          again.times++;
          count(again.id, again.identity);
          if (again.deferred) deferred.push(entry);
          else yield entry;
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
          pending.set(key, { path: entry.path, id, identity: null, times: 1, deferred: false, withheld: 0 });
          yield entry;
          continue;
        }
        const identity = ids ? await ids[i]! : identityOf(entry.path, racyFrom, options.pace);
        if (id !== undefined && identity && stored.sameIdentity(id, identity, true)) {
          keep(id);
          continue;
        }
        count(id, identity);
        const racy = identity?.racy === true;
        pending.set(key, { path: entry.path, id, identity, times: 1, deferred: racy, withheld: 0 });
        if (racy) deferred.push(entry);
        else yield entry;
      }
    }
    yield* afterRacyWindows();
  }

  /** The deferred entries, once their window is over, each with its identity taken again just before it is read. */
  async function* afterRacyWindows(): AsyncGenerator<CrawlEntry> {
    if (deferred.length === 0) return;
    const waiting = deferred.map((e) => pending.get(pathKey(e.path))!).filter((p) => p.identity !== null);
    await waitOutRacyWindows(waiting as Array<{ path: FilePath; identity: FileIdentity }>, windows, options.signal);
    for (const p of waiting) {
      // Still racy (changed again meanwhile, or stamped ahead of this clock): read all the same, and again next time.
      p.identity = identityOf(p.path, Date.now() - windows.of(p.path, p.identity!), options.pace);
    }
    yield* deferred;
  }

  /** An entry to read: new, changed, of unknown identity, or unchanged but too recent to trust. */
  const count = (id: number | undefined, identity: FileIdentity | null) => {
    if (id === undefined) files.added++;
    else if (identity && stored.sameIdentity(id, identity, false)) files.unchanged++;
    else files.modified++;
  };

  // Refusals and reads pass through here on their way to the sink, to be compared and stored. A read that gives
  // the stored instance record is held back: its study may well be kept.
  const record = (path: FilePath, result: EntryResult): { readonly p?: Pending; readonly same: boolean } => {
    const p = pending.get(pathKey(path));
    if (!p) return { same: false };
    const encoded = encodeResult(result);
    const same = p.id !== undefined && previous!.sameResult(p.id, encoded);
    if (p.result === undefined) {
      p.result = result;
      p.encoded = encoded;
      p.sameResult = same;
    }
    return { p, same };
  };
  const recording: InstanceSink = {
    seen: () => sink.seen(),
    unread: (failure: FileFailure) => {
      record(failure.path, { unread: failure });
      sink.unread(failure);
    },
    read: (read: HeaderRead) => {
      const { p, same } = record("failure" in read ? read.failure.path : read.instance.path, { read });
      if ("instance" in read) {
        if (p && same) {
          p.withheld++;
          sink.readAgain(read.bytesRead);
          return;
        }
        touchedUids.add(read.instance.studyInstanceUID);
        newSops.add(sopHash(read.instance.sopInstanceUID));
        counts.add(read);
      }
      sink.read(read);
    },
  };
  await readEntries(toRead(), reader, recording, options);

  /** Stored ids whose study must be delivered record by record: entries changed, gone, or found more or fewer times. */
  const changedIds: number[] = [];
  let sameResults = previous !== undefined;
  for (const p of pending.values()) {
    if (!p.result) continue; // the run was stopped before this entry was read
    const same = p.id !== undefined && stored.seen[p.id] === p.times && p.sameResult!;
    if (!same) {
      sameResults = false;
      if (p.id !== undefined) changedIds.push(p.id);
    }
    // A file read again for nothing (still too recent to trust) leaves its entry as it was.
    const sameEntry = same && p.identity !== null && stored.sameIdentity(p.id!, p.identity, false) && stored.isRacy(p.id!) === p.identity.racy;
    const instance = "read" in p.result && "instance" in p.result.read ? p.result.read.instance : undefined;
    if (!sameEntry) options.staged().put(p.path, p.id, p.identity, p.times, p.encoded!, instance);
  }
  let found = 0;
  for (const p of pending.values()) if (p.id !== undefined) found++;
  for (let id = 0; id < kept.length; id++) {
    if (kept[id] === 0) continue;
    found++;
    // A path the inputs list more or fewer times than before makes more or fewer duplicates.
    if (kept[id] !== stored.seen[id]) {
      sameResults = false;
      changedIds.push(id);
      options.staged().setSeen(stored.keys[id]!, kept[id]!);
    }
  }
  files.removed = stored.ids.size - found;
  if (files.removed > 0) {
    sameResults = false;
    for (const [key, id] of stored.ids) {
      if (kept[id] === 0 && !pending.has(key)) {
        changedIds.push(id);
        options.staged().remove(key, id);
      }
    }
  }

  /** Per stored id: how often its stored result is delivered (found unchanged, or read again to the same result). */
  const times = kept.slice();
  for (const p of pending.values()) if (p.id !== undefined) times[p.id]! += p.withheld;
  const delivering = new Delivering(previous, stored, times, sink, counts, options.staged);
  return new ScannedFiles(files, sameResults, delivering, { changedIds, touchedUids, newSops });
}
