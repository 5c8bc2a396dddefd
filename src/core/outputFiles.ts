// Every name dcm2fhir gives a file or folder inside an output folder, in one place: the write stage, the commit,
// the incremental state, shards, the search index and `load` all take their names from here, so that a run
// can tell its own files from anything else (it removes what an earlier run wrote and this one does not).

/** The resources' NDJSON files, by resource type. */
export const NDJSON_FILES = { ImagingStudy: "ImagingStudy.ndjson", Patient: "Patient.ndjson", Endpoint: "Endpoint.ndjson" } as const;
/** With --format bundle: the searchset Bundle an ImagingStudy search returns. */
export const BUNDLE_FILE = "ImagingStudy.bundle.json";
/** One line per input that did not become (part of) a resource. */
export const ERRORS_FILE = "errors.ndjson";
/** The run's summary: written last, so that its presence says the run completed. */
export const REPORT_FILE = "report.json";
/** The run's summary as a page to look at (pages/runReport.ts): self-contained, no patient data. */
export const REPORT_PAGE = "report.html";
/** The index `serve` and `search` answer from; hidden: derived from the NDJSON, not an output to hand on. */
export const SEARCH_INDEX_FILE = ".dcm2fhir.search.sqlite";

/** Every file convert may write; files of an earlier run that this run does not write are removed at commit. */
export const OUTPUT_FILES = [
  NDJSON_FILES.ImagingStudy,
  NDJSON_FILES.Patient,
  NDJSON_FILES.Endpoint,
  BUNDLE_FILE,
  ERRORS_FILE,
  REPORT_FILE,
  REPORT_PAGE,
  SEARCH_INDEX_FILE,
] as const;

/** With --incremental: the difference from the previous output. */
export const CHANGES_FOLDER = "changes";
export const CHANGE_FILES = [`${CHANGES_FOLDER}/ImagingStudy.ndjson`, `${CHANGES_FOLDER}/Patient.ndjson`, `${CHANGES_FOLDER}/deleted.ndjson`] as const;

/** dcm2fhir's own hidden folder: an incremental run's state, load's checkpoints. */
export const STATE_FOLDER = ".dcm2fhir";
/**
 * Where an incremental run's state lives. Apart from the state module so that runs without --incremental,
 * which remove it, do not load SQLite.
 */
export const STATE_DATABASE = `${STATE_FOLDER}/state.sqlite`;
/** The database's size and SHA-256, written with it: checked before anything in it is trusted. */
export const STATE_DIGEST = `${STATE_FOLDER}/state.json`;
export const STATE_FILES = [STATE_DATABASE, STATE_DIGEST] as const;

/** A shard's part (convert --shard): its records, and its manifest (written last). */
export const PART_DATABASE = "part.sqlite";
export const PART_MANIFEST = "part.json";
export const PART_FILES = [PART_DATABASE, PART_MANIFEST] as const;

/** What a folder may hold of any earlier run: a run removes what it does not write (a part, outputs, a state). */
export const KNOWN_FILES = [...OUTPUT_FILES, ...CHANGE_FILES, ...STATE_FILES, ...PART_FILES] as const;
/** Folders a run writes into: they are removed when they end up empty. */
export const OUTPUT_FOLDERS: ReadonlySet<string> = new Set([CHANGES_FOLDER, STATE_FOLDER]);

/** The commit's own files: the lock a running run holds, the journal of an unfinished commit, staging folders. */
export const LOCK_FILE = ".dcm2fhir.lock";
export const JOURNAL_FILE = ".dcm2fhir.commit.json";
export const STAGING_PREFIX = ".dcm2fhir-staging-";

/** What `load` writes into the folder it loads from. */
export const LOAD_ERRORS_FILE = "load-errors.ndjson";
export const LOAD_REPORT_FILE = "load-report.json";
export const LOAD_REPORT_PAGE = "load-report.html";
export const LOAD_OUTPUT_FILES = [LOAD_ERRORS_FILE, LOAD_REPORT_FILE, LOAD_REPORT_PAGE] as const;
