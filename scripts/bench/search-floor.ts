// The "HTTP floor" of the search benchmark: a bare node:http server answering the same URLs with the same bytes
// the real server gave, pre-serialized, doing no search. Our throughput as a share of its throughput is the
// honest measure of what the search itself costs.
//
//   tsx scripts/bench/search-floor.ts <answers.json>    prints its base URL, then serves until killed
//
// answers.json: { "<path>": "<body as base64>", ... }
import { readFileSync } from "node:fs";
import { createServer } from "node:http";

const answers = new Map(
  Object.entries(JSON.parse(readFileSync(process.argv[2]!, "utf8")) as Record<string, string>).map(([path, body]) => [path, Buffer.from(body, "base64")]),
);
const notFound = Buffer.from('{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found","diagnostics":"no such URL"}]}');

const server = createServer((req, res) => {
  const body = answers.get(req.url ?? "");
  res.writeHead(body ? 200 : 404, { "content-type": "application/fhir+json", "content-length": (body ?? notFound).length, "cache-control": "no-store" });
  res.end(body ?? notFound);
});
server.keepAliveTimeout = 5000;
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`http://127.0.0.1:${port}/\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
