// Transaction and batch Bundles of `PUT <type>/<id>` (and `DELETE <type>/<id>`) entries, and what their answers
// say about each entry (FHIR R4 3.1.0.11 "Batch/Transaction"). Bodies are built once as text, with each
// resource's NDJSON line spliced in as is: a retry re-sends exactly these bytes.
import type { LoadEntry } from "./ndjson.js";

export type BundleType = "transaction" | "batch";

/** What the server said about one entry. */
export type EntryAnswer =
  | { readonly kind: "accepted"; readonly status: number }
  | { readonly kind: "refused"; readonly status: number; readonly outcome: unknown }
  /** A status that says "later" (429, 502, 503, 504) for this entry of a batch. */
  | { readonly kind: "later"; readonly status: number; readonly outcome: unknown };

/**
 * `base` is the server's base URL without credentials or trailing slash: entry.fullUrl is the absolute URL the
 * resource will have (R4 3.1.0.11.2: a PUT entry's fullUrl is the resource's own URL). Built as bytes, in one
 * buffer that `space` gives (load reuses a few: a fresh buffer per Bundle cost more in page faults than the copy):
 * the lines' bytes are copied in once, and no string of the whole Bundle is ever made.
 */
export function bundleBody(type: BundleType, entries: readonly LoadEntry[], base: string, space: (bytes: number) => Buffer = Buffer.allocUnsafe): Buffer {
  const head = bundleHead(type);
  const fullBase = fullUrlHead(base);
  let length = head.length + BUNDLE_END.length;
  const urls: string[] = new Array(entries.length);
  entries.forEach((e, i) => {
    const url = jsonUrl(e.resourceType, e.id);
    urls[i] = url;
    length += i > 0 ? 1 : 0;
    if (e.text === undefined) length += DELETE_HEAD.length + url.length + ENTRY_END.length;
    else {
      const text = typeof e.text === "string" ? Buffer.byteLength(e.text) : e.text.length;
      length += fullBase.length + url.length - 1 + RESOURCE.length + text + PUT_HEAD.length + url.length + ENTRY_END.length;
    }
  });
  const body = space(length).subarray(0, length);
  let at = copy(body, 0, head);
  entries.forEach((e, i) => {
    // The url is ASCII (jsonUrl escapes anything else): latin1 writes it byte for byte.
    const url = urls[i]!;
    if (i > 0) body[at++] = 0x2c; // ,
    if (e.text === undefined) {
      at = copy(body, at, DELETE_HEAD);
    } else {
      at = copy(body, at, fullBase);
      at += body.write(url.slice(1), at, "latin1"); // without its opening quote: it follows the base
      at = copy(body, at, RESOURCE);
      at = typeof e.text === "string" ? at + body.write(e.text, at, "utf8") : copy(body, at, e.text);
      at = copy(body, at, PUT_HEAD);
    }
    at += body.write(url, at, "latin1");
    at = copy(body, at, ENTRY_END);
  });
  copy(body, at, BUNDLE_END);
  return body;
}

const BUNDLE_END = Buffer.from("]}");
const DELETE_HEAD = Buffer.from('{"request":{"method":"DELETE","url":');
const RESOURCE = Buffer.from(',"resource":');
const PUT_HEAD = Buffer.from(',"request":{"method":"PUT","url":');
const ENTRY_END = Buffer.from("}}");
const bundleHead = (type: BundleType) => Buffer.from(`{"resourceType":"Bundle","type":"${type}","entry":[`);
// The base URL may hold any character: its JSON is encoded once per Bundle, as UTF-8, without the closing quote.
const fullUrlHead = (base: string) => Buffer.from(`{"fullUrl":${JSON.stringify(`${base}/`).slice(0, -1)}`);

/** `"<type>/<id>"` as JSON, all ASCII: FHIR ids are (FHIR_ID), and \u escapes keep anything else so. */
function jsonUrl(type: string, id: string): string {
  const url = `"${type}/${id}"`;
  return PLAIN.test(url) ? url : JSON.stringify(`${type}/${id}`).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
const PLAIN = /^"[A-Za-z0-9./-]*"$/;

function copy(into: Buffer, at: number, bytes: Uint8Array): number {
  into.set(bytes, at);
  return at + bytes.length;
}

const RETRYABLE = new Set([429, 502, 503, 504]);

/**
 * The answer to each entry of a Bundle the server accepted (2xx), in the order of `entries`. A transaction that
 * succeeded committed every entry, whatever its response says; a batch's entries succeed or fail each on its
 * own. A DELETE of a resource that is not there (404, 410) has the effect asked for: accepted.
 */
export function readBundleAnswer(type: BundleType, entries: readonly LoadEntry[], body: Buffer): EntryAnswer[] {
  let responses: Array<{ response?: { status?: string; outcome?: unknown } }> = [];
  try {
    const bundle = JSON.parse(body.toString("utf8")) as { resourceType?: string; entry?: typeof responses };
    if (bundle?.resourceType === "Bundle" && Array.isArray(bundle.entry) && bundle.entry.length === entries.length) responses = bundle.entry;
  } catch {
    // An answer we cannot read: for a transaction, the 2xx alone says every entry was committed.
  }
  return entries.map((entry, i) => {
    const response = responses[i]?.response;
    const status = Number.parseInt(response?.status ?? "", 10);
    if (type === "transaction" || !Number.isFinite(status)) {
      // A batch answer without an entry status leaves us not knowing: "later" re-sends it (bounded, idempotent).
      if (type === "batch" && !Number.isFinite(status)) return { kind: "later", status: 0, outcome: noStatus() };
      return { kind: "accepted", status: Number.isFinite(status) ? status : 200 };
    }
    return entryAnswer(entry, status, response?.outcome);
  });
}

/** The answer to one entry, from its status and the server's OperationOutcome. */
export function entryAnswer(entry: LoadEntry, status: number, outcome: unknown): EntryAnswer {
  if (status >= 200 && status < 300) return { kind: "accepted", status };
  if (entry.text === undefined && (status === 404 || status === 410)) return { kind: "accepted", status };
  if (RETRYABLE.has(status)) return { kind: "later", status, outcome };
  return { kind: "refused", status, outcome };
}

/** The server's OperationOutcome from an error answer's body, or one that says what came instead. */
export function outcomeOf(status: number, body: Buffer | undefined): unknown {
  try {
    const value = JSON.parse(body?.toString("utf8") ?? "") as { resourceType?: string };
    if (value?.resourceType === "OperationOutcome") return value;
  } catch {
    // not JSON: described below
  }
  return madeOutcome(status >= 500 ? "exception" : "processing", `HTTP ${status} without an OperationOutcome`);
}

/** An OperationOutcome of our own (never the server's): diagnostics say so. */
export function madeOutcome(code: string, text: string): unknown {
  return { resourceType: "OperationOutcome", issue: [{ severity: "error", code, diagnostics: `dcm2fhir: ${text}` }] };
}

const noStatus = () => madeOutcome("transient", "the batch-response has no status for this entry");
