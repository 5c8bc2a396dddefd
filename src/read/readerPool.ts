import { type ChildProcess, fork } from "node:child_process";
import { compiledEntry } from "../lib/entryFile.js";
import type { FilePath } from "../core/reasons.js";
import { type IoDepth, IoPace } from "../lib/ioPace.js";
import { DicomFileReader } from "./readFile.js";
import type { ReadRequest } from "./readerProcess.js";
import { BatchUnpacker, type PackedBatch, packPath } from "./wire.js";
import type { HeaderRead } from "../core/record.js";
import { toHeaderRead } from "../dicom/instance.js";

/** Reads headers in batches; results come back in batch order. */
export interface HeaderReader {
  read(batch: readonly FilePath[]): Promise<HeaderRead[]>;
  close(): Promise<void>;
}

/** Batches a reader process holds at once: the next ones are waiting when it finishes, so it never idles on a round trip. */
const BATCHES_PER_PROCESS = 4;
/**
 * Batches read here before reader processes are started. A process costs a node start and a JIT warm-up
 * (~0.1 s of CPU, and its first thousands of files at twice the steady cost, here) that a small run never earns back; once started, it gets batches only after it says it is ready, so no
 * batch waits for it meanwhile.
 */
const BATCHES_BEFORE_PROCESSES = 8;

/** What "busy" means for this process when it reads many files at once (see ReaderPool.busy). */
const BUSY_WINDOW_MS = 250;
const BUSY_PARSING = 0.5;

/**
 * `readers` read headers, this process included: 1 reads only here; with more, once the run has shown itself
 * large enough (and, where files are read many at once, once this process is busy parsing), `readers - 1` reader
 * processes take batches while they have room and this process reads the
 * others itself. Processes rather than threads: on Linux the threads of one process share its file table and
 * address space, and the open/read/close of every file contends on their locks (measured here over the 10k
 * archive: two threads no faster than one, two processes 1.5–1.9× as fast).
 */
export function createHeaderReader(readers: number, ioDepth: IoDepth = "auto", pace?: IoPace): HeaderReader {
  return new ReaderPool(readers, ioDepth, pace);
}

/** The reader behind createHeaderReader; what it counts is for tests and profiles. */
export class ReaderPool implements HeaderReader {
  private readonly here: DicomFileReader;
  private readonly processes: ReaderProcess[] = [];
  private batches = 0;
  /** Where the measure of this process's time parsing started (see busy). */
  private loop: { since: number; parseMs: number } | undefined;
  /** Batches read in this process, by reader processes, and those a process held when it died (then read here). */
  readonly counts = { here: 0, inProcesses: 0, recovered: 0 };

  /**
   * `ioDepth`: the run's file operations in flight, split between the readers (lib/ioPace.ts). `pace`: this
   * process's, shared with the crawl; once it goes concurrent, the reader processes are told to as well.
   */
  constructor(
    private readonly readers: number,
    private readonly ioDepth: IoDepth = "auto",
    private readonly pace = new IoPace(ioDepth),
  ) {
    // Until reader processes start, this process reads alone, at the whole depth.
    pace.share = 1;
    this.here = new DicomFileReader(undefined, pace);
  }

  async read(batch: readonly FilePath[]): Promise<HeaderRead[]> {
    if (this.readers > 1 && ++this.batches >= BATCHES_BEFORE_PROCESSES && this.processes.length === 0 && this.busy()) {
      this.pace.share = this.readers;
      for (let i = 1; i < this.readers; i++) {
        try {
          this.processes.push(new ReaderProcess((paths) => this.readHere(paths), this.ioDepth, this.readers));
        } catch {
          // No process to be had (out of memory, process limit): this one reads on alone.
        }
      }
    }
    let free: ReaderProcess | undefined;
    for (const p of this.processes) if (p.canTake && (!free || p.inFlight < free.inFlight)) free = p;
    if (free) {
      const reads = await free.read(batch, this.pace.concurrent);
      if (reads.byProcess) this.counts.inProcesses++;
      else this.counts.recovered++;
      return reads.reads;
    }
    this.counts.here++;
    const results = (await this.here.readAll(batch)).map(toHeaderRead);
    // Let the processes' finished batches in before reading another here, or they starve meanwhile.
    if (this.processes.length > 0 && !this.pace.concurrent) await new Promise((resolve) => setImmediate(resolve));
    return results;
  }

