// What a load sends, in which order. Phases are complete before the next begins (retries and splits included),
// so every reference resolves when it lands: Endpoint, then Patient, then ImagingStudy; deletions after the
// upserts, in the reverse order (a study is deleted before the Patient it references).
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../core/errors.js";

export type LoadResourceType = "Endpoint" | "Patient" | "ImagingStudy";

export interface Phase {
  readonly action: "upsert" | "delete";
  readonly resourceType: LoadResourceType;
  /** Relative to the folder, with `/`: "Patient.ndjson", "changes/ImagingStudy.ndjson", "changes/deleted.ndjson". */
  readonly file: string;
}

export interface PlanOptions {
  /** Only `changes/` of an incremental run (`convert --incremental`). */
  readonly changes?: boolean;
  /** Also DELETE every resource listed in `changes/deleted.ndjson`. */
  readonly delete?: boolean;
}

const UPSERT_ORDER: readonly LoadResourceType[] = ["Endpoint", "Patient", "ImagingStudy"];

export function planPhases(folder: string, options: PlanOptions): Phase[] {
  if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new UsageError("the folder to load does not exist or is not a folder");
  const has = (file: string) => existsSync(join(folder, file));
  const phases: Phase[] = [];
  for (const resourceType of UPSERT_ORDER) {
    const own = options.changes ? `changes/${resourceType}.ndjson` : `${resourceType}.ndjson`;
    // changes/ holds no Endpoint.ndjson (the Endpoint is one resource per --endpoint, issue 10): with --changes the
    // folder's own is sent, so that a study whose Endpoint changed never lands before it. Its PUT is idempotent.
    const file = has(own) || resourceType !== "Endpoint" || !options.changes ? own : "Endpoint.ndjson";
    if (has(file)) phases.push({ action: "upsert", resourceType, file });
    else if (resourceType !== "Endpoint") throw new UsageError(missing(file));
  }
  if (options.delete) {
    const file = "changes/deleted.ndjson";
    if (!has(file)) throw new UsageError(missing(file));
    for (const resourceType of [...UPSERT_ORDER].reverse()) phases.push({ action: "delete", resourceType, file });
  }
  return phases;
}

function missing(file: string): string {
  const hint = file.startsWith("changes/") ? "changes/ is written by `dcm2fhir convert --incremental`" : "load takes the --out folder of `dcm2fhir convert`";
  return `the folder has no ${file}: ${hint}`;
}
