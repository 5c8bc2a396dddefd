// The study distributions of the run report (modality, year, series and instances per study), counted as the index
// takes each ImagingStudy line, kept in the index's meta data and updated with it: report.html, made by every run
// (one that changes nothing too), reads them instead of parsing every study again. Only counts and codes: no
// identifier, no date finer than a year.

export interface StudyFigures {
  /** Studies per acquisition modality code (ImagingStudy.modality, CID 29); a study counts once per modality. */
  readonly modalities: ReadonlyArray<readonly [string, number]>;
  /** Studies per year of `started`, in year order; "none" for studies without a start. */
  readonly years: ReadonlyArray<readonly [string, number]>;
  /** [number of series, studies with that many], by number. */
  readonly seriesPerStudy: ReadonlyArray<readonly [number, number]>;
  /** [number of instances, studies with that many], by number. */
  readonly instancesPerStudy: ReadonlyArray<readonly [number, number]>;
}

/** The figures of a set of studies, as studies are added to it (and, for an index being updated, taken out). */
export class FigureCounts {
  private readonly modalities = new Map<string, number>();
  private readonly years = new Map<string, number>();
  private readonly series = new Map<number, number>();
  private readonly instances = new Map<number, number>();

  static of(figures: StudyFigures): FigureCounts {
    const counts = new FigureCounts();
    for (const [code, n] of figures.modalities) counts.modalities.set(code, n);
    for (const [year, n] of figures.years) counts.years.set(year, n);
    for (const [k, n] of figures.seriesPerStudy) counts.series.set(k, n);
    for (const [k, n] of figures.instancesPerStudy) counts.instances.set(k, n);
    return counts;
  }

  /** A parsed ImagingStudy counted in (`by` 1) or out (-1). */
  add(study: object, by: 1 | -1 = 1): void {
    const { started, numberOfSeries, numberOfInstances, modality } = study as Record<string, unknown>;
    const add = <K>(map: Map<K, number>, key: K) => {
      const n = (map.get(key) ?? 0) + by;
      if (n === 0) map.delete(key);
      else map.set(key, n);
    };
    add(this.years, typeof started === "string" && /^\d{4}/.test(started) ? started.slice(0, 4) : "none");
    add(this.series, typeof numberOfSeries === "number" ? numberOfSeries : 0);
    add(this.instances, typeof numberOfInstances === "number" ? numberOfInstances : 0);
    const codes = new Set(Array.isArray(modality) ? modality.map((c: { code?: unknown }) => (typeof c?.code === "string" ? c.code : "")).filter(Boolean) : []);
    for (const code of codes.size > 0 ? codes : ["none"]) add(this.modalities, code);
  }

  /** Sorted: modalities by count (then code), the others by key; the same studies, the same figures. */
  figures(): StudyFigures {
    const byKey = <K extends string | number>(map: Map<K, number>) => [...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return {
      modalities: [...this.modalities.entries()].sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1)),
      years: byKey(this.years),
      seriesPerStudy: byKey(this.series),
      instancesPerStudy: byKey(this.instances),
    };
  }
}
