import type { SeriesAttributes, StudyAttributes } from "../dicom/instance.js";
import type { InstanceCore } from "../core/record.js";
import { type FileFailure, type FilePath, comparePaths, displayPath } from "../core/reasons.js";
import { SERIES_UNITS, STUDY_UNITS, chooseAttributes } from "./choose.js";

/** One distinct set of study (or series) attributes and how many instances carry it. */
interface Variant<A> {
  readonly key: string;
  readonly attributes: A;
  count: number;
}

interface InstanceEntry {
  readonly record: Pick<InstanceCore, "sopInstanceUID" | "sopClassUID" | "instanceNumber" | "title" | "path">;
  readonly study: StudyEntry;
  readonly series: SeriesEntry;
  readonly studyVariant: Variant<StudyAttributes>;
  readonly seriesVariant: Variant<SeriesAttributes>;
}

interface SeriesEntry {
  readonly uid: string;
  readonly variants: Map<string, Variant<SeriesAttributes>>;
  readonly instances: Map<string, InstanceEntry>;
}

interface StudyEntry {
  readonly uid: string;
  readonly variants: Map<string, Variant<StudyAttributes>>;
  readonly series: Map<string, SeriesEntry>;
}

/** An instance as it goes into ImagingStudy.series.instance. */
export interface InstanceGroup {
  readonly sopInstanceUID: string;
  readonly sopClassUID: string;
  readonly instanceNumber?: number;
  readonly title?: string;
  readonly path: FilePath;
}

export interface SeriesGroup {
  readonly seriesInstanceUID: string;
  readonly attributes: SeriesAttributes;
  /** Ordered by Instance Number, then SOP Instance UID. */
  readonly instances: readonly InstanceGroup[];
}

export interface StudyGroup {
  readonly studyInstanceUID: string;
  readonly attributes: StudyAttributes;
  /** Ordered by Series Number, then Series Instance UID. */
  readonly series: readonly SeriesGroup[];
  readonly instanceCount: number;
}

/** Files of one study or series that disagree on an attribute that should be the same for all of them. */
export interface Conflict {
  readonly level: "patient" | "study" | "series";
  /** Patient.id, for patient-level conflicts between studies. */
  readonly patient?: string;
  readonly studyInstanceUID?: string;
  readonly seriesInstanceUID?: string;
  /** DICOM keywords of the disagreeing attributes. */
  readonly attribute: string;
  /** Distinct values found (the values themselves stay out of the report: they can be patient data). */
  readonly values: number;
  readonly instancesWithChosenValue: number;
  readonly instancesWithOtherValues: number;
}

/**
 * Assembles instance records into studies and series by UID, in any arrival order: every choice made here
 * (which duplicate wins, which value a conflicting attribute takes) depends on the records, never on timing.
 */
export class StudyAssembler {
  private readonly studies = new Map<string, StudyEntry>();
  private readonly bySopInstanceUID = new Map<string, InstanceEntry>();
  /** Losers are named at the end: which file wins is only known once every file is in. */
  private readonly duplicatePaths: Array<{ readonly path: FilePath; readonly sopInstanceUID: string; readonly studyInstanceUID: string }> = [];

  /**
   * Adds one instance, with its study and series attributes as JSON (see HeaderRead). When its SOP Instance UID
   * is already known, the file whose path sorts first is kept and the other becomes a `duplicate`.
   */
  add(record: InstanceCore, studyJSON: string, seriesJSON: string): void {
    const existing = this.bySopInstanceUID.get(record.sopInstanceUID);
    if (existing) {
      const keepExisting = comparePaths(existing.record.path, record.path) <= 0;
      this.duplicatePaths.push(
        keepExisting
          ? { path: record.path, sopInstanceUID: record.sopInstanceUID, studyInstanceUID: record.studyInstanceUID }
          : { path: existing.record.path, sopInstanceUID: record.sopInstanceUID, studyInstanceUID: existing.study.uid },
      );
      if (keepExisting) return;
      this.remove(existing);
    }
    const study = getOrCreate(this.studies, record.studyInstanceUID, () => ({ uid: record.studyInstanceUID, variants: new Map(), series: new Map() }));
    const series = getOrCreate(study.series, record.seriesInstanceUID, () => ({ uid: record.seriesInstanceUID, variants: new Map(), instances: new Map() }));
    const entry: InstanceEntry = {
      record: {
        sopInstanceUID: record.sopInstanceUID,
        sopClassUID: record.sopClassUID,
        instanceNumber: record.instanceNumber,
        title: record.title,
        path: record.path,
      },
      study,
      series,
      studyVariant: countVariant<StudyAttributes>(study.variants, studyJSON),
      seriesVariant: countVariant<SeriesAttributes>(series.variants, seriesJSON),
    };
    series.instances.set(record.sopInstanceUID, entry);
    this.bySopInstanceUID.set(record.sopInstanceUID, entry);
  }

  get duplicates(): number {
    return this.duplicatePaths.length;
  }

