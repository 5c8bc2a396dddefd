import { describe, expect, it } from "vitest";
import type { SeriesAttributes, StudyAttributes } from "../../src/dicom/instance.js";
import type { InstanceCore } from "../../src/core/record.js";
import { STUDY_UNITS, SERIES_UNITS } from "../../src/group/choose.js";
import { groupPatients } from "../../src/group/patients.js";
import { StudyAssembler } from "../../src/group/studies.js";

interface Input {
  path: string;
  study: string;
  series: string;
  sop: string;
  number?: number;
  studyAttributes?: StudyAttributes;
  seriesAttributes?: SeriesAttributes;
}

function assemble(inputs: Input[]) {
  const assembler = new StudyAssembler();
  for (const i of inputs) {
    const core: InstanceCore = {
      path: i.path,
      studyInstanceUID: i.study,
      seriesInstanceUID: i.series,
      sopInstanceUID: i.sop,
      sopClassUID: "1.2.840.10008.5.1.4.1.1.2",
      instanceNumber: i.number,
      warnings: [],
    };
    assembler.add(core, JSON.stringify(i.studyAttributes ?? {}), JSON.stringify(i.seriesAttributes ?? {}));
  }
  return { ...assembler.finish(), failures: assembler.duplicateFailures(), duplicates: assembler.duplicates };
}

/** Every order of a few inputs: grouping must not depend on which file a reader thread returns first. */
function* permutations<T>(items: T[]): Generator<T[]> {
  if (items.length <= 1) return yield items;
  for (const [i, item] of items.entries()) for (const rest of permutations([...items.slice(0, i), ...items.slice(i + 1)])) yield [item, ...rest];
}

describe("StudyAssembler", () => {
  it("orders studies by UID, series by number then UID, instances by number then UID, absent numbers last", () => {
    const { studies } = assemble([
      { path: "a", study: "1.3", series: "1.3.1", sop: "1.3.1.1" },
      { path: "b", study: "1.2", series: "1.2.9", sop: "1.2.9.2", number: 2, seriesAttributes: { number: 1 } },
      { path: "c", study: "1.2", series: "1.2.9", sop: "1.2.9.1", number: 10, seriesAttributes: { number: 1 } },
      { path: "d", study: "1.2", series: "1.2.9", sop: "1.2.9.0", seriesAttributes: { number: 1 } },
      { path: "e", study: "1.2", series: "1.2.1", sop: "1.2.1.1", seriesAttributes: {} },
      { path: "f", study: "1.2", series: "1.2.5", sop: "1.2.5.1", seriesAttributes: { number: 2 } },
    ]);
    expect(studies.map((s) => s.studyInstanceUID)).toEqual(["1.2", "1.3"]);
    expect(studies[0]!.series.map((s) => s.seriesInstanceUID)).toEqual(["1.2.9", "1.2.5", "1.2.1"]);
    expect(studies[0]!.series[0]!.instances.map((i) => i.sopInstanceUID)).toEqual(["1.2.9.2", "1.2.9.1", "1.2.9.0"]);
    expect(studies[0]!.instanceCount).toBe(5);
  });

  it("counts a SOP Instance UID once; the path that sorts first wins, whatever the arrival order", () => {
    const inputs: Input[] = [
      { path: "z/copy.dcm", study: "1.2", series: "1.2.1", sop: "1.2.1.1", studyAttributes: { description: "from z" } },
      { path: "a/orig.dcm", study: "1.2", series: "1.2.1", sop: "1.2.1.1", studyAttributes: { description: "from a" } },
      { path: "m/third.dcm", study: "1.2", series: "1.2.1", sop: "1.2.1.1", studyAttributes: { description: "from m" } },
      { path: "b/other.dcm", study: "1.2", series: "1.2.1", sop: "1.2.1.2" },
    ];
    for (const order of permutations(inputs)) {
      const { studies, failures, duplicates, conflicts } = assemble(order);
      expect(duplicates).toBe(2);
      expect(studies[0]!.instanceCount).toBe(2);
      expect(studies[0]!.series[0]!.instances.find((i) => i.sopInstanceUID === "1.2.1.1")!.path).toBe("a/orig.dcm");
      expect(failures.map((f) => f.path).sort()).toEqual(["m/third.dcm", "z/copy.dcm"]);
      expect(failures.every((f) => f.reason === "duplicate" && f.message.endsWith("is also in a/orig.dcm, which is used"))).toBe(true);
      // The losers' attributes no longer count.
      expect(studies[0]!.attributes.description).toBe("from a");
      expect(conflicts).toEqual([]);
    }
  });

  it("removes a study whose only instance lost to a duplicate in another study", () => {
    const { studies } = assemble([
      { path: "b", study: "1.9", series: "1.9.1", sop: "9.9" },
      { path: "a", study: "1.8", series: "1.8.1", sop: "9.9" },
    ]);
    expect(studies.map((s) => s.studyInstanceUID)).toEqual(["1.8"]);
  });

  it("chooses conflicting attributes by majority, ignores absent values, keeps linked attributes together, reports it", () => {
    const inputs: Input[] = [
      {
        path: "1",
        study: "1.2",
        series: "1.2.1",
        sop: "1",
        studyAttributes: { patientId: "P1", issuerOfPatientId: "A", date: "2024-01-01", description: "CT" },
      },
      { path: "2", study: "1.2", series: "1.2.1", sop: "2", studyAttributes: { patientId: "P1", issuerOfPatientId: "A", date: "2024-01-01" } },
      { path: "3", study: "1.2", series: "1.2.1", sop: "3", studyAttributes: { patientId: "P2", issuerOfPatientId: "B", date: "2024-01-02" } },
    ];
    for (const order of permutations(inputs)) {
      const { studies, conflicts } = assemble(order);
      expect(studies[0]!.attributes).toEqual({ patientId: "P1", issuerOfPatientId: "A", date: "2024-01-01", description: "CT" });
      expect(conflicts).toEqual([
        {
          level: "study",
          studyInstanceUID: "1.2",
          attribute: "PatientID/IssuerOfPatientID",
          values: 2,
          instancesWithChosenValue: 2,
          instancesWithOtherValues: 1,
        },
        {
          level: "study",
          studyInstanceUID: "1.2",
          attribute: "StudyDate/StudyTime/TimezoneOffsetFromUTC",
          values: 2,
          instancesWithChosenValue: 2,
          instancesWithOtherValues: 1,
        },
      ]);
    }
  });

  it("breaks a tie by the value whose JSON sorts first, so the choice is stable", () => {
    const { studies } = assemble([
      { path: "1", study: "1.2", series: "1.2.1", sop: "1", studyAttributes: { accessionNumber: "B-2" } },
      { path: "2", study: "1.2", series: "1.2.1", sop: "2", studyAttributes: { accessionNumber: "A-1" } },
    ]);
    expect(studies[0]!.attributes.accessionNumber).toBe("A-1");
  });

  it("covers every study and series attribute with exactly one unit", () => {
    const studyKeys: Array<keyof StudyAttributes> = [
      "patientId",
      "issuerOfPatientId",
      "issuerOfPatientIdQualifiers",
      "patientName",
      "patientBirthDate",
      "patientSex",
      "date",
      "time",
      "timezoneOffset",
      "accessionNumber",
      "accessionIssuer",
      "studyId",
      "referringPhysician",
      "readingPhysicians",
      "description",
      "procedureCodes",
      "reasonCodes",
      "reasonTexts",
      "institutionName",
      "departmentName",
      "comments",
    ];
    const seriesKeys: Array<keyof SeriesAttributes> = [
      "number",
      "modality",
      "description",
      "date",
      "time",
      "timezoneOffset",
      "performingPhysicians",
      "operators",
      "institutionName",
      "bodyPartExamined",
      "laterality",
    ];
    expect(STUDY_UNITS.flatMap((u) => u.fields).sort()).toEqual([...studyKeys].sort());
    expect(SERIES_UNITS.flatMap((u) => u.fields).sort()).toEqual([...seriesKeys].sort());
  });
});

