import { closeSync, constants, fstatSync, openSync } from "node:fs";
import type { FileFailure, FilePath } from "../reasons.js";
import { FileSource } from "./byteSource.js";
import { DicomReadError } from "./errors.js";
import { type InstanceRecord, readInstance } from "./instance.js";

/** What reading one file gave, and what it cost. */
export interface FileRead {
  readonly result: InstanceRecord | FileFailure;
  readonly bytesRead: number;
}

/** Headers measured here are 1.6-6.4 KiB; one read of this size covers most of them, a junk file included. */
export const FIRST_READ_BYTES = 8 * 1024;

/** One reader per thread: the first window of every file lands in the same buffer. */
export class DicomFileReader {
  private readonly scratch = Buffer.allocUnsafe(64 * 1024);

  constructor(private readonly firstReadBytes = FIRST_READ_BYTES) {}

  /** Reads the header of one file; never throws. */
  read(path: FilePath): FileRead {
    let fd: number;
    try {
      // O_NONBLOCK: a FIFO that replaced a listed file must not block the reader forever.
      fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (error) {
      return { result: fromSystemError(path, error, "open"), bytesRead: 0 };
    }
    let source: FileSource | undefined;
    const bytesRead = () => source?.bytesRead ?? 0;
    try {
      const stat = fstatSync(fd);
      if (!stat.isFile()) {
        return { result: { path, reason: "not-a-regular-file", message: `not a regular file at the time it was opened (${kindOf(stat)})` }, bytesRead: 0 };
      }
      if (stat.size === 0) return { result: { path, reason: "empty", message: "the file has no bytes" }, bytesRead: 0 };
      // Both passes of readInstance read through one source, so the second is served from its last window.
      const file = (source = new FileSource(fd, stat.size, this.scratch));
      const result = readInstance(path, () => file, this.firstReadBytes);
      return { result, bytesRead: bytesRead() };
    } catch (error) {
      if (error instanceof DicomReadError) return { result: { path, reason: error.reason, message: error.message }, bytesRead: bytesRead() };
      if ((error as NodeJS.ErrnoException).code) return { result: fromSystemError(path, error, "read"), bytesRead: bytesRead() };
      return { result: { path, reason: "internal-error", message: `reader: ${(error as Error).stack ?? String(error)}` }, bytesRead: bytesRead() };
    } finally {
      closeSync(fd);
    }
  }
}

/** System errors name the file in their message; ours must not (paths can hold patient names). */
export function fromSystemError(path: FilePath, error: unknown, operation: string): FileFailure {
  const code = (error as NodeJS.ErrnoException).code ?? "UNKNOWN";
  if (code === "ENXIO") return { path, reason: "not-a-regular-file", message: `a socket or a device without a reader (${code} on ${operation})` };
  if (code === "ELOOP") return { path, reason: "symlink-loop", message: `too many levels of symbolic links (${code} on ${operation})` };
  const what: Record<string, string> = {
    ENOENT: "the file vanished after it was listed",
    EACCES: "permission denied",
    EPERM: "operation not permitted",
    EISDIR: "a folder where a file was expected",
    EIO: "I/O error",
    EMFILE: "too many open files",
  };
  return { path, reason: "unreadable", message: `${what[code] ?? "system error"} (${code} on ${operation})` };
}

function kindOf(stat: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (stat.isDirectory()) return "a folder";
  if (stat.isFIFO()) return "a FIFO";
  if (stat.isSocket()) return "a socket";
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return "a device";
  return "not a regular file";
}
