// A real FHIR server on loopback for the load tests and bench: Medplum's FHIR router over its in-memory repository
// (@medplum/fhir-router 4.5.2), behind node:http, with Medplum's validator on every write and a fault-injection
// switch. What this wrapper adds to the router, and why:
// - Validation: the router's memory repository stores anything; Medplum's server validates every write
//   (validateResource against the R4 StructureDefinitions), so this does too, before anything is applied.
// - Atomic transactions: the router runs a transaction through `repo.withTransaction`, which for the memory
//   repository just calls back: an entry that fails leaves the entries before it stored. Every entry is checked
//   first, and the writes are undone (the touched resources and their history restored) if one still fails.
// - 201 Created for a PUT that creates (FHIR R4 3.1.0.4.1); the router answers 200 to both.
// - Bundles of more than 50 entries are refused, as Medplum's server does.
// - GET metadata answers a CapabilityStatement (the router has no such route).
//
// Run alone (for the bench, in a process of its own): `npx tsx test/helpers/fhirServer.ts --latency 20
// [--skip-validation]` prints the base URL on stdout and serves until killed.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { getStatus as statusOf, OperationOutcomeError, validateResource } from "@medplum/core";
import { FhirRouter, MemoryRepository, type FhirRequest } from "@medplum/fhir-router";
import type { Bundle, BundleEntry, OperationOutcome, Resource } from "@medplum/fhirtypes";
import { loadDefinitions } from "./medplum.js";

/** One injected fault, consumed by the next write request (POST, PUT, DELETE). */
export type Fault =
  /** Answer this status (429, 500, 502, 503, 504) without doing anything; Retry-After when given. */
  | { readonly kind: "status"; readonly status: number; readonly retryAfter?: string }
  /** Drop the connection before doing anything. */
  | { readonly kind: "reset" }
  /** Do the work, then drop the connection: the client cannot know its writes landed. */
  | { readonly kind: "apply-then-reset" }
  /** Answer after this long (the work done first). */
  | { readonly kind: "slow"; readonly ms: number };

export interface Faults {
  /** Consumed one per write request, in order. */
  queue: Fault[];
  /** Added to every request, half before the work and half after it. */
  latencyMs: number;
  /** "Type/id" of resources refused with 422 and an OperationOutcome (in a transaction: the whole Bundle). */
  refuse: Set<string>;
  /** "Type/id" of resources answered 503 once (in a batch: that entry; in a transaction: the whole Bundle). */
  busyOnce: Set<string>;
  /** When set, every request but GET metadata needs `Authorization: Bearer <token>`, else 401. */
  token?: string;
  /** When set, GET metadata needs the token too. */
  tokenOnMetadata: boolean;
  /** Medplum's server refuses larger Bundles. */
  maxBundleEntries: number;
  /** Not a fault: when set, GET .well-known/smart-configuration names this token endpoint (SMART discovery). */
  smartTokenEndpoint?: string;
}

export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly authorization?: string;
  /** "Type/id" of every entry of a Bundle, or of the resource of a PUT/DELETE. */
  readonly keys: readonly string[];
  readonly bundleType?: string;
  readonly body: string;
  /** What was answered; undefined when the connection was dropped. */
  status?: number;
}

export interface FhirTestServer {
  /** The FHIR base URL, without trailing slash: http://127.0.0.1:<port>/fhir/R4 */
  readonly base: string;
  readonly faults: Faults;
  readonly received: ReceivedRequest[];
  readonly repo: MemoryRepository;
  /** Every resource the server holds, by "Type/id", without `meta` (which the server adds). */
  contents(): Promise<Map<string, Resource>>;
  /** How many versions of the resource the server stored (0 when it never held it). */
  versions(key: string): Promise<number>;
  /** Resolves once no request is being handled (a slow answer may outlive the client that asked). */
  idle(): Promise<void>;
  /** Empties the repository and the request log, and clears the faults. */
  reset(): void;
  close(): Promise<void>;
}

const BASE_PATH = "/fhir/R4";
const FHIR_JSON = "application/fhir+json";

