// Why `load` cannot go on: a stable reason code; the CLI exits 3 for every one of them.

export type LoadFailureReason =
  /** No answer from the server after the bounded retries (connection refused, reset, timeout). */
  | "server-unreachable"
  /** 401 or 403: the credentials are missing or refused. The run stops at once: retrying cannot help. */
  | "auth-refused"
  /** GET metadata did not answer a CapabilityStatement. */
  | "not-a-fhir-server"
  /** Several batches in a row got no final answer after their retries: the server is failing. */
  | "server-failing"
  /** Another load to the same server from this folder is running, or a convert is rewriting the folder. */
  | "folder-busy"
  /** The checkpoint, lock or reports cannot be written in the folder. */
  | "folder-unwritable";

export class LoadFailure extends Error {
  override readonly name = "LoadFailure";
  constructor(
    readonly reason: LoadFailureReason,
    message: string,
  ) {
    super(message);
  }
}
