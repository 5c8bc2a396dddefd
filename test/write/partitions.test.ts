// The partitioned write path with hand-made instance records whose studies are placed in different partitions on
// purpose: what crosses partitions (a SOP Instance UID in two studies, a patient's studies, a rejected Patient) must
// come out exactly as from the records in memory, one partition, which is how a single small run writes them.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { HeaderRead } from "../../src/core/record.js";
import type { SeriesAttributes, StudyAttributes } from "../../src/dicom/instance.js";
import type { ImagingStudy, Patient } from "../../src/fhir/types.js";
import { type WriteSettings, writeOutputs } from "../../src/write/writeOutputs.js";
import type { FileFailure } from "../../src/core/reasons.js";
import { partitionOf, studyHash } from "../../src/core/hash.js";
import { FileRecords, RecordStore } from "../../src/records/recordStore.js";
import { RecordFileReader, RecordFileWriter } from "../../src/records/recordFile.js";
import type { EntryResult } from "../../src/core/recordCodec.js";
import { OutputDirectory } from "../../src/lib/outputFolder.js";
import { outputFiles, readNdjson, tempDir } from "../helpers/run.js";

const PARTITIONS = 4;

/** The `k`-th Study UID (from 0) that falls in partition `p` of PARTITIONS. */
function studyIn(p: number, k: number): string {
  for (let n = 1, found = 0; ; n++) {
    const uid = `1.2.826.0.1.3680043.99.${n}`;
    if (partitionOf(studyHash(uid), PARTITIONS) === p && found++ === k) return uid;
  }
}

/** A study in each partition, 0 to 3. */
const STUDY = [0, 1, 2, 3].map((p) => studyIn(p, 0));

const record = (
  path: string,
  study: string,
  sop: string,
  attributes: StudyAttributes,
  series: SeriesAttributes = { number: 1, modality: "CT" },
): EntryResult => ({
  read: {
    bytesRead: 2048,
    instance: { path, studyInstanceUID: study, seriesInstanceUID: `${study}.1`, sopInstanceUID: sop, sopClassUID: "1.2.840.10008.5.1.4.1.1.2", warnings: [] },
    studyJSON: JSON.stringify(attributes),
    seriesJSON: JSON.stringify(series),
  } satisfies HeaderRead,
});

const failure = (path: string): EntryResult => ({ unread: { path, reason: "not-a-regular-file", message: "a FIFO; never opened" } });

/**
 * Writes `records` through the one write path: from memory (one partition, as a small run does), or from a record
 * file on disk in `partitions` partitions (as a large run and merge do). Returns the files and the failures counted.
 */
async function write(records: readonly EntryResult[], partitions: number | "memory", extra: Partial<WriteSettings> = {}) {
  const dir = tempDir();
  const out = OutputDirectory.open(join(dir, "out"));
  const store = new RecordStore(partitions === "memory" ? Infinity : 0, async () =>
    RecordFileWriter.create(join(dir, "records.sqlite"), join(dir, "pending.sqlite")),
  );
  await store.start();
  for (const r of records) store.add(r);
  const sealed = await store.seal({});
  const set = "memory" in sealed ? sealed.memory : new FileRecords([RecordFileReader.open(sealed.file)]);
  expect(set.onDisk).toBe(partitions !== "memory");
  const counted: FileFailure[] = [];
  const summary = await writeOutputs(
    set,
    out,
    { zoneRule: { zone: "UTC", source: "option" }, partitions: partitions === "memory" ? undefined : partitions, ...extra },
    (f) => counted.push(f),
  );
  set.close();
  out.commit([]);
  return { files: outputFiles(out.dir), summary, counted, dir: out.dir };
}

/** The same records from memory and on disk in 4 and 7 partitions: identical files and summaries. */
async function everyWay(records: readonly EntryResult[], extra: Partial<WriteSettings> = {}) {
  const memory = await write(records, "memory", extra);
  for (const partitions of [PARTITIONS, 7]) {
    const onDisk = await write(records, partitions, extra);
    expect(onDisk.files, `${partitions} partitions`).toEqual(memory.files);
    expect(onDisk.summary).toEqual(memory.summary);
    expect(onDisk.counted.map((f) => f.reason).sort()).toEqual(memory.counted.map((f) => f.reason).sort());
  }
  return memory;
}

