// report.html: report.json for the people around a migration or a nightly job, who look rather than read JSON.
// A pure function of the report and a few figures the run already has; counts and codes only, never a patient's
// name, identifier, birth date or accession number, and no file path unless the site asked for them (--report-details).
import { REASONS, type Reason } from "../core/reasons.js";
import type { Report } from "../write/report.js";
import type { ResourceType } from "../fhir/types.js";
import { type ChartSpec, chartFigure, chartScripts } from "./chart.js";
import { WRITTEN_SCRIPT, escapeHtml, num, page } from "./html.js";
import { type StudyFigures, bins } from "./studyFigures.js";

export interface RunReportExtras {
  /** From the run's search index; absent when no study was written. */
  readonly figures?: StudyFigures;
  /** Validation problems, each with the files it failed (errors.ndjson's invalid-resource lines, UIDs masked). */
  readonly validation?: ReadonlyArray<readonly [string, number]>;
  /** With --report-details: failing files (path, reason), and how many more errors.ndjson lists. */
  readonly details?: { readonly failures: ReadonlyArray<{ readonly path: string; readonly reason: string }>; readonly more: number };
  /** After merge: the number of shards' parts merged. */
  readonly parts?: number;
  /** Peak resident memory of the process, in bytes (like elapsedSeconds, a measurement of this run). */
  readonly peakRssBytes?: number;
}

const RESOURCE_TYPES: readonly ResourceType[] = ["ImagingStudy", "Patient", "Endpoint"];
const OUTCOME_COLORS = { converted: "#1a7f37", skipped: "#8c959f", failed: "#b3261e" };

/** What each warning kind of report.json means (README, "Reason codes" and the mapping table). */
const WARNINGS: Readonly<Record<string, string>> = {
  "series-without-modality": "a series without Modality (0008,0060): written with a data-absent-reason",
  "body-part-without-snomed-code": "a Body Part Examined term without a SNOMED CT code: kept as display text",
  "bulk-data-not-fetched": "a DICOMweb attribute sent as bulk data: left out",
  gzipped: "a gzipped file: read through gunzip",
  "mismatched-delimiter": "a sequence or item delimiter that does not close what is open: read past",
  "no-file-meta": "a raw data set without the Part 10 file meta header",
  "stray-delimiter": "a delimiter outside any sequence: skipped",
  "too-many-items": "a sequence with more items than are read: the rest skipped",
  "transfer-syntax-mismatch": "the data set is not encoded as its transfer syntax says: read as it is",
  "undefined-length-value": "a value of undefined length where DICOM allows none: read to its delimiter",
  "value-too-long": "a value longer than its VR allows: kept",
};

const warningMeaning = (kind: string): string =>
  WARNINGS[kind] ?? (kind.startsWith("invalid-") ? `a ${kind.slice(8).replace(/-/g, " ")} that is not a valid DICOM value: dropped` : "");

