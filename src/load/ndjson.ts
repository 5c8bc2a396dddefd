// Reads the lines of one phase from an NDJSON file as a stream (readline over a file stream): memory holds
// one line at a time, whatever the size of the archive. The file is only ever opened for reading.
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { Phase } from "./plan.js";

/** One resource to send: its line in the file (the checkpoint's key), and for a PUT the line's text, sent as is. */
export interface LoadEntry {
  readonly line: number;
  readonly resourceType: string;
  readonly id: string;
  /** The resource's JSON for a PUT; absent for a DELETE. */
  readonly text?: string;
}

/** A line that is not something this phase can send; recorded in load-errors.ndjson, never sent. */
export interface InvalidLine {
  readonly line: number;
  readonly resourceType: string;
  readonly id: string | null;
  readonly problem: string;
}

/** FHIR R4 id (2.24.0.6): 1 to 64 of A-Z a-z 0-9 - . */
const FHIR_ID = /^[A-Za-z0-9.-]{1,64}$/;

/**
 * The entries of one phase, in file order. A deletions file holds every type: each delete phase takes its own
 * type's lines, and the first one also reports the lines of no type it knows.
 */
export async function* readPhase(path: string, phase: Phase, reportUnknownTypes: boolean): AsyncGenerator<LoadEntry | InvalidLine> {
  const lines = createInterface({ input: createReadStream(path, { encoding: "utf8" }), crlfDelay: Number.POSITIVE_INFINITY });
  let line = -1;
  for await (const text of lines) {
    line++;
    if (text.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      yield { line, resourceType: phase.resourceType, id: null, problem: `line ${line + 1} of ${phase.file} is not JSON` };
      continue;
    }
    const { resourceType, id } = (value ?? {}) as { resourceType?: unknown; id?: unknown };
    const validId = typeof id === "string" && FHIR_ID.test(id) ? id : null;
    if (phase.action === "delete") {
      if (resourceType === phase.resourceType) {
        if (validId) yield { line, resourceType: phase.resourceType, id: validId };
        else yield { line, resourceType: phase.resourceType, id: null, problem: `line ${line + 1} of ${phase.file} has no valid id` };
      } else if (reportUnknownTypes && !KNOWN_TYPES.has(resourceType as string)) {
        yield { line, resourceType: String(resourceType), id: validId, problem: `line ${line + 1} of ${phase.file} names no resource type load deletes (Endpoint, Patient, ImagingStudy)` };
      }
      continue;
    }
    if (resourceType !== phase.resourceType) {
      yield { line, resourceType: phase.resourceType, id: validId, problem: `line ${line + 1} of ${phase.file} is not a ${phase.resourceType}` };
    } else if (!validId) {
      yield { line, resourceType: phase.resourceType, id: null, problem: `line ${line + 1} of ${phase.file} has no valid id` };
    } else {
      yield { line, resourceType: phase.resourceType, id: validId, text };
    }
  }
}

const KNOWN_TYPES = new Set(["Endpoint", "Patient", "ImagingStudy"]);

export const isInvalid = (entry: LoadEntry | InvalidLine): entry is InvalidLine => "problem" in entry;
