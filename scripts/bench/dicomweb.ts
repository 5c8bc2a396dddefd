// Bench section: convert straight from a PACS. Orthanc with its DICOMweb plugin (test/helpers/orthanc.ts: its own
// config and storage, its own network namespace where possible) holds a few hundred generated studies (headers
// without pixel data, written by scripts/lib/dicomWriter.ts); dcm2fhir lists and reads them over DICOMweb through
// the tests' proxy on 127.0.0.1, first as it is, then with 50 ms added to every answer (a PACS across a WAN) at
// concurrency 1 and 8. Target: at 50 ms, concurrency 8 reads studies at least 5× as fast as concurrency 1.
//
//   npx tsx scripts/bench/dicomweb.ts [--quick]
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { convert } from "../../src/convert.js";
import { orthancMissing, startOrthanc } from "../../test/helpers/orthanc.js";
import { writeDicom } from "../lib/dicomWriter.js";
import { type BenchContext, type BenchSection, type SectionResult, type Target, notMeasured } from "./section.js";
import { runAlone } from "./alone.js";

const UID_ROOT = "1.2.826.0.1.3680043.10.1513.88";
const MODALITIES = ["CT", "MR", "CR", "US"] as const;
const SOP_CLASS = { CT: "1.2.840.10008.5.1.4.1.1.2", MR: "1.2.840.10008.5.1.4.1.1.4", CR: "1.2.840.10008.5.1.4.1.1.1", US: "1.2.840.10008.5.1.4.1.1.6.1" };
const DESCRIPTIONS = { CT: "CT CHEST WITHOUT CONTRAST", MR: "MR KNEE RIGHT", CR: "XR CHEST PA AND LATERAL", US: "US ABDOMEN COMPLETE" };

/** Study `k` of the archive: 1–3 series of 1–4 instances each (5 instances on average). */
function studyFiles(k: number): Buffer[] {
  const modality = MODALITIES[k % MODALITIES.length]!;
  const study = `${UID_ROOT}.${k + 1}`;
  const files: Buffer[] = [];
  for (let s = 1; s <= 1 + (k % 3); s++) {
    for (let i = 1; i <= 1 + ((k + s) % 4); i++) {
      files.push(
        writeDicom({
          SpecificCharacterSet: "ISO_IR 100",
          SOPClassUID: SOP_CLASS[modality],
          SOPInstanceUID: `${study}.${s}.${i}`,
          StudyInstanceUID: study,
          SeriesInstanceUID: `${study}.${s}`,
          StudyDate: `20${String(10 + (k % 15)).padStart(2, "0")}${String(1 + (k % 12)).padStart(2, "0")}${String(1 + (k % 28)).padStart(2, "0")}`,
          StudyTime: "101530",
          AccessionNumber: `ACC${String(k).padStart(7, "0")}`,
          Modality: modality,
          InstitutionName: "St. Example Hospital",
          ReferringPhysicianName: "Keller^Anna^^Dr.",
          StudyDescription: DESCRIPTIONS[modality],
          SeriesDescription: `series ${s}`,
          PatientName: `Müller^Hans^${k}`,
          PatientID: `PAT${String(k % 97).padStart(5, "0")}`,
          PatientBirthDate: "19650412",
          PatientSex: k % 2 ? "F" : "M",
          BodyPartExamined: "CHEST",
          StudyID: String(k),
          SeriesNumber: String(s),
          InstanceNumber: String(i),
          Rows: 512,
          Columns: 512,
        }),
      );
    }
  }
  return files;
}

interface Run {
  readonly label: string;
  readonly concurrency: number;
  readonly delayMs: number;
  readonly studies: number;
  readonly instances: number;
  readonly seconds: number;
  readonly studiesPerSecond: number;
  readonly instancesPerSecond: number;
}

