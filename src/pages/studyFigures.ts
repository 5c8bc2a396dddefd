// The study distributions of the run report (modality, year, series and instances per study): counted by the
// search index as it takes each study (index/figures.ts) and kept in its meta data, so report.html needs no change
// to report.json and no second pass over the studies.
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import type { StudyFigures } from "../index/figures.js";
import { SearchIndex } from "../index/searchIndex.js";

export type { StudyFigures };

/** Undefined when there is no index (a run that wrote no ImagingStudy.ndjson). */
export function studyFigures(indexPath: string): StudyFigures | undefined {
  if (!existsSync(indexPath)) return undefined;
  const index = SearchIndex.open(dirname(indexPath));
  try {
    return index.meta.figures;
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
