// Reads the lines of one phase from an NDJSON file as bytes, a chunk at a time: memory holds the chunks whose
// lines are in flight, whatever the size of the archive. The file is only ever opened for reading. A line's bytes
// are sent as they are; of its JSON only the top-level resourceType and id are read (jsonLine.ts), and a line that
// scan is not sure of is judged by JSON.parse, as every line was before (~25 µs and most of the garbage per study).
// Lines end at LF, CRLF or a lone CR, as readline ends them: a line's number is its checkpoint key.
import { isUtf8 } from "node:buffer";
import { ndjsonLinesAsync } from "../lib/ndjson.js";
import { scanTopLevel } from "./jsonLine.js";
import type { Phase } from "./plan.js";

/** One resource to send: its line in the file (the checkpoint's key), and for a PUT the line's text, sent as is. */
export interface LoadEntry {
  readonly line: number;
  readonly resourceType: string;
  readonly id: string;
  /** The resource's JSON for a PUT (the line's bytes, or its text); absent for a DELETE. */
  readonly text?: string | Uint8Array;
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
 * The entries of one phase, in file order, a chunk's worth at a time. A deletions file holds every type: each
 * delete phase takes its own type's lines, and the first one also reports the lines of no type it knows.
 */
export async function* readPhase(path: string, phase: Phase, reportUnknownTypes: boolean): AsyncGenerator<Array<LoadEntry | InvalidLine>> {
  let line = 0;
  for await (const lines of ndjsonLinesAsync(path, CHUNK_BYTES)) {
    const out = chunkEntries(lines, line, phase, reportUnknownTypes);
    line += lines.length;
    if (out.length > 0) yield out;
  }
}

/** A chunk's lines, the first of them line `first`: a function of its own, kept out of the async generator (see batches.ts). */
function chunkEntries(lines: readonly Buffer[], first: number, phase: Phase, reportUnknownTypes: boolean): Array<LoadEntry | InvalidLine> {
  const out: Array<LoadEntry | InvalidLine> = [];
  for (let i = 0; i < lines.length; i++) {
    const item = lineEntry(lines[i]!, first + i, phase, reportUnknownTypes);
    if (item) out.push(item);
  }
  return out;
}

/** What one line is for this phase: an entry, an invalid line, or nothing (blank, or another type's deletion). */
function lineEntry(bytes: Buffer, line: number, phase: Phase, reportUnknownTypes: boolean): LoadEntry | InvalidLine | undefined {
  // The usual line: an object that the scan is sure of, in valid UTF-8 (what is sent is then what JSON.parse reads).
  const found = bytes[0] === 0x7b ? scanTopLevel(bytes, 0, bytes.length) : undefined;
  if (found && Array.isArray(found.resourceType) && isUtf8(bytes)) {
    const resourceType = bytes.toString("utf8", found.resourceType[0], found.resourceType[1]);
    const id = Array.isArray(found.id) ? bytes.toString("utf8", found.id[0], found.id[1]) : null;
    return judge(line, phase, reportUnknownTypes, resourceType, id, bytes);
  }
  const text = bytes.toString("utf8");
  if (text.trim() === "") return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { line, resourceType: phase.resourceType, id: null, problem: `line ${line + 1} of ${phase.file} is not JSON` };
  }
  const { resourceType, id } = (value ?? {}) as { resourceType?: unknown; id?: unknown };
  return judge(line, phase, reportUnknownTypes, resourceType, typeof id === "string" ? id : null, text);
}

function judge(
  line: number,
  phase: Phase,
  reportUnknownTypes: boolean,
  resourceType: unknown,
  id: string | null,
  text: string | Uint8Array,
): LoadEntry | InvalidLine | undefined {
  const validId = id !== null && FHIR_ID.test(id) ? id : null;
  if (phase.action === "delete") {
    if (resourceType === phase.resourceType) {
      if (validId) return { line, resourceType: phase.resourceType, id: validId };
      return { line, resourceType: phase.resourceType, id: null, problem: `line ${line + 1} of ${phase.file} has no valid id` };
    }
    if (reportUnknownTypes && !KNOWN_TYPES.has(resourceType as string)) {
      return {
        line,
        resourceType: String(resourceType),
        id: validId,
        problem: `line ${line + 1} of ${phase.file} names no resource type load deletes (Endpoint, Patient, ImagingStudy)`,
      };
    }
    return undefined;
  }
  if (resourceType !== phase.resourceType)
    return { line, resourceType: phase.resourceType, id: validId, problem: `line ${line + 1} of ${phase.file} is not a ${phase.resourceType}` };
  if (!validId) return { line, resourceType: phase.resourceType, id: null, problem: `line ${line + 1} of ${phase.file} has no valid id` };
  return { line, resourceType: phase.resourceType, id: validId, text };
}

// 256 KiB: half the context switches of 64 KiB (each read is a round trip to libuv's thread pool), peak RSS at 4× the
// resources 1.19-1.26× the smaller run's, as with 64 KiB; 1 MiB chunks let it grow more (external memory the GC
// returns lazily).
const CHUNK_BYTES = 1 << 18;

const KNOWN_TYPES = new Set(["Endpoint", "Patient", "ImagingStudy"]);

export const isInvalid = (entry: LoadEntry | InvalidLine): entry is InvalidLine => "problem" in entry;
