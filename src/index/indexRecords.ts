// What the search index is built from: each resource of the NDJSON files with the values it is searched by, and its
// exact bytes (a Patient's or an Endpoint's) or where its line lies in its file (a study's: the index does not copy
// it). Reading and parsing them is the half of a build that needs no database, so for a large folder it
// runs on its own thread (indexWorker.ts) while this one writes SQLite; records cross between the threads in
// batches of a few flat arrays (one string for all the text, numbers in a typed array), which costs a small
// fraction of cloning objects.
import { isUtf8 } from "node:buffer";
import { NDJSON_FILES } from "../core/outputFiles.js";
import { type JsonIdentifier, type JsonImagingStudy, patientIdentifierRows, studyValues } from "./parameters.js";
import { ndjsonLines, resourceIdOf } from "../lib/ndjson.js";
import { FigureCounts, type StudyFigures } from "./figures.js";

export type IndexedType = keyof typeof NDJSON_FILES;
/** Patients first: a study's values need to know whether its Patient has an identifier. */
const READ_ORDER: readonly IndexedType[] = ["Patient", "Endpoint", "ImagingStudy"];

/** A line of an NDJSON file the index could not take: the run goes on without it. */
export interface SkippedLine {
  readonly file: string;
  readonly line: number;
  readonly problem: "not-utf8" | "not-json" | "wrong-resource-type" | "no-id" | "duplicate-id";
}

/** Records of one type, in file order. */
export interface RecordBatch {
  readonly type: IndexedType;
  readonly count: number;
  /** The records' NDJSON lines, one after another, `ends[i]` where record i's ends (none for studies). */
  readonly bytes: Uint8Array;
  readonly ends: Uint32Array;
  readonly numbers: Float64Array;
  /** Every string of the batch, one after another; `lengths[i]` is the i-th one's, -1 for none. */
  readonly text: string;
  readonly lengths: Int32Array;
}

/** After the last batch: what was left out, in file order. */
export interface ReadSummary {
  readonly skipped: readonly SkippedLine[];
  /** Of the studies read, added to those the counts were given with. */
  readonly figures: StudyFigures;
}

/**
 * Bytes of NDJSON lines in one batch: big enough that a batch costs little, small enough that a few in flight do not.
 * Measured (index of 200,000 studies): 4 MiB batches 8.8 s and 280 MB peak RSS, 256 KiB 6.8 s and 179 MB.
 */
const BATCH_BYTES = 256 << 10;

/** ImagingStudy lines an index being updated holds already (updateSearchIndex): only where each lies now is needed. */
export interface IndexedAlready {
  readonly ids: ReadonlySet<string>;
  /** Study `id`'s line starts at byte `at` of ImagingStudy.ndjson and is `length` bytes long. */
  lies(id: string, at: number, length: number): void;
}

/**
 * Reads the NDJSON files, in the order Patient, Endpoint, ImagingStudy, and hands over their records in batches.
 * A batch's ArrayBuffers are its own (`transfer` may move them to another thread). The lines of `indexedAlready`
 * are not handed over (nor parsed); the studies parsed are counted into `figures`.
 */
export function readIndexRecords(
  files: Partial<Record<IndexedType, string>>,
  zone: string,
  emit: (batch: RecordBatch, transfer: ArrayBuffer[]) => void,
  indexedAlready?: IndexedAlready,
  figures = new FigureCounts(),
): ReadSummary {
  const skipped: SkippedLine[] = [];
  const patientsWithIdentifier = new Set<string>();
  const hasIdentifier = (patient: string) => patientsWithIdentifier.has(patient);
  for (const type of READ_ORDER) {
    let batch = new BatchWriter(type);
    const flush = () => {
      if (batch.count === 0) return;
      const { finished, transfer } = batch.finish();
      emit(finished, transfer);
      batch = new BatchWriter(type);
    };
    const unparsed = type === "ImagingStudy" ? indexedAlready : undefined;
    eachResource(files[type], type, skipped, unparsed, (resource, bytes, at) => {
      if (type === "ImagingStudy") batch.line(at, bytes.length);
      else batch.resource(bytes);
      batch.string(resource.id);
      if (type === "Patient") {
        const identifiers = patientIdentifierRows(resource as { identifier?: JsonIdentifier[] });
        if (identifiers.length > 0) patientsWithIdentifier.add(resource.id);
        batch.number(identifiers.length);
        for (const i of identifiers) batch.string(i.code), batch.string(i.system);
      } else if (type === "ImagingStudy") {
        const v = studyValues(resource as JsonImagingStudy, zone, hasIdentifier);
        figures.add(resource);
        batch.string(v.patient), batch.string(v.status), batch.string(v.endpoints.length > 0 ? JSON.stringify(v.endpoints) : undefined);
        batch.number(v.started?.lo ?? Number.NaN), batch.number(v.started?.hi ?? Number.NaN), batch.number(v.present);
        batch.number(v.tokens.length);
        for (const t of v.tokens) batch.number(t.parameter), batch.string(t.code), batch.string(t.system);
      }
      if (batch.read >= BATCH_BYTES) flush();
    });
    flush();
  }
  return { skipped, figures: figures.figures() };
}

