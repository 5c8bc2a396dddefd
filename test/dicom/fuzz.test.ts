// Mutates the files of fixtures/ and ../shared/corpus — truncation at every top-level element boundary,
// corrupted length fields, bit flips — and checks that every mutant ends as a valid instance or a reasoned
// failure, within a time bound, and that instances map to resources without throwing.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BufferSource } from "../../src/dicom/byteSource.js";
import { INSTANCE_SPEC } from "../../src/dicom/instanceSpec.js";
import { isParsedInstance, toParsedInstance } from "../../src/dicom/instance.js";
import { parseHeader } from "../../src/dicom/parser.js";
import { parseUID } from "../../src/dicom/values.js";
import { emptyNotes, toImagingStudy } from "../../src/fhir/imagingStudy.js";
import { StudyAssembler } from "../../src/group/studies.js";
import { REASONS } from "../../src/core/reasons.js";
import { validateResource } from "../../src/validate/index.js";
import { CORPUS, REPO } from "../helpers/run.js";

/** A hang detector, not a speed target: a mutant that takes this long has found a loop. */
const PER_CASE_BOUND_MS = 2000;
const BIT_FLIPS_PER_FILE = 40;

function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

/** mulberry32: the same cases on every run. */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);

/**
 * Offsets of top-level elements and of their length fields, walked independently of the reader: File Meta
 * in explicit VR LE, then the data set as the transfer syntax says (deflated and gzipped files have none).
 */
function elementBoundaries(bytes: Buffer): Array<{ start: number; lengthAt: number; lengthSize: 2 | 4; littleEndian: boolean }> {
  const found: Array<{ start: number; lengthAt: number; lengthSize: 2 | 4; littleEndian: boolean }> = [];
  let pos = bytes.length >= 132 && bytes.toString("latin1", 128, 132) === "DICM" ? 132 : 0;
  let explicit = pos === 132 || /^[A-Z]{2}$/.test(bytes.toString("latin1", 4, 6));
  let le = true;
  let ts = "";
  while (pos + 8 <= bytes.length) {
    const group = le ? bytes.readUInt16LE(pos) : bytes.readUInt16BE(pos);
    if (group !== 0x0002 && ts !== "") {
      if (ts === "1.2.840.10008.1.2.1.99") return found;
      explicit = ts !== "1.2.840.10008.1.2";
      le = ts !== "1.2.840.10008.1.2.2";
      ts = "";
      continue;
    }
    const vr = bytes.toString("latin1", pos + 4, pos + 6);
    const long = !explicit || LONG_VRS.has(vr);
    const lengthAt = explicit ? pos + (long ? 8 : 6) : pos + 4;
    if (lengthAt + (long ? 4 : 2) > bytes.length) break;
    const length = long ? (le ? bytes.readUInt32LE(lengthAt) : bytes.readUInt32BE(lengthAt)) : le ? bytes.readUInt16LE(lengthAt) : bytes.readUInt16BE(lengthAt);
    found.push({ start: pos, lengthAt, lengthSize: long ? 4 : 2, littleEndian: le });
    if (group === 0x0002 && bytes.readUInt16LE(pos + 2) === 0x0010) ts = bytes.toString("latin1", lengthAt + 2, lengthAt + 2 + length).replace(/\0/g, "");
    if (length === 0xffffffff) break; // a sequence of undefined length: the boundaries after it need a real parser
    pos = lengthAt + (long ? 4 : 2) + length;
  }
  return found;
}

function* mutants(bytes: Buffer, seed: number): Generator<[string, Buffer]> {
  const boundaries = elementBoundaries(bytes);
  for (const b of boundaries) yield [`cut at ${b.start}`, bytes.subarray(0, b.start)];
  for (const b of boundaries) yield [`cut inside the header at ${b.start + 3}`, bytes.subarray(0, b.start + 3)];
  for (const b of boundaries) {
    for (const lie of b.lengthSize === 4 ? [0xffffffff, 0xfffffff0, 0x7fffffff, 0, 1] : [0xffff, 0, 1]) {
      const copy = Buffer.from(bytes);
      if (b.lengthSize === 4) (b.littleEndian ? copy.writeUInt32LE : copy.writeUInt32BE).call(copy, lie, b.lengthAt);
      else (b.littleEndian ? copy.writeUInt16LE : copy.writeUInt16BE).call(copy, lie, b.lengthAt);
      yield [`length ${lie} at ${b.lengthAt}`, copy];
    }
  }
  const next = random(seed);
  const headerEnd = Math.min(bytes.length, 4096);
  for (let i = 0; i < BIT_FLIPS_PER_FILE; i++) {
    const copy = Buffer.from(bytes);
    const flips = 1 + Math.floor(next() * 4);
    for (let f = 0; f < flips; f++) {
      const at = Math.floor(next() * headerEnd);
      copy[at] = copy[at]! ^ (1 << Math.floor(next() * 8));
    }
    yield [`bit flips #${i}`, copy];
  }
}

const sources = [...files(join(REPO, "fixtures/dicom")), ...files(CORPUS).filter((p) => !/\.(txt|md|json|dump)$/.test(p))];

describe(`fuzz: ${sources.length} files of fixtures/${existsSync(CORPUS) ? " and ../shared/corpus" : " (../shared/corpus absent: its files are left out)"}`, () => {
  it("every mutant is a valid instance or a reasoned failure, in bounded time, and maps without throwing", () => {
    let cases = 0;
    let instances = 0;
    let rejected = 0;
    const reasons = new Map<string, number>();
    const started = performance.now();
    for (const [index, path] of sources.entries()) {
      for (const [mutation, bytes] of mutants(readFileSync(path), index + 1)) {
        const where = `${path.replace(REPO, "")}: ${mutation}`;
        const t0 = performance.now();
        const result = toParsedInstance("fuzz", parseHeader(new BufferSource(bytes), INSTANCE_SPEC, { firstWindowBytes: 8192 }));
        if (isParsedInstance(result)) {
          instances++;
          for (const uid of [result.studyInstanceUID, result.seriesInstanceUID, result.sopInstanceUID, result.sopClassUID])
            expect(parseUID(uid), where).toBe(uid);
          const assembler = new StudyAssembler();
          const { study, series, studyJSON, seriesJSON, ...core } = result;
          assembler.add(core, studyJSON, seriesJSON);
          const [group] = assembler.finish().studies;
          const resource = toImagingStudy(group!, { subject: { reference: "Patient/p" }, zoneRule: { zone: "UTC", source: "option" } }, emptyNotes());
          if (validateResource(resource) !== undefined) rejected++;
        } else {
          expect(REASONS[result.reason], where).toBeDefined();
          expect(result.message.length, where).toBeGreaterThan(0);
          reasons.set(result.reason, (reasons.get(result.reason) ?? 0) + 1);
        }
        expect(performance.now() - t0, where).toBeLessThan(PER_CASE_BOUND_MS);
        cases++;
      }
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `fuzz: ${cases} cases from ${sources.length} files in ${seconds.toFixed(1)} s: ${instances} instances (${rejected} rejected by validation), failures ${JSON.stringify(Object.fromEntries([...reasons].sort()))}`,
    );
    expect(cases).toBeGreaterThan(existsSync(CORPUS) ? 5000 : 1000);
  });
});
