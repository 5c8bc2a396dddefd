import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DicomFileReader } from "../../src/read/readFile.js";
import { ReaderPool } from "../../src/read/readerPool.js";
import type { HeaderRead } from "../../src/core/record.js";
import { toHeaderRead } from "../../src/dicom/instance.js";
import type { FilePath } from "../../src/core/reasons.js";
import { REPO, tempDir } from "../helpers/run.js";

process.chdir(REPO);

/** Every fixture (broken ones, every character set and transfer syntax), a name that is not UTF-8, a path that is gone. */
function samplePaths(): FilePath[] {
  const fixtures = readdirSync(join(REPO, "fixtures/dicom"), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
  const dir = tempDir();
  const latin1Name = Buffer.concat([Buffer.from(`${dir}/`), Buffer.from([0x6e, 0x61, 0x6d, 0xe9, 0x2e, 0x64, 0x63, 0x6d])]);
  writeFileSync(latin1Name, readFileSync(join(REPO, "fixtures/dicom/charsets/arabic.dcm")));
  return [...fixtures, latin1Name, join(dir, "vanished.dcm")];
}

/** Batches of 16 paths, each a different rotation of the sample, so that batches differ. */
function batches(paths: readonly FilePath[], count: number): FilePath[][] {
  return Array.from({ length: count }, (_, b) => Array.from({ length: 16 }, (_, i) => paths[(b * 7 + i) % paths.length]!));
}

const pools: ReaderPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});
const pool = (readers: number) => {
  const p = new ReaderPool(readers);
  pools.push(p);
  return p;
};

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Feeds batches the way the file source does (a few in flight) until `until` holds; every answer is kept with its batch. */
async function feed(reader: ReaderPool, all: FilePath[][], until: () => boolean): Promise<Array<{ batch: FilePath[]; reads: HeaderRead[] }>> {
  const answered: Array<{ batch: FilePath[]; reads: HeaderRead[] }> = [];
  const inFlight = new Set<Promise<void>>();
  const deadline = Date.now() + 30_000;
  for (let i = 0; !until() || i < 8; i++) {
    if (Date.now() > deadline) throw new Error("the reader processes never took a batch");
    const batch = all[i % all.length]!;
    const p: Promise<void> = reader.read(batch).then((reads) => {
      answered.push({ batch, reads });
      inFlight.delete(p);
    });
    inFlight.add(p);
    if (inFlight.size >= 8) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  return answered;
}

describe("reader processes", () => {
  const paths = samplePaths();
  const all = batches(paths, 24);
  const here = new DicomFileReader();
  const expected = new Map(all.map((b) => [b, b.map((path) => toHeaderRead(here.read(path)))]));

  it("read exactly what this process reads, failures, non-UTF-8 names and study and series JSON included, in batch order", async () => {
    const reader = pool(2);
    const answered = await feed(reader, all, () => reader.counts.inProcesses >= 20);
    expect(reader.pids).toHaveLength(1);
    expect(reader.counts.inProcesses).toBeGreaterThanOrEqual(20);
    for (const { batch, reads } of answered) expect(reads).toEqual(expected.get(batch));
    const latin1 = answered.flatMap((a) => a.reads).find((r) => "instance" in r && Buffer.isBuffer(r.instance.path));
    expect(latin1).toBeDefined();
  });

  it("that die cost their batches nothing: what they held is read here, and the run goes on without them", async () => {
    const reader = pool(2);
    let killed: number | undefined;
    let answeredAtKill = 0;
    const answered: Array<{ batch: FilePath[]; reads: HeaderRead[] }> = [];
    answered.push(
      ...(await feed(reader, all, () => {
        if (killed === undefined && reader.counts.inProcesses > 0 && reader.inFlight > 0) {
          killed = reader.pids[0]!;
          answeredAtKill = reader.counts.inProcesses;
          process.kill(killed, "SIGKILL");
        }
        return killed !== undefined && reader.counts.recovered > 0;
      })),
    );
    answered.push(...(await feed(reader, all, () => true)));
    expect(isAlive(killed!)).toBe(false);
    expect(reader.counts.recovered).toBeGreaterThan(0);
    // Answers already on their way when it was killed may still arrive; nothing after that.
    expect(reader.counts.inProcesses).toBeLessThanOrEqual(answeredAtKill + 4);
    for (const { batch, reads } of answered) expect(reads).toEqual(expected.get(batch));
  });

  it("are gone once the reader is closed", async () => {
    const reader = pool(2);
    await feed(reader, all, () => reader.counts.inProcesses > 0);
    const pids = reader.pids;
    expect(pids.every(isAlive)).toBe(true);
    await reader.close();
    expect(pids.some(isAlive)).toBe(false);
  });
});
