import { type Stats, closeSync, constants, fstatSync, openSync } from "node:fs";
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

/** One reader per process: the first window of every file lands in the same buffer. */
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
    // No fstat up front: an image's header is read in one system call, and only a file that does not read as
    // an instance (a few in a hundred) is asked what it is: empty, or no longer a regular file (replaced by a
    // FIFO or a folder since it was listed).
    const file = new FileSource(fd, this.scratch);
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
    } finally {
      closeSync(fd);
    }
  }
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
