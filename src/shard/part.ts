// A shard's part: the folder `convert --shard i/N --out part-i` commits, holding its instance records (part.sqlite,
// a record file) and its manifest (part.json): which shard of how many, with which options, over which inputs, and
// the counts report.json sums. Both are committed at once by the journaled commit of lib/outputFolder.ts, the
// manifest renamed last, so a shard killed at any moment leaves either its previous part or none merge accepts.
// merge() checks a set of parts before reading any: one part per shard, all of one run, with nothing missing.
import { createHash, randomUUID } from "node:crypto";
import { existsSync, readFileSync, readdirSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../core/errors.js";
import type { ListDigest } from "../crawl/list.js";
import type { ZoneRule } from "../fhir/datatypes.js";
import type { SourceReport } from "../source/sink.js";
import { type Fingerprint, fingerprintChanges } from "../core/fingerprint.js";
import { folderState } from "../lib/outputFolder.js";
import type { StoredCounts } from "../core/counts.js";
import { PARTITIONING } from "../core/hash.js";
import { PART_DATABASE, PART_MANIFEST, STAGING_PREFIX } from "../core/outputFiles.js";
import type { ShardShare } from "../crawl/split.js";

const FORMAT = "dcm2fhir-part";
const SCHEMA_VERSION = 1;

/** The options a shard ran with that merge needs: the ones that change the output, and how the tree was walked. */
export interface PartOptions {
  readonly zoneRule: ZoneRule;
  readonly endpoint: string | null;
  readonly format: "ndjson" | "bundle";
  readonly followSymlinks: boolean;
}

export interface PartManifest {
  readonly format: typeof FORMAT;
  readonly schema: typeof SCHEMA_VERSION;
  readonly dcm2fhir: string;
  readonly shard: ShardShare;
  /** This run's id, also in the record file: a manifest and a record file of two runs never pass for one part. */
  readonly run: string;
  readonly fingerprint: Fingerprint;
  readonly options: PartOptions;
  /** SHA-256 of the inputs as given and of the --files-from list's content: every shard must read the same. */
  readonly inputs: string;
  readonly partitioning: string;
  readonly records: { readonly instances: number; readonly failures: number; readonly bytes: number };
  readonly counts: StoredCounts;
  readonly sources: readonly SourceReport[];
}

export const newRunId = (): string => randomUUID();

/** What a shard's inputs are, as a digest: the command line's inputs and the list's content (not its path). */
export function inputsDigest(inputs: readonly string[], list: ListDigest | undefined): string {
  return createHash("sha256")
    .update(JSON.stringify({ inputs, filesFrom: list ? (list.value ?? "unread") : null }))
    .digest("hex");
}

export function manifestOf(fields: Omit<PartManifest, "format" | "schema" | "partitioning">): PartManifest {
  return { format: FORMAT, schema: SCHEMA_VERSION, partitioning: PARTITIONING, ...fields };
}

/** Why a set of parts cannot be merged; the CLI prints it as one line and exits 2. */
export class PartSetError extends UsageError {
  constructor(
    readonly problems: readonly string[],
    readonly reason: "unusable-part" | "shard-count" | "duplicate-shard" | "missing-shard" | "mismatch" | "not-parts",
  ) {
    super(`cannot merge: ${problems.join("; ")}`);
  }
}

export interface CheckedPart {
  /** Its position on the command line (1-based), how messages name it. */
  readonly position: number;
  readonly dir: string;
  readonly manifest: PartManifest;
}

/**
 * The manifests of `dirs`, checked to be one complete set: every part whole and not being written, all with the
 * same shard count, options, inputs and converter (`converter`: merge's own), each shard exactly once. Throws
 * PartSetError naming every problem (parts by position; by path too with `verbose`).
 */
export function checkParts(dirs: readonly string[], options: { readonly verbose: boolean; readonly converter: string }): CheckedPart[] {
  if (dirs.length === 0) throw new PartSetError(["name the parts to merge, e.g. dcm2fhir merge parts/part-* --out ./fhir"], "not-parts");
  const name = (position: number) => (options.verbose ? `part #${position} (${dirs[position - 1]})` : `part #${position}`);
  const unusable: string[] = [];
  const parts: CheckedPart[] = [];
  dirs.forEach((dir, i) => {
    const opened = readManifest(dir);
    if ("problem" in opened) unusable.push(`${name(i + 1)} ${opened.problem}`);
    else parts.push({ position: i + 1, dir, manifest: opened.manifest });
  });
  if (unusable.length > 0) throw new PartSetError([...unusable, ...(options.verbose ? [] : ["add --verbose to see their paths"])], "unusable-part");

  const first = parts[0]!;
  const count = first.manifest.shard.count;
  const otherCount = parts.filter((p) => p.manifest.shard.count !== count);
  if (otherCount.length > 0) {
    const counts = [...new Set(parts.map((p) => p.manifest.shard.count))].sort((a, b) => a - b);
    throw new PartSetError(
      [
        `the parts are shards of different runs: some of ${counts.join(", some of ")} shards (${otherCount.map((p) => `${name(p.position)} is shard ${p.manifest.shard.index} of ${p.manifest.shard.count}`).join(", ")}; ${name(first.position)} of ${count})`,
      ],
      "shard-count",
    );
  }
  const byIndex = new Map<number, CheckedPart[]>();
  for (const p of parts) byIndex.set(p.manifest.shard.index, [...(byIndex.get(p.manifest.shard.index) ?? []), p]);
  const twice = [...byIndex.entries()].filter(([, list]) => list.length > 1).sort(([a], [b]) => a - b);
  if (twice.length > 0) {
    throw new PartSetError(
      twice.map(([index, list]) => `shard ${index} of ${count} is given ${list.length} times (${list.map((p) => name(p.position)).join(", ")})`),
      "duplicate-shard",
    );
  }
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((index) => !byIndex.has(index));
  if (missing.length > 0) {
    throw new PartSetError(
      [
        `${missing.length === 1 ? "shard" : "shards"} ${listed(missing)} of ${count} ${missing.length === 1 ? "is" : "are"} missing: run ${missing.length === 1 ? "it" : "them"} (dcm2fhir convert … --shard i/${count}) and name every part`,
      ],
      "missing-shard",
    );
  }

  const mismatches: string[] = [];
  for (const p of parts) {
    const m = p.manifest;
    if (m.fingerprint.converter !== options.converter)
      mismatches.push(`${name(p.position)} was made by another version or build of dcm2fhir (${m.dcm2fhir}): shards and merge must run the same one`);
    if (p === first) continue;
    const changed = fingerprintChanges(first.manifest.fingerprint, m.fingerprint).filter((what) => !what.startsWith("converter"));
    if (changed.length > 0) mismatches.push(`${name(p.position)} was made with a different ${changed.join(" and a different ")} than ${name(first.position)}`);
    if (m.options.followSymlinks !== first.manifest.options.followSymlinks)
      mismatches.push(
        `${name(p.position)} was made with${m.options.followSymlinks ? "" : "out"} --follow-symlinks, ${name(first.position)} with${first.manifest.options.followSymlinks ? "" : "out"}`,
      );
    if (m.inputs !== first.manifest.inputs)
      mismatches.push(`${name(p.position)} read other inputs than ${name(first.position)} (every shard must be given the same inputs and --files-from list)`);
    if (m.run === first.manifest.run) mismatches.push(`${name(p.position)} is a copy of ${name(first.position)}`);
  }
  if (mismatches.length > 0) throw new PartSetError(mismatches, "mismatch");
  return parts.sort((a, b) => a.manifest.shard.index - b.manifest.shard.index);
}

function readManifest(dir: string): { manifest: PartManifest } | { problem: string } {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return { problem: "does not exist or is not a folder" };
  const state = folderState(dir);
  if (state === "running") return { problem: "is being written by a dcm2fhir run (still running, or killed on another machine: run that shard again)" };
  if (state === "interrupted") return { problem: "is incomplete: its shard was killed while committing; run that shard again" };
  const manifestPath = join(dir, PART_MANIFEST);
  if (!existsSync(manifestPath)) {
    const killed = readdirSync(dir).some((n) => n.startsWith(STAGING_PREFIX));
    return {
      problem: killed
        ? "is incomplete: its shard was killed before it finished; run that shard again"
        : `holds no part (no ${PART_MANIFEST}): is it a shard's --out?`,
    };
  }
  let manifest: Partial<PartManifest>;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
  } catch {
    return { problem: `has an unreadable ${PART_MANIFEST}` };
  }
  if (manifest.format !== FORMAT) return { problem: `holds no dcm2fhir part (its ${PART_MANIFEST} is something else)` };
  if (manifest.schema !== SCHEMA_VERSION) return { problem: `was written by another version of dcm2fhir (part schema ${String(manifest.schema)})` };
  if (manifest.partitioning !== PARTITIONING) return { problem: "was partitioned by another scheme (another version of dcm2fhir)" };
  let bytes: number | undefined;
  try {
    bytes = statSync(join(dir, PART_DATABASE)).size;
  } catch {
    bytes = undefined;
  }
  if (bytes !== manifest.records?.bytes)
    return { problem: `is damaged: its ${PART_DATABASE} is ${bytes === undefined ? "missing" : "not the one its manifest describes"}; run that shard again` };
  return { manifest: manifest as PartManifest };
}

/** Whether `out` is one of the parts: merge must not write over what it reads. */
export function isOneOf(out: string, dirs: readonly string[]): boolean {
  const real = (path: string) => {
    try {
      return realpathSync.native(path);
    } catch {
      return undefined;
    }
  };
  const target = real(out);
  return target !== undefined && dirs.some((dir) => real(dir) === target);
}

const listed = (numbers: readonly number[]) =>
  numbers.length === 1 ? String(numbers[0]) : `${numbers.slice(0, -1).join(", ")} and ${numbers[numbers.length - 1]}`;
