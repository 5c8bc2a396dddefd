// The load side of the search benchmark, run as its own process so that it never shares the server's event loop.
//
//   tsx scripts/bench/search-load.ts <config.json>     prints one JSON line
//
// config: { mode: "latency" | "throughput", base, paths: string[], connections, seconds, rate? }
// - latency: `connections` keep-alive connections speaking HTTP/1.1 on raw sockets (the lightest client Node
//   has), each sending the paths one after another from its own offset, every request timed with hrtime: exact
//   percentiles (autocannon keeps whole milliseconds, too coarse for a 2 ms target). Without `rate` each
//   connection sends its next request as soon as the last is answered (closed loop: the server is saturated and
//   latency includes waiting behind the other connections); with `rate` (searches/s for all connections) requests
//   are sent on a fixed schedule and timed from their scheduled time (no coordinated omission).
// - throughput: autocannon (a real HTTP load tool) over the same paths, in turn.
import { readFileSync } from "node:fs";
import { type Socket, connect } from "node:net";
import autocannon from "autocannon";

interface Config {
  readonly mode: "latency" | "throughput";
  readonly base: string;
  readonly paths: readonly string[];
  readonly connections: number;
  readonly seconds: number;
  readonly rate?: number;
}

const config = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as Config;
const base = new URL(config.base);
const prefix = base.pathname.replace(/\/$/, "");

/** One kept-alive connection: a request at a time, answered when its Content-Length bytes have arrived. */
class Connection {
  private buffered = Buffer.alloc(0);
  private waiting?: (status: number) => void;

  private constructor(private readonly socket: Socket) {
    socket.on("data", (data) => {
      this.buffered = this.buffered.length === 0 ? data : Buffer.concat([this.buffered, data]);
      this.settle();
    });
  }

  static open(): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = connect(Number(base.port), base.hostname, () => resolve(new Connection(socket)));
      socket.setNoDelay(true);
      socket.on("error", reject);
    });
  }

  get(path: string): Promise<number> {
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.socket.write(`GET ${prefix}${path} HTTP/1.1\r\nHost: ${base.host}\r\n\r\n`);
    });
  }

  private settle(): void {
    const end = this.buffered.indexOf("\r\n\r\n");
    if (end === -1) return;
    const head = this.buffered.subarray(0, end).toString("latin1");
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.buffered.length < end + 4 + length) return;
    this.buffered = this.buffered.subarray(end + 4 + length);
    const resolve = this.waiting!;
    this.waiting = undefined;
    resolve(Number(head.slice(9, 12)));
  }

  close(): void {
    this.socket.destroy();
  }
}

async function latency(): Promise<object> {
  const connections = await Promise.all(Array.from({ length: config.connections }, () => Connection.open()));
  const samples: number[] = [];
  let errors = 0;
  const started = performance.now();
  const until = started + config.seconds * 1000;
  // Paced: connection c sends at started + (k * connections + c) / rate.
  const interval = config.rate ? (1000 * config.connections) / config.rate : 0;
  await Promise.all(
    connections.map(async (connection, c) => {
      for (let k = 0, i = c * 97; ; k++, i++) {
        const scheduled = config.rate ? started + (k * config.connections + c) * (interval / config.connections) : performance.now();
        if (scheduled >= until) break;
        const wait = scheduled - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        // Timed from the scheduled time when the connection was late (no coordinated omission), from the send
        // when a timer fired early (Node's timers run on the loop's cached clock, up to a millisecond ahead).
        const from = Math.min(scheduled, performance.now());
        const status = await connection.get(config.paths[i % config.paths.length]!);
        if (status === 200) samples.push(performance.now() - from);
        else errors++;
      }
    }),
  );
  for (const connection of connections) connection.close();
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? Number.NaN;
  return { requests: samples.length, errors, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: samples.at(-1), perSecond: samples.length / config.seconds };
}

async function throughput(): Promise<object> {
  const result = await autocannon({
    url: config.base.replace(/\/$/, ""),
    connections: config.connections,
    duration: config.seconds,
    requests: config.paths.map((path) => ({ method: "GET", path: `${prefix}${path}` })),
  });
  return {
    requests: result.requests.total,
    perSecond: result.requests.average,
    errors: result.errors,
    non2xx: result.non2xx,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
    bytesPerSecond: result.throughput.average,
  };
}

const result = config.mode === "latency" ? await latency() : await throughput();
process.stdout.write(`${JSON.stringify(result)}\n`);