  /**
   * Whether this process's CPU is what reading waits for, so that reader processes would read faster. Files read
   * synchronously (fast storage) keep it busy by definition. Files read many at once on slow storage mostly keep
   * it waiting: more processes would add their start-up and their CPU, and nothing else, unless parsing takes
   * most of this process's time (storage fast enough that the parse is the bottleneck), measured over a quarter
   * second. (Not the event loop's utilization: on a machine shared with other work, time spent waiting for a
   * CPU counts as busy there.)
   */
  private busy(): boolean {
    if (!this.pace.concurrent) return true;
    const now = performance.now();
    if (!this.loop) {
      this.loop = { since: now, parseMs: this.here.parseMs };
      return false;
    }
    if (now - this.loop.since < BUSY_WINDOW_MS) return false;
    const share = (this.here.parseMs - this.loop.parseMs) / (now - this.loop.since);
    this.loop = { since: now, parseMs: this.here.parseMs };
    return share > BUSY_PARSING;
  }

  /** Process ids of the reader processes started so far (for tests that kill one). */
  get pids(): number[] {
    return this.processes.flatMap((p) => (p.pid === undefined ? [] : [p.pid]));
  }

  /** Batches the reader processes hold right now. */
  get inFlight(): number {
    return this.processes.reduce((n, p) => n + p.inFlight, 0);
  }

  async close(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.close()));
  }

  private readHere(batch: readonly FilePath[]): HeaderRead[] {
    this.counts.here++;
    return batch.map((path) => toHeaderRead(this.here.read(path)));
  }
}

interface Pending {
  readonly paths: readonly FilePath[];
  readonly done: (result: { reads: HeaderRead[]; byProcess: boolean }) => void;
}

/** One reader process and the batches it holds. If it dies, they are read here instead, and it gets no more. */
class ReaderProcess {
  private readonly child: ChildProcess;
  private readonly unpacker = new BatchUnpacker();
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private ready = false;
  private gone = false;
  private readonly exited: Promise<void>;

  constructor(
    private readonly readHere: (batch: readonly FilePath[]) => HeaderRead[],
    ioDepth: IoDepth,
    readers: number,
  ) {
    // No inherited flags (a debugger's port, a TypeScript loader): the reader is plain compiled JavaScript.
    // stdio ignored: a reader has nothing to say, and a crash is handled here rather than printed.
    const entry = compiledEntry(import.meta.url, "read/readerProcess.js", "the reader process");
    const share = new IoPace(ioDepth, readers).depth;
    this.child = fork(entry, [String(ioDepth), String(readers)], {
      execArgv: [],
      env: readerEnvironment(share),
      stdio: ["ignore", "ignore", "ignore", "ipc"],
      serialization: "json",
    });
    this.exited = new Promise((resolve) => this.child.once("exit", () => resolve()).once("error", () => resolve()));
    this.child.on("message", (message: { ready: true } | { id: number; batch: PackedBatch }) => {
      if ("ready" in message) {
        this.ready = true;
        return;
      }
      const pending = this.pending.get(message.id);
      if (!pending) return;
      this.pending.delete(message.id);
      pending.done({ reads: this.unpacker.unpack(pending.paths, message.batch), byProcess: true });
    });
    this.child.once("exit", () => this.lost());
    this.child.once("error", () => this.lost());
  }

  get inFlight(): number {
    return this.pending.size;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get canTake(): boolean {
    return this.ready && !this.gone && this.pending.size < BATCHES_PER_PROCESS;
  }

  /** `concurrent`: this process found the storage slow; the reader need not find it out for itself. */
  read(paths: readonly FilePath[], concurrent: boolean): Promise<{ reads: HeaderRead[]; byProcess: boolean }> {
    const id = this.nextId++;
    return new Promise((done) => {
      this.pending.set(id, { paths, done });
      const request: ReadRequest = concurrent ? { id, paths: paths.map(packPath), concurrent } : { id, paths: paths.map(packPath) };
      // A send that fails means the process is gone; its exit event hands the batch back.
      this.child.send(request, (error) => {
        if (error) this.lost();
      });
    });
  }

  /** The process died (out of memory, killed): what it held is read here, where each file's failure is caught on its own. */
  private lost(): void {
    this.gone = true;
    const held = [...this.pending.values()];
    this.pending.clear();
    for (const { paths, done } of held) done({ reads: this.readHere(paths), byProcess: false });
  }

  async close(): Promise<void> {
    this.gone = true;
    if (this.child.connected) this.child.disconnect();
    await this.exited;
  }
}

/**
 * This process's environment with the reader's thread pool, less NODE_EXTRA_CA_CERTS: with it set, node parses its whole root certificate
 * store at start-up (measured here: 0.5 G instructions instead of 0.09 G, ~50 ms of CPU), and a reader makes
 * no TLS connection.
 */
function readerEnvironment(depth: number): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  // The asynchronous reads run on libuv's thread pool (4 threads unless told): as many threads as files in flight.
  env.UV_THREADPOOL_SIZE = String(Math.max(4, depth));
  return env;
}
