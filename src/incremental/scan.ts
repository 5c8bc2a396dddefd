// The incremental source: walks the inputs with stat only, reads again only the files that are new or whose
// identity (size, mtime, ctime, inode, device) changed, and takes every other file's record from the state the
// last run committed. All of them go into the same InstanceSink as a full run's, so one path turns records into
// resources and the output is the one a full run would write.
//
// A study none of whose files changed gives what it gave last time: such studies are kept (their outcome and the
// counts of their records come from the state, their ImagingStudy line from the previous output), and only the
// studies the changed files touch are delivered record by record, with every study sharing a SOP Instance UID
// with them (which file of a SOP Instance UID is used depends on all of them).
import { statSync } from "node:fs";
import { type CrawlEntry, type ResolvedInput, crawlInPieces } from "../crawl/walk.js";
import type { HeaderReader } from "../read/readerPool.js";
import { type HeaderRead } from "../core/record.js";
import type { KeptStudies, StudyOutcome } from "../write/writeOutputs.js";
import type { FileFailure, FilePath } from "../core/reasons.js";
import { sopHash } from "../core/hash.js";
import type { InstanceRecord } from "../core/record.js";
import { type EncodedResult, type EntryResult, StateError, encodeResult, pathKey } from "../core/recordCodec.js";
import type { CommittedState } from "./committedState.js";
import { type FileIdentity, StoredEntries } from "./entries.js";
import type { StagedState } from "./stagedState.js";
import { RACY_WINDOW_MS, RacyWindows, waitOutRacyWindows } from "./racy.js";
import { LinesById } from "../lib/ndjson.js";
import type { StoredCounts } from "../write/report.js";
import { type FileSourceOptions, readEntries } from "../source/files.js";
import type { InstanceSink } from "../source/sink.js";

/** How the entries found compare with the last run's: each one found is unchanged, added or modified. */
export interface FileChanges {
  unchanged: number;
  added: number;
  modified: number;
  /** Paths the last run found and this one did not. */
  removed: number;
}

