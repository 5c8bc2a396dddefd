// What an on-demand search says beside its matches: issues of an OperationOutcome (R4 operationoutcome.html),
// carried in the searchset Bundle's `outcome` entry, or, when there is nothing to answer with, as the 503's body.
import type { IssueType } from "../search/outcome.js";

export interface Issue {
  readonly severity: "error" | "warning" | "information";
  readonly code: IssueType;
  readonly diagnostics: string;
}

/** When an answer was fetched, as a person reads it: an instant in UTC to the second. */
export const fetchedAt = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
