// The incremental scan on its own (src/incremental/scan.ts): which files it reads, how it counts them against the
// state, and what it delivers from the state, with a real state file and reader but no write path.
import { mkdirSync, readdirSync, renameSync, rmSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { resolveInputs } from "../../src/crawl/inputs.js";
import { STATE_DATABASE, STATE_DIGEST } from "../../src/core/outputFiles.js";
import type { FilePath } from "../../src/core/reasons.js";
import type { HeaderRead } from "../../src/core/record.js";
import type { Fingerprint } from "../../src/core/fingerprint.js";
import { CommittedState } from "../../src/incremental/committedState.js";
import type { ScannedFiles } from "../../src/incremental/delivery.js";
import type { IncrementalSink } from "../../src/source/sink.js";
import type { StoredCounts } from "../../src/core/counts.js";
import { scanIncrementally } from "../../src/incremental/scan.js";
import { StagedState } from "../../src/incremental/stagedState.js";
import { type HeaderReader, createHeaderReader } from "../../src/read/readerPool.js";
import type { Report } from "../../src/write/report.js";
import type { StudyOutcome } from "../../src/write/writeOutputs.js";
import { copyFixtures, withUid } from "../helpers/incremental.js";
import { tempDir } from "../helpers/run.js";

const KNEE = "HOSP-A/Mueller Juergen PAT-0001/MR knee";
const CORONAL = "HOSP-A/Mueller Juergen PAT-0001/CT 2024-03-15/coronal";

/** What reached the sink, and which paths the reader was asked for. */
class Recorder implements IncrementalSink {
  seenCount = 0;
  readonly reads: Array<{ readonly path: string; readonly stored: boolean; readonly instance: boolean }> = [];
  readonly unreadPaths: string[] = [];
  readonly keptCounts: StoredCounts[] = [];
  bytesReadAgain = 0;
  seen(): void {
    this.seenCount++;
  }
  unread(failure: { readonly path: FilePath }): void {
    this.unreadPaths.push(String(failure.path));
  }
  read(result: HeaderRead, stored = false): void {
    const path = "failure" in result ? result.failure.path : result.instance.path;
    this.reads.push({ path: String(path), stored, instance: "instance" in result });
  }
  kept(counts: StoredCounts): void {
    this.keptCounts.push(counts);
  }
  readAgain(bytesRead: number): void {
    this.bytesReadAgain += bytesRead;
  }
}

/** The reader of dcm2fhir in this process, remembering the paths it was given. */
function spyReader(): HeaderReader & { readonly paths: string[] } {
  const reader = createHeaderReader(1);
  const paths: string[] = [];
  return { paths, read: (batch) => (paths.push(...batch.map(String)), reader.read(batch)), close: () => reader.close() };
}

const OUTCOME: StudyOutcome = { failures: [] };

/**
 * One scan of `archive` against the state in `out` (none: every file is new), its results committed as the next
 * state, the way convert does without writing outputs. `deliver` picks the step after the scan.
 */
async function scan(archive: string, out: string, deliver: "all" | "touched" = "all") {
  const opened = CommittedState.open(out);
  const previous = "state" in opened ? opened.state : undefined;
  const reader = spyReader();
  const sink = new Recorder();
  mkdirSync(join(out, ".dcm2fhir"), { recursive: true });
  const next = { database: join(out, "next.sqlite"), digest: join(out, "next.json") };
  let staged: StagedState | undefined;
  const stage = () => (staged ??= StagedState.create(next.database, previous));
  try {
    const inputs = await resolveInputs([archive], { verbose: false });
    const scanned: ScannedFiles = await scanIncrementally(inputs, previous, reader, sink, { threads: 1, followSymlinks: false, staged: stage });
    const assembly = deliver === "touched" ? scanned.deliverTouched(join(out, "ImagingStudy.ndjson")) : scanned.deliverAll();
    // Every study delivered record by record is "written" and stored, as the write path's onStudy does.
    const delivered = new Set(sink.reads.filter((r) => r.instance).map((r) => studyUidOf.get(r.path)!));
    for (const uid of delivered) assembly.storeStudy(uid, OUTCOME);
    assembly.forgetGoneStudies();
    previous?.close();
    if (staged) {
      staged.finish({ fingerprint: {} as Fingerprint, report: {} as Report, outputs: [] }, next.digest);
      staged = undefined;
      renameSync(next.database, join(out, STATE_DATABASE));
      renameSync(next.digest, join(out, STATE_DIGEST));
    }
    return { files: scanned.files, sameResults: scanned.sameResults, sink, readPaths: reader.paths };
  } finally {
    staged?.close();
    await reader.close();
  }
}

/** Study Instance UID by path, for the stand-in write path above. */
const studyUidOf = new Map<string, string>();

/** The Study Instance UID of every fixture file that holds an instance, for the stand-in write path above. */
async function learnStudies(archive: string): Promise<void> {
  const reader = createHeaderReader(1);
  const paths = readdirSync(archive, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
  for (const read of await reader.read(paths)) if ("instance" in read) studyUidOf.set(String(read.instance.path), read.instance.studyInstanceUID);
  await reader.close();
}

/** Where the test of files written just before the scan copies the fixtures (at its start, not before). */
const FRESH = join(tempDir(), "fresh");

const settle = () => new Promise((resolve) => setTimeout(resolve, 2100));

describe("the incremental scan", () => {
  const archives: string[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 5; i++) archives.push(copyFixtures(join(tempDir(), "archive")));
    await learnStudies(archives[0]!);
    for (const a of [...archives.slice(1), FRESH]) for (const [path, uid] of [...studyUidOf]) studyUidOf.set(path.replace(archives[0]!, a), uid);
    await settle();
  });

  it("reads every file when there is no state, then none of them when nothing changed", async () => {
    const archive = archives.pop()!;
    const out = tempDir();
    const first = await scan(archive, out);
    expect(first.files).toEqual({ unchanged: 0, added: 30, modified: 0, removed: 0 });
    expect(first.sameResults).toBe(false);
    expect(first.readPaths.length + first.sink.unreadPaths.length).toBe(30);

    const second = await scan(archive, out);
    expect(second.files).toEqual({ unchanged: 30, added: 0, modified: 0, removed: 0 });
    expect(second.sameResults).toBe(true);
    expect(second.readPaths).toEqual([]);
    // deliverAll: every stored result goes to the sink as stored, none as read now.
    expect(second.sink.reads.length).toBe(first.sink.reads.length);
    expect(second.sink.reads.every((r) => r.stored)).toBe(true);
  });

  it("removals read nothing, even right after the files were written: a racy file is read once, after its window", async () => {
    // Copied just now: the first scan finds every file racy, and reads each once its window is over.
    const archive = copyFixtures(FRESH);
    const out = tempDir();
    const first = await scan(archive, out);
    expect(first.readPaths.length).toBe(new Set(first.readPaths).size);
    rmSync(join(archive, CORONAL), { recursive: true });
    rmSync(join(archive, "jp"), { recursive: true });
    unlinkSync(join(archive, "bad/notes.txt"));
    const second = await scan(archive, out);
    expect(second.files).toEqual({ unchanged: 26, added: 0, modified: 0, removed: 4 });
    expect(second.readPaths).toEqual([]);
    expect(second.sink.bytesReadAgain).toBe(0);
    expect(second.sameResults).toBe(false);
  });

  it("reads only the new and the modified file, and counts the removed one", async () => {
    const archive = archives.pop()!;
    const out = tempDir();
    await scan(archive, out);
    writeFileSync(join(archive, KNEE, "2.dcm"), withUid(join(archive, KNEE, "2.dcm"), "sopInstanceUID", "97")!);
    writeFileSync(join(archive, KNEE, "3.dcm"), withUid(join(archive, KNEE, "1.dcm"), "sopInstanceUID", "98")!);
    unlinkSync(join(archive, "charsets/greek.dcm"));
    const result = await scan(archive, out);
    expect(result.files).toEqual({ unchanged: 28, added: 1, modified: 1, removed: 1 });
    expect(result.readPaths.sort()).toEqual([join(archive, KNEE, "2.dcm"), join(archive, KNEE, "3.dcm")]);
    expect(result.sameResults).toBe(false);
  });

  it("a touched file is read again, gives what it gave, and leaves the results the same", async () => {
    const archive = archives.pop()!;
    const out = tempDir();
    await scan(archive, out);
    const when = new Date(Date.now() - 60_000);
    utimesSync(join(archive, "charsets/arabic.dcm"), when, when);
    const result = await scan(archive, out);
    expect(result.files).toEqual({ unchanged: 29, added: 0, modified: 1, removed: 0 });
    expect(result.readPaths).toEqual([join(archive, "charsets/arabic.dcm")]);
    expect(result.sink.bytesReadAgain).toBeGreaterThan(0);
    expect(result.sameResults).toBe(true);
  });

  it("deliverTouched delivers the records of the studies a change touches and keeps the others by their counts", async () => {
    const archive = archives.pop()!;
    const out = tempDir();
    await scan(archive, out);
    writeFileSync(join(archive, KNEE, "2.dcm"), withUid(join(archive, KNEE, "2.dcm"), "sopInstanceUID", "96")!);
    await settle();
    const result = await scan(archive, out, "touched");
    expect(result.readPaths).toEqual([join(archive, KNEE, "2.dcm")]);
    const instances = result.sink.reads.filter((r) => r.instance);
    // The knee study: the file read now and its other file from the state; no other study's records.
    expect(instances.map((r) => [r.path, r.stored])).toEqual(
      expect.arrayContaining([
        [join(archive, KNEE, "2.dcm"), false],
        [join(archive, KNEE, "1.dcm"), true],
      ]),
    );
    expect(instances.every((r) => r.path.startsWith(join(archive, KNEE)))).toBe(true);
    // Every other study is kept, counted from the state.
    expect(result.sink.keptCounts.length).toBeGreaterThan(5);
  });

  it("the steps after a scan come once: delivering twice is refused", async () => {
    const archive = archives.pop()!;
    const out = tempDir();
    const reader = spyReader();
    const inputs = await resolveInputs([archive], { verbose: false });
    mkdirSync(join(out, ".dcm2fhir"), { recursive: true });
    let staged: StagedState | undefined;
    const scanned = await scanIncrementally(inputs, undefined, reader, new Recorder(), {
      threads: 1,
      followSymlinks: false,
      staged: () => (staged ??= StagedState.create(join(out, STATE_DATABASE))),
    });
    scanned.deliverAll();
    expect(() => scanned.deliverAll()).toThrow(/delivered twice/);
    staged?.close();
    await reader.close();
  });
});
