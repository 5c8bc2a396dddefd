// What an incremental scan (scan.ts) found, and the steps after it, in the order their types allow: ScannedFiles
// delivers the stored results once (all of them, or only the touched studies'), which gives the StudyAssembly the
// write path stores each assembled study through.
//
// A study none of whose files changed gives what it gave last time: such studies are kept (their outcome and the
// counts of their records come from the state, their ImagingStudy line from the previous output), and only the
// studies the changed files touch are delivered record by record, with every study sharing a SOP Instance UID
// with them (which file of a SOP Instance UID is used depends on all of them).
import type { InstanceRecord } from "../core/record.js";
import { type EntryResult, StateError } from "../core/recordCodec.js";
import { LinesById } from "../lib/ndjson.js";
import type { StoredCounts } from "../core/counts.js";
import type { IncrementalSink } from "../source/sink.js";
import type { FileChanges } from "../write/report.js";
import type { KeptStudies, StudyOutcome } from "../write/writeOutputs.js";
import type { CommittedState } from "./committedState.js";
import type { StoredEntries } from "./entries.js";
import type { StagedState } from "./stagedState.js";

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
export class Delivering {
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
export class StudyCounts {
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