describe("groupPatients", () => {
  it("one patient per Patient ID and issuer; a study without Patient ID gets its own; ids are stable hashes", () => {
    const { studies } = assemble([
      { path: "1", study: "1.1", series: "1.1.1", sop: "1", studyAttributes: { patientId: "P1", issuerOfPatientId: "A", patientSex: "F" } },
      { path: "2", study: "1.2", series: "1.2.1", sop: "2", studyAttributes: { patientId: "P1", issuerOfPatientId: "A", patientSex: "F" } },
      { path: "3", study: "1.3", series: "1.3.1", sop: "3", studyAttributes: { patientId: "P1", issuerOfPatientId: "B" } },
      { path: "4", study: "1.4", series: "1.4.1", sop: "4", studyAttributes: {} },
      { path: "5", study: "1.5", series: "1.5.1", sop: "5", studyAttributes: {} },
    ]);
    const { patients, patientOfStudy } = groupPatients(studies);
    expect(patients).toHaveLength(4);
    expect(patientOfStudy.get("1.1")).toBe(patientOfStudy.get("1.2"));
    expect(patientOfStudy.get("1.3")).not.toBe(patientOfStudy.get("1.1"));
    expect(patientOfStudy.get("1.4")).not.toBe(patientOfStudy.get("1.5"));
    expect([...patients.map((p) => p.id)]).toEqual([...patients.map((p) => p.id)].sort());
    expect(groupPatients(studies).patients.map((p) => p.id)).toEqual(patients.map((p) => p.id));
  });

  it("chooses demographics across studies weighted by instances, and reports the conflict", () => {
    const { studies } = assemble([
      { path: "1", study: "1.1", series: "1.1.1", sop: "1", studyAttributes: { patientId: "P1", patientBirthDate: "1970-01-01" } },
      { path: "2", study: "1.2", series: "1.2.1", sop: "2", studyAttributes: { patientId: "P1", patientBirthDate: "1971-01-01" } },
      { path: "3", study: "1.2", series: "1.2.1", sop: "3", studyAttributes: { patientId: "P1", patientBirthDate: "1971-01-01" } },
    ]);
    const { patients, conflicts } = groupPatients(studies);
    expect(patients[0]!.attributes.patientBirthDate).toBe("1971-01-01");
    expect(conflicts).toEqual([
      { level: "patient", patient: patients[0]!.id, attribute: "PatientBirthDate", values: 2, instancesWithChosenValue: 2, instancesWithOtherValues: 1 },
    ]);
  });
});
