// The shards section of `npm run bench`: a sharded run against a single one on the bench archive, as processes on
// this machine (wall time, CPU time of all processes, peak RSS); and merge of synthetic parts of 1 M and 10 M
// instance records, with its peak RSS against the target (< 400 MB at 10 M: memory bounded by a partition).
//
//   npx tsx scripts/bench/shards.ts [--quick] [--runs N]      (alone; npm run build first)
//
// Synthetic parts are written through the same record-file writer a shard uses (src/records/recordFile.ts), from
// records shaped like a CT/MR archive's: studies of two series of 100 images, two studies per patient, one file
// in 200 a failure, one SOP Instance UID in 10,000 held by a file of another study too (the cross-partition case).
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { HeaderRead } from "../../src/core/record.js";
import { PART_DATABASE, PART_MANIFEST } from "../../src/core/outputFiles.js";
import { inputsDigest, manifestOf, newRunId } from "../../src/shard/part.js";
import { fingerprintOf } from "../../src/core/fingerprint.js";
import { RecordFileWriter } from "../../src/records/recordFile.js";
import { VERSION } from "../../src/core/version.js";
import { runAlone } from "./alone.js";
import { ensureArchive } from "./gen-archive.js";
import type { BenchContext, BenchSection, SectionResult, Target } from "./section.js";

const GNU_TIME = "/usr/bin/time";
const TARGET_MERGE_RSS_BYTES = 400e6;
const SYNTHETIC_PARTS = 4;

