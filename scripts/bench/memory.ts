// Heap bytes per instance that the grouping stage keeps: drives src/group/studies.ts's StudyAssembler in-process
// with records shaped exactly like the ones reader threads send (HeaderRead), and weighs the heap after forced GCs.
//
//   node --expose-gc --import tsx scripts/bench/memory.ts --instances 100000 [--seed 1]
//
// Records come from the benchmark archive's plan (scripts/bench/gen-archive.ts) at that many instances: for each
// series, the first image's header is encoded with the project's writer and parsed by the converter's own
// parser (parseHeader → toParsedInstance → toHeaderRead); every image of the series is that record with its own path,
// SOP Instance UID and Instance Number. Batches of 64 go through structuredClone, as they do between threads, so
// each record brings its own strings, as it does in a real run. Prints one JSON line.
import { parseArgs } from "node:util";
import { BufferSource } from "../../src/dicom/byteSource.js";
import { INSTANCE_SPEC } from "../../src/dicom/instanceSpec.js";
import { toParsedInstance } from "../../src/dicom/instance.js";
import { parseHeader } from "../../src/dicom/parser.js";
import { FIRST_READ_BYTES } from "../../src/read/readFile.js";
import type { HeaderRead } from "../../src/core/record.js";
import { toHeaderRead } from "../../src/dicom/instance.js";
import { StudyAssembler } from "../../src/group/studies.js";
import { DEFAULT_SEED, instanceHeader, instancePath, instanceUID, junkCount, planArchive } from "./gen-archive.js";

/** Where the archive is assumed to be mounted: paths are kept per instance, so their length counts. */
const ARCHIVE_PREFIX = "/srv/pacs-export/archive/";
const BATCH = 64;

export interface MemoryResult {
  readonly instances: number;
  readonly studies: number;
  readonly series: number;
  /** Heap growth while the assembler holds every instance (after add, before finish). */
  readonly heapBytesKept: number;
  readonly bytesPerInstance: number;
  /** Heap growth with the assembler and the StudyGroups finish() returns both alive: the peak of grouping. */
  readonly heapBytesAtFinish: number;
  readonly bytesPerInstanceAtFinish: number;
  readonly averagePathLength: number;
  readonly seconds: number;
}

const gc = (globalThis as { gc?: () => void }).gc;

function heapUsed(): number {
  for (let i = 0; i < 3; i++) gc!();
  return process.memoryUsage().heapUsed;
}

function measure(instances: number, seed: number): MemoryResult {
  const started = performance.now();
  // The plan for the archive size that holds exactly `instances` instance files (1 % of an archive is junk).
  let files = Math.ceil(instances / 0.99);
  while (files - junkCount(files) > instances) files--;
  while (files - junkCount(files) < instances) files++;
  const plan = planArchive(files, seed);

  // One real record per series, from a real header through the converter's parser.
  const templates = plan.series.map((s) => {
    const header = instanceHeader(s, 0);
    const parsed = parseHeader(new BufferSource(header), INSTANCE_SPEC, { firstWindowBytes: FIRST_READ_BYTES });
    const wire = toHeaderRead({ result: toParsedInstance(ARCHIVE_PREFIX + instancePath(s, 0), parsed), bytesRead: Math.min(header.length, FIRST_READ_BYTES) });
    if (!("instance" in wire)) throw new Error(`internal: the template of series ${s.uid} did not parse: ${wire.failure.reason} ${wire.failure.message}`);
    return wire;
  });

  const before = heapUsed();
  const assembler = new StudyAssembler();
  let pathChars = 0;
  let batch: HeaderRead[] = [];
  const flush = () => {
    // Between threads, a batch is structured-cloned: every string arrives as a fresh copy.
    for (const read of structuredClone(batch)) {
      if (!("instance" in read)) continue;
      assembler.add(read.instance, read.studyJSON, read.seriesJSON);
    }
    batch = [];
  };
  plan.series.forEach((s, k) => {
    const template = templates[k]!;
    if (!("instance" in template)) return;
    for (let i = 0; i < s.count; i++) {
      const path = ARCHIVE_PREFIX + instancePath(s, i);
      pathChars += path.length;
      batch.push({
        bytesRead: template.bytesRead,
        instance: { ...template.instance, path, sopInstanceUID: instanceUID(s, i), instanceNumber: i + 1, warnings: [] },
        studyJSON: template.studyJSON,
        seriesJSON: template.seriesJSON,
      });
      if (batch.length === BATCH) flush();
    }
  });
  flush();
  if (assembler.instanceCount !== instances || assembler.duplicates !== 0) {
    throw new Error(`internal: ${assembler.instanceCount} instances assembled (${assembler.duplicates} duplicates), ${instances} planned`);
  }
  const kept = heapUsed() - before;
  const finished = assembler.finish();
  const atFinish = heapUsed() - before;
  const result: MemoryResult = {
    instances,
    studies: finished.studies.length,
    series: finished.studies.reduce((n, st) => n + st.series.length, 0),
    heapBytesKept: kept,
    bytesPerInstance: Math.round(kept / instances),
    heapBytesAtFinish: atFinish,
    bytesPerInstanceAtFinish: Math.round(atFinish / instances),
    averagePathLength: Math.round(pathChars / instances),
    seconds: Math.round(performance.now() - started) / 1000,
  };
  // Keep everything alive until measured.
  if (templates.length < 0 || assembler.instanceCount < 0) console.log(finished);
  return result;
}

const { values } = parseArgs({ options: { instances: { type: "string", default: "100000" }, seed: { type: "string", default: String(DEFAULT_SEED) } } });
if (!gc) {
  process.stderr.write("memory: run with node --expose-gc (e.g. node --expose-gc --import tsx scripts/bench/memory.ts)\n");
  process.exitCode = 2;
} else {
  process.stdout.write(`${JSON.stringify(measure(Number(values.instances), Number(values.seed)))}\n`);
}
