// load-report.html: what `load` did, for the people who check that a migration reached the FHIR server. A pure
// function of load-report.json (counts, the server's URL without credentials), plus the file write beside it.
import { rmSync } from "node:fs";
import { replaceFile } from "../lib/atomicFile.js";
import { LoadFailure } from "./errors.js";
import type { LoadReport } from "./report.js";
import { type ChartSpec, chartFigure, chartScripts } from "../pages/chart.js";
import { WRITTEN_SCRIPT, escapeHtml, num, page } from "../pages/html.js";

const OUTCOMES: ReadonlyArray<readonly [keyof LoadReport & string, string, string]> = [
  ["created", "stored as new resources (201)", "#1a7f37"],
  ["updated", "stored over an earlier version (200)", "#2f81f7"],
  ["deleted", "deleted (listed in changes/deleted.ndjson, with --delete)", "#8250df"],
  ["skipped", "acknowledged by an earlier run (the checkpoint): not sent again", "#8c959f"],
  ["rejected", "refused by the server (load-errors.ndjson has its OperationOutcome)", "#b3261e"],
  ["failed", "no final answer after the bounded retries", "#d4a72c"],
  ["invalid", "lines of the folder that are not a resource load can send", "#6e7781"],
];

export function renderLoadReport(report: LoadReport): string {
  const charts: ChartSpec[] = [];
  const outcome: ChartSpec = {
    id: "chart-load-outcome",
    title: "Resources by outcome",
    unit: "resources",
    labelName: "outcome",
    kind: "hbar",
    labels: OUTCOMES.map(([key]) => key),
    values: OUTCOMES.map(([key]) => report[key] as number),
    meanings: OUTCOMES.map(([, meaning]) => meaning),
    colors: OUTCOMES.map(([, , color]) => color),
  };
  charts.push(outcome);
  // The rate over time: resources stored in each second of the run (from the running totals load-report.json keeps).
  const perSecond = report.storedBySecond.map((stored, i) => stored - (i === 0 ? 0 : report.storedBySecond[i - 1]!));
  const rate: ChartSpec = {
    id: "chart-load-rate",
    title: "Resources stored per second, over the run",
    unit: "resources stored",
    labelName: "second",
    kind: "bar",
    labels: perSecond.map((_, i) => String(i + 1)),
    values: perSecond,
  };
  if (perSecond.length > 0) charts.push(rate);
  const phaseRows = report.phases
    .map((p, i) => {
      const cell = (key: "sent" | "created" | "updated" | "deleted" | "rejected" | "failed" | "invalid" | "skipped") =>
        `<td data-report="phases.${i}.${key}">${num(p[key])}</td>`;
      return `<tr><th scope="row">${p.action === "delete" ? "DELETE " : ""}${escapeHtml(p.resourceType)}</th>${cell("sent")}${cell("created")}${cell("updated")}${cell("deleted")}${cell("rejected")}${cell("failed")}${cell("invalid")}${cell("skipped")}</tr>`;
    })
    .join("\n");
  const problems = report.rejected + report.failed + report.invalid;
  const state = !report.complete
    ? `<span class="status-bad">stopped before the end</span>${report.stopped ? ` (${escapeHtml(report.stopped.reason)}: ${escapeHtml(report.stopped.message)})` : ""}: run load again to finish (exit 3, or 130/143 after a signal)`
    : problems > 0
      ? `<span class="status-bad">complete, ${num(problems)} resources not stored</span> (exit 1): load-errors.ndjson lists them`
      : `<span class="status-ok">complete</span>: every resource sent was stored (exit 0)`;
  const total = (label: string, key: keyof LoadReport & string) =>
    `<div><dt>${escapeHtml(label)}</dt><dd data-report="${key}">${num(report[key] as number)}</dd></div>`;
  const body = `<header><h1>dcm2fhir load report</h1>
<dl class="totals" aria-label="Totals">
${total("Sent", "sent")}${total("Created", "created")}${total("Updated", "updated")}${total("Deleted", "deleted")}${total("Rejected", "rejected")}${total("Failed", "failed")}${total("Invalid", "invalid")}${total("Skipped", "skipped")}
</dl></header>
<main>
<section aria-labelledby="run"><h2 id="run">The run</h2><table><tbody>
<tr><th scope="row">Outcome</th><td>${state}</td></tr>
<tr><th scope="row">Server</th><td><code>${escapeHtml(report.server)}</code></td></tr>
<tr><th scope="row">How</th><td>${escapeHtml(report.bundle)} Bundles; ${report.mode === "changes" ? "changes/ only (--changes)" : "the whole folder"}${report.delete ? ", with deletes" : ""}${report.dryRun ? "; a dry run: nothing sent" : ""}</td></tr>
<tr><th scope="row">Written</th><td><span id="written">when this file was written (its modification time)</span></td></tr>
<tr><th scope="row">Elapsed</th><td><span data-report="elapsed">${report.elapsed}</span> s, <span data-report="resources/s">${report["resources/s"]}</span> resources/s</td></tr>
<tr><th scope="row">Requests</th><td><span data-report="requests">${num(report.requests)}</span> requests, <span data-report="retried">${num(report.retried)}</span> sent again (after 429, 5xx, a reset or a timeout), <span data-report="splits">${num(report.splits)}</span> Bundles split in two because the server refused them whole</td></tr>
<tr><th scope="row">Loader</th><td>dcm2fhir ${escapeHtml(report.dcm2fhir)}</td></tr>
</tbody></table></section>
<section aria-labelledby="outcomes"><h2 id="outcomes">Resources</h2><div class="grid">${chartFigure(outcome)}</div>
<table><caption>By resource type, in the order load sends them</caption><thead><tr><th scope="col">phase</th><th scope="col">sent</th><th scope="col">created</th><th scope="col">updated</th><th scope="col">deleted</th><th scope="col">refused</th><th scope="col">failed</th><th scope="col">invalid</th><th scope="col">skipped</th></tr></thead>
<tbody>${phaseRows}</tbody></table></section>
${perSecond.length > 0 ? `<section aria-labelledby="rate"><h2 id="rate">Rate over time</h2><div class="grid">${chartFigure(rate)}</div></section>` : ""}
</main>
<footer>Made by dcm2fhir ${escapeHtml(report.dcm2fhir)} from load-report.json beside this file. It holds counts only: no patient data.</footer>`;
  return page({ title: "dcm2fhir load report", body, scripts: [...chartScripts(charts), WRITTEN_SCRIPT] });
}

/** Written to `temp` and renamed into place, as load-report.json is: a reader never sees half of it. */
export function writeLoadReportPage(temp: string, path: string, report: LoadReport): void {
  try {
    replaceFile(path, renderLoadReport(report), temp);
  } catch (error) {
    rmSync(temp, { force: true });
    throw new LoadFailure("folder-unwritable", `cannot write load-report.html in the folder (${(error as NodeJS.ErrnoException).code})`);
  }
}