interface Measured {
  readonly wallSeconds: number;
  /** User + system CPU seconds of the process (its threads included). */
  readonly cpuSeconds: number;
  readonly peakRssBytes: number;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const mb = (bytes: number) => `${Math.round(bytes / 1e6)} MB`;
const sec = (s: number) => `${s.toFixed(2)} s`;

/** One CLI process to its end, weighed by GNU time (wall, user + system CPU, peak RSS). */
function measure(cli: string, args: readonly string[], tmp: string): Promise<Measured> {
  const timeFile = join(tmp, `time-${Math.random().toString(36).slice(2)}.txt`);
  const started = process.hrtime.bigint();
  const child = spawn(GNU_TIME, ["-f", "%U %S %M", "-o", timeFile, process.execPath, cli, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  return new Promise((resolve, reject) => {
    child.on("error", reject).on("close", (code) => {
      const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) return reject(new Error(`dcm2fhir ${args.join(" ")} exited with ${code}: ${stderr.trim().slice(-2000)}`));
      const [user, system, kb] = readFileSync(timeFile, "utf8").trim().split("\n").pop()!.split(" ").map(Number);
      rmSync(timeFile, { force: true });
      resolve({ wallSeconds, cpuSeconds: user! + system!, peakRssBytes: kb! * 1024 });
    });
  });
}

/** Processes that run at the same time, as shards on one machine do: wall until the last ends, CPU summed. */
async function together(runs: ReadonlyArray<Promise<Measured>>): Promise<Measured> {
  const started = process.hrtime.bigint();
  const all = await Promise.all(runs);
  return {
    wallSeconds: Number(process.hrtime.bigint() - started) / 1e9,
    cpuSeconds: all.reduce((n, m) => n + m.cpuSeconds, 0),
    peakRssBytes: Math.max(...all.map((m) => m.peakRssBytes)),
  };
}

const then = (a: Measured, b: Measured): Measured => ({
  wallSeconds: a.wallSeconds + b.wallSeconds,
  cpuSeconds: a.cpuSeconds + b.cpuSeconds,
  peakRssBytes: Math.max(a.peakRssBytes, b.peakRssBytes),
});

export const shardsSection: BenchSection = async (context: BenchContext): Promise<SectionResult> => {
  const { log, cli, quick } = context;
  if (!existsSync(GNU_TIME)) throw new Error("the shards section needs GNU time (/usr/bin/time) for CPU time and peak RSS");
  const runs = Number(process.env.DCM2FHIR_BENCH_RUNS ?? (quick ? 1 : 3));
  const files = quick ? 1000 : 10_000;
  const tmp = join(context.tmp, "shards");
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const lines: string[] = [];
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(1))
      .join(" ");

  // ---- shards as processes on this machine ----
  const archive = await ensureArchive({ files, log });
  const options = ["--timezone", "UTC"];
  const approaches: Array<{ key: string; label: string; run: (i: number) => Promise<Measured> }> = [
    {
      key: "single",
      label: "convert, one process (2 readers: it and a reader process)",
      run: (i) => measure(cli, ["convert", archive.data, "--out", join(tmp, `single-${i}`), ...options], tmp),
    },
    {
      key: "shards-1",
      label: "1 shard + merge",
      run: async (i) => {
        const shard = await measure(cli, ["convert", archive.data, "--shard", "1/1", "--out", join(tmp, `one-${i}`, "part-1"), ...options], tmp);
        return then(shard, await measure(cli, ["merge", join(tmp, `one-${i}`, "part-1"), "--out", join(tmp, `one-${i}`, "fhir")], tmp));
      },
    },
    {
      key: "shards-2",
      label: "2 shards at once (--workers 1: one process each) + merge",
      run: async (i) => {
        const dir = join(tmp, `two-${i}`);
        const shard = (index: number) =>
          measure(cli, ["convert", archive.data, "--shard", `${index}/2`, "--workers", "1", "--out", join(dir, `part-${index}`), ...options], tmp);
        const shards = await together([shard(1), shard(2)]);
        return then(shards, await measure(cli, ["merge", join(dir, "part-1"), join(dir, "part-2"), "--out", join(dir, "fhir")], tmp));
      },
    },
  ];
  log(`shards: ${files.toLocaleString("en-US")} files, ${runs} run(s) of each, alternating; load average ${load()}`);
  const measured = new Map<string, Measured[]>(approaches.map((a) => [a.key, []]));
  for (let i = 0; i < runs; i++) {
    for (const a of approaches) {
      const m = await a.run(i);
      measured.get(a.key)!.push(m);
      log(`  run ${i + 1}/${runs}  ${a.label.padEnd(48)} wall ${sec(m.wallSeconds)}  CPU ${sec(m.cpuSeconds)}  peak RSS ${mb(m.peakRssBytes)}`);
    }
  }
  // The outputs must be the single run's: a bench of a wrong answer measures nothing.
  const same = (dir: string) =>
    ["ImagingStudy.ndjson", "Patient.ndjson", "errors.ndjson"].every((n) => readFileSync(join(dir, n)).equals(readFileSync(join(tmp, "single-0", n))));
  if (!same(join(tmp, "one-0", "fhir")) || !same(join(tmp, "two-0", "fhir"))) throw new Error("bench: the sharded outputs differ from the single run's");
  const med = (key: string) => {
    const list = measured.get(key)!;
    return {
      wallSeconds: median(list.map((m) => m.wallSeconds)),
      cpuSeconds: median(list.map((m) => m.cpuSeconds)),
      peakRssBytes: median(list.map((m) => m.peakRssBytes)),
    };
  };
  lines.push(
    `Shards as processes on this machine, ${files.toLocaleString("en-US")}-file archive (medians of ${runs}; outputs checked equal to the single run's):`,
    "",
  );
  lines.push("| approach | wall | CPU (all processes) | peak RSS |", "| --- | --- | --- | --- |");
  for (const a of approaches) {
    const m = med(a.key);
    lines.push(`| ${a.label} | ${sec(m.wallSeconds)} | ${sec(m.cpuSeconds)} | ${mb(m.peakRssBytes)} |`);
  }
  lines.push("", `Load average while measuring: ${load()} (the machine is shared: wall times are noisy, ±25 % and more).`, "");

  // ---- merge of synthetic parts ----
  const sizes = quick ? [100_000] : [1_000_000, 10_000_000];
  const merges: Array<{ records: number; partsBytes: number; generateSeconds: number; merge: Measured }> = [];
  for (const records of sizes) {
    const dir = join(tmp, `synthetic-${records}`);
    const generated = performance.now();
    const parts = writeSyntheticParts(dir, records, SYNTHETIC_PARTS);
    const generateSeconds = (performance.now() - generated) / 1000;
    const partsBytes = parts.reduce((n, p) => n + statSync(join(p, PART_DATABASE)).size, 0);
    log(
      `shards: ${records.toLocaleString("en-US")} synthetic records in ${SYNTHETIC_PARTS} parts (${mb(partsBytes)}) written in ${sec(generateSeconds)}; merging (load ${load()})`,
    );
    const merge = await measure(cli, ["merge", ...parts, "--out", join(dir, "fhir")], tmp);
    const report = JSON.parse(readFileSync(join(dir, "fhir", "report.json"), "utf8")) as { instances: number; studies: number; duplicates: number };
    log(
      `  merge: wall ${sec(merge.wallSeconds)}, CPU ${sec(merge.cpuSeconds)}, peak RSS ${mb(merge.peakRssBytes)}; ${report.studies} studies, ${report.instances} instances, ${report.duplicates} duplicates`,
    );
    merges.push({ records, partsBytes, generateSeconds, merge });
    rmSync(dir, { recursive: true, force: true });
  }
  lines.push(`Merge of synthetic parts (${SYNTHETIC_PARTS} parts; studies of 2 × 100 instances, 0.5 % failures; one partition per 50,000 records):`, "");
  lines.push("| instance records | parts on disk | merge wall | merge CPU | merge peak RSS |", "| --- | --- | --- | --- | --- |");
  for (const m of merges)
    lines.push(
      `| ${m.records.toLocaleString("en-US")} | ${mb(m.partsBytes)} | ${sec(m.merge.wallSeconds)} | ${sec(m.merge.cpuSeconds)} | ${mb(m.merge.peakRssBytes)} |`,
    );

  const largest = merges[merges.length - 1]!;
  const targets: Target[] = [
    {
      name: `merge peak RSS at ${largest.records.toLocaleString("en-US")} instance records, MB`,
      value: Math.round(largest.merge.peakRssBytes / 1e6),
      target: `< ${TARGET_MERGE_RSS_BYTES / 1e6}`,
      pass: quick ? null : largest.merge.peakRssBytes < TARGET_MERGE_RSS_BYTES,
      note: quick ? "--quick merges 100,000 records only; the target is for 10,000,000" : undefined,
    },
  ];
  rmSync(tmp, { recursive: true, force: true });
  return {
    title: "Sharded runs (convert --shard, merge)",
    lines,
    targets,
    data: {
      files,
      runs,
      processes: Object.fromEntries(approaches.map((a) => [a.key, { label: a.label, runs: measured.get(a.key), median: med(a.key) }])),
      merges,
      loadAverage: loadavg(),
    },
  };
};

/**
 * Writes `parts` parts holding `records` instance records (failures among them) through the record-file writer, as
 * shards of one run over the same archive, each series in one part (a shard owns whole folders). Returns their folders.
 */
export function writeSyntheticParts(dir: string, records: number, parts: number): string[] {
  rmSync(dir, { recursive: true, force: true });
  const zoneRule = { zone: "UTC", source: "option" } as const;
  const fingerprint = fingerprintOf({ zoneRule, format: "ndjson" });
  const inputs = inputsDigest(["/srv/pacs/archive"], undefined);
  const writers = Array.from({ length: parts }, (_, p) => {
    const folder = join(dir, `part-${p + 1}`);
    mkdirSync(folder, { recursive: true });
    return { folder, writer: RecordFileWriter.create(join(folder, PART_DATABASE), join(folder, "pending.sqlite")), seen: 0, instances: 0, failures: 0 };
  });
  const perSeries = 100;
  const studies = Math.ceil(records / (2 * perSeries));
  let written = 0;
  for (let s = 0; s < studies && written < records; s++) {
    const patient = s >> 1;
    const study = `1.2.826.0.1.3680043.10.543.${patient}.${s}`;
    const studyJSON = JSON.stringify({
      patientId: `PAT-${String(patient).padStart(8, "0")}`,
      patientName: { alphabetic: { family: `Family${patient}`, given: `Given${patient % 97}` } },
      patientBirthDate: `19${String(40 + (patient % 60)).padStart(2, "0")}-0${1 + (patient % 9)}-1${patient % 10}`,
      patientSex: patient % 2 ? "F" : "M",
      date: "2024-03-15",
      time: { hours: 10, minutes: 30, seconds: 0 },
      accessionNumber: `ACC${s}`,
      studyId: String(s),
      description: "CT CHEST WITH CONTRAST",
      institutionName: "General Hospital",
    });
    for (let k = 0; k < 2 && written < records; k++) {
      const series = `${study}.${k + 1}`;
      const seriesJSON = JSON.stringify({ number: k + 1, modality: "CT", description: k ? "coronal" : "axial", bodyPartExamined: "CHEST" });
      const part = writers[(s * 2 + k) % parts]!;
      for (let i = 1; i <= perSeries && written < records; i++, written++) {
        const path = `/srv/pacs/archive/PAT-${patient}/study-${s}/series-${k + 1}/IM${String(i).padStart(5, "0")}.dcm`;
        part.seen++;
        if (written % 200 === 199) {
          part.failures++;
          part.writer.add({
            read: { bytesRead: 8192, failure: { path, reason: "not-dicom", message: "neither a DICOM Part 10 file nor a plausible raw data set" } },
          });
          continue;
        }
        // One in 10,000 holds the SOP Instance UID of an image of the study before: another partition, most often.
        const sop = written % 10_000 === 5_000 && s > 0 ? `1.2.826.0.1.3680043.10.543.${(s - 1) >> 1}.${s - 1}.1.${i}` : `${series}.${i}`;
        const read: HeaderRead = {
          bytesRead: 4096 + (i % 7) * 512,
          instance: {
            path,
            studyInstanceUID: study,
            seriesInstanceUID: series,
            sopInstanceUID: sop,
            sopClassUID: "1.2.840.10008.5.1.4.1.1.2",
            instanceNumber: i,
            warnings: [],
          },
          studyJSON,
          seriesJSON,
        };
        part.instances++;
        part.writer.add({ read });
      }
    }
  }
  return writers.map((part, p) => {
    const run = newRunId();
    part.writer.finish({ run });
    const counts = {
      seen: part.seen,
      bytesRead: 0,
      bytesPerFile: [],
      bytesPerInstanceFile: [],
      reasons: (part.failures ? { "not-dicom": part.failures } : {}) as Record<string, number>,
      warnings: {},
    };
    const manifest = manifestOf({
      dcm2fhir: VERSION,
      shard: { index: p + 1, count: parts },
      run,
      fingerprint,
      options: { zoneRule, endpoint: null, format: "ndjson", followSymlinks: false },
      inputs,
      records: { instances: part.instances, failures: part.failures, bytes: statSync(join(part.folder, PART_DATABASE)).size },
      counts,
      sources: [{ kind: "files", seen: part.seen, instances: part.instances, reasons: counts.reasons }],
    });
    writeFileSync(join(part.folder, PART_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    return part.folder;
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await runAlone(shardsSection, "shards");