/** What the records of a batch are handed to, in file order; a Patient's identifiers and a study's token rows right after it. */
export interface RecordSink {
  patient(id: string, resource: Buffer): void;
  patientIdentifier(code: string, system: string): void;
  endpoint(id: string, resource: Buffer): void;
  study(study: StudyRecord): void;
  studyToken(parameter: number, code: string, system: string): void;
}

export interface StudyRecord {
  readonly id: string;
  /** Where its line starts in ImagingStudy.ndjson, and its length in bytes. */
  readonly lineAt: number;
  readonly lineLength: number;
  readonly patient: string | null;
  readonly status: string | null;
  /** The Endpoint ids it references, as a JSON array. */
  readonly endpoints: string | null;
  readonly started: { readonly lo: number; readonly hi: number } | null;
  readonly present: number;
}

/** Reads a batch back in the order readIndexRecords wrote it. */
export function takeRecords(batch: RecordBatch, sink: RecordSink): void {
  const r = new BatchReader(batch);
  for (let i = 0; i < batch.count; i++) {
    if (batch.type === "Patient") {
      const resource = r.resource();
      sink.patient(r.string()!, resource);
      for (let n = r.number(); n > 0; n--) sink.patientIdentifier(r.string()!, r.string()!);
    } else if (batch.type === "Endpoint") {
      const resource = r.resource();
      sink.endpoint(r.string()!, resource);
    } else {
      const lineAt = r.number();
      const lineLength = r.number();
      const id = r.string()!;
      const patient = r.string() ?? null;
      const status = r.string() ?? null;
      const endpoints = r.string() ?? null;
      const lo = r.number();
      const hi = r.number();
      const present = r.number();
      sink.study({ id, lineAt, lineLength, patient, status, endpoints, started: Number.isNaN(lo) ? null : { lo, hi }, present });
      for (let n = r.number(); n > 0; n--) sink.studyToken(r.number(), r.string()!, r.string()!);
    }
  }
}

class BatchWriter {
  count = 0;
  bytes = 0;
  /** NDJSON bytes the batch's records came from, copied or not: what decides when a batch is full. */
  read = 0;
  // Its own ArrayBuffers (never one of Node's pooled ones), so that they can be handed to another thread; the one for
  // the bytes made at the first resource copied (a batch of studies copies none).
  private buffer = new Uint8Array(0);
  private ends = new Uint32Array(4096);
  private numbers = new Float64Array(16384);
  private numberCount = 0;
  private lengths = new Int32Array(16384);
  private readonly strings: string[] = [];

  constructor(private readonly type: IndexedType) {}

  resource(line: Uint8Array): void {
    if (this.bytes + line.length > this.buffer.length) this.buffer = grown(this.buffer, Math.max(this.bytes + line.length, BATCH_BYTES + (64 << 10)));
    this.buffer.set(line, this.bytes);
    this.bytes += line.length;
    if (this.count === this.ends.length) this.ends = grown(this.ends, this.count + 1);
    this.ends[this.count++] = this.bytes;
    this.read += line.length;
  }

