// A small HTTP proxy between dcm2fhir and a PACS, on 127.0.0.1: logs every request (so a test can prove no pixel,
// frame, rendered or bulk request was made), and can misbehave on cue: error statuses, connection resets, delays,
// rewritten answers, or dying altogether (every connection cut, new ones refused).
import { Agent, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse, createServer, request } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** Where the PACS is: a Unix socket (Orthanc in its own network namespace) or a loopback port. */
export type Upstream = { readonly socketPath: string } | { readonly port: number };

export interface LoggedRequest {
  readonly method: string;
  /** Path and query, as received. */
  readonly url: string;
  readonly authorization?: string;
}

/** An answer the PACS gave, as the proxy passes it on (a hook may change it). */
export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** What to do with a request instead of passing it on: answer it, cut the connection, or never answer. */
export type Fault = { readonly status: number; readonly headers?: Record<string, string>; readonly body?: string } | "reset" | "hang";

export interface ProxyHooks {
  /** Called for every request, before it goes upstream; `n` counts requests from 1. */
  fault?: (request: LoggedRequest, n: number) => Fault | undefined;
  /** Changes an upstream answer before it is passed on. */
  rewrite?: (request: LoggedRequest, answer: Answer) => Answer;
  /** Added before every answer, as a distant PACS would. */
  delayMs?: number;
  /** When set, requests must carry `Authorization: Bearer <token>`, replaced upstream by `upstreamAuthorization`. */
  bearer?: { readonly token: string; readonly upstreamAuthorization: string };
}

export class PacsProxy {
  readonly log: LoggedRequest[] = [];
  hooks: ProxyHooks = {};
  private count = 0;
  private dead = false;
  private port = 0;
  private readonly sockets = new Set<Socket>();
  private readonly agent = new Agent({ keepAlive: true });

  private constructor(
    private readonly server: Server,
    private readonly upstream: Upstream,
  ) {}

  static async start(upstream: Upstream): Promise<PacsProxy> {
    let proxy: PacsProxy | undefined;
    const server = createServer((req, res) => void proxy!.handle(req, res));
    proxy = new PacsProxy(server, upstream);
    server.on("connection", (socket) => {
      proxy!.sockets.add(socket);
      socket.on("close", () => proxy!.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    proxy.port = (server.address() as AddressInfo).port;
    return proxy;
  }

  /** The proxy's origin, e.g. http://127.0.0.1:40123. */
  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Forgets the log and the hooks. */
  reset(): void {
    this.log.length = 0;
    this.hooks = {};
    this.count = 0;
  }

  /** The PACS dies: every open connection is cut, and new ones are refused. */
  die(): void {
    if (this.dead) return;
    this.dead = true;
    this.server.close();
    for (const socket of this.sockets) socket.destroy();
  }

  /** Listens again, on the same port. */
  async revive(): Promise<void> {
    if (!this.dead) return;
    await new Promise<void>((resolve) => this.server.listen(this.port, "127.0.0.1", resolve));
    this.dead = false;
  }

  async close(): Promise<void> {
    await this.revive();
    this.agent.destroy();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (this.dead) return void req.socket.destroy();
    const logged: LoggedRequest = { method: req.method!, url: req.url!, authorization: req.headers.authorization };
    this.log.push(logged);
    const fault = this.hooks.fault?.(logged, ++this.count);
    if (fault === "reset") return void req.socket.destroy();
    if (fault === "hang") return;
    const headers: IncomingHttpHeaders = { ...req.headers };
    // Plain bodies, so that a rewrite can read them.
    delete headers["accept-encoding"];
    if (this.hooks.bearer) {
      if (req.headers.authorization !== `Bearer ${this.hooks.bearer.token}`)
        return this.answer(res, { status: 401, headers: { "content-type": "text/plain" }, body: Buffer.from("bearer token required") });
      headers.authorization = this.hooks.bearer.upstreamAuthorization;
    }
    let answer: Answer;
    if (fault)
      answer = { status: fault.status, headers: { "content-type": "text/plain", ...fault.headers }, body: Buffer.from(fault.body ?? `status ${fault.status}`) };
    else {
      try {
        answer = await this.forward(req.method!, req.url!, headers, Buffer.concat(chunks));
      } catch {
        return void req.socket.destroy();
      }
      if (this.hooks.rewrite) answer = this.hooks.rewrite(logged, answer);
    }
    if (this.hooks.delayMs) await new Promise((resolve) => setTimeout(resolve, this.hooks.delayMs));
    if (this.dead) return void req.socket.destroy();
    this.answer(res, answer);
  }

  private answer(res: ServerResponse, answer: Answer): void {
    const headers: Record<string, string> = { ...answer.headers, "content-length": String(answer.body.length) };
    delete headers["transfer-encoding"];
    delete headers.connection;
    res.writeHead(answer.status, headers).end(answer.body);
  }

  private forward(method: string, url: string, headers: IncomingHttpHeaders, body: Buffer): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const target = "socketPath" in this.upstream ? { socketPath: this.upstream.socketPath } : { host: "127.0.0.1", port: this.upstream.port };
      const upstreamRequest = request({ ...target, method, path: url, headers: { ...headers, host: "127.0.0.1" }, agent: this.agent }, (response) => {
        const parts: Buffer[] = [];
        response.on("data", (c: Buffer) => parts.push(c));
        response.on("end", () => {
          const plain: Record<string, string> = {};
          for (const [name, value] of Object.entries(response.headers)) if (value !== undefined) plain[name] = Array.isArray(value) ? value.join(", ") : value;
          resolve({ status: response.statusCode!, headers: plain, body: Buffer.concat(parts) });
        });
        response.on("error", reject);
      });
      upstreamRequest.on("error", reject);
      upstreamRequest.end(body);
    });
  }
}