export function renderRunReport(report: Report, extras: RunReportExtras = {}): string {
  const charts: ChartSpec[] = [];
  const chart = (spec: ChartSpec) => (charts.push(spec), chartFigure(spec));
  const f = report.files;
  const incremental = f.added !== undefined || report.changes !== undefined;
  const reasons = (Object.entries(f.reasons) as Array<[Reason, number]>).sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1));
  const webSources = report.sources.filter((s) => s.kind === "dicomweb");
  const filesPerSecond = report.elapsedSeconds > 0 ? Math.round(f.seen / report.elapsedSeconds) : 0;

  const sections: string[] = [];
  sections.push(`<section aria-labelledby="run"><h2 id="run">The run</h2>
<table><tbody>
<tr><th scope="row">Outcome</th><td>${outcomeText(report)}</td></tr>
<tr><th scope="row">Inputs</th><td>${inputsText(report)}</td></tr>
<tr><th scope="row">Written</th><td><span id="written">when this file was written (its modification time)</span></td></tr>
<tr><th scope="row">Elapsed</th><td><span data-report="elapsedSeconds">${report.elapsedSeconds}</span> s${incremental ? "" : `, ${filesPerSecond} files/s`}</td></tr>
<tr><th scope="row">Bytes read</th><td><span data-report="bytesRead.total">${num(report.bytesRead.total)}</span> (${megabytes(report.bytesRead.total)}); median per file <span data-report="bytesRead.medianPerFile">${num(report.bytesRead.medianPerFile)}</span></td></tr>
${extras.peakRssBytes ? `<tr><th scope="row">Peak memory</th><td>${megabytes(extras.peakRssBytes)} resident</td></tr>` : ""}
<tr><th scope="row">Times read in</th><td>${escapeHtml(report.dateTimes.zone)} (${report.dateTimes.zoneSource === "option" ? "--timezone" : "this machine's zone"}) where a file gives no offset from UTC</td></tr>
<tr><th scope="row">Converter</th><td>dcm2fhir ${escapeHtml(report.dcm2fhir)}</td></tr>
${extras.parts ? `<tr><th scope="row">Shards</th><td>merged from <span data-parts>${num(extras.parts)}</span> parts (convert --shard)</td></tr>` : ""}
</tbody></table></section>`);

  sections.push(`<section aria-labelledby="files"><h2 id="files">Files</h2>
<p class="note">Every file ends as (part of) a resource, or skipped (not an instance by nature), or failed (meant to be one and could not); errors.ndjson lists each with its reason.</p>
<div class="grid">${chart({
    id: "chart-outcome",
    title: "Files by outcome",
    unit: "files",
    labelName: "outcome",
    kind: "hbar",
    labels: ["converted", "skipped", "failed"],
    values: [f.converted, f.skipped, f.failed],
    colors: [OUTCOME_COLORS.converted, OUTCOME_COLORS.skipped, OUTCOME_COLORS.failed],
  })}
${
  reasons.length > 0
    ? chart({
        id: "chart-reasons",
        title: "Files not converted, by reason",
        unit: "files",
        labelName: "reason",
        kind: "hbar",
        labels: reasons.map(([r]) => r),
        values: reasons.map(([, n]) => n),
        meanings: reasons.map(([r]) => `${REASONS[r]?.outcome ?? ""}: ${REASONS[r]?.meaning ?? ""}`),
        colors: reasons.map(([r]) => (REASONS[r]?.outcome === "failed" ? OUTCOME_COLORS.failed : OUTCOME_COLORS.skipped)),
      })
    : `<p>Every file was converted: no reason to list.</p>`
}</div>
${
  reasons.length > 0
    ? `<h3>What each reason means</h3><div class="scroll"><table><thead><tr><th scope="col">reason</th><th scope="col">outcome</th><th scope="col" class="n">files</th><th scope="col">meaning</th></tr></thead><tbody>${reasons
        .map(
          ([r, n]) =>
            `<tr><td><code>${escapeHtml(r)}</code></td><td>${REASONS[r]?.outcome ?? ""}</td><td class="n" data-report="files.reasons.${escapeHtml(r)}">${num(n)}</td><td>${escapeHtml(REASONS[r]?.meaning ?? "")}</td></tr>`,
        )
        .join("")}</tbody></table></div>`
    : ""
}</section>`);

  if (incremental) sections.push(incrementalSection(report, chart));
  if (webSources.length > 0) sections.push(dicomWebSection(report));
  if (extras.figures && report.studies > 0) sections.push(studiesSection(extras.figures, chart));
  sections.push(resourcesSection(report, extras));
  sections.push(conflictsSection(report));
  if (extras.details) sections.push(detailsSection(extras.details));

  const body = `<header><h1>dcm2fhir run report</h1>
<dl class="totals" aria-label="Totals">
${total("Files seen", "files.seen", f.seen)}${total("Converted", "files.converted", f.converted)}${total("Skipped", "files.skipped", f.skipped)}${total("Failed", "files.failed", f.failed)}
${total("Patients", "patients", report.patients)}${total("Studies", "studies", report.studies)}${total("Series", "series", report.series)}${total("Instances", "instances", report.instances)}
</dl></header>
<main>
${sections.join("\n")}
</main>
<footer>Made by dcm2fhir ${escapeHtml(report.dcm2fhir)} from report.json beside this file. It holds counts and codes only${extras.details ? ", and the paths of failing files (--report-details)" : ": no patient data and no file paths"}.</footer>`;
  return page({ title: "dcm2fhir run report", body, scripts: [...chartScripts(charts), WRITTEN_SCRIPT] });
}

const total = (label: string, key: string, value: number) => `<div><dt>${escapeHtml(label)}</dt><dd data-report="${key}">${num(value)}</dd></div>`;

