// The searchset Bundle (R4 search.html#return and bundle.html), assembled from the NDJSON bytes of each resource:
// nothing is parsed or re-serialized, so a served resource is exactly its NDJSON line. The Bundle's size is known
// before a byte is read (the index knows each study line's length), so the lines are read straight into its one buffer.
import type { SearchIndex, StudyLine, StudyLineRead } from "../index/searchIndex.js";
import type { SearchPage } from "./execute.js";
import { type Pairs, type SearchRequest, encodeCursor } from "./request.js";

/** An issue of the outcome entry besides the request's own warnings (what `serve --pacs` says of the PACS). */
export interface BundleIssue {
  readonly severity: "error" | "warning" | "information";
  readonly code: string;
  readonly diagnostics: string;
}

/**
 * `base` ends with "/": fullUrl is `[base]Type/id` and links are `[base]ImagingStudy?…`. `allocate` gives the buffer
 * the Bundle is written into (serve reuses one); by default a new one.
 */
export function searchsetBundle(
  index: SearchIndex,
  page: SearchPage,
  request: SearchRequest,
  base: string,
  issues: readonly BundleIssue[] = [],
  allocate: (size: number) => Buffer = Buffer.allocUnsafe,
): Buffer {
  const links = [{ relation: "self", url: searchUrl(base, request.pairs) }];
  if (page.nextAfter) links.push({ relation: "next", url: searchUrl(base, [...request.pairs, ["_cursor", encodeCursor(request.sort, page.nextAfter)]]) });
  // The Bundle's pieces in order, each text, bytes, or a study line still in the NDJSON.
  const parts: Array<string | Buffer | StudyLine> = [`{"resourceType":"Bundle","type":"searchset","total":${page.total},"link":${JSON.stringify(links)}`];
  let separator = `,"entry":[`;
  for (const m of page.matches) {
    parts.push(`${separator}{"fullUrl":${JSON.stringify(`${base}ImagingStudy/${m.id}`)},"resource":`, m.line[2] ?? m.line, `,"search":{"mode":"match"}}`);
    separator = ",";
  }
  for (const i of page.included) {
    parts.push(`${separator}{"fullUrl":${JSON.stringify(`${base}${i.type}/${i.id}`)},"resource":`, i.resource, `,"search":{"mode":"include"}}`);
    separator = ",";
  }
  if (request.warnings.length > 0 || issues.length > 0) {
    const warnings = request.warnings.map((diagnostics): BundleIssue => ({ severity: "warning", code: "not-supported", diagnostics }));
    const outcome = {
      resourceType: "OperationOutcome",
      issue: [...warnings, ...issues.map(({ severity, code, diagnostics }) => ({ severity, code, diagnostics }))],
    };
    parts.push(`${separator}{"resource":${JSON.stringify(outcome)},"search":{"mode":"outcome"}}`);
    separator = ",";
  }
  parts.push(separator === "," ? "]}" : "}");
  let size = 0;
  for (const p of parts) size += typeof p === "string" ? Buffer.byteLength(p) : Buffer.isBuffer(p) ? p.length : p[1];
  const bundle = allocate(size);
  const reads: StudyLineRead[] = [];
  let at = 0;
  for (const p of parts) {
    if (typeof p === "string") at += bundle.write(p, at);
    else if (Buffer.isBuffer(p)) at += p.copy(bundle, at);
    else {
      reads.push([p[0]!, p[1], at]);
      at += p[1];
    }
  }
  if (reads.length > 0) index.readStudyLines(reads, bundle);
  return bundle;
}

/** A plain GET URL of the search: every parameter as given, so that following it repeats the search exactly. */
export function searchUrl(base: string, pairs: Pairs): string {
  const query = pairs.map(([name, value]) => `${encodeQueryComponent(name)}=${encodeQueryComponent(value)}`).join("&");
  return `${base}ImagingStudy${query ? `?${query}` : ""}`;
}

// ":", "," and "/" may stand unencoded in a query (RFC 3986 3.4) and keep links readable.
const encodeQueryComponent = (s: string) => encodeURIComponent(s).replace(/%3A/g, ":").replace(/%2C/g, ",").replace(/%2F/g, "/");
