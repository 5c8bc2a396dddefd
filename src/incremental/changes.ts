// changes/: what a downstream system needs to follow the output without reloading it — each resource new or
// different since the previous committed output in the folder, and each one gone. Computed from the output
// files themselves (the previous, committed ones against the ones just staged), so it is the true difference
// whatever the previous run was: incremental, full, with other options, or none at all.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { LineWriter, ndjsonLines, resourceIdOf } from "../lib/ndjson.js";
import { OutputError, type OutputDirectory } from "../lib/outputFolder.js";
import type { ResourceType } from "../fhir/types.js";
import type { ChangeCounts } from "../write/report.js";
import { CHANGE_FILES } from "../core/outputFiles.js";

/** The resource types whose files are compared, in the order deleted.ndjson lists them (a loader deletes studies before their patients). */
const COMPARED: readonly ResourceType[] = ["ImagingStudy", "Patient", "Endpoint"];
/** Types whose new and changed resources have a file in changes/; the one Endpoint is always loaded whole. */
const LISTED = new Set<ResourceType>(["ImagingStudy", "Patient"]);

export type Changes = Record<ResourceType, ChangeCounts> & {
  /** ImagingStudy resources in the previous output: what --max-delete is a percentage of. */
  readonly previousStudies: number;
};

/** A run would delete more of the previous output's studies than --max-delete allows: nothing is committed. */
export class DeletionLimitError extends OutputError {
  override readonly name = "DeletionLimitError";

  constructor(
    readonly deleted: number,
    readonly previous: number,
    readonly maxDeletePercent: number,
  ) {
    const percent = Math.ceil((deleted / previous) * 100);
    super(
      `this run would delete ${deleted} of the previous output's ${previous} studies (${percent} %), more than --max-delete ${maxDeletePercent} % allows: ` +
        `nothing was written, the previous output and state are unchanged. An input that vanished (an unmounted share?) looks like this; ` +
        `if the studies are really gone, run again with --max-delete ${percent}`,
    );
  }
}

/**
 * Writes changes/ into the staging folder: the staged outputs against the committed ones in the output folder.
 * Lines are compared byte for byte; new and changed resources keep the order of the main outputs, deleted ones
 * are listed by type and then in that order.
 */
export function writeChanges(out: OutputDirectory): Changes {
  const counts = {} as Record<ResourceType, ChangeCounts>;
  const deleted: Array<{ resourceType: ResourceType; id: string }> = [];
  let previousStudies = 0;
  for (const type of COMPARED) {
    const previous = linesById(join(out.dir, `${type}.ndjson`));
    if (type === "ImagingStudy") previousStudies = previous.size;
    const writer = LISTED.has(type) ? new LineWriter(out.stage(`changes/${type}.ndjson`)) : undefined;
    let added = 0;
    let changed = 0;
    const staged = out.stagedPath(`${type}.ndjson`);
    if (staged) {
      for (const { line } of ndjsonLines(staged)) {
        const id = resourceIdOf(line)!;
        const before = previous.get(id);
        previous.delete(id);
        if (before === digest(line)) continue;
        if (before === undefined) added++;
        else changed++;
        // A copy: the line's bytes are valid only until the next line is read.
        writer?.write(Buffer.from(line));
        writer?.write("\n");
      }
    }
    writer?.close();
    const gone = [...previous.keys()].sort(compareIds);
    for (const id of gone) deleted.push({ resourceType: type, id });
    counts[type] = { new: added, changed, deleted: gone.length };
  }
  const deletedWriter = new LineWriter(out.stage("changes/deleted.ndjson"));
  for (const d of deleted) deletedWriter.writeJsonLine(d);
  deletedWriter.close();
  return { ...counts, previousStudies };
}

/** changes/ of a run whose output is the committed one: its three files, empty. */
export function writeNoChanges(out: OutputDirectory): Changes {
  for (const name of CHANGE_FILES) new LineWriter(out.stage(name)).close();
  const none = { new: 0, changed: 0, deleted: 0 };
  return { ImagingStudy: none, Patient: none, Endpoint: none, previousStudies: 0 };
}

/** Throws DeletionLimitError when the run would delete more than `maxDeletePercent` % of the previous output's studies. */
export function checkDeletionLimit(changes: Changes, maxDeletePercent: number): void {
  const { deleted } = changes.ImagingStudy;
  if (deleted > 0 && (deleted / changes.previousStudies) * 100 > maxDeletePercent)
    throw new DeletionLimitError(deleted, changes.previousStudies, maxDeletePercent);
}

/** id → digest of its line, for an output file of the previous run (none: empty). */
function linesById(path: string): Map<string, string> {
  const byId = new Map<string, string>();
  if (!existsSync(path)) return byId;
  for (const { line } of ndjsonLines(path)) {
    const id = resourceIdOf(line);
    // A line that is not a resource was not written by dcm2fhir: nothing to delete downstream.
    if (id !== undefined) byId.set(id, digest(line));
  }
  return byId;
}

const digest = (line: Buffer) => createHash("sha1").update(line).digest("base64");

/** The order of the main outputs: ids compared as JavaScript strings. */
const compareIds = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
