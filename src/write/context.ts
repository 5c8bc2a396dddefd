// What the write stage's steps share while one write runs: the settings, the summary they count into, the spools
// they fill and drain, and the two things every step does the same way (validate a resource, record a failure).
import type { FilePath } from "../core/reasons.js";
import { pathFromKey } from "../core/recordCodec.js";
import type { ImagingStudy, Patient, Reference } from "../fhir/types.js";
import type { Conflict } from "../group/studies.js";
import type { OutputDirectory } from "../lib/outputFolder.js";
import type { Summary } from "./report.js";
import { MemorySpool, type Spool, spoolFile, spoolKey } from "./spool.js";
import type { FailureRow, KeptStudies, StudyOutcome } from "./studyOutcome.js";
import type { ZoneRule } from "../fhir/datatypes.js";

/**
 * The spools: studies by UID (until their Patients are decided), each study's say on its patient by patient id,
 * failures by path. In memory, or (for records on disk) SQLite scratch files in the staging folder.
 */
export interface Spools {
  readonly studies: Spool;
  readonly patients: Spool;
  readonly failures: Spool;
  close(): void;
}

export async function openSpools(out: OutputDirectory | undefined): Promise<Spools> {
  if (!out) return { studies: new MemorySpool(), patients: new MemorySpool(), failures: new MemorySpool(), close: () => {} };
  const studies = await spoolFile(out.scratch("studies.sqlite"));
  const patients = await spoolFile(out.scratch("patients.sqlite"));
  const failures = await spoolFile(out.scratch("failures.sqlite"));
  return {
    studies,
    patients,
    failures,
    close: () => {
      for (const s of [studies, patients, failures]) s.close();
    },
  };
}

export interface WriteSettings {
  readonly zoneRule: ZoneRule;
  readonly endpoint?: string;
  readonly format?: "ndjson" | "bundle";
  readonly extraValidation?: (resource: ImagingStudy | Patient) => string | undefined;
  /** The partition count; default: what the records' size asks for. */
  readonly partitions?: number;
  /** Checked between partitions: aborting stops the write (WriteInterrupted), nothing is committed. */
  readonly signal?: AbortSignal;
  /** After each partition is assembled, mapped and validated. */
  readonly onPartition?: (done: number, total: number) => void;
  /**
   * Studies an incremental run takes as the last run left them (kept): none of their files changed, so neither
   * did what they give. Only the other studies' records are assembled, mapped and validated.
   */
  readonly kept?: KeptStudies;
  /** Each study assembled, with what it gave (an incremental run keeps it in its state for the next run). */
  readonly onStudy?: (studyInstanceUID: string, outcome: StudyOutcome) => void;
}

export interface WriteContext {
  readonly settings: WriteSettings;
  readonly summary: Summary;
  readonly spools: Spools;
  /** Conflicts of the studies' attributes, in the order they were found (sorted at the end). */
  readonly studyConflicts: Conflict[];
  /** What every ImagingStudy references as its endpoint (--endpoint), if anything. */
  readonly endpointReference: Reference | undefined;
  /** FHIR R4 and the site's own checks: a reason for a resource that fails, else undefined. */
  readonly validate: (resource: ImagingStudy | Patient) => string | undefined;
  /** A failure found while writing: into errors.ndjson (through the failures spool) and to the run's counts. */
  readonly failedWhileWriting: (row: FailureRow) => void;
}

/** Records a failure in the failures spool, keyed so that errors.ndjson lists failures by path. */
export function spoolFailure(spools: Spools, row: FailureRow): void {
  spools.failures.add(spoolKey(pathBytes(pathFromKey(row[0])), row[1], row[2]), JSON.stringify(row));
}

/** A path's bytes, which order paths as comparePaths does. */
const pathBytes = (path: FilePath): Buffer => (typeof path === "string" ? Buffer.from(path) : path);
