// The HTTP server: a thin fastify app over the search module. fastify owns connections, body limits,
// content types and graceful close; every answer, errors included, is FHIR JSON, and nothing is logged
// (queries carry patient identifiers).
import { createHash, timingSafeEqual } from "node:crypto";
import type { Socket } from "node:net";
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { type SearchIndex, StaleLineError } from "../index/searchIndex.js";
import type { OnDemand } from "../ondemand/onDemand.js";
import type { ServerContext, ServerCounts } from "./context.js";
import { AnswerBuffer, rawOutcome, sendOutcome } from "./reply.js";
import { metadataRoutes } from "./routes/metadata.js";
import { pageRoutes } from "./routes/page.js";
import { READABLE_TYPES, readRoutes } from "./routes/read.js";
import { type SearchBody, searchRoutes } from "./routes/search.js";

export interface ServeOptions {
  readonly index: SearchIndex;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** "" or a path prefix such as "/fhir" (no trailing slash). */
  readonly basePath: string;
  /** When set, every request but metadata needs `Authorization: Bearer <token>`. */
  readonly token?: string;
  readonly allowOpenSearch: boolean;
  /** The search page links each study to this URL, `{study}` standing for its Study Instance UID (--viewer-url). */
  readonly viewerUrl?: string;
  /** `--pacs`: searches ask these PACS first (the index must be open writable). */
  readonly onDemand?: OnDemand;
  /** Tests shorten these; defaults suit a server. */
  readonly limits?: Partial<Limits>;
}

export interface Limits {
  /** A request body larger than this is a 413 (a search body is a few hundred bytes). */
  readonly bodyBytes: number;
  /** Whole request, headers and body: slow clients are cut off with a 408. */
  readonly requestMs: number;
  readonly headersMs: number;
  readonly keepAliveMs: number;
  /** How often Node checks those timeouts. */
  readonly checkMs: number;
  /** Request line and headers; a GET carrying thousands of parameters fits. */
  readonly headerBytes: number;
  readonly connections: number;
}

const DEFAULT_LIMITS: Limits = {
  bodyBytes: 1 << 20,
  requestMs: 30_000,
  headersMs: 20_000,
  keepAliveMs: 5_000,
  checkMs: 1_000,
  headerBytes: 64 * 1024,
  connections: 1024,
};

export interface RunningServer {
  readonly app: FastifyInstance;
  /** `[base]`, e.g. http://127.0.0.1:41234/ or http://127.0.0.1:8080/fhir/ */
  readonly base: string;
  readonly counts: ServerContext["counts"];
  /** Stops accepting connections, finishes requests in flight, then resolves. */
  close(): Promise<void>;
}

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const context: ServerContext = {
    index: options.index,
    base: "",
    allowOpenSearch: options.allowOpenSearch,
    counts: { requests: 0, searches: 0, reads: 0, errors: 0 },
    answers: new AnswerBuffer(),
    onDemand: options.onDemand,
  };
  const app = Fastify({
    logger: false,
    bodyLimit: limits.bodyBytes,
    requestTimeout: limits.requestMs,
    keepAliveTimeout: limits.keepAliveMs,
    forceCloseConnections: "idle",
    // Requests arriving on a kept-alive connection while closing are still answered; the index stays open until close() resolves.
    return503OnClosing: false,
    http: { maxHeaderSize: limits.headerBytes, headersTimeout: limits.headersMs, connectionsCheckingInterval: limits.checkMs },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200, querystringParser: () => ({}) },
    clientErrorHandler: (error, socket) => clientError(error, socket, context),
    // No route has a schema: without these, fastify loads Ajv and fast-json-stringify at start-up (~130 ms).
    schemaController: { compilersFactory: { buildValidator: noSchemas, buildSerializer: noSchemas } },
    frameworkErrors: (error, _request, reply) => {
      sendOutcome(
        context.counts,
        reply,
        400,
        "invalid",
        error.code === "FST_ERR_BAD_URL" ? "the URL is not validly percent-encoded" : "the request cannot be read",
      );
    },
  });
  app.server.maxConnections = limits.connections;

  // Bodies: the raw bytes of a form (decoded as strict UTF-8 by the search module), and JSON read the same way.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "buffer" }, (_request, body, done) =>
    done(null, { form: body as Buffer } satisfies SearchBody),
  );
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (_request, body, done) => {
    const json = parseJsonBody(body as Buffer);
    if (json instanceof Error) done(json, undefined);
    else done(null, { json: json.value } satisfies SearchBody);
  });

  app.setErrorHandler((error: FastifyError, _request, reply) => replyToError(error, reply, context.counts));
  app.setNotFoundHandler((_request, reply) =>
    sendOutcome(
      context.counts,
      reply,
      404,
      "not-found",
      "no such resource or operation: this server answers GET ImagingStudy?…, POST ImagingStudy/_search, GET {ImagingStudy|Patient|Endpoint}/{id} and GET metadata",
    ),
  );

  await app.register(
    async (api) => {
      await api.register(async (open) => metadataRoutes(open, context, options.token !== undefined));
      await api.register(async (open) =>
        pageRoutes(open, context, { basePath: options.basePath, tokenRequired: options.token !== undefined, viewerUrl: options.viewerUrl }),
      );
      await api.register(async (secured) => {
        if (options.token !== undefined) secured.addHook("onRequest", bearerCheck(options.token, context.counts));
        await searchRoutes(secured, context);
        await readRoutes(secured, context);
      });
      // R4: an interaction the server does not offer on a resource it knows is a 405.
      const allowed: Record<string, readonly string[]> = {
        "/metadata": ["GET", "HEAD"],
        "/ImagingStudy": ["GET", "HEAD"],
        "/ImagingStudy/_search": ["POST"],
        ...Object.fromEntries(READABLE_TYPES.map((type) => [`/${type}/:id`, ["GET", "HEAD"]])),
      };
      for (const [url, methods] of Object.entries(allowed)) {
        api.route({
          method: METHODS.filter((m) => !methods.includes(m)),
          url,
          handler: (_request, reply) =>
            sendOutcome(
              context.counts,
              reply.header("allow", methods.join(", ")),
              405,
              "not-supported",
              `${url.replace("/:id", "/{id}").slice(1)} allows ${methods.join(" and ")} only: this server is read-only`,
            ),
        });
      }
    },
    { prefix: options.basePath },
  );

  await app.listen({ host: options.host, port: options.port });
  const { port } = app.server.address() as { port: number };
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  context.base = `http://${host}:${port}${options.basePath}/`;
  return { app, base: context.base, counts: context.counts, close: () => app.close() };
}

