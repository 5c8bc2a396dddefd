// OperationOutcome (R4 https://hl7.org/fhir/R4/operationoutcome.html): every error of the search API, and the
// warnings of a search that ignored something.

/** R4 issue-type codes used here. */
export type IssueType =
  | "invalid"
  | "not-supported"
  | "not-found"
  | "security"
  | "login"
  | "too-costly"
  | "too-long"
  | "timeout"
  | "exception"
  | "processing"
  | "structure"
  | "transient"
  | "incomplete";

export interface OperationOutcome {
  readonly resourceType: "OperationOutcome";
  readonly issue: ReadonlyArray<{
    readonly severity: "fatal" | "error" | "warning" | "information";
    readonly code: IssueType;
    readonly diagnostics: string;
    readonly expression?: readonly string[];
  }>;
}

export function operationOutcome(code: IssueType, diagnostics: string, severity: "error" | "warning" = "error"): OperationOutcome {
  return { resourceType: "OperationOutcome", issue: [{ severity, code, diagnostics }] };
}
