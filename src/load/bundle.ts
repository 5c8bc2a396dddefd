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
 * buffer: the lines' bytes are copied in once, and no string of the whole Bundle is ever made (flattening one
 * cost more than the sending).
 */
export function bundleBody(type: BundleType, entries: readonly LoadEntry[], base: string): Buffer {
  // Types and ids are plain ASCII (FHIR_ID), but the base URL may not be: its JSON is encoded once.
  const fullBase = JSON.stringify(`${base}/`).slice(0, -1);
  const parts: Array<string | Uint8Array> = [`{"resourceType":"Bundle","type":"${type}","entry":[`];
  entries.forEach((e, i) => {
    const url = JSON.stringify(`${e.resourceType}/${e.id}`);
    const comma = i > 0 ? "," : "";
    if (e.text === undefined) {
      parts.push(`${comma}{"request":{"method":"DELETE","url":${url}}}`);
    } else {
      parts.push(`${comma}{"fullUrl":${fullBase}${url.slice(1)},"resource":`, e.text, `,"request":{"method":"PUT","url":${url}}}`);
    }
  });
  parts.push("]}");
  // The framing is ASCII (a URL's href, FHIR types and ids): then latin1 writes it byte for byte, without encoding.
  const encoding = parts.every((part) => typeof part !== "string" || /^[\x20-\x7e]*$/.test(part)) ? "latin1" : "utf8";
  let length = 0;
  for (const part of parts) length += typeof part === "string" ? Buffer.byteLength(part, encoding) : part.length;
  const body = Buffer.allocUnsafe(length);
  let at = 0;
  for (const part of parts) {
    if (typeof part === "string") at += body.write(part, at, encoding);
    else {
      body.set(part, at);
      at += part.length;
    }
  }
  return body;
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