  /** A record whose line stays in its file: where it lies instead of its bytes. */
  line(at: number, length: number): void {
    this.number(at);
    this.number(length);
    this.count++;
    this.read += length;
  }

  number(n: number): void {
    if (this.numberCount === this.numbers.length) this.numbers = grown(this.numbers, this.numberCount + 1);
    this.numbers[this.numberCount++] = n;
  }

  string(s: string | undefined): void {
    const i = this.strings.length;
    if (i === this.lengths.length) this.lengths = grown(this.lengths, i + 1);
    this.lengths[i] = s === undefined ? -1 : s.length;
    this.strings.push(s ?? "");
  }

  finish(): { finished: RecordBatch; transfer: ArrayBuffer[] } {
    const bytes = this.buffer.subarray(0, this.bytes);
    const ends = this.ends.subarray(0, this.count);
    const numbers = this.numbers.subarray(0, this.numberCount);
    const lengths = this.lengths.subarray(0, this.strings.length);
    const finished: RecordBatch = { type: this.type, count: this.count, bytes, ends, numbers, text: this.strings.join(""), lengths };
    return { finished, transfer: [bytes.buffer as ArrayBuffer, ends.buffer as ArrayBuffer, numbers.buffer as ArrayBuffer, lengths.buffer as ArrayBuffer] };
  }
}

/** A copy at least `size` long, twice as long as `array` or more. */
function grown<T extends Uint8Array | Uint32Array | Int32Array | Float64Array>(array: T, size: number): T {
  const larger = new (array.constructor as new (length: number) => T)(Math.max(array.length * 2, size));
  larger.set(array as never);
  return larger;
}

class BatchReader {
  private record = 0;
  private number_ = 0;
  private string_ = 0;
  private textAt = 0;
  private readonly bytes: Buffer;

  constructor(private readonly batch: RecordBatch) {
    this.bytes = Buffer.from(batch.bytes.buffer, batch.bytes.byteOffset, batch.bytes.byteLength);
  }

  resource(): Buffer {
    const start = this.record === 0 ? 0 : this.batch.ends[this.record - 1]!;
    return this.bytes.subarray(start, this.batch.ends[this.record++]!);
  }

  number(): number {
    return this.batch.numbers[this.number_++]!;
  }

  string(): string | undefined {
    const length = this.batch.lengths[this.string_++]!;
    if (length === -1) return undefined;
    this.textAt += length;
    return this.batch.text.slice(this.textAt - length, this.textAt);
  }
}

interface ParsedResource {
  readonly id: string;
  readonly [element: string]: unknown;
}

/**
 * Calls `take` with each resource of an NDJSON file, its exact bytes (valid until `take` returns) and where they
 * start in the file; a line whose id is among `unparsed` is only checked for a repeated id and said where it lies.
 */
function eachResource(
  path: string | undefined,
  resourceType: IndexedType,
  skipped: SkippedLine[],
  unparsed: IndexedAlready | undefined,
  take: (resource: ParsedResource, bytes: Buffer, at: number) => void,
): void {
  if (!path) return;
  const file = NDJSON_FILES[resourceType];
  const ids = new Set<string>();
  for (const { line: bytes, at, number: line } of ndjsonLines(path)) {
    const skip = (problem: SkippedLine["problem"]) => skipped.push({ file, line, problem });
    const known = unparsed && resourceIdOf(bytes);
    if (known !== undefined && unparsed!.ids.has(known)) {
      if (ids.has(known)) skip("duplicate-id");
      else {
        ids.add(known);
        unparsed!.lies(known, at, bytes.length);
      }
      continue;
    }
    if (!isUtf8(bytes)) {
      skip("not-utf8");
      continue;
    }
    let resource: { resourceType?: unknown; id?: unknown };
    try {
      resource = JSON.parse(bytes.toString("utf8"));
    } catch {
      skip("not-json");
      continue;
    }
    if (resource === null || typeof resource !== "object" || resource.resourceType !== resourceType) skip("wrong-resource-type");
    else if (typeof resource.id !== "string" || resource.id === "") skip("no-id");
    else if (ids.has(resource.id)) skip("duplicate-id");
    else {
      ids.add(resource.id);
      take(resource as ParsedResource, bytes, at);
    }
  }
}