  /** The files that lost to another with the same SOP Instance UID, each naming the file finally used. */
  duplicateFailures(): FileFailure[] {
    return this.duplicateLosers().map((d) => d.failure);
  }

  /** duplicateFailures, each with the Study Instance UID of the file that lost (the study it is counted with). */
  duplicateLosers(): Array<{ readonly failure: FileFailure; readonly studyInstanceUID: string }> {
    return this.duplicatePaths.map(({ path, sopInstanceUID, studyInstanceUID }) => ({
      failure: duplicateFailure(path, sopInstanceUID, this.bySopInstanceUID.get(sopInstanceUID)!.record.path),
      studyInstanceUID,
    }));
  }

  get instanceCount(): number {
    return this.bySopInstanceUID.size;
  }

  private remove(entry: InstanceEntry): void {
    this.bySopInstanceUID.delete(entry.record.sopInstanceUID);
    entry.series.instances.delete(entry.record.sopInstanceUID);
    uncountVariant(entry.study.variants, entry.studyVariant);
    uncountVariant(entry.series.variants, entry.seriesVariant);
    if (entry.series.instances.size === 0) entry.study.series.delete(entry.series.uid);
    if (entry.study.series.size === 0) this.studies.delete(entry.study.uid);
  }

  /** The studies in Study Instance UID order, with the attributes chosen and every disagreement listed. */
  finish(): { studies: StudyGroup[]; conflicts: Conflict[] } {
    const conflicts: Conflict[] = [];
    const studies = [...this.studies.values()].sort((a, b) => compareStrings(a.uid, b.uid));
    const groups = studies.map((study): StudyGroup => {
      const attributes = chooseAttributes(study.variants.values(), STUDY_UNITS, (unit, tally) =>
        conflicts.push({ level: "study", studyInstanceUID: study.uid, ...describe(unit, tally) }),
      );
      const series = [...study.series.values()].map((s): SeriesGroup & { conflicts: Conflict[] } => {
        const seriesConflicts: Conflict[] = [];
        const chosen = chooseAttributes(s.variants.values(), SERIES_UNITS, (unit, tally) =>
          seriesConflicts.push({ level: "series", studyInstanceUID: study.uid, seriesInstanceUID: s.uid, ...describe(unit, tally) }),
        );
        const instances = [...s.instances.values()]
          .map((i) => i.record)
          .sort(
            byNumberThenUID(
              (i) => i.instanceNumber,
              (i) => i.sopInstanceUID,
            ),
          );
        return { seriesInstanceUID: s.uid, attributes: chosen, instances, conflicts: seriesConflicts };
      });
      series.sort(
        byNumberThenUID(
          (s) => s.attributes.number,
          (s) => s.seriesInstanceUID,
        ),
      );
      // Listed in the series' order, not in the order their first files arrived (which reader threads decide).
      for (const s of series) conflicts.push(...s.conflicts);
      const seriesGroups = series.map(({ conflicts: _, ...s }): SeriesGroup => s);
      return { studyInstanceUID: study.uid, attributes, series: seriesGroups, instanceCount: seriesGroups.reduce((n, s) => n + s.instances.length, 0) };
    });
    return { studies: groups, conflicts };
  }
}

/** A file that lost to `kept`, which holds the same SOP Instance UID and whose path sorts first. */
export const duplicateFailure = (path: FilePath, sopInstanceUID: string, kept: FilePath): FileFailure => ({
  path,
  reason: "duplicate",
  message: `SOP Instance UID ${sopInstanceUID} is also in ${displayPath(kept)}, which is used`,
});

export function describe(unit: { readonly keywords: string }, tally: readonly number[]) {
  const [chosen = 0, ...others] = tally;
  return {
    attribute: unit.keywords,
    values: tally.length,
    instancesWithChosenValue: chosen,
    instancesWithOtherValues: others.reduce((a, b) => a + b, 0),
  };
}

function countVariant<A>(variants: Map<string, Variant<A>>, json: string): Variant<A> {
  const variant = getOrCreate(variants, json, () => ({ key: json, attributes: JSON.parse(json) as A, count: 0 }));
  variant.count++;
  return variant;
}

function uncountVariant<A>(variants: Map<string, Variant<A>>, variant: Variant<A>): void {
  if (--variant.count === 0) variants.delete(variant.key);
}

function getOrCreate<K, V>(map: Map<K, V>, key: K, create: () => V): V {
  let value = map.get(key);
  if (value === undefined) map.set(key, (value = create()));
  return value;
}

export const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Absent numbers sort last: a series without a number is listed after the numbered ones. */
export function byNumberThenUID<T>(number: (t: T) => number | undefined, uid: (t: T) => string) {
  return (a: T, b: T): number => {
    const na = number(a) ?? Infinity;
    const nb = number(b) ?? Infinity;
    return na !== nb ? (na < nb ? -1 : 1) : compareStrings(uid(a), uid(b));
  };
}