export function noFaults(): Faults {
  return {
    queue: [],
    latencyMs: 0,
    refuse: new Set(),
    busyOnce: new Set(),
    token: undefined,
    tokenOnMetadata: false,
    maxBundleEntries: 50,
    smartTokenEndpoint: undefined,
  };
}

export interface FhirServerOptions {
  readonly port?: number;
  readonly host?: string;
  readonly faults?: Partial<Faults>;
  /**
   * false: store writes without Medplum's validator. Only for the bench, where the server's work per request
   * should be its added latency, as a remote server's is, rather than this single-threaded server's own CPU.
   */
  readonly validate?: boolean;
}

export async function startFhirServer(options: FhirServerOptions = {}): Promise<FhirTestServer> {
  const validate = options.validate ?? true;
  if (validate) loadDefinitions();
  const router = new FhirRouter();
  const repo = new MemoryRepository();
  const faults: Faults = { ...noFaults(), ...options.faults };
  const received: ReceivedRequest[] = [];
  let handling = 0;
  // The memory repository's stores, private in its types (reading them directly spares a deep copy per look-up).
  const internals = repo as unknown as { resources: Map<string, Map<string, Resource>>; history: Map<string, Map<string, Resource[]>> };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      handling++;
      handle(req, res, Buffer.concat(chunks).toString("utf8"))
        .catch((error: unknown) => {
          if (!res.headersSent) answer(res, 500, outcome("exception", `test server: ${(error as Error).stack ?? String(error)}`));
        })
        .finally(() => handling--);
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const method = req.method ?? "GET";
    const path = url.pathname.startsWith(BASE_PATH) ? url.pathname.slice(BASE_PATH.length).replace(/^\/+|\/+$/g, "") : undefined;
    let parsed: unknown;
    let unreadable = false;
    if (method === "POST" || method === "PUT") {
      try {
        parsed = JSON.parse(body);
      } catch {
        unreadable = true;
      }
    }
    const record: ReceivedRequest = { method, path: url.pathname, authorization: req.headers.authorization, keys: keysOf(method, path ?? "", parsed), body };
    received.push(record);
    const reply = (status: number, json: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      answer(res, status, json, headers);
    };
    const half = faults.latencyMs / 2;
    if (half > 0) await sleep(half);

    if (path === undefined) return reply(404, outcome("not-found", "not under the FHIR base"));
    if (method === "GET" && path === ".well-known/smart-configuration") {
      const endpoint = faults.smartTokenEndpoint;
      return endpoint
        ? reply(200, { token_endpoint: endpoint, grant_types_supported: ["client_credentials"] })
        : reply(404, outcome("not-found", "no SMART configuration"));
    }
    const isMetadata = method === "GET" && path === "metadata";
    if (faults.token !== undefined && (!isMetadata || faults.tokenOnMetadata) && req.headers.authorization !== `Bearer ${faults.token}`) {
      return reply(401, outcome("login", "a valid bearer token is required"), { "www-authenticate": "Bearer" });
    }
    if (isMetadata) {
      if (half > 0) await sleep(half);
      return reply(200, CAPABILITY_STATEMENT);
    }

    const isWrite = method === "POST" || method === "PUT" || method === "DELETE";
    const fault = isWrite ? faults.queue.shift() : undefined;
    if (fault?.kind === "status")
      return reply(fault.status, outcome("transient", `injected ${fault.status}`), fault.retryAfter ? { "retry-after": fault.retryAfter } : {});
    if (fault?.kind === "reset") return void req.socket.destroy();

    const [status, json] = unreadable
      ? [400, outcome("structure", "the body is not JSON")]
      : await serve(method, path, parsed, req.headers.prefer === "return=minimal");
    if (fault?.kind === "apply-then-reset") return void req.socket.destroy();
    if (fault?.kind === "slow") await sleep(fault.ms);
    if (half > 0) await sleep(half);
    reply(status, json);
  }

  async function serve(method: string, path: string, parsed: unknown, minimal: boolean): Promise<[number, unknown]> {
    if (method === "POST" && path === "") return serveBundle(parsed as Bundle, minimal);
    if (method === "PUT" || method === "DELETE") {
      const entry: BundleEntry = { request: { method, url: path }, resource: parsed as Resource };
      const refused = await check(entry, "");
      if (refused) return refused;
      const existed = exists(path);
      const response = await router.handleRequest(fhirRequest(method, path, parsed), repo);
      const status = statusOf(response[0]);
      if (status >= 300) return [status, response[0]];
      return [method === "PUT" && !existed ? 201 : 200, minimal ? undefined : (response[1] ?? response[0])];
    }
    const response = await router.handleRequest(fhirRequest(method as "GET", path, parsed), repo);
    return [statusOf(response[0]), response[1] ?? response[0]];
  }

  async function serveBundle(bundle: Bundle, minimal: boolean): Promise<[number, unknown]> {
    if (bundle?.resourceType !== "Bundle" || (bundle.type !== "transaction" && bundle.type !== "batch")) {
      return [400, outcome("invalid", "POST to the base takes a transaction or batch Bundle")];
    }
    const entries = bundle.entry ?? [];
    if (entries.length > faults.maxBundleEntries) {
      return [400, outcome("too-costly", `Bundle contains more than ${faults.maxBundleEntries} entries`)];
    }
    const checks = await Promise.all(entries.map((entry, i) => check(entry, `Bundle.entry[${i}]`)));
    const existed = entries.map((entry) => exists(entry.request?.url ?? ""));
    if (bundle.type === "transaction") {
      const refused = checks.find((c) => c !== undefined);
      if (refused) return refused;
      const undo = snapshot(entries);
      const [out, result] = await router.handleRequest({ ...fhirRequest("POST", "", bundle), config: { transactions: true } }, repo);
      if (statusOf(out) >= 300) {
        undo();
        return [statusOf(out), out];
      }
      return [200, responseBundle("transaction-response", entries, (result as Bundle).entry ?? [], existed, minimal)];
    }
    // A batch: each entry succeeds or fails on its own (FHIR R4 3.1.0.11.1).
    const passing = entries.filter((_, i) => checks[i] === undefined);
    const results: BundleEntry[] =
      passing.length > 0 ? (((await router.handleRequest(fhirRequest("POST", "", { ...bundle, entry: passing }), repo))[1] as Bundle).entry ?? []) : [];
    let next = 0;
    const merged = entries.map((_, i) => {
      const refused = checks[i];
      return refused ? { response: { status: String(refused[0]), outcome: refused[1] } } : results[next++]!;
    });
    return [200, responseBundle("batch-response", entries, merged, existed, minimal)];
  }

  /** Refuses an entry before anything is applied: injected refusals, a URL that does not name its resource, invalid resources. */
  async function check(entry: BundleEntry, where: string): Promise<[number, OperationOutcome] | undefined> {
    const url = entry.request?.url ?? "";
    const at = where ? `${where}: ` : "";
    if (faults.refuse.has(url)) return [422, outcome("business-rule", `${at}${url} is refused by the test server`, where)];
    if (faults.busyOnce.delete(url)) return [503, outcome("transient", `${at}${url}: the test server is busy, try again`, where)];
    if (entry.request?.method !== "PUT") return undefined;
    const resource = entry.resource;
    if (!resource || `${resource.resourceType}/${resource.id}` !== url) return [400, outcome("invalid", `${at}the resource does not match ${url}`, where)];
    try {
      if (validate) validateResource(resource);
    } catch (error) {
      if (error instanceof OperationOutcomeError) return [400, error.outcome];
      throw error;
    }
    return undefined;
  }

  function exists(key: string): boolean {
    const [type, id] = key.split("/");
    return type !== undefined && id !== undefined && internals.resources.get(type)?.has(id) === true;
  }

  // It only ever replaces a stored object, never mutates one: keeping the references and the history lengths is
  // enough to restore them.
  function snapshot(entries: readonly BundleEntry[]): () => void {
    const { resources, history } = internals;
    const saved = entries.map((entry) => {
      const [type = "", id = ""] = (entry.request?.url ?? "").split("/");
      return { type, id, current: resources.get(type)?.get(id), versions: history.get(type)?.get(id)?.length };
    });
    return () => {
      for (const { type, id, current, versions } of saved.reverse()) {
        if (current) resources.get(type)!.set(id, current);
        else resources.get(type)?.delete(id);
        const versionList = history.get(type)?.get(id);
        if (versions === undefined) history.get(type)?.delete(id);
        else if (versionList) versionList.length = versions;
      }
    };
  }

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? "127.0.0.1", resolve));
  const address = server.address() as AddressInfo;

  return {
    base: `http://${address.address}:${address.port}${BASE_PATH}`,
    faults,
    received,
    repo,
    async contents() {
      const all = new Map<string, Resource>();
      for (const resourceType of ["Endpoint", "Patient", "ImagingStudy"] as const) {
        for (const resource of await repo.searchResources({ resourceType, count: 1e9 })) {
          const { meta: _meta, ...rest } = resource as Resource & { meta?: unknown };
          all.set(`${resourceType}/${resource.id}`, rest as Resource);
        }
      }
      return all;
    },
    async versions(key) {
      const [type = "", id = ""] = key.split("/");
      return internals.history.get(type)?.get(id)?.length ?? 0;
    },
    async idle() {
      while (handling > 0) await sleep(5);
    },
    reset() {
      repo.clear();
      received.length = 0;
      Object.assign(faults, noFaults());
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function fhirRequest(method: FhirRequest["method"], url: string, body: unknown): FhirRequest {
  return { method, url, pathname: "", body, params: {}, query: {} };
}

function keysOf(method: string, path: string, parsed: unknown): string[] {
  if (method === "PUT" || method === "DELETE") return [path];
  const bundle = parsed as Bundle | undefined;
  return method === "POST" && Array.isArray(bundle?.entry) ? bundle.entry.map((e) => e.request?.url ?? "") : [];
}

function responseBundle(
  type: "transaction-response" | "batch-response",
  entries: readonly BundleEntry[],
  results: readonly BundleEntry[],
  existed: readonly boolean[],
  minimal: boolean,
): Bundle {
  return {
    resourceType: "Bundle",
    type,
    entry: results.map((result, i) => {
      let status = Number.parseInt(result.response?.status ?? "500", 10);
      if (status === 200 && entries[i]?.request?.method === "PUT" && !existed[i]) status = 201;
      return {
        response: { ...result.response, status: `${status} ${status === 201 ? "Created" : status < 300 ? "OK" : "Error"}` },
        ...(minimal || !result.resource ? {} : { resource: result.resource }),
      };
    }),
  };
}

function outcome(code: string, text: string, where?: string): OperationOutcome {
  return {
    resourceType: "OperationOutcome",
    issue: [{ severity: "error", code: code as "invalid", details: { text }, ...(where ? { expression: [where] } : {}) }],
  };
}

function answer(res: ServerResponse, status: number, json: unknown, headers: Record<string, string> = {}): void {
  if (json === undefined) return void res.writeHead(status, headers).end();
  res.writeHead(status, { "content-type": FHIR_JSON, ...headers }).end(JSON.stringify(json));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const CAPABILITY_STATEMENT = {
  resourceType: "CapabilityStatement",
  status: "active",
  date: "2025-01-01",
  kind: "instance",
  fhirVersion: "4.0.1",
  format: ["application/fhir+json"],
  software: { name: "dcm2fhir test server (Medplum fhir-router MemoryRepository)", version: "4.5.2" },
  rest: [
    {
      mode: "server",
      resource: ["Endpoint", "Patient", "ImagingStudy"].map((type) => ({
        type,
        updateCreate: true,
        interaction: ["read", "vread", "update", "delete", "history-instance"].map((code) => ({ code })),
      })),
      interaction: [{ code: "transaction" }, { code: "batch" }],
    },
  ],
};

// Alone: a server in a process of its own (the bench measures the loader's CPU apart from the server's).
if (process.argv[1]?.endsWith("fhirServer.ts")) {
  const { values } = parseArgs({
    options: { latency: { type: "string", default: "0" }, port: { type: "string", default: "0" }, "skip-validation": { type: "boolean", default: false } },
  });
  const running = await startFhirServer({ port: Number(values.port), faults: { latencyMs: Number(values.latency) }, validate: !values["skip-validation"] });
  process.stdout.write(`${running.base}\n`);
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void running.close().then(() => process.exit(0)));
}