export const dicomwebSection: BenchSection = async (context: BenchContext): Promise<SectionResult> => {
  const title = "DICOMweb: convert from a PACS (Orthanc on loopback)";
  const missing = orthancMissing();
  if (missing) return notMeasured(title, missing, { name: "50 ms per request: concurrency 8 vs 1 (studies/s)", target: "≥ 5×" });
  const studyCount = context.quick ? 40 : 300;
  const pacs = await startOrthanc();
  try {
    const t0 = performance.now();
    const files = Array.from({ length: studyCount }, (_, k) => studyFiles(k)).flat();
    const upload = await pacs.upload(files.map((bytes, i) => ({ name: String(i), bytes })));
    if (upload.stored.length !== files.length) throw new Error(`Orthanc stored ${upload.stored.length} of ${files.length} generated files`);
    context.log(
      `dicomweb: ${studyCount} studies, ${files.length} instances in Orthanc (${pacs.isolation}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );

    mkdirSync(context.tmp, { recursive: true });
    const measure = async (label: string, concurrency: number, delayMs: number): Promise<Run> => {
      pacs.proxy.reset();
      pacs.proxy.hooks.delayMs = delayMs;
      const out = join(context.tmp, "out");
      const started = performance.now();
      const { report } = await convert({ inputs: [pacs.root], out, timezone: "UTC", dicomweb: { concurrency } });
      const seconds = (performance.now() - started) / 1000;
      rmSync(out, { recursive: true, force: true });
      if (report.studies !== studyCount || report.instances !== files.length || report.files.failed > 0) {
        throw new Error(`${label}: ${report.studies} studies, ${report.instances} instances, ${report.files.failed} failed`);
      }
      const run = {
        label,
        concurrency,
        delayMs,
        studies: report.studies,
        instances: report.instances,
        seconds,
        studiesPerSecond: report.studies / seconds,
        instancesPerSecond: report.instances / seconds,
      };
      context.log(`dicomweb: ${label}: ${run.studiesPerSecond.toFixed(1)} studies/s, ${run.instancesPerSecond.toFixed(0)} instances/s`);
      return run;
    };
    await measure("warm-up", 4, 0);
    const runs = [await measure("loopback", 4, 0), await measure("loopback", 8, 0), await measure("+50 ms", 1, 50), await measure("+50 ms", 8, 50)];
    const [, , slow, fast] = runs as [Run, Run, Run, Run];
    const ratio = fast.studiesPerSecond / slow.studiesPerSecond;
    // With --quick's 40 studies the run's fixed costs (start, validation, writing) weigh on concurrency 8 alone.
    const note = context.quick ? "--quick: too few studies for this ratio to mean much" : undefined;
    const targets: Target[] = [
      { name: "50 ms per request: concurrency 8 vs 1 (studies/s)", value: Math.round(ratio * 10) / 10, target: "≥ 5×", pass: ratio >= 5, note },
    ];
    const lines = [
      `${studyCount} studies, ${files.length} instances (headers only) in Orthanc 1.10 + DICOMweb plugin, "StudiesMetadata": "Full"; read through a proxy on 127.0.0.1${pacs.isolation === "netns" ? " (Orthanc in its own network namespace, bridged by a Unix socket)" : ""}`,
      "",
      "| PACS | --concurrency | seconds | studies/s | instances/s |",
      "| --- | ---: | ---: | ---: | ---: |",
      ...runs.map((r) => `| ${r.label} | ${r.concurrency} | ${r.seconds.toFixed(2)} | ${r.studiesPerSecond.toFixed(1)} | ${r.instancesPerSecond.toFixed(0)} |`),
      "",
      `With 50 ms added to every answer, concurrency 8 reads ${ratio.toFixed(1)}× as many studies per second as concurrency 1 (target ≥ 5×).`,
    ];
    return { title, lines, targets, data: { studyCount, instances: files.length, isolation: pacs.isolation, runs, ratio } };
  } finally {
    await pacs.stop();
  }
};

if (process.argv[1] === fileURLToPath(import.meta.url)) await runAlone(dicomwebSection, "dicomweb");