const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 0)} MB`;

function outcomeText(report: Report): string {
  const failed = report.files.failed;
  const ok = failed === 0 ? `<span class="status-ok">complete</span>` : `<span class="status-bad">complete, ${num(failed)} files failed</span>`;
  return `${ok}: the outputs were committed. Exit code 0${failed > 0 ? ", or 1 with --fail-on-error (a file failed)" : ""}; 2 is bad usage, 3 an output folder that cannot be written (or --max-delete refused), 130/143 a run stopped by a signal, which commits nothing.`;
}

function inputsText(report: Report): string {
  const parts = report.sources.map((s) => (s.kind === "files" ? `files and folders (${num(s.seen)} items)` : `DICOMweb ${escapeHtml(s.root ?? "")}`));
  return parts.length > 0 ? parts.join("; ") : "none";
}

function incrementalSection(report: Report, chart: (spec: ChartSpec) => string): string {
  const f = report.files;
  const changes = report.changes;
  const rows = changes
    ? RESOURCE_TYPES.map(
        (t) =>
          `<tr><th scope="row">${t}</th><td class="n" data-report="changes.${t}.new">${num(changes[t].new)}</td><td class="n" data-report="changes.${t}.changed">${num(changes[t].changed)}</td><td class="n" data-report="changes.${t}.deleted">${num(changes[t].deleted)}</td></tr>`,
      ).join("")
    : "";
  return `<section aria-labelledby="changes"><h2 id="changes">What changed since the last run (--incremental)</h2>
<div class="grid">${chart({
    id: "chart-file-changes",
    title: "Files compared with the last run",
    unit: "files",
    labelName: "files",
    kind: "hbar",
    labels: ["unchanged", "added", "modified", "removed"],
    values: [f.unchanged ?? 0, f.added ?? 0, f.modified ?? 0, f.removed ?? 0],
  })}
<figure><figcaption>Resources new, changed and deleted (changes/ lists them)</figcaption><div class="scroll"><table><thead><tr><th scope="col">type</th><th scope="col" class="n">new</th><th scope="col" class="n">changed</th><th scope="col" class="n">deleted</th></tr></thead><tbody>${rows}</tbody></table></div>
<p class="note">Files: <span data-report="files.unchanged">${num(f.unchanged ?? 0)}</span> unchanged, <span data-report="files.added">${num(f.added ?? 0)}</span> added, <span data-report="files.modified">${num(f.modified ?? 0)}</span> modified, <span data-report="files.removed">${num(f.removed ?? 0)}</span> removed.</p></figure></div></section>`;
}

function dicomWebSection(report: Report): string {
  const rows = report.sources
    .filter((s) => s.kind === "dicomweb")
    .map(
      (s) =>
        `<tr><td><code>${escapeHtml(s.root ?? "")}</code></td><td class="n">${num(s.studies?.listed ?? 0)}</td><td class="n">${num(s.studies?.read ?? 0)}</td><td class="n">${num(s.studies?.failed ?? 0)}</td><td class="n">${num(s.instances)}</td></tr>`,
    )
    .join("");
  return `<section aria-labelledby="pacs"><h2 id="pacs">From each PACS (DICOMweb)</h2><div class="scroll"><table><thead><tr><th scope="col">service root</th><th scope="col" class="n">studies listed</th><th scope="col" class="n">read</th><th scope="col" class="n">failed</th><th scope="col" class="n">instances</th></tr></thead><tbody>${rows}</tbody></table></div></section>`;
}

function studiesSection(figures: StudyFigures, chart: (spec: ChartSpec) => string): string {
  const series = bins(figures.seriesPerStudy);
  const instances = bins(figures.instancesPerStudy);
  return `<section aria-labelledby="studies"><h2 id="studies">Studies written</h2><div class="grid">
