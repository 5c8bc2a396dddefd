// The search page's script, run by the browser (plain ES2017, no framework, no library): it turns the form into
// an ImagingStudy search, sends it with the token (when serve requires one; kept in sessionStorage, for this tab
// only), and shows the Bundle or the OperationOutcome. Text from the server goes in with textContent only.
export const SEARCH_CLIENT = String.raw`(function () {
"use strict";
var config = JSON.parse(document.getElementById("config").textContent);
var TOKEN_KEY = "dcm2fhir.token";
var PAGE_SIZE = 20;
var form = document.getElementById("search-form");
var tokenForm = document.getElementById("token-form");
var message = document.getElementById("message");
var results = document.getElementById("results");
var tbody = document.querySelector("#studies tbody");
var summary = document.getElementById("summary");
var nextButton = document.getElementById("next");
var previousButton = document.getElementById("previous");
var links = {};
var pageNumber = 1;

function token() { try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; } }
function needsToken() { return config.tokenRequired && token() === ""; }

function showTokenForm(note) {
  tokenForm.hidden = false;
  form.hidden = true;
  if (note) document.getElementById("token-note").textContent = note;
  document.getElementById("token").focus();
}

tokenForm.addEventListener("submit", function (event) {
  event.preventDefault();
  var value = document.getElementById("token").value.trim();
  if (value === "") return;
  try { sessionStorage.setItem(TOKEN_KEY, value); } catch (e) { /* private mode: kept nowhere; asked again */ }
  document.getElementById("token").value = "";
  tokenForm.hidden = true;
  form.hidden = false;
  message.textContent = "";
  document.getElementById("patient-identifier").focus();
});

function say(text) { message.textContent = text; }

// The form in the API's parameters. The patient identifier is always sent, empty too: the API states its rule.
function query() {
  var p = new URLSearchParams();
  var v = function (id) { return document.getElementById(id).value.trim(); };
  p.append("patient.identifier", v("patient-identifier"));
  if (v("study-identifier")) p.append("identifier", v("study-identifier"));
  if (v("modality")) p.append("modality", v("modality"));
  if (v("started-from")) p.append("started", "ge" + v("started-from"));
  if (v("started-to")) p.append("started", "le" + v("started-to"));
  if (v("study-status")) p.append("status", v("study-status"));
  p.append("_count", String(PAGE_SIZE));
  // An empty patient identifier with a study identifier: the study identifier alone is the search.
  if (v("patient-identifier") === "" && v("study-identifier") !== "") p.delete("patient.identifier");
  return p;
}

// Paging links are absolute URLs of the server's own base; only their path and query are followed, on this origin.
function sameOrigin(url) {
  var u = new URL(url, location.href);
  return u.pathname + u.search;
}

function search(url, page) {
  if (needsToken()) { showTokenForm(); return; }
  var headers = { Accept: "application/fhir+json" };
  if (config.tokenRequired) headers.Authorization = "Bearer " + token();
  say("");
  summary.textContent = "Searching…";
  fetch(url, { headers: headers, credentials: "omit", cache: "no-store" })
    .then(function (response) {
      return response.text().then(function (text) {
        var body = null;
        try { body = JSON.parse(text); } catch (e) { body = null; }
        if (response.status === 401) {
          try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* nothing kept */ }
          summary.textContent = "";
          showTokenForm("The server did not accept the token (" + diagnostics(body, "401") + "). Enter it again.");
          return;
        }
        if (!response.ok || !body || body.resourceType !== "Bundle") {
          results.hidden = true;
          summary.textContent = "";
          say("The search was refused (" + response.status + "): " + diagnostics(body, response.statusText));
          return;
        }
        pageNumber = page;
        show(body);
      });
    })
    .catch(function () { summary.textContent = ""; say("The server could not be reached."); });
}

function diagnostics(outcome, fallback) {
  var issues = outcome && outcome.resourceType === "OperationOutcome" && outcome.issue;
  if (!issues || issues.length === 0) return fallback;
  return issues.map(function (i) { return i.diagnostics || i.code; }).join("; ");
}

function show(bundle) {
  links = {};
  (bundle.link || []).forEach(function (l) { links[l.relation] = l.url; });
  var studies = (bundle.entry || []).map(function (e) { return e.resource; }).filter(function (r) { return r && r.resourceType === "ImagingStudy"; });
  tbody.textContent = "";
  studies.forEach(function (study) { addStudy(study); });
  var total = typeof bundle.total === "number" ? bundle.total : studies.length;
  summary.textContent = total === 0 ? "No study matches." : total + (total === 1 ? " study" : " studies") + " found" + (total > studies.length ? "; page " + pageNumber + " shows " + studies.length : "") + ".";
  nextButton.hidden = !links.next;
  previousButton.hidden = !(links.previous || links.prev);
  results.hidden = false;
}

function cell(row, text, className) {
  var td = document.createElement("td");
  if (className) td.className = className;
  if (text !== undefined) td.textContent = text;
  row.appendChild(td);
  return td;
}

function studyUid(study) {
  var id = (study.identifier || []).filter(function (i) { return i.system === "urn:dicom:uid"; })[0];
  return id && id.value ? id.value.replace(/^urn:oid:/, "") : "";
}

function addStudy(study) {
  var row = document.createElement("tr");
  row.className = "study";
  cell(row, (study.started || "").slice(0, 10));
  cell(row, (study.modality || []).map(function (m) { return m.code; }).join(", "));
  cell(row, study.description || "");
  var series = study.series || [];
  cell(row, (study.numberOfSeries != null ? study.numberOfSeries : series.length) + " / " + (study.numberOfInstances != null ? study.numberOfInstances : ""), "n");
  var td = cell(row, undefined);
  var span = document.createElement("span");
  span.className = "links";
  var json = document.createElement("a");
  json.href = config.base + "ImagingStudy/" + encodeURIComponent(study.id);
  json.textContent = "JSON";
  json.setAttribute("aria-label", "the study's FHIR JSON");
  span.appendChild(json);
  var uid = studyUid(study);
  if (config.viewerUrl && uid) {
    var viewer = document.createElement("a");
    viewer.href = config.viewerUrl.split("{study}").join(encodeURIComponent(uid));
    viewer.textContent = "Viewer";
    viewer.target = "_blank";
    viewer.rel = "noopener noreferrer";
    viewer.setAttribute("aria-label", "open the study in the viewer");
    span.appendChild(viewer);
  }
  td.appendChild(span);
  tbody.appendChild(row);
  if (series.length === 0) return;
  var detail = document.createElement("tr");
  detail.className = "series-row";
  detail.hidden = true;
  var detailCell = document.createElement("td");
  detailCell.colSpan = 5;
  detailCell.appendChild(seriesTable(series));
  detail.appendChild(detailCell);
  var toggle = document.createElement("button");
  toggle.type = "button";
  toggle.setAttribute("aria-expanded", "false");
  toggle.textContent = "Show " + series.length + " series";
  toggle.addEventListener("click", function () {
    var open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    toggle.textContent = (open ? "Hide " : "Show ") + series.length + " series";
    detail.hidden = !open;
  });
  td.appendChild(toggle);
  tbody.appendChild(detail);
}

function seriesTable(series) {
  var table = document.createElement("table");
  table.className = "series";
  var head = document.createElement("tr");
  ["Number", "Modality", "Description", "Body site", "Instances"].forEach(function (h) {
    var th = document.createElement("th");
    th.scope = "col";
    th.textContent = h;
    head.appendChild(th);
  });
  var thead = document.createElement("thead");
  thead.appendChild(head);
  table.appendChild(thead);
  var body = document.createElement("tbody");
  series.forEach(function (s) {
    var row = document.createElement("tr");
    cell(row, s.number != null ? String(s.number) : "");
    cell(row, s.modality && s.modality.code ? s.modality.code : "");
    cell(row, s.description || "");
    cell(row, s.bodySite ? s.bodySite.display || s.bodySite.code || "" : "");
    cell(row, String(s.numberOfInstances != null ? s.numberOfInstances : (s.instance || []).length), "n");
    body.appendChild(row);
  });
  table.appendChild(body);
  return table;
}

form.addEventListener("submit", function (event) {
  event.preventDefault();
  search(config.base + "ImagingStudy?" + query().toString(), 1);
});
nextButton.addEventListener("click", function () { if (links.next) search(sameOrigin(links.next), pageNumber + 1); });
previousButton.addEventListener("click", function () { var p = links.previous || links.prev; if (p) search(sameOrigin(p), Math.max(1, pageNumber - 1)); });

if (needsToken()) showTokenForm();
})();`;
