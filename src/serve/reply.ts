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

/**
 * One buffer that search answers are written into, one after another, instead of a new one each: a fresh buffer
 * is fresh memory, and the kernel's page faults filling it cost more than the copy (a patient's Bundle, ~12 kB,
 * ~10 % of the server's CPU a search). Taken again only once the last answer went to the kernel whole; while a slow
 * client's socket still holds it, the next answer gets a buffer of its own.
 */
export class AnswerBuffer {
  private static readonly KEPT_BYTES = 1 << 20;
  private buffer = Buffer.alloc(0);
  private lent = false;

  /** The buffer an answer of `size` bytes is written into; give it back with `sent`. */
  readonly take = (size: number): Buffer => {
    if (this.lent || size > this.buffer.length) {
      if (size > AnswerBuffer.KEPT_BYTES) return Buffer.allocUnsafe(size);
      this.buffer = Buffer.allocUnsafeSlow(Math.max(size, 64 << 10));
    }
    this.lent = true;
    return this.buffer.subarray(0, size);
  };

  /** After the answer was sent: the response ended (no hook still holds it) and none of its bytes wait in Node. */
  sent(reply: FastifyReply): void {
    if (reply.raw.writableEnded && reply.raw.writableLength === 0) this.lent = false;
  }
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
