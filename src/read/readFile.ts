import { type Stats, close, closeSync, constants, fstatSync, open, openSync, read } from "node:fs";
import pLimit, { type LimitFunction } from "p-limit";
import { IoPace } from "../lib/ioPace.js";
import { type FileFailure, type FilePath, fromSystemError } from "../core/reasons.js";
import { FileSource } from "../dicom/byteSource.js";
import { DicomReadError } from "../dicom/errors.js";
import { type ParsedInstance, readInstance } from "../dicom/instance.js";

/** What reading one file gave, and what it cost. */
export interface FileRead {
  readonly result: ParsedInstance | FileFailure;
  readonly bytesRead: number;
}

/** Headers measured here are 1.6-6.4 KiB; one read of this size covers most of them, a junk file included. */
export const FIRST_READ_BYTES = 8 * 1024;

/** O_NONBLOCK: a FIFO that replaced a listed file must not block the reader forever. */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

type FirstWindow = { readonly bytes: Buffer; readonly wanted: number } | { readonly error: unknown };

/**
 * One reader per process: the first window of every file lands in the same buffer. As `pace` says, files are read
 * one at a time synchronously (files in the page cache: cheapest), or many at once (network storage): each one's
 * open, first read and close asynchronous, the parse (and a read beyond the first window, rare) synchronous.
 */
export class DicomFileReader {
  private readonly scratch = Buffer.allocUnsafe(64 * 1024);
  /** First windows of the files in flight, reused: a parse keeps no reference to them once it returns. */
  private readonly windows: Buffer[] = [];
  private limit: LimitFunction | undefined;

  constructor(
    private readonly firstReadBytes = FIRST_READ_BYTES,
    readonly pace = new IoPace(1),
  ) {}

  /** Reads the header of one file synchronously; never throws. */
  read(path: FilePath): FileRead {
    let fd: number;
    try {
      fd = this.pace.time(() => openSync(path, OPEN_FLAGS));
    } catch (error) {
      return { result: fromSystemError(path, error, "open"), bytesRead: 0 };
    }
    try {
      return this.parse(path, fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Reads the headers of `paths`, as `pace` says (see the class); in the order given; never throws. */
  async readAll(paths: readonly FilePath[]): Promise<FileRead[]> {
    const reads: FileRead[] = [];
    // Synchronously until the pace says otherwise, which it can in the middle of a batch.
    while (reads.length < paths.length && !this.pace.concurrent) reads.push(this.read(paths[reads.length]!));
    if (reads.length === paths.length) return reads;
    // One limit for every batch this reader holds: the depth bounds the files in flight, not the files per batch.
    const limit = (this.limit ??= pLimit(this.pace.depth));
    // The depth is shared with the reader processes, and they start later.
    limit.concurrency = this.pace.depth;
    return [...reads, ...(await Promise.all(paths.slice(reads.length).map((path) => limit(() => this.readAsync(path)))))];
  }

  /** Milliseconds spent parsing files read asynchronously: what tells the reader pool whether this process is busy. */
  parseMs = 0;

  private async readAsync(path: FilePath): Promise<FileRead> {
    let fd: number;
    try {
      fd = await new Promise<number>((resolve, reject) => open(path, OPEN_FLAGS, (error, fd) => (error ? reject(error) : resolve(fd))));
    } catch (error) {
      return { result: fromSystemError(path, error, "open"), bytesRead: 0 };
    }
    const window = this.windows.pop() ?? Buffer.allocUnsafe(this.firstReadBytes);
    try {
      const first = await firstWindow(fd, window, this.firstReadBytes);
      const started = performance.now();
      const read = this.parse(path, fd, first);
      this.parseMs += performance.now() - started;
      return read;
    } finally {
      this.windows.push(window);
      await new Promise<void>((resolve) => close(fd, () => resolve()));
    }
  }

  private parse(path: FilePath, fd: number, first?: FirstWindow): FileRead {
    // No fstat up front: an image's header is read in one system call, and only a file that does not read as
    // an instance (a few in a hundred) is asked what it is: empty, or no longer a regular file (replaced by a
    // FIFO or a folder since it was listed).
    const file = new FileSource(fd, this.scratch, first);
    try {
      // Both passes of readInstance read through one source, so the second is served from its last window.
      const result = readInstance(path, () => file, this.firstReadBytes);
      if ("reason" in result) return { result: notARegularFile(fd, path) ?? result, bytesRead: file.bytesRead };
      return { result, bytesRead: file.bytesRead };
    } catch (error) {
      const irregular = notARegularFile(fd, path);
      if (irregular) return { result: irregular, bytesRead: file.bytesRead };
      if (error instanceof DicomReadError) return { result: { path, reason: error.reason, message: error.message }, bytesRead: file.bytesRead };
      if ((error as NodeJS.ErrnoException).code) return { result: fromSystemError(path, error, "read"), bytesRead: file.bytesRead };
      return { result: { path, reason: "internal-error", message: `reader: ${(error as Error).stack ?? String(error)}` }, bytesRead: file.bytesRead };
    }
  }
}

/**
 * The first `wanted` bytes of a file, read as FileSource reads them synchronously (until they are all there or a
 * read returns nothing), or the error a read raised.
 */
async function firstWindow(fd: number, window: Buffer, wanted: number): Promise<FirstWindow> {
  let got = 0;
  try {
    while (got < wanted) {
      const n = await new Promise<number>((resolve, reject) => read(fd, window, got, wanted - got, got, (error, n) => (error ? reject(error) : resolve(n))));
      if (n === 0) break;
      got += n;
    }
  } catch (error) {
    return { error };
  }
  return { bytes: window.subarray(0, got), wanted };
}

/** What an open file is if it is not a regular file with bytes in it: a folder, a FIFO, a device, or empty. */
function notARegularFile(fd: number, path: FilePath): FileFailure | undefined {
  let stat: Stats;
  try {
    stat = fstatSync(fd);
  } catch {
    return undefined;
  }
  if (!stat.isFile()) return { path, reason: "not-a-regular-file", message: `not a regular file at the time it was opened (${kindOf(stat)})` };
  if (stat.size === 0) return { path, reason: "empty", message: "the file has no bytes" };
  return undefined;
}

function kindOf(stat: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (stat.isDirectory()) return "a folder";
  if (stat.isFIFO()) return "a FIFO";
  if (stat.isSocket()) return "a socket";
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return "a device";
  return "not a regular file";
}
