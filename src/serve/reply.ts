// How the server answers: FHIR JSON with the headers every response carries, and OperationOutcomes for errors.
import type { FastifyReply } from "fastify";
import { type IssueType, operationOutcome } from "../search/outcome.js";
import type { ServerCounts } from "./context.js";

export const FHIR_JSON = "application/fhir+json";

/** Patient data must not linger in caches between the server and its client. */
export const COMMON_HEADERS = { "cache-control": "no-store", "x-content-type-options": "nosniff" } as const;

/** Every answer goes through here, and is counted here (a hook run after each response would cost more). */
export function sendFhir(counts: ServerCounts, reply: FastifyReply, status: number, body: Buffer | object): FastifyReply {
  counts.requests++;
  if (status >= 400) counts.errors++;
  return reply
    .code(status)
    .headers(COMMON_HEADERS)
    .type(FHIR_JSON)
    .send(Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body)));
}

export function sendOutcome(counts: ServerCounts, reply: FastifyReply, status: number, code: IssueType, diagnostics: string): FastifyReply {
  return sendFhir(counts, reply, status, operationOutcome(code, diagnostics));
}

/** An OperationOutcome written straight to a socket, for errors Node's HTTP parser meets before any request exists. */
export function rawOutcome(status: number, reason: string, code: IssueType, diagnostics: string): string {
  const body = JSON.stringify(operationOutcome(code, diagnostics));
  return [
    `HTTP/1.1 ${status} ${reason}`,
    `Content-Type: ${FHIR_JSON}`,
    `Content-Length: ${Buffer.byteLength(body)}`,
    "Cache-Control: no-store",
    "Connection: close",
    "",
    body,
  ].join("\r\n");
}
