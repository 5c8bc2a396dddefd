/**
 * Every file the crawler sees ends as (part of) a resource or with exactly one of these reasons.
 * The codes are stable: they are counted in report.json and listed in errors.ndjson, and pipelines match on them.
 * `skipped` files are not instances by nature; `failed` files were meant to be instances and could not become one.
 */
export const REASONS = {
  // skipped
  "not-dicom": { outcome: "skipped", meaning: "neither a DICOM Part 10 file nor a plausible raw data set" },
  empty: { outcome: "skipped", meaning: "the file has no bytes" },
  dicomdir: { outcome: "skipped", meaning: "a media directory (DICOMDIR), which indexes instances rather than being one" },
  "not-a-regular-file": { outcome: "skipped", meaning: "a FIFO, socket or device; never opened" },
  symlink: { outcome: "skipped", meaning: "a symbolic link found while walking a folder; followed only with --follow-symlinks" },
  duplicate: { outcome: "skipped", meaning: "another file holds the same SOP Instance UID; the one whose path sorts first is used" },
  // failed
  unreadable: { outcome: "failed", meaning: "the file or folder could not be opened or read (permission, I/O error, vanished)" },
  "broken-symlink": { outcome: "failed", meaning: "a symbolic link whose target does not exist (with --follow-symlinks)" },
  "symlink-loop": { outcome: "failed", meaning: "a symbolic link that leads back into a folder being walked (with --follow-symlinks)" },
  truncated: { outcome: "failed", meaning: "the data ends inside the header, before the attributes an instance needs" },
  "corrupt-header": {
    outcome: "failed",
    meaning: "the header's encoding is broken (impossible element header or item structure) before the attributes an instance needs",
  },
  "bad-compression": { outcome: "failed", meaning: "a gzipped file or deflated data set whose compressed stream is corrupt" },
  "header-too-large": { outcome: "failed", meaning: "the header inflates beyond the 64 MiB bound (a decompression bomb)" },
  "missing-study-uid": { outcome: "failed", meaning: "no Study Instance UID (0020,000D)" },
  "missing-series-uid": { outcome: "failed", meaning: "no Series Instance UID (0020,000E)" },
  "missing-sop-instance-uid": { outcome: "failed", meaning: "no SOP Instance UID (0008,0018) nor Media Storage SOP Instance UID (0002,0003)" },
  "missing-sop-class": { outcome: "failed", meaning: "no SOP Class UID (0008,0016) nor Media Storage SOP Class UID (0002,0002)" },
  "invalid-value": { outcome: "failed", meaning: "a UID the instance needs is malformed (not digits and dots, or longer than 64 characters)" },
  "invalid-resource": { outcome: "failed", meaning: "the resource this file belongs to failed FHIR validation and was not written" },
  // failed, DICOMweb inputs: the item is a study (path: its URL) or the listing (path: {root}/studies)
  unreachable: { outcome: "failed", meaning: "the DICOMweb server could not be reached, or the connection broke, on every attempt" },
  timeout: { outcome: "failed", meaning: "the DICOMweb server did not answer completely in time, on every attempt" },
  "http-error": { outcome: "failed", meaning: "the DICOMweb server answered with an error status (the message gives it)" },
  "bad-metadata": { outcome: "failed", meaning: "a DICOMweb answer that is not the DICOM JSON it should be (the message says where)" },
  "internal-error": { outcome: "failed", meaning: "a bug in dcm2fhir; the message says where (please report it)" },
} as const satisfies Record<string, { outcome: "skipped" | "failed"; meaning: string }>;

export type Reason = keyof typeof REASONS;

/** What happened to one input file that did not become (part of) a resource: one line of errors.ndjson. */
export interface FileFailure {
  readonly path: FilePath;
  readonly reason: Reason;
  /** Says what was expected and where; never contains patient data. */
  readonly message: string;
}

/**
 * A path as the operating system gave it. File names are bytes on Linux: a name that is not valid UTF-8
 * stays a Buffer so it can still be opened, and is shown with replacement characters.
 */
export type FilePath = string | Buffer;

export const displayPath = (path: FilePath): string => (typeof path === "string" ? path : path.toString("utf8"));

/** The order of errors.ndjson: by path, then reason code. */
export const compareFailures = (a: FileFailure, b: FileFailure): number =>
  comparePaths(a.path, b.path) || (a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : 0);

/** A total order on paths (the byte order of their UTF-8 names), used wherever a choice between files must not depend on timing. */
export function comparePaths(a: FilePath, b: FilePath): number {
  if (typeof a === "string" && typeof b === "string") return compareCodePoints(a, b);
  return Buffer.compare(typeof a === "string" ? Buffer.from(a) : a, typeof b === "string" ? Buffer.from(b) : b);
}

// UTF-8 byte order is code point order; JavaScript's `<` compares UTF-16 code units, which differs above U+FFFF.
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xa = x >= 0xd800 && x <= 0xdfff ? x + 0x10000 : x;
    const ya = y >= 0xd800 && y <= 0xdfff ? y + 0x10000 : y;
    return xa < ya ? -1 : 1;
  }
  return a.length - b.length;
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
