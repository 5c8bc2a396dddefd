// Charts: Chart.js (MIT, maintained, ~200 kB minified, draws bar and doughnut charts on <canvas> with no other
// dependency), its UMD file inlined into the page so that nothing is fetched. Each chart's data is JSON in the page
// and is also given as a table beside it, so that every number can be read as text, not only as pixels.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { escapeHtml, inlineScript, num, scriptJson } from "./html.js";

export interface ChartSpec {
  /** Unique in the page; the canvas's id. */
  readonly id: string;
  readonly title: string;
  /** What the bars count, e.g. "studies"; the axis title. */
  readonly unit: string;
  /** What the labels are, e.g. "modality"; the table's first column. */
  readonly labelName: string;
  readonly kind: "bar" | "hbar";
  readonly labels: readonly string[];
  readonly values: readonly number[];
  /** A meaning per label, shown in the table beside the chart. */
  readonly meanings?: readonly string[];
  /** Per-bar colours (e.g. outcome colours); default: one. */
  readonly colors?: readonly string[];
}

let chartSource: string | undefined;

/**
 * Chart.js's UMD build, read once per process from the installed package (resolved from this module, so the
 * bundled CLI finds it from any working folder). Its package exports only the ESM entry: the UMD file sits beside it.
 */
export function chartLibrary(): string {
  if (chartSource === undefined) {
    const entry = createRequire(import.meta.url).resolve("chart.js");
    chartSource = readFileSync(join(dirname(entry), "chart.umd.min.js"), "utf8");
  }
  return chartSource;
}

/** A chart with its numbers as a table (in a <details>, open when the chart would be empty). */
export function chartFigure(spec: ChartSpec): string {
  const rows = spec.labels
    .map(
      (label, i) =>
        `<tr><td>${escapeHtml(label)}</td><td class="n">${num(spec.values[i] ?? 0)}</td>${spec.meanings ? `<td>${escapeHtml(spec.meanings[i] ?? "")}</td>` : ""}</tr>`,
    )
    .join("");
  const table = `<table><thead><tr><th scope="col">${escapeHtml(spec.labelName)}</th><th scope="col" class="n">${escapeHtml(spec.unit)}</th>${spec.meanings ? '<th scope="col">meaning</th>' : ""}</tr></thead><tbody>${rows}</tbody></table>`;
  const height = spec.kind === "hbar" ? Math.max(160, 28 * spec.labels.length + 60) : 240;
  return `<figure data-chart="${escapeHtml(spec.id)}"><figcaption>${escapeHtml(spec.title)}</figcaption><div class="chart" style="height:${height}px"><canvas id="${escapeHtml(spec.id)}" role="img" aria-label="${escapeHtml(`${spec.title}: ${spec.labels.map((l, i) => `${l} ${spec.values[i]}`).join(", ")}`)}"></canvas></div><details><summary>numbers</summary><div class="scroll">${table}</div></details></figure>`;
}

/** The library and the script that draws every chart of `specs`. */
export function chartScripts(specs: readonly ChartSpec[]): string[] {
  if (specs.length === 0) return [];
  const data = specs.map(({ id, unit, kind, labels, values, colors }) => ({ id, unit, kind, labels, values, colors }));
  return [inlineScript(chartLibrary()), `<script type="application/json" id="chart-data">${scriptJson(data)}</script>`, inlineScript(DRAW)];
}

// No animation: the page is read as it first shows, printed or captured; `resizeDelay` keeps a narrow window cheap.
const DRAW = `(function(){
var specs=JSON.parse(document.getElementById("chart-data").textContent);
Chart.defaults.font.family='system-ui,-apple-system,"Segoe UI",Roboto,sans-serif';
Chart.defaults.color="#1b1f24";
specs.forEach(function(s){
  var canvas=document.getElementById(s.id);
  if(!canvas)return;
  new Chart(canvas,{type:"bar",data:{labels:s.labels,datasets:[{label:s.unit,data:s.values,backgroundColor:s.colors||"#0b5cad",borderWidth:0}]},
    options:{indexAxis:s.kind==="hbar"?"y":"x",animation:false,responsive:true,maintainAspectRatio:false,resizeDelay:100,
      plugins:{legend:{display:false},tooltip:{enabled:true}},
      scales:{x:{beginAtZero:true,ticks:{precision:0},title:{display:s.kind==="hbar",text:s.unit}},y:{beginAtZero:true,ticks:{precision:0},title:{display:s.kind!=="hbar",text:s.unit}}}}});
});
})();`;