${chart({ id: "chart-modality", title: "Studies by modality (acquisition modalities, CID 29)", unit: "studies", labelName: "modality", kind: "bar", labels: figures.modalities.map(([m]) => m), values: figures.modalities.map(([, n]) => n) })}
${chart({ id: "chart-year", title: "Studies by year started", unit: "studies", labelName: "year", kind: "bar", labels: figures.years.map(([y]) => y), values: figures.years.map(([, n]) => n) })}
${chart({ id: "chart-series", title: "Series per study", unit: "studies", labelName: "series", kind: "bar", labels: series.labels, values: series.values })}
${chart({ id: "chart-instances", title: "Instances per study", unit: "studies", labelName: "instances", kind: "bar", labels: instances.labels, values: instances.values })}
</div></section>`;
}

function resourcesSection(report: Report, extras: RunReportExtras): string {
  const { written, rejected } = report.resources;
  const rows = RESOURCE_TYPES.map(
    (t) =>
      `<tr><th scope="row">${t}</th><td class="n" data-report="resources.written.${t}">${num(written[t])}</td><td class="n" data-report="resources.rejected.${t}">${num(rejected[t])}</td></tr>`,
  ).join("");
  const validation = extras.validation ?? [];
  const problems =
    validation.length > 0
      ? `<h3>Validation problems</h3><div class="scroll"><table><thead><tr><th scope="col">problem</th><th scope="col" class="n">files</th></tr></thead><tbody>${validation
          .map(([problem, n]) => `<tr><td>${escapeHtml(problem)}</td><td class="n">${num(n)}</td></tr>`)
          .join("")}</tbody></table></div>`
      : `<p class="note">No resource failed validation.</p>`;
  return `<section aria-labelledby="resources"><h2 id="resources">Resources written and rejected</h2>
<div class="scroll"><table><thead><tr><th scope="col">type</th><th scope="col" class="n">written</th><th scope="col" class="n">rejected (failed FHIR validation)</th></tr></thead><tbody>${rows}</tbody></table></div>
<p class="note">Duplicates (files holding a SOP Instance UID another file holds): <span data-report="duplicates">${num(report.duplicates)}</span>.</p>
${problems}</section>`;
}

function conflictsSection(report: Report): string {
  const conflicts = new Map<string, number>();
  for (const c of report.conflicts) conflicts.set(`${c.level}\u0000${c.attribute}`, (conflicts.get(`${c.level}\u0000${c.attribute}`) ?? 0) + 1);
  const conflictRows = [...conflicts.entries()]
    .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1))
    .map(([key, n]) => {
      const [level, attribute] = key.split("\u0000");
      return `<tr><td><code>${escapeHtml(attribute!)}</code></td><td>${escapeHtml(level!)}</td><td class="n">${num(n)}</td></tr>`;
    })
    .join("");
  const warnings = Object.entries(report.warnings).sort(([a, x], [b, y]) => (y ?? 0) - (x ?? 0) || (a < b ? -1 : 1));
  const warningRows = warnings
    .map(
      ([kind, n]) =>
        `<tr><td><code>${escapeHtml(kind)}</code></td><td class="n" data-report="warnings.${escapeHtml(kind)}">${num(n ?? 0)}</td><td>${escapeHtml(warningMeaning(kind))}</td></tr>`,
    )
    .join("");
  return `<section aria-labelledby="conflicts"><h2 id="conflicts">Conflicts and warnings</h2>
<p class="note">A conflict: files of one patient, study or series disagree on an attribute; the value most instances hold is used (the values stay out of this report).</p>
${conflictRows ? `<div class="scroll"><table><thead><tr><th scope="col">attribute</th><th scope="col">level</th><th scope="col" class="n">conflicts</th></tr></thead><tbody>${conflictRows}</tbody></table></div>` : "<p>No conflicts.</p>"}
<h3>Values dropped or adjusted (warnings)</h3>
${warningRows ? `<div class="scroll"><table><thead><tr><th scope="col">kind</th><th scope="col" class="n">times</th><th scope="col">meaning</th></tr></thead><tbody>${warningRows}</tbody></table></div>` : "<p>No warnings.</p>"}
</section>`;
}

function detailsSection(details: NonNullable<RunReportExtras["details"]>): string {
  const rows = details.failures.map((f) => `<tr><td><code>${escapeHtml(f.path)}</code></td><td><code>${escapeHtml(f.reason)}</code></td></tr>`).join("");
  return `<section aria-labelledby="details"><h2 id="details">Failing files (--report-details)</h2>
<p class="note">Paths can hold patient names: this section is here because the run was asked for it.${details.more > 0 ? ` ${num(details.more)} more are listed in errors.ndjson.` : ""}</p>
${rows ? `<div class="scroll"><table><thead><tr><th scope="col">path</th><th scope="col">reason</th></tr></thead><tbody>${rows}</tbody></table></div>` : "<p>No file failed.</p>"}</section>`;
}
