// load's HTTP client (src/lib/nodeTransport.ts under send()): load reuses a Bundle's buffer once its request has
// settled, so an exchange must never go on writing a body after it settles, and the run's signal must end a
// request in flight.
import { type AddressInfo, createServer as createNetServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SendPolicy, send } from "../../src/lib/http.js";
import { nodeTransport } from "../../src/lib/nodeTransport.js";

// A keep-alive HTTP/1.1 server on a raw socket: node:http's own server closes a connection whose request body it
// answered unread, which would hide what the client does. /early answers 413 as soon as the head has come, before
// the body (which is then read and dropped, the connection kept); anything else is answered once its body is in.
const server = createNetServer((socket) => {
  connections++;
  let pending = Buffer.alloc(0);
  let skip = 0;
  socket.on("data", (data: Buffer) => {
    pending = Buffer.concat([pending, data]);
    for (;;) {
      if (skip > 0) {
        const n = Math.min(skip, pending.length);
        for (let i = 0; i < n; i++) if (pending[i] === 0x58) overwritten++;
        skip -= n;
        pending = pending.subarray(n);
        if (skip > 0) return;
      }
      const headEnd = pending.indexOf("\r\n\r\n");
      if (headEnd < 0) return;
      const head = pending.toString("latin1", 0, headEnd);
      const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      const early = head.startsWith("POST /early ");
      if (!early && pending.length < headEnd + 4 + length) return;
      if (head.startsWith("GET /slow ")) return; // never answered
      socket.write(early ? "HTTP/1.1 413 Too Large\r\ncontent-length: 0\r\n\r\n" : "HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nread");
      pending = pending.subarray(headEnd + 4);
      skip = length;
    }
  });
  socket.on("error", () => {});
});
let base = "";
let connections = 0;
/** Bytes of a body that arrived as the caller rewrote them after its request had settled. */
let overwritten = 0;
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => server.close());

const http = nodeTransport();
afterAll(() => http.close());
const policy: SendPolicy = { timeoutMs: 10_000, attempts: 1, baseDelayMs: 5, maxDelayMs: 20, maxRetryAfterMs: 1000, transport: http.transport };

describe("node transport", () => {
  it("writes nothing of a body once the exchange has settled, even when the answer came before the body was written", async () => {
    // Larger than the socket buffers on loopback: the write cannot have finished when the 413 arrives.
    const body = Buffer.alloc(64 << 20, 0x20);
    const before = connections;
    expect((await send(`${base}/early`, { method: "POST", body }, policy)).status).toBe(413);
    // What load does next: the same buffer holds the next Bundle.
    body.fill(0x58);
    expect((await send(`${base}/read`, { method: "POST", body: "{}" }, policy)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(overwritten).toBe(0);
    // An answer after the whole body keeps the connection for the next request.
    const kept = connections;
    expect((await send(`${base}/read`, { method: "POST", body: "{}" }, policy)).status).toBe(200);
    expect(connections).toBe(kept);
    expect(kept - before).toBe(2);
  });

  it("ends a request in flight when the caller's signal aborts, with the caller's reason", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("stopped")), 100);
    const started = performance.now();
    await expect(send(`${base}/slow`, { method: "GET" }, { ...policy, signal: controller.signal })).rejects.toThrow("stopped");
    expect(performance.now() - started).toBeLessThan(2500);
  });
});
