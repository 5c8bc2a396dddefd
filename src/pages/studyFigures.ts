// The study distributions of the run report (modality, year, series and instances per study), read through the
// search index the run has just built: it knows where every written ImagingStudy's line is (and skipped the lines
// it could not take), so report.html needs no change to report.json. Only counts and codes come out: no identifier, no date finer than a year.
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { SearchIndex } from "../index/searchIndex.js";

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

/** Undefined when there is no index (a run that wrote no ImagingStudy.ndjson). */
export function studyFigures(indexPath: string): StudyFigures | undefined {
  if (!existsSync(indexPath)) return undefined;
  const index = SearchIndex.open(dirname(indexPath));
  try {
    const modalities = new Map<string, number>();
    const years = new Map<string, number>();
    const series = new Map<number, number>();
    const instances = new Map<number, number>();
    const add = <K>(map: Map<K, number>, key: K) => map.set(key, (map.get(key) ?? 0) + 1);
    // Every study the index took, read from where the index says its line is.
    for (const resource of index.studies()) {
      const { started, numberOfSeries: nSeries, numberOfInstances: nInstances, modality } = JSON.parse(resource.toString("utf8")) as Record<string, unknown>;
      add(years, typeof started === "string" && /^\d{4}/.test(started) ? started.slice(0, 4) : "none");
      add(series, typeof nSeries === "number" ? nSeries : 0);
      add(instances, typeof nInstances === "number" ? nInstances : 0);
      const codes = new Set(
        Array.isArray(modality) ? modality.map((c: { code?: unknown }) => (typeof c?.code === "string" ? c.code : "")).filter(Boolean) : [],
      );
      for (const code of codes.size > 0 ? codes : ["none"]) add(modalities, code);
    }
    const byKey = <K extends string | number>(map: Map<K, number>) => [...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return {
      modalities: [...modalities.entries()].sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1)),
      years: byKey(years),
      seriesPerStudy: byKey(series),
      instancesPerStudy: byKey(instances),
    };
  } finally {
    index.close();
  }
}

/**
 * Counts of a distribution in bins a chart can show: each value while there are few, else ranges (1, 2, 3–4, 5–8,
 * … doubling), so that a study of 3,000 instances does not stretch the axis to 3,000 bars.
 */
export function bins(counts: ReadonlyArray<readonly [number, number]>): { labels: string[]; values: number[] } {
  if (counts.length <= 12) return { labels: counts.map(([v]) => String(v)), values: counts.map(([, n]) => n) };
  const out = new Map<string, number>();
  for (const [value, n] of counts) {
    let label: string;
    if (value <= 2) label = String(value);
    else {
      const hi = 2 ** Math.ceil(Math.log2(value));
      label = `${hi / 2 + 1}–${hi}`;
    }
    out.set(label, (out.get(label) ?? 0) + n);
  }
  return { labels: [...out.keys()], values: [...out.values()] };
}
