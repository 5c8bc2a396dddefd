// The search page `serve` answers GET / with, to a browser: a form over the ImagingStudy search in words, the
// results as a table, each study expandable to its series. The page itself holds no patient data: the browser
// asks the API (with the bearer token, when serve requires one), as any client would, and shows what it answers,
// its 400 messages included.
import { escapeHtml, inlineScript, page, scriptJson } from "./html.js";
import { SEARCH_CLIENT } from "./searchClient.js";

export interface SearchPageSettings {
  /** The FHIR base path, "" or e.g. "/fhir" (no trailing slash): the API's URLs are this plus "/ImagingStudy". */
  readonly basePath: string;
  /** `serve` requires a bearer token: the page asks for it before any search. */
  readonly tokenRequired: boolean;
  /** --viewer-url, `{study}` standing for the Study Instance UID. */
  readonly viewerUrl?: string;
  /** The status line: counts of the index, when the folder was converted, the PACS it was read from (without credentials). */
  readonly status: { readonly studies: number; readonly patients: number; readonly converted?: string; readonly pacs: readonly string[] };
}

const MODALITIES = ["CR", "CT", "DX", "ES", "IO", "MG", "MR", "NM", "OCT", "OP", "PT", "RF", "RG", "SM", "US", "XA", "XC"];
const STATUSES = ["registered", "available", "cancelled", "entered-in-error", "unknown"];

export function renderSearchPage(settings: SearchPageSettings): string {
  const { status } = settings;
  const statusText = [
    `${status.studies} studies of ${status.patients} patients in the index`,
    status.converted ? `converted ${escapeHtml(status.converted)}` : "",
    status.pacs.length > 0 ? `from ${status.pacs.map((root) => `<code>${escapeHtml(root)}</code>`).join(", ")}` : "",
  ]
    .filter(Boolean)
    .join("; ");
  const options = (values: readonly string[]) => values.map((v) => `<option value="${v}">${v}</option>`).join("");
  const body = `<header><h1>ImagingStudy search</h1><p id="status" class="muted">${statusText}.</p></header>
<main>
<form id="token-form" hidden aria-labelledby="token-heading">
<h2 id="token-heading">Access token</h2>
<p id="token-note">This server needs a bearer token before it answers anything about patients. It is kept in this browser tab only, until it is closed.</p>
<div class="field"><label for="token">Bearer token</label><input id="token" name="token" type="password" autocomplete="off" spellcheck="false"></div>
<button type="submit">Use this token</button>
</form>
<form id="search-form" role="search" aria-describedby="rule" novalidate>
<div class="fields">
<div class="field"><label for="patient-identifier">Patient identifier</label><input id="patient-identifier" name="patient.identifier" type="text" autocomplete="off" spellcheck="false" placeholder="e.g. PAT-0001 or system|PAT-0001"></div>
<div class="field"><label for="study-identifier">Study identifier or accession number</label><input id="study-identifier" name="identifier" type="text" autocomplete="off" spellcheck="false"></div>
<div class="field"><label for="modality">Modality</label><select id="modality" name="modality"><option value="">any</option>${options(MODALITIES)}</select></div>
<div class="field"><label for="started-from">Started on or after</label><input id="started-from" name="started-from" type="date"></div>
<div class="field"><label for="started-to">Started on or before</label><input id="started-to" name="started-to" type="date"></div>
<div class="field"><label for="study-status">Status</label><select id="study-status" name="status"><option value="">any</option>${options(STATUSES)}</select></div>
</div>
<p id="rule" class="note">Give a patient identifier, or a study identifier or accession number: the server lists the studies of one patient (or one study) at a time, never every patient's at once. The other fields narrow that down.</p>
<button type="submit">Search</button>
</form>
<div id="message" role="alert" aria-live="assertive"></div>
<section id="results" aria-labelledby="results-heading" hidden>
<h2 id="results-heading">Studies</h2>
<p id="summary" aria-live="polite"></p>
<div class="scroll"><table id="studies"><thead><tr><th scope="col">Date</th><th scope="col">Modalities</th><th scope="col">Description</th><th scope="col" class="n">Series / instances</th><th scope="col">Links</th></tr></thead><tbody></tbody></table></div>
<nav aria-label="Pages" class="pager"><button type="button" id="previous" hidden>Previous page</button> <button type="button" id="next" hidden>Next page</button></nav>
</section>
</main>
<footer>dcm2fhir serve: FHIR R4 ImagingStudy search. API clients get FHIR JSON from the same URLs.</footer>`;
  const config = { base: `${settings.basePath}/`, tokenRequired: settings.tokenRequired, viewerUrl: settings.viewerUrl ?? null };
  return page({
    title: "ImagingStudy search — dcm2fhir",
    body,
    connect: "'self'",
    extraStyle: SEARCH_STYLE,
    scripts: [`<script type="application/json" id="config">${scriptJson(config)}</script>`, inlineScript(SEARCH_CLIENT)],
  });
}

const SEARCH_STYLE = `
form{margin:1rem 0}
.fields{display:grid;grid-template-columns:repeat(auto-fill,minmax(15rem,1fr));gap:.6rem 1rem}
.field{display:flex;flex-direction:column;gap:.2rem}
label{font-weight:600;font-size:.95rem}
input,select,button{font:inherit;padding:.45rem .55rem;border:1px solid #8c959f;border-radius:6px;min-height:2.5rem;background:#fff;color:inherit}
button{background:var(--accent);color:#fff;border-color:var(--accent);cursor:pointer;padding:.45rem 1.1rem}
button[aria-expanded]{background:#fff;color:var(--accent);padding:.2rem .6rem;min-height:2rem}
#message:not(:empty){border:1px solid var(--bad);background:#fff5f5;color:var(--bad);border-radius:6px;padding:.6rem .8rem;margin:1rem 0}
tr.series-row>td{background:#f6f8fa}
.pager{margin:1rem 0;display:flex;gap:.6rem}
td .links a{margin-right:.6rem;white-space:nowrap}
@media (max-width:700px){#studies thead{display:none}#studies tr.study{display:grid;grid-template-columns:1fr 1fr;border-bottom:1px solid var(--line);padding:.4rem 0}#studies tr.study td{border:0;padding:.15rem .3rem}#studies tr.study td:nth-child(3),#studies tr.study td:nth-child(5){grid-column:1/3}#studies td.n{text-align:left}#studies tr.series-row:not([hidden]){display:block}#studies tr.series-row>td{display:block}}
`;
