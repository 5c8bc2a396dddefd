// Where an incremental run's state lives in the output folder: a hidden folder of its own. Apart from the
// state module so that runs without --incremental, which remove it, do not load SQLite.
export const STATE_DATABASE = ".dcm2fhir/state.sqlite";
/** The database's size and SHA-256, written with it: checked before anything in it is trusted. */
export const STATE_DIGEST = ".dcm2fhir/state.json";
export const STATE_FILES = [STATE_DATABASE, STATE_DIGEST] as const;
