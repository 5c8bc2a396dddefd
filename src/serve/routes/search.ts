// ImagingStudy search: GET [base]ImagingStudy?… and POST [base]ImagingStudy/_search with a form (standard FHIR)
// or the seed API's JSON object of arrays; the URL's own parameters count too (R4 http.html#search: a POST may carry parameters in both).
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { type Pairs, type SearchError, isSearchError, pairsFromJson, pairsFromQuery } from "../../search/request.js";
import { runSearch } from "../../search/search.js";
import { type OnDemandAnswer, searchWithPacs, searchWithPacsNow } from "../../ondemand/search.js";
import type { ServerContext } from "../context.js";
import { sendFhir, sendOutcome } from "../reply.js";

/** What the body parsers hand the route: the raw form bytes, or the parsed JSON. */
export type SearchBody = { readonly form: Buffer } | { readonly json: unknown };

export async function searchRoutes(app: FastifyInstance, context: ServerContext): Promise<void> {
  // Plain functions that return nothing, not async ones: an answer is made synchronously, and fastify settles a
  // returned promise one step later.
  app.get("/ImagingStudy", (request, reply) => {
    answer(request, reply, pairsFromQuery(queryOf(request.url)), context);
  });

  app.post("/ImagingStudy/_search", (request, reply) => {
    const fromUrl = pairsFromQuery(queryOf(request.url));
    const body = request.body as SearchBody | undefined;
    const fromBody: Pairs | SearchError = body === undefined ? [] : "form" in body ? pairsFromQuery(body.form) : pairsFromJson(body.json);
    const pairs = isSearchError(fromUrl) ? fromUrl : isSearchError(fromBody) ? fromBody : [...fromUrl, ...fromBody];
    answer(request, reply, pairs, context);
  });
}

function answer(request: FastifyRequest, reply: FastifyReply, pairs: Pairs | SearchError, context: ServerContext): void {
  context.counts.searches++;
  const options = { base: context.base, strict: prefersStrict(request.headers.prefer), allowOpenSearch: context.allowOpenSearch };
  if (context.onDemand) {
    const onDemand = { ...options, noCache: noCacheRequested(request.headers["cache-control"]) };
    // Within max-age (most searches): answered at once, as plain serve answers; otherwise once the PACS has answered.
    const now = searchWithPacsNow(context.index, context.onDemand, pairs, onDemand);
    if (now) return sendOnDemand(reply, now, context);
    return void searchWithPacs(context.index, context.onDemand, pairs, onDemand).then(
      (later) => sendOnDemand(reply, later, context),
      // Never the error itself: it could carry a query value.
      () => sendOutcome(context.counts, reply, 500, "exception", "internal error while answering this search (a bug in dcm2fhir)"),
    );
  }
  const result = runSearch(context.index, pairs, { ...options, allocate: context.answers.take });
  if (isSearchError(result)) return badSearch(reply, result, context);
  sendFhir(context.counts, reply, 200, result);
  context.answers.sent(reply);
}

/** A 503 (no PACS could be asked, and nothing else answers) carries Retry-After. */
function sendOnDemand(reply: FastifyReply, result: OnDemandAnswer, context: ServerContext): void {
  if (result.status === 200) sendFhir(context.counts, reply, 200, result.body);
  else if (result.status === 400) badSearch(reply, result.error, context);
  else sendFhir(context.counts, reply.header("retry-after", String(result.retryAfter)), 503, result.outcome);
}

function badSearch(reply: FastifyReply, error: SearchError, context: ServerContext): void {
  sendOutcome(
    context.counts,
    reply,
    400,
    error.error === "unknown-parameter" || error.error === "unsupported-modifier" ? "not-supported" : error.error === "too-many" ? "too-costly" : "invalid",
    error.message,
  );
}

/** RFC 9111 5.2.1.4: the client wants an answer checked with the origin, here the PACS, not one reused. */
function noCacheRequested(value: string | string[] | undefined): boolean {
  const values = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return values.some((v) => v.split(",").some((d) => d.trim().toLowerCase() === "no-cache"));
}

/** The query component of a request target, as the bytes received (Node gives the target one character per byte). */
function queryOf(url: string): Buffer {
  const q = url.indexOf("?");
  return Buffer.from(q === -1 ? "" : url.slice(q + 1), "latin1");
}

/** R4 search.html#errors: `Prefer: handling=strict` (also among other preferences). */
function prefersStrict(prefer: string | string[] | undefined): boolean {
  const values = Array.isArray(prefer) ? prefer : prefer === undefined ? [] : [prefer];
  return values.some((v) => v.split(/[,;]/).some((p) => p.trim().toLowerCase() === "handling=strict"));
}