/** The sink of the incremental source: records of kept studies come as their counts, not one by one. */
export interface IncrementalSink extends InstanceSink {
  /** The instance records of a kept study, as the state counted them. */
  kept(counts: StoredCounts): void;
  /** A file read again that gave what the state holds: its bytes count as read now; its record comes later, if at all. */
  readAgain(bytesRead: number): void;
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
    for await (const batch of crawlInPieces(inputs, options)) {
      for (const entry of batch) {
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
        const identity = identityOf(entry.path, racyFrom);
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
      p.identity = identityOf(p.path, Date.now() - windows.of(p.path, p.identity!));
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

/** What the scan found: how the files compare, and the next step, which delivers what the state holds. */
export class ScannedFiles {
  private delivered = false;

  constructor(
    readonly files: FileChanges,
    /**
     * True when every entry gave what it gave last time (a touched file read again, say) and none came or went:
     * the output would be the committed one, byte for byte.
     */
    readonly sameResults: boolean,
    private readonly delivering: Delivering,
    private readonly changed: { readonly changedIds: readonly number[]; readonly touchedUids: ReadonlySet<string>; readonly newSops: ReadonlySet<number> },
  ) {}

  /** Delivers into the sink the stored results of every entry not read again: every study is assembled anew. */
  deliverAll(): StudyAssembly {
    this.once();
    return this.delivering.all();
  }

  /**
   * Instead of deliverAll, when the previous output is the committed one: delivers the stored records of the
   * studies the changes touch (and the stored failures), and keeps the other studies for the write path.
   * `previousStudies`: the committed ImagingStudy.ndjson, where the kept studies' lines are.
   */
  deliverTouched(previousStudies: string): StudyAssembly & { readonly kept: KeptStudies } {
    this.once();
    return this.delivering.touched(previousStudies, this.changed);
  }

  private once(): void {
    if (this.delivered) throw new StateError("internal: the stored results of a scan were delivered twice");
    this.delivered = true;
  }
}

/**
 * The step after delivery: the write path assembles the delivered studies and says what each gave (storeStudy,
 * its onStudy); then forgetGoneStudies drops from the state the replaced studies no file holds any more.
 */
export interface StudyAssembly {
  /** The studies kept as they were (deliverTouched only). */
  readonly kept?: KeptStudies;
  /** The write path's onStudy: what a delivered study gave, stored for the next run. */
  readonly storeStudy: (studyInstanceUID: string, outcome: StudyOutcome) => void;
  /** After the write: forgets the studies this run replaced that no file holds any more. */
  forgetGoneStudies(): void;
}

/** Delivers stored results into the sink, and keeps the studies it replaces in the state up to date. */
class Delivering {
  constructor(
    private readonly previous: CommittedState | undefined,
    private readonly stored: StoredEntries,
    private readonly times: Uint32Array,
    private readonly sink: IncrementalSink,
    private readonly counts: StudyCounts,
    private readonly staged: () => StagedState,
  ) {}

  private readonly deliver = (result: EntryResult, n: number) => {
    for (let i = 0; i < n; i++) {
      if ("unread" in result) this.sink.unread(result.unread);
      else {
        if ("instance" in result.read) this.counts.add(result.read);
        this.sink.read(result.read, true);
      }
    }
  };

  all(): StudyAssembly {
    if (!this.previous) return this.assembly(new Map());
    this.previous.forEach(this.stored, this.times, this.deliver);
    return this.assembly(new Map(this.previous.studies().map(([id, uid]) => [uid, id])));
  }

  touched(previousStudies: string, changed: ConstructorParameters<typeof ScannedFiles>[3]): StudyAssembly & { readonly kept: KeptStudies } {
    const previous = this.previous;
    if (!previous) throw new StateError("internal: studies can be kept only from a committed state");
    const studies = previous.studies();
    const idOf = new Map(studies.map(([id, uid]) => [uid, id]));
    const touched = new Set<number>();
    for (const id of changed.changedIds) {
      const owner = previous.ownerOf(id);
      if (owner !== null) touched.add(owner);
    }
    for (const uid of changed.touchedUids) {
      const id = idOf.get(uid);
      if (id !== undefined) touched.add(id);
    }
    // A study without an outcome (none should be) is assembled again rather than trusted.
    for (const [id, , countsJson, outcome] of studies) if (countsJson === null || outcome === null) touched.add(id);
    for (const sop of changed.newSops) for (const id of previous.studiesWithSop(sop)) touched.add(id);
    closeOverSops(previous, touched);

    previous.forEachOf(touched, this.stored, this.times, this.deliver);
    previous.forEachFailure(this.stored, this.times, this.deliver);

    const outcomes: Array<readonly [string, StudyOutcome]> = [];
    for (const [id, uid, countsJson, outcome] of studies) {
      if (touched.has(id)) continue;
      this.sink.kept(JSON.parse(countsJson!) as StoredCounts);
      outcomes.push([uid, JSON.parse(outcome!) as StudyOutcome]);
    }
    let lines: LinesById | undefined;
    const kept: KeptStudies = {
      outcomes: () => outcomes,
      line: (uid) => (lines ??= new LinesById(previousStudies)).get(uid),
      close: () => lines?.close(),
      records: (uids) => {
        const wanted = new Set<number>();
        for (const uid of uids) {
          const id = idOf.get(uid);
          if (id === undefined) throw new StateError("a kept study is not in the state");
          wanted.add(id);
        }
        closeOverSops(previous, wanted);
        const reads: InstanceRecord[] = [];
        previous.forEachOf(wanted, this.stored, this.times, (result, n) => {
          if (!("read" in result) || !("instance" in result.read)) return;
          for (let i = 0; i < n; i++) reads.push(result.read);
        });
        return reads;
      },
    };
    return { ...this.assembly(new Map(studies.filter(([id]) => touched.has(id)).map(([id, uid]) => [uid, id]))), kept };
  }

  /** `replaced`: the studies of the state whose outcome this run stores anew (or forgets). */
  private assembly(replaced: ReadonlyMap<string, number>): StudyAssembly {
    const storedStudies = new Set<string>();
    return {
      storeStudy: (uid, outcome) => {
        storedStudies.add(uid);
        this.staged().putStudy(uid, JSON.stringify(this.counts.of(uid)), JSON.stringify(outcome));
      },
      forgetGoneStudies: () => {
        for (const uid of replaced.keys()) if (!storedStudies.has(uid)) this.staged().dropStudyIfUnused(uid);
      },
    };
  }
}

/** Adds to `studies` every study sharing a SOP Instance UID (hash) with one of them, and so on. */
function closeOverSops(state: CommittedState, studies: Set<number>): void {
  const frontier = [...studies];
  while (frontier.length > 0) {
    for (const other of state.studiesSharingSops(frontier.pop()!)) {
      if (studies.has(other)) continue;
      studies.add(other);
      frontier.push(other);
    }
  }
}

/**
 * What the instance records of each delivered study count in the report (RecordCounts for them alone): kept with
 * the study, so that a run that keeps it counts them without reading them.
 */
class StudyCounts {
  private readonly studies = new Map<string, { instances: number; readonly bytes: Map<number, number>; readonly warnings: Map<string, number> }>();

  add(read: InstanceRecord): void {
    const uid = read.instance.studyInstanceUID;
    let study = this.studies.get(uid);
    if (!study) this.studies.set(uid, (study = { instances: 0, bytes: new Map(), warnings: new Map() }));
    study.instances++;
    study.bytes.set(read.bytesRead, (study.bytes.get(read.bytesRead) ?? 0) + 1);
    for (const w of read.instance.warnings) study.warnings.set(w, (study.warnings.get(w) ?? 0) + 1);
  }

  of(uid: string): StoredCounts {
    const study = this.studies.get(uid);
    const bytes = study ? [...study.bytes].sort(([a], [b]) => a - b) : [];
    const warnings = study ? Object.fromEntries([...study.warnings].sort(([a], [b]) => (a < b ? -1 : 1))) : {};
    return { seen: 0, bytesRead: 0, bytesPerFile: bytes, bytesPerInstanceFile: bytes, reasons: {}, warnings };
  }
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