/** Every request of a secured scope: `Authorization: Bearer <token>`, compared in constant time. */
function bearerCheck(token: string, counts: ServerCounts) {
  const expected = createHash("sha256").update(token).digest();
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization;
    const given = header?.startsWith("Bearer ") ? header.slice(7).trim() : undefined;
    if (given !== undefined && timingSafeEqual(createHash("sha256").update(given).digest(), expected)) return;
    reply.header("www-authenticate", 'Bearer realm="dcm2fhir"');
    return sendOutcome(counts, reply, 401, "login", given === undefined ? "this server needs Authorization: Bearer <token>" : "the bearer token is not valid");
  };
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function parseJsonBody(body: Buffer): { value: unknown } | Error {
  const fail = (message: string) => Object.assign(new Error(message), { statusCode: 400, code: "DCM2FHIR_BAD_JSON" });
  let text: string;
  try {
    text = strictUtf8.decode(body);
  } catch {
    return fail("the JSON body is not valid UTF-8");
  }
  if (text.trim() === "") return fail("the JSON body is empty");
  try {
    return { value: JSON.parse(text) };
  } catch {
    return fail("the body is not valid JSON");
  }
}

/** fastify's own errors (body too large, unsupported content type, …) and ours, as OperationOutcomes; never a stack trace. */
function replyToError(error: FastifyError, reply: FastifyReply, counts: ServerCounts): FastifyReply {
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return sendOutcome(counts, reply, 413, "too-long", "the request body is too large for a search");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
    case "FST_ERR_CTP_INVALID_TYPE":
      return sendOutcome(counts, reply, 415, "not-supported", "a search body is application/x-www-form-urlencoded or application/json");
    case "DCM2FHIR_BAD_JSON":
      return sendOutcome(counts, reply, 400, "structure", error.message);
  }
  // Says what to do, and holds no patient data.
  if ((error as Error) instanceof StaleLineError) return sendOutcome(counts, reply, 500, "exception", error.message);
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) return sendOutcome(counts, reply, status, "invalid", "the request cannot be read");
  return sendOutcome(counts, reply, 500, "exception", "internal error while answering this request (a bug in dcm2fhir)");
}

/** Errors before a request exists (headers too large, too slow, malformed): answered on the socket, then closed. */
function clientError(error: Error & { code?: string }, socket: Socket, context: ServerContext): void {
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  context.counts.errors++;
  const response =
    error.code === "ERR_HTTP_REQUEST_TIMEOUT"
      ? rawOutcome(408, "Request Timeout", "timeout", "the request did not arrive in time")
      : error.code === "HPE_HEADER_OVERFLOW"
        ? rawOutcome(
            431,
            "Request Header Fields Too Large",
            "too-long",
            "the request line and headers are too large (send a long search as POST ImagingStudy/_search)",
          )
        : rawOutcome(400, "Bad Request", "invalid", "the request is not valid HTTP");
  if (socket.writable) socket.end(response);
  else socket.destroy();
}

/** The schema compilers of a server whose routes have none: asked for one, it is a bug in dcm2fhir. */
function noSchemas(): never {
  throw new Error("dcm2fhir's routes have no schemas");
}
