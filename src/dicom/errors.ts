import type { Reason } from "../core/reasons.js";

/** A header that cannot be read; carries the byte position where reading stopped, like dicomParser's errors. */
export class DicomReadError extends Error {
  constructor(
    readonly reason: Reason,
    message: string,
    readonly position: number,
  ) {
    super(message);
    this.name = "DicomReadError";
  }
}
