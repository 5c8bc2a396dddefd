// Where convert, merge and load hand their report to the pages: report.html is staged beside report.json and
// committed with it. Loaded by the commands that write a report; the renderers and Chart.js only when a page is made.
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ERRORS_FILE, REPORT_PAGE, SEARCH_INDEX_FILE } from "../core/outputFiles.js";
import { type FileFailure, REASONS, type Reason, displayPath } from "../core/reasons.js";
import { readErrors } from "../write/errorsFile.js";
import type { OutputDirectory } from "../lib/outputFolder.js";
import type { Report } from "../write/report.js";

export interface ReportPageOptions {
  /** False: no page (--no-html-report). Default true. */
  readonly htmlReport?: boolean;
  /** Add the failing files' paths (--report-details); they can hold patient names. */
  readonly reportDetails?: boolean;
  /** After merge: how many parts. */
  readonly parts?: number;
}

/** Failing paths listed with --report-details; errors.ndjson has them all. */
const DETAILS_LIMIT = 1000;

/** Stages report.html for `report`, from the outputs staged (or, for what a run kept, committed) in `out`. */
export async function stageReportPage(out: OutputDirectory, report: Report, options: ReportPageOptions): Promise<void> {
  if (options.htmlReport === false) return;
  const { renderRunReport } = await import("./runReport.js");
  const { studyFigures } = await import("./studyFigures.js");
  const current = (name: string) => out.stagedPath(name) ?? join(out.dir, name);
  const invalid = report.files.reasons["invalid-resource"] ?? 0;
  const errors = invalid > 0 || (options.reportDetails && report.files.failed > 0) ? errorLines(current(ERRORS_FILE)) : [];
  const failures = options.reportDetails
    ? errors.filter((e) => REASONS[e.reason as Reason]?.outcome === "failed").map((e) => ({ path: displayPath(e.path), reason: e.reason }))
    : [];
  const html = renderRunReport(report, {
    figures: studyFigures(current(SEARCH_INDEX_FILE)),
    validation: validationProblems(errors),
    details: options.reportDetails ? { failures: failures.slice(0, DETAILS_LIMIT), more: Math.max(0, failures.length - DETAILS_LIMIT) } : undefined,
    parts: options.parts,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  });
  writeFileSync(out.stage(REPORT_PAGE), html, { mode: 0o644 });
}

type ErrorLine = Pick<FileFailure, "reason" | "message">;

/** errors.ndjson of the run, as written (the failures of a run that kept its outputs are in the committed one). */
const errorLines = (path: string): FileFailure[] => (existsSync(path) ? readErrors(path) : []);

/**
 * invalid-resource messages grouped by problem: the study's UID and positions in arrays are taken out, so that one
 * rule broken by many studies is one line (and no UID reaches the page).
 */
export function validationProblems(errors: readonly ErrorLine[]): Array<[string, number]> {
  const problems = new Map<string, number>();
  for (const e of errors) {
    if (e.reason !== "invalid-resource") continue;
    const problem = e.message
      .replace(/^ImagingStudy \S+ failed validation: /, "ImagingStudy: ")
      .replace(/\b\d+(\.\d+){2,}\b/g, "<UID>")
      .replace(/\.\d+(?=[.\s]|$)/g, "[n]");
    problems.set(problem, (problems.get(problem) ?? 0) + 1);
  }
  return [...problems.entries()].sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1));
}
