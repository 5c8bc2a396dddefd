// The searchset Bundle (R4 search.html#return and bundle.html), assembled from the stored NDJSON
// bytes of each resource: nothing is parsed or re-serialized, so a served resource is exactly its NDJSON line.
import type { SearchPage } from "./execute.js";
import { type Pairs, type SearchRequest, encodeCursor } from "./request.js";

/** An issue of the outcome entry besides the request's own warnings (what `serve --pacs` says of the PACS). */
export interface BundleIssue {
  readonly severity: "error" | "warning" | "information";
  readonly code: string;
  readonly diagnostics: string;
}

/** `base` ends with "/": fullUrl is `[base]Type/id` and links are `[base]ImagingStudy?…`. */
export function searchsetBundle(page: SearchPage, request: SearchRequest, base: string, issues: readonly BundleIssue[] = []): Buffer {
  const links = [{ relation: "self", url: searchUrl(base, request.pairs) }];
  if (page.nextAfter) links.push({ relation: "next", url: searchUrl(base, [...request.pairs, ["_cursor", encodeCursor(request.sort, page.nextAfter)]]) });
  const entries: Array<Array<string | Buffer>> = [];
  for (const m of page.matches)
    entries.push([`{"fullUrl":${JSON.stringify(`${base}ImagingStudy/${m.id}`)},"resource":`, m.resource, `,"search":{"mode":"match"}}`]);
  for (const i of page.included)
    entries.push([`{"fullUrl":${JSON.stringify(`${base}${i.type}/${i.id}`)},"resource":`, i.resource, `,"search":{"mode":"include"}}`]);
  if (request.warnings.length > 0 || issues.length > 0) {
    const warnings = request.warnings.map((diagnostics): BundleIssue => ({ severity: "warning", code: "not-supported", diagnostics }));
    const outcome = {
      resourceType: "OperationOutcome",
      issue: [...warnings, ...issues.map(({ severity, code, diagnostics }) => ({ severity, code, diagnostics }))],
    };
    entries.push([`{"resource":${JSON.stringify(outcome)},"search":{"mode":"outcome"}}`]);
  }
  const parts: Array<string | Buffer> = [`{"resourceType":"Bundle","type":"searchset","total":${page.total},"link":${JSON.stringify(links)}`];
  if (entries.length > 0) parts.push(`,"entry":[`, ...entries.flatMap((entry, i) => (i === 0 ? entry : [",", ...entry])), "]");
  parts.push("}");
  return Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : p)));
}

/** A plain GET URL of the search: every parameter as given, so that following it repeats the search exactly. */
export function searchUrl(base: string, pairs: Pairs): string {
  const query = pairs.map(([name, value]) => `${encodeQueryComponent(name)}=${encodeQueryComponent(value)}`).join("&");
  return `${base}ImagingStudy${query ? `?${query}` : ""}`;
}

// ":", "," and "/" may stand unencoded in a query (RFC 3986 3.4) and keep links readable.
const encodeQueryComponent = (s: string) => encodeURIComponent(s).replace(/%3A/g, ":").replace(/%2C/g, ",").replace(/%2F/g, "/");
