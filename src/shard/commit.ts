// The two ends of a shard's run (convert --shard): what it may read and where its part may lie, checked before it
// starts; and its part, committed when it has read its share. In between it is a convert like any other.
import { statSync } from "node:fs";
import { join, resolve, sep } from "node:path";
import type { ResolvedInput } from "../crawl/inputs.js";
import { UsageError } from "../core/errors.js";
import type { ZoneRule } from "../fhir/datatypes.js";
import { type Report, buildReport, emptySummary } from "../write/report.js";
import type { RecordCollector } from "../records/collector.js";
import { KNOWN_FILES, PART_DATABASE, PART_FILES, PART_MANIFEST } from "../core/outputFiles.js";
import type { ShardSpec } from "./spec.js";
import { type FileFailure, compareFailures } from "../core/reasons.js";
import { fingerprintOf } from "../core/fingerprint.js";
import { failureOf } from "../core/recordCodec.js";
import { LineWriter } from "../lib/ndjson.js";
import type { OutputDirectory } from "../lib/outputFolder.js";
import { VERSION } from "../core/version.js";
import { inputsDigest, manifestOf, newRunId } from "./part.js";

/**
 * A shard's inputs: files and folders only (a PACS has no tree to split), and its part outside them, where the
 * other shards cannot find it and read it as input.
 */
export function checkShardInputs(inputs: readonly ResolvedInput[], out: string, verbose: boolean): void {
  if (inputs.some((input) => input.kind === "dicomweb"))
    throw new UsageError("--shard splits files and folders: a DICOMweb input cannot be sharded; convert it in a run of its own");
  const part = resolve(out);
  for (const [i, input] of inputs.entries()) {
    if (input.kind !== "folder") continue;
    const folder = resolve(input.path);
    if (part === folder || part.startsWith(folder.endsWith(sep) ? folder : `${folder}${sep}`)) {
      throw new UsageError(
        `--out of a shard lies inside input ${verbose ? `"${input.path}"` : `#${i + 1}`}: the other shards would read its part as input; put the parts outside the inputs`,
      );
    }
  }
}

/** The options of a shard's run that its part records: what merge checks every part agrees on. */
export interface ShardRunOptions {
  readonly shard: ShardSpec;
  readonly inputs: readonly string[];
  readonly endpoint?: string;
  readonly format?: "ndjson" | "bundle";
  readonly followSymlinks?: boolean;
}

/** A committed part: the shard's report (counting what was read, as an interrupted run's does) and its failures. */
export interface CommittedPart {
  readonly report: Report;
  readonly part: { readonly shard: ShardSpec; readonly instanceRecords: number; readonly out: string };
  /** The part's failures in path order, read from its record file when called. */
  readonly failures: () => FileFailure[];
}

/** A shard's end: its records sorted into their file, its manifest beside it, both committed at once. */
export async function commitPart(
  collector: RecordCollector,
  out: OutputDirectory,
  inputs: readonly ResolvedInput[],
  options: ShardRunOptions,
  zoneRule: ZoneRule,
): Promise<CommittedPart> {
  const { shard } = options;
  const runId = newRunId();
  const list = inputs.find((input) => input.kind === "list");
  const sealed = await collector.sealPart({ run: runId });
  const manifest = manifestOf({
    dcm2fhir: VERSION,
    shard: { index: shard.index, count: shard.count },
    run: runId,
    fingerprint: fingerprintOf({ zoneRule, endpoint: options.endpoint, format: options.format }),
    options: { zoneRule, endpoint: options.endpoint ?? null, format: options.format ?? "ndjson", followSymlinks: options.followSymlinks ?? false },
    inputs: inputsDigest(options.inputs, list?.kind === "list" ? list.digest : undefined),
    records: { instances: sealed.instances, failures: sealed.failures, bytes: statSync(sealed.file).size },
    counts: collector.counts.toJSON(),
    sources: collector.sources(),
  });
  const writer = new LineWriter(out.stage(PART_MANIFEST));
  writer.write(`${JSON.stringify(manifest, null, 2)}\n`);
  writer.close();
  out.commit(KNOWN_FILES, PART_MANIFEST);
  const report = buildReport(
    collector.counts,
    collector.sources(),
    { ...emptySummary(zoneRule), instances: sealed.instances, outputs: [...PART_FILES] },
    collector.started,
  );
  // Loaded already: the part's records were written through it.
  const { RecordFileReader } = await import("../records/recordFile.js");
  const failures = () => {
    const part = RecordFileReader.open(join(out.dir, PART_DATABASE));
    try {
      return [...part.failures()].map(failureOf).sort(compareFailures);
    } finally {
      part.close();
    }
  };
  return { report, part: { shard, instanceRecords: sealed.instances, out: out.dir }, failures };
}
