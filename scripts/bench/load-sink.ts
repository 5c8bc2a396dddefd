// The load bench's sink: a "FHIR server" that costs (nearly) nothing, so that only the loader limits the rate.
// It waits a fixed time per request and answers a valid transaction-response (or batch-response) Bundle: one
// entry per request entry, in order, `201 Created` with a `location` for a PUT, `200 OK` for a DELETE (R4
// 3.1.0.11.3). It stores nothing, and reads no more of a request than it must: one pass over the body that
// skips string contents with indexOf and follows only the nesting, to count the top-level `entry` array's
// elements and take each one's `request.url` (a regex or substring count would be cheaper, and wrong for a
// resource that happened to hold such a key).
//
// Run in a process of its own (its CPU must not be the loader's): `node --import tsx scripts/bench/load-sink.ts
// --latency 20` prints the base URL on stdout and serves until killed.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** What one entry of a request Bundle asked for: its request.method and request.url (either may be missing). */
export interface SinkEntry {
  method: string | undefined;
  url: string | undefined;
}

/** The Bundle's type and its entries' requests; undefined when the body is not a JSON object we can follow. */
export function scanBundle(body: Buffer): { type: string | undefined; entries: SinkEntry[] } | undefined {
  const entries: SinkEntry[] = [];
  let type: string | undefined;
  // At nesting depth d: whether the container is an object, and the key whose value is being read.
  const isObject: boolean[] = [false];
  const keys: string[] = [""];
  let depth = 0;
  let entryDepth = -1; // the depth inside the top-level entry array, while in it
  let expectKey = false;
  const n = body.length;
  for (let i = 0; i < n; i++) {
    const c = body[i]!;
    if (c === QUOTE) {
      const end = stringEnd(body, i + 1);
      if (end < 0) return undefined;
      if (expectKey) {
        // Only the keys that lead to what is read are made strings: the rest (every key of every resource) need not be.
        const wanted = depth === 1 || (entryDepth > 0 && (depth === entryDepth + 1 || (depth === entryDepth + 2 && keys[entryDepth + 1] === "request")));
        keys[depth] = wanted ? body.toString("latin1", i + 1, end) : "";
        expectKey = false;
      } else if (depth === 1 && keys[1] === "type") {
        type = body.toString("latin1", i + 1, end);
      } else if (entryDepth > 0 && depth === entryDepth + 2 && keys[entryDepth + 1] === "request") {
        const entry = entries[entries.length - 1]!;
        if (keys[depth] === "url") entry.url = body.toString("utf8", i + 1, end);
        else if (keys[depth] === "method") entry.method = body.toString("latin1", i + 1, end);
      }
      i = end;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (entryDepth > 0 && depth === entryDepth) entries.push({ method: undefined, url: undefined });
      if (c === 0x5b && depth === 1 && keys[1] === "entry") entryDepth = depth + 1;
      depth++;
      isObject[depth] = c === 0x7b;
      keys[depth] = "";
      expectKey = c === 0x7b;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      if (depth === entryDepth) entryDepth = 0;
      depth--;
      if (depth < 0) return undefined;
    } else if (c === 0x2c /* , */) {
      expectKey = isObject[depth]!;
    }
  }
  return depth === 0 ? { type, entries } : undefined;
}

/**
 * The index of the quote that closes the string whose content starts at `from` (-1 if none). A loop over the bytes,
 * not indexOf: most strings of a resource are a few bytes long, shorter than what a native call costs.
 */
function stringEnd(body: Buffer, from: number): number {
  const n = body.length;
  for (let q = from; q < n; q++) {
    const c = body[q];
    if (c === QUOTE) return q;
    if (c === BACKSLASH) q++; // the escaped character, whatever it is
  }
  return -1;
}

/** The answer to a request Bundle: one response entry per request entry, in order. */
export function answerBundle(scanned: { type: string | undefined; entries: SinkEntry[] }): string {
  const parts = scanned.entries.map((e) =>
    e.method === "DELETE"
      ? '{"response":{"status":"200 OK"}}'
      : `{"response":{"status":"201 Created","location":${JSON.stringify(`${e.url ?? ""}/_history/1`)}}}`,
  );
  const type = scanned.type === "batch" ? "batch-response" : "transaction-response";
  return `{"resourceType":"Bundle","type":"${type}","entry":[${parts.join(",")}]}`;
}

export function startSink(latencyMs: number, port = 0): Promise<{ base: string; close: () => void }> {
  // A body that came in several chunks is joined in this one buffer, scanned at once, and the buffer used again for
  // the next: a fresh quarter-megabyte buffer per request cost the sink more in page faults than its scan.
  let joined = Buffer.allocUnsafeSlow(1 << 20);
  const join = (chunks: readonly Buffer[]): Buffer => {
    if (chunks.length === 1) return chunks[0]!;
    let length = 0;
    for (const c of chunks) length += c.length;
    if (length > joined.length) joined = Buffer.allocUnsafeSlow(length);
    let at = 0;
    for (const c of chunks) at += c.copy(joined, at);
    return joined.subarray(0, length);
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const scanned = req.method === "POST" ? scanBundle(join(chunks)) : undefined;
      setTimeout(() => {
        if (req.method === "GET" && req.url?.endsWith("/metadata")) {
          return void res
            .writeHead(200, { "content-type": "application/fhir+json" })
            .end('{"resourceType":"CapabilityStatement","status":"active","kind":"instance","fhirVersion":"4.0.1","format":["json"]}');
        }
        if (!scanned) {
          return void res
            .writeHead(400, { "content-type": "application/fhir+json" })
            .end('{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"structure","diagnostics":"sink: not a Bundle"}]}');
        }
        res.writeHead(200, { "content-type": "application/fhir+json" }).end(answerBundle(scanned));
      }, latencyMs);
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) =>
    server.listen(port, "127.0.0.1", () =>
      resolve({ base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`, close: () => void server.close() }),
    ),
  );
}

if (process.argv[1]?.endsWith("load-sink.ts")) {
  const { values } = parseArgs({ options: { latency: { type: "string", default: "20" }, port: { type: "string", default: "0" } } });
  const sink = await startSink(Number(values.latency), Number(values.port));
  process.stdout.write(`${sink.base}\n`);
}
