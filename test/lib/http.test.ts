import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpFailure, type SendPolicy, retryAfter, send } from "../../src/lib/http.js";
import { REPO } from "../helpers/run.js";

/** A real HTTP server on loopback whose answers the test scripts, request by request. */
type Answer = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;
let server: Server;
let base: string;
let script: Answer[] = [];
const received: Array<{ method: string; url: string; authorization?: string; body: string }> = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      received.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization, body: body.toString() });
      const answer = script.shift() ?? ((_q, r) => r.writeHead(500).end("script ran out"));
      answer(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const fast: SendPolicy = { timeoutMs: 2000, attempts: 4, baseDelayMs: 5, maxDelayMs: 20, maxRetryAfterMs: 5000, random: () => 1 };
const ok: Answer = (_q, r) => r.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
const status =
  (code: number, headers: Record<string, string> = {}): Answer =>
  (_q, r) =>
    r.writeHead(code, headers).end(`status ${code}`);
const reset: Answer = (req) => req.socket.destroy();

function reset_() {
  script = [];
  received.length = 0;
}

describe("send", () => {
  it("retries 503, 429, 502, 504 and connection resets, re-sending the same bytes, then returns the answer", async () => {
    reset_();
    script = [status(503), status(429), reset, status(502), ok];
    const retries: string[] = [];
    const statuses: Array<number | undefined> = [];
    const body = Buffer.from([0, 1, 2, 255]);
    const res = await send(`${base}/x`, { method: "POST", body }, { ...fast, attempts: 5, onRetry: (r) => (retries.push(r.cause), statuses.push(r.status)) });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('{"ok":true}');
    expect(received).toHaveLength(5);
    expect(new Set(received.map((r) => r.body)).size).toBe(1);
    expect(received[0]!.body).toBe(body.toString());
    expect(retries[0]).toBe("HTTP 503");
    expect(retries[2]).toMatch(/connection failed/);
    expect(statuses).toEqual([503, 429, undefined, 502]);
  });

  it("waits at least as long as Retry-After says", async () => {
    reset_();
    script = [status(429, { "retry-after": "1" }), ok];
    const t0 = performance.now();
    const res = await send(`${base}/y`, { method: "GET" }, fast);
    expect(res.status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(990);
  });

  it("gives up at once, without waiting, when Retry-After is longer than the policy allows", async () => {
    reset_();
    script = [status(503, { "retry-after": "3600" }), ok];
    const error = await send(`${base}/z`, { method: "GET" }, fast).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpFailure);
    expect((error as HttpFailure).reason).toBe("http-error");
    expect((error as HttpFailure).status).toBe(503);
    expect((error as HttpFailure).message).toMatch(/asked to wait 3600 s/);
    expect(received).toHaveLength(1);
  });

  it("returns 4xx answers without retrying: the caller reads them (401 stops a run, 422 names a resource)", async () => {
    reset_();
    script = [status(401), status(422)];
    expect((await send(`${base}/a`, { method: "GET" }, fast)).status).toBe(401);
    expect((await send(`${base}/b`, { method: "PUT", body: "{}" }, fast)).status).toBe(422);
    expect(received).toHaveLength(2);
  });

  it("ends in a bounded number of attempts with the last cause: http-error, timeout, unreachable", async () => {
    reset_();
    script = [status(503), status(503), status(503), status(503), ok];
    const spent = await send(`${base}/c`, { method: "GET" }, fast).catch((e: unknown) => e);
    expect(spent).toMatchObject({ reason: "http-error", status: 503, attempts: 4 });
    expect(received).toHaveLength(4);

    reset_();
    const slow: Answer = (_q, r) => setTimeout(() => r.writeHead(200).end("late"), 400);
    script = [slow, slow];
    const timedOut = await send(`${base}/d`, { method: "GET" }, { ...fast, timeoutMs: 100, attempts: 2 }).catch((e: unknown) => e);
    expect(timedOut).toMatchObject({ reason: "timeout" });

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = await send(`http://127.0.0.1:${port}/`, { method: "GET" }, { ...fast, attempts: 2 }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ reason: "unreachable" });
    expect((refused as Error).message).toMatch(/ECONNREFUSED/);
  });

  it("turns credentials in the URL into Basic auth and never puts them, or the query, in a message", async () => {
    reset_();
    script = [ok, status(503), status(503)];
    const url = `${base.replace("http://", "http://alice:s%40cret@")}/studies?PatientID=PAT-0001`;
    await send(url, { method: "GET" }, fast);
    expect(received[0]!.authorization).toBe(`Basic ${Buffer.from("alice:s@cret").toString("base64")}`);
    expect(received[0]!.url).toBe("/studies?PatientID=PAT-0001");
    const error = (await send(url, { method: "GET" }, { ...fast, attempts: 2 }).catch((e: unknown) => e)) as Error;
    expect(error.message).not.toMatch(/alice|cret|PAT-0001/);
  });

  it("keeps the process alive until a request ends, even one whose connection the server cuts on accepting it", () => {
    // Alone in a process: nothing else holds its event loop open, as in a CLI run whose only work is the request.
    const script = `
      import { createServer } from "node:http";
      import { send } from "./src/lib/http.ts";
      const server = createServer().on("connection", (socket) => socket.destroy());
      server.listen(0, "127.0.0.1", () => {
        server.unref();
        send("http://127.0.0.1:" + server.address().port + "/", { method: "GET" }, { timeoutMs: 500, attempts: 2, baseDelayMs: 5, maxDelayMs: 5, maxRetryAfterMs: 0 })
          .then(() => console.log("answered"), (e) => console.log("failed:" + e.reason));
      });`;
    const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: REPO, encoding: "utf8", timeout: 30_000 });
    expect(child.stdout.trim()).toMatch(/^failed:(unreachable|timeout)$/);
  });

  it("stops waiting when the caller aborts", async () => {
    reset_();
    script = [status(503, { "retry-after": "4" }), ok];
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("stop")), 100);
    const t0 = performance.now();
    await expect(send(`${base}/e`, { method: "GET" }, { ...fast, signal: controller.signal })).rejects.toThrow("stop");
    expect(performance.now() - t0).toBeLessThan(3000);
  });
});

describe("retryAfter", () => {
  it("reads delay-seconds and HTTP-dates", () => {
    expect(retryAfter("120")).toBe(120_000);
    expect(retryAfter("Wed, 21 Oct 2015 07:28:10 GMT", Date.parse("Wed, 21 Oct 2015 07:28:00 GMT"))).toBe(10_000);
    expect(retryAfter(null)).toBeUndefined();
    expect(retryAfter("soon")).toBeUndefined();
  });
});
