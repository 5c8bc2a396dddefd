// Step 2 of the write: Patients, across partitions, in id order. A patient's attributes are chosen from what each of
// its studies says (group/patients.ts); it is written when valid and one of its studies is. A study whose Patient is
// invalid would reference nothing, so it is rejected with it: its files are listed again, by assembling its
// partition once more (a kept study from its records in the state).
import type { FilePath } from "../core/reasons.js";
import { pathKey } from "../core/recordCodec.js";
import { type PatientAttributes, type PatientVariant, patientIdOf, patientKey } from "../group/patients.js";
import { type Conflict, type StudyGroup, compareStrings } from "../group/studies.js";
import type { LineWriter } from "../lib/ndjson.js";
import type { RecordSet } from "../records/recordStore.js";
import type { WriteContext } from "./context.js";
import { type Partition, type PatientRow, instancePaths, invalidResourceMessage } from "./studies.js";
import { assemble, patientOf } from "./studyResources.js";

/** What the Patients decided for the studies. */
export interface PatientDecisions {
  /** Rejected patients: id → why. Their studies are not written. */
  readonly rejected: ReadonlyMap<string, string>;
  /** Studies of rejected patients: study UID → the patient's problem, where the study's records are, and whether the study itself was valid. */
  readonly rejectedStudies: ReadonlyMap<string, { readonly problem: string; readonly partition: Partition; readonly valid: boolean }>;
  /** Patient conflicts in the order of each patient's first study, as a single run lists them. */
  readonly conflicts: readonly Conflict[];
}

export function writePatients(ctx: WriteContext, writer: LineWriter): PatientDecisions {
  const patientConflicts: Array<{ readonly firstStudy: string; readonly conflicts: Conflict[] }> = [];
  const rejected = new Map<string, string>();
  const rejectedStudies = new Map<string, { readonly problem: string; readonly partition: Partition; readonly valid: boolean }>();
  for (const patient of groupedPatients(ctx.spools.patients.sorted())) {
    const conflicts: Conflict[] = [];
    const resource = patientOf(
      patient.key,
      patient.variants,
      patient.studies.map((s) => s.uid),
      conflicts,
    );
    if (conflicts.length > 0) patientConflicts.push({ firstStudy: patient.studies[0]!.uid, conflicts });
    const problem = ctx.validate(resource);
    if (problem) {
      ctx.summary.rejected.Patient++;
      rejected.set(patient.id, problem);
      for (const s of patient.studies) rejectedStudies.set(s.uid, { problem, partition: s.partition, valid: s.valid });
    } else if (patient.studies.some((s) => s.valid)) {
      writer.writeJsonLine(resource);
      ctx.summary.written.Patient++;
    }
  }
  patientConflicts.sort((a, b) => compareStrings(a.firstStudy, b.firstStudy));
  return { rejected, rejectedStudies, conflicts: patientConflicts.flatMap((c) => c.conflicts) };
}

/** The files of valid studies whose Patient was rejected, each an invalid-resource failure naming the Patient. */
export function listStudiesOfRejectedPatients(
  ctx: WriteContext,
  decisions: PatientDecisions,
  records: RecordSet,
  partitions: number,
  winners: ReadonlyMap<string, FilePath>,
): void {
  const list = (studies: readonly StudyGroup[]) => {
    for (const study of studies) {
      const rejected = decisions.rejectedStudies.get(study.studyInstanceUID);
      if (!rejected?.valid) continue;
      ctx.summary.rejected.ImagingStudy++;
      const message = invalidResourceMessage(study.studyInstanceUID, patientProblem(rejected.problem));
      for (const path of instancePaths(study)) ctx.failedWhileWriting([pathKey(path), "invalid-resource", message, study.studyInstanceUID]);
    }
  };
  const valid = [...decisions.rejectedStudies].filter(([, s]) => s.valid);
  const again = new Set(valid.map(([, s]) => s.partition).filter((p): p is number => p !== "kept"));
  for (const p of [...again].sort((a, b) => a - b)) list(assemble(records.instances(p, partitions), winners).studies);
  const keptAgain = valid.filter(([, s]) => s.partition === "kept").map(([uid]) => uid);
  if (keptAgain.length > 0) list(assemble(ctx.settings.kept!.records(keptAgain), new Map()).studies);
}

export const patientProblem = (problem: string) => `its Patient was rejected: ${problem}`;

interface PatientStudies {
  readonly id: string;
  /** Its patient key (see patientKey): what its id is the hash of. */
  readonly key: string;
  readonly variants: PatientVariant[];
  readonly studies: Array<{ readonly uid: string; readonly partition: Partition; readonly valid: boolean }>;
}

/** The patients spool's rows (in patient id, key, study order) as one group per patient. */
function* groupedPatients(rows: Iterable<string>): Generator<PatientStudies> {
  let current: PatientStudies | undefined;
  for (const value of rows) {
    const row = JSON.parse(value) as PatientRow;
    const key = patientKeyOf(row.study, row.attributes);
    if (!current || current.key !== key) {
      if (current) yield current;
      current = { id: patientIdOf(key), key, variants: [], studies: [] };
    }
    current.variants.push({ attributes: row.attributes, count: row.instances });
    current.studies.push({ uid: row.study, partition: row.partition, valid: row.valid });
  }
  if (current) yield current;
}

/** patientKey of a study that has these patient attributes. */
const patientKeyOf = (studyInstanceUID: string, attributes: PatientAttributes) => patientKey({ studyInstanceUID, attributes } as StudyGroup);