describe("the partitioned write path, studies in different partitions", () => {
  it("places the hand-made studies in four different partitions", () => {
    expect(STUDY.map((uid) => partitionOf(studyHash(uid), PARTITIONS))).toEqual([0, 1, 2, 3]);
  });

  it("a SOP Instance UID in studies of different partitions: the file whose path sorts first is used, the others are duplicates naming it", async () => {
    const patient = { patientId: "P-1" };
    const records = [
      record("/b/second.dcm", STUDY[0]!, "9.1", patient),
      record("/b/keep.dcm", STUDY[0]!, "9.2", patient),
      // The winner lies in another partition than the first loser.
      record("/a/first.dcm", STUDY[1]!, "9.1", patient),
      record("/c/third.dcm", STUDY[2]!, "9.1", patient),
      // A study whose only file loses to one in another partition disappears.
      record("/z/only.dcm", STUDY[3]!, "9.2", patient),
      // A duplicate within one partition, for comparison; and one file listed twice.
      record("/b/keep-copy.dcm", STUDY[0]!, "9.3", patient),
      record("/b/keep-too.dcm", STUDY[0]!, "9.3", patient),
      record("/a/first.dcm", STUDY[1]!, "9.1", patient),
      failure("/fifo"),
    ];
    const { files, summary, dir } = await everyWay(records);
    expect(summary.duplicates).toBe(5);
    const errors = readNdjson<{ path: string; reason: string; message: string }>(join(dir, "errors.ndjson"));
    expect(errors).toEqual([
      { path: "/a/first.dcm", reason: "duplicate", message: "SOP Instance UID 9.1 is also in /a/first.dcm, which is used" },
      { path: "/b/keep-too.dcm", reason: "duplicate", message: "SOP Instance UID 9.3 is also in /b/keep-copy.dcm, which is used" },
      { path: "/b/second.dcm", reason: "duplicate", message: "SOP Instance UID 9.1 is also in /a/first.dcm, which is used" },
      { path: "/c/third.dcm", reason: "duplicate", message: "SOP Instance UID 9.1 is also in /a/first.dcm, which is used" },
      { path: "/fifo", reason: "not-a-regular-file", message: "a FIFO; never opened" },
      { path: "/z/only.dcm", reason: "duplicate", message: "SOP Instance UID 9.2 is also in /b/keep.dcm, which is used" },
    ]);
    const studies = readNdjson<ImagingStudy>(join(dir, "ImagingStudy.ndjson"));
    expect(studies.map((s) => [s.id, s.numberOfInstances])).toEqual(
      [
        [STUDY[0], 2],
        [STUDY[1], 1],
      ].sort(([a], [b]) => (String(a) < String(b) ? -1 : 1)),
    );
    expect(files["Patient.ndjson"]!.split("\n").filter(Boolean)).toHaveLength(1);
  });

  it("a patient's studies in three partitions: demographics chosen across all, conflicts in the single run's order", async () => {
    const p1 = (birthDate: string) => ({ patientId: "P-1", patientSex: "F", patientBirthDate: birthDate });
    const p2 = (sex: string) => ({ patientId: "P-2", patientSex: sex });
    const records = [
      // P-1: 1 + 2 instances say 1970-01-01 (two studies, two partitions), 2 say 1971 (a third).
      record("/p1/s0-1", STUDY[3]!, "1.1", p1("1970-01-01")),
      record("/p1/s1-1", STUDY[1]!, "1.2", p1("1970-01-01")),
      record("/p1/s1-2", STUDY[1]!, "1.3", p1("1970-01-01")),
      record("/p1/s2-1", STUDY[2]!, "1.4", p1("1971-01-01")),
      record("/p1/s2-2", STUDY[2]!, "1.5", p1("1971-01-01")),
      // P-2: one study, whose files disagree on the sex (a study conflict) — its first study sorts first.
      record("/p2/a", STUDY[0]!, "2.1", p2("M")),
      record("/p2/b", STUDY[0]!, "2.2", p2("M")),
      record("/p2/c", STUDY[0]!, "2.3", p2("O"), { number: 2, modality: "MR" }),
      // P-3: two studies in partitions 0 and 3 disagreeing on the birth date, a patient conflict of its own.
      record("/p3/a", studyIn(0, 1), "5.1", { patientId: "P-3", patientBirthDate: "1980-01-01" }),
      record("/p3/b", studyIn(3, 1), "5.2", { patientId: "P-3", patientBirthDate: "1981-01-01" }),
    ];
    const { summary, dir } = await everyWay(records);
    const patients = readNdjson<Patient>(join(dir, "Patient.ndjson"));
    expect(patients).toHaveLength(3);
    expect(patients.find((p) => p.identifier?.[0]?.value === "P-1")).toMatchObject({ birthDate: "1970-01-01", gender: "female" });
    const p1Id = patients.find((p) => p.identifier?.[0]?.value === "P-1")!.id;
    const p3Id = patients.find((p) => p.identifier?.[0]?.value === "P-3")!.id;
    // Patient conflicts come first, in the order of each patient's first study; then each study's, then its series'.
    const firstStudy = { [p1Id]: [STUDY[1]!, STUDY[2]!, STUDY[3]!].sort()[0]!, [p3Id]: [studyIn(0, 1), studyIn(3, 1)].sort()[0]! };
    const patientOrder = [p1Id, p3Id].sort((a, b) => (firstStudy[a]! < firstStudy[b]! ? -1 : 1));
    expect(summary.conflicts.map((c) => [c.level, c.patient ?? c.attribute])).toEqual([
      ["patient", patientOrder[0]],
      ["patient", patientOrder[1]],
      ["study", "PatientSex"],
      ["series", "SeriesNumber"],
      ["series", "Modality"],
    ]);
    expect(summary.conflicts.find((c) => c.patient === p1Id)).toEqual({
      level: "patient",
      patient: p1Id,
      attribute: "PatientBirthDate",
      values: 2,
      instancesWithChosenValue: 3,
      instancesWithOtherValues: 2,
    });
    // Every study references its patient; P-1's three studies reference one.
    const studies = readNdjson<ImagingStudy>(join(dir, "ImagingStudy.ndjson"));
    expect(new Set(studies.filter((s) => [STUDY[1], STUDY[2], STUDY[3]].includes(s.id)).map((s) => s.subject.reference))).toEqual(new Set([`Patient/${p1Id}`]));
  });

  it("a Patient rejected by validation takes its studies in every partition with it, each file invalid-resource", async () => {
    const rejected = { patientId: "P-R", patientSex: "F" };
    const kept = { patientId: "P-K", patientSex: "M" };
    const records = [
      record("/r/0", STUDY[0]!, "3.1", rejected),
      record("/r/2a", STUDY[2]!, "3.2", { ...rejected, description: "bad study" }),
      record("/r/2b", STUDY[2]!, "3.3", { ...rejected, description: "bad study" }),
      record("/k/1", STUDY[1]!, "4.1", kept),
      record("/k/3", STUDY[3]!, "4.2", { ...kept, description: "bad study" }),
    ];
    // A site's own checks: women's records are held back, and so is any study described as bad.
    const extraValidation = (resource: ImagingStudy | Patient) =>
      resource.resourceType === "Patient"
        ? resource.gender === "female"
          ? "held back by the site"
          : undefined
        : resource.description === "bad study"
          ? "a bad study"
          : undefined;
    const { summary, dir } = await everyWay(records, { extraValidation });
    expect(summary.rejected).toEqual({ ImagingStudy: 3, Patient: 1, Endpoint: 0 });
    expect(summary.written).toEqual({ ImagingStudy: 1, Patient: 1, Endpoint: 0 });
    const errors = readNdjson<{ path: string; reason: string; message: string }>(join(dir, "errors.ndjson"));
    expect(errors).toEqual([
      { path: "/k/3", reason: "invalid-resource", message: `ImagingStudy ${STUDY[3]} failed validation: a bad study` },
      // A study invalid itself whose Patient was rejected is named for the Patient, as a single run names it.
      { path: "/r/0", reason: "invalid-resource", message: `ImagingStudy ${STUDY[0]} failed validation: its Patient was rejected: held back by the site` },
      { path: "/r/2a", reason: "invalid-resource", message: `ImagingStudy ${STUDY[2]} failed validation: its Patient was rejected: held back by the site` },
      { path: "/r/2b", reason: "invalid-resource", message: `ImagingStudy ${STUDY[2]} failed validation: its Patient was rejected: held back by the site` },
    ]);
    expect(readFileSync(join(dir, "ImagingStudy.ndjson"), "utf8")).toContain(STUDY[1]);
  });
});
