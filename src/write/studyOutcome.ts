// What the write stage and an incremental run agree on: what one study gives the outputs, in a form the state
// stores (incremental/state.ts), and the studies an incremental run hands the write stage as kept.
import type { FileFailure } from "../core/reasons.js";
import type { InstanceRecord } from "../core/record.js";
import type { MappingNotes } from "../fhir/imagingStudy.js";
import type { PatientAttributes } from "../group/patients.js";
import type { Conflict } from "../group/studies.js";

/**
 * A failure as the failures spool keeps it: [path key, reason, message, the study whose validation it is about].
 * Positional because the incremental state stores it as JSON, once per failing file.
 */
export type FailureRow = readonly [string, FileFailure["reason"], string, string | null];

/**
 * What one study gives the outputs besides its ImagingStudy line: what an incremental run keeps of a study whose
 * files did not change, so that a later run takes it instead of assembling, mapping and validating the study again.
 */
export interface StudyOutcome {
  /** Failures of its files found while writing (duplicates it lost, each file of a study failing validation), as the failures spool keeps them. */
  readonly failures: readonly FailureRow[];
  /** Absent when none of its files was used (each one a duplicate of a file of another study). */
  readonly study?: {
    readonly patientKey: string;
    /** Its patient attributes: its say on its Patient, weighing `instances`. */
    readonly patient: PatientAttributes;
    readonly instances: number;
    readonly series: number;
    /** Its ImagingStudy passed validation (whether it was written depends on its Patient too). */
    readonly valid: boolean;
    readonly notes: MappingNotes;
    readonly conflicts: readonly Conflict[];
  };
}

/**
 * Studies taken from an incremental run's state. A kept study shares no SOP Instance UID with a study that is
 * assembled (those are assembled with it), so that what it gave last time is what it gives now.
 */
export interface KeptStudies {
  /** Every kept study with its outcome, in any order. */
  outcomes(): Iterable<readonly [string, StudyOutcome]>;
  /** A kept study's ImagingStudy line in the previous output; undefined when it was not written there (its Patient was rejected). */
  line(studyInstanceUID: string): Buffer | undefined;
  /**
   * The instance records of these kept studies and of every study sharing a SOP Instance UID with them: enough to
   * assemble them as a full run does. For the rare run in which a kept study's Patient is rejected or no longer is.
   */
  records(studyInstanceUIDs: readonly string[]): Iterable<InstanceRecord>;
  /** The write is done with them (it calls this whether it finished or not). */
  close(): void;
}
