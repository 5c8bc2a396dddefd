// Generates the benchmark archive: patients → studies → series → instances with consistent UIDs, written with
// the project's own DICOM writer (scripts/lib/dicomWriter.ts, dcmjs). CT 512×512, MR 256×256 and a few large CR
// 2500×2000, all 16-bit; ~25 % implicit VR little endian, the rest explicit VR little endian; ~1 % junk files
// (text, random bytes, empty); names with and without extension in nested folders of four export layouts.
//
// Everything is derived from a seeded generator, so the same --files and --seed give the same bytes. Headers
// come from dcmjs; pixel data is one repeated pattern per image size, appended after the header with its own
// element header, so that writing several GB is bounded by the disk rather than by the encoder.
//
//   tsx scripts/bench/gen-archive.ts [--files 10000] [--seed 1] [--headers-only] [--force]
//
// The archive goes to bench/archive/<files>/data/, with bench/archive/<files>/archive.json written last: it
// holds a hash of the generator version, its parameters and this file's source, and the archive is reused
// when that hash matches and the file count and byte total on disk agree with it. --headers-only writes the
// same files without their pixel data (about 4 KB each instead of 470 KB), to bench/archive/<files>-headers/:
// what a 100k-file measurement needs, the header read being all dcm2fhir touches.
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  type Dirent,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  statfsSync,
  writeFileSync,
  writeSync,
  writevSync,
} from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import dcmjs from "dcmjs";
import { type TransferSyntax, writeDicom } from "../lib/dicomWriter.js";

/** Bump when the archive's content changes in a way the source hash would not show (e.g. a dcmjs upgrade). */
export const GENERATOR_VERSION = 1;
export const DEFAULT_FILES = 10_000;
export const DEFAULT_SEED = 1;

const REPO = fileURLToPath(new URL("../../", import.meta.url));
export const ARCHIVE_BASE = join(REPO, "bench", "archive");
/** Space left free on top of the archive's estimated size. */
const HEADROOM_BYTES = 1e9;

// ---- deterministic randomness ------------------------------------------------------------------------------

/** sfc32, seeded from a SHA-256 of a label: independent, reproducible streams without Math.random. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(label: string) {
    const h = createHash("sha256").update(label).digest();
    this.a = h.readUInt32LE(0);
    this.b = h.readUInt32LE(4);
    this.c = h.readUInt32LE(8);
    this.d = h.readUInt32LE(12) | 1;
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** [0, 1) */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.next() * list.length)]!;
  }

  digits(n: number): string {
    let s = String(this.int(1, 9));
    while (s.length < n) s += String(this.int(0, 9));
    return s;
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i + 4 <= n; i += 4) out.writeUInt32LE(this.u32(), i);
    for (let i = n - (n % 4); i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}

// ---- the plan: who, what, where --------------------------------------------------------------------------

export type Modality = "CT" | "MR" | "CR";
/** How a patient's files are laid out: each is a common export shape. */
export type Layout = "named" | "dicomdir" | "uid" | "flat";

export interface PatientPlan {
  readonly index: number;
  readonly id: string;
  readonly family: string;
  readonly given: string;
  readonly birthDate: string;
  readonly sex: string;
  readonly layout: Layout;
}

export interface StudyPlan {
  readonly index: number;
  /** Position among its patient's studies (folder names). */
  indexInPatient: number;
  patient: PatientPlan;
  readonly modality: Modality;
  readonly uid: string;
  readonly date: string;
  readonly time: string;
  readonly accession: string;
  readonly studyId: string;
  readonly description: string;
  readonly procedureCode: string;
  readonly referring: string;
  readonly institution: string;
  readonly station: string;
  readonly charset: string;
  readonly timezoneOffset: string | undefined;
  readonly reason: string | undefined;
  readonly series: SeriesPlan[];
}

export interface SeriesPlan {
  readonly index: number;
  readonly study: StudyPlan;
  readonly number: number;
  readonly uid: string;
  readonly description: string;
  readonly protocol: string;
  readonly bodyPart: string;
  count: number;
  transferSyntax: TransferSyntax;
  readonly rows: number;
  readonly columns: number;
  readonly pixelSpacing: number;
  readonly sliceThickness: number;
  readonly time: string;
  readonly frameOfReferenceUID: string;
  readonly performing: string;
  readonly operator: string;
  /** Size of the larger private blobs (bytes): headers vary in size as real ones do. */
  readonly privateBlobBytes: number;
  /** The series a CT axial series was planned on (its localizer), referenced by every image. */
  readonly localizer: SeriesPlan | undefined;
  readonly withExtension: boolean;
}

export interface JunkPlan {
  readonly path: string;
  readonly kind: "text" | "binary" | "empty";
  readonly size: number;
}

export interface ArchivePlan {
  readonly files: number;
  readonly seed: number;
  /** No Pixel Data element: each file ends with its header. */
  readonly headersOnly: boolean;
  readonly patients: readonly PatientPlan[];
  readonly studies: readonly StudyPlan[];
  readonly series: readonly SeriesPlan[];
  readonly junk: readonly JunkPlan[];
  readonly dicomFiles: number;
  readonly estimatedBytes: number;
}

const UID_ROOT = "1.2.826.0.1.3680043.10.1513.77";
const FAMILY = [
  "MUELLER",
  "MEIER",
  "SCHMID",
  "KELLER",
  "WEBER",
  "HUBER",
  "SCHNEIDER",
  "MEYER",
  "STEINER",
  "FISCHER",
  "GERBER",
  "BRUNNER",
  "BAUMANN",
  "FREI",
  "ZIMMERMANN",
  "MOSER",
  "WIDMER",
  "WYSS",
  "GRAF",
  "ROTH",
  "SMITH",
  "JOHNSON",
  "GARCIA",
  "MARTIN",
  "ROSSI",
  "BIANCHI",
  "DUBOIS",
  "NGUYEN",
  "OKAFOR",
  "TANAKA",
];
const GIVEN = [
  "ANNA",
  "PETER",
  "MARIA",
  "HANS",
  "URSULA",
  "DANIEL",
  "SANDRA",
  "THOMAS",
  "MONIKA",
  "MARCO",
  "LAURA",
  "LUCA",
  "SARA",
  "DAVID",
  "NINA",
  "JONAS",
  "ELENA",
  "FELIX",
  "CLARA",
  "SIMON",
  "YUKI",
  "AMARA",
  "LEA",
  "NOAH",
];
const INSTITUTIONS = ["St. Example Hospital", "Riverside Clinic", "Lakeview Medical Center", "Kantonsspital Beispiel"];
const CT_STUDIES = [
  { description: "CT CHEST WITHOUT CONTRAST", code: "CTCH", body: "CHEST", reason: "Persistent cough" },
  { description: "CT ABDOMEN PELVIS WITH CONTRAST", code: "CTAPC", body: "ABDOMEN", reason: "Abdominal pain" },
  { description: "CT HEAD WITHOUT CONTRAST", code: "CTHD", body: "HEAD", reason: "Fall, headache" },
  { description: "CTA CHEST PE PROTOCOL", code: "CTAPE", body: "CHEST", reason: "Suspected pulmonary embolism" },
  { description: "CT LUMBAR SPINE", code: "CTLS", body: "LSPINE", reason: undefined },
] as const;
const MR_STUDIES = [
  { description: "MR BRAIN WITH AND WITHOUT CONTRAST", code: "MRBRC", body: "HEAD", reason: "Seizure" },
  { description: "MR KNEE RIGHT", code: "MRKNR", body: "KNEE", reason: "Knee pain after sports injury" },
  { description: "MR LUMBAR SPINE", code: "MRLS", body: "LSPINE", reason: "Radiculopathy" },
  { description: "MR PROSTATE MULTIPARAMETRIC", code: "MRPR", body: "PROSTATE", reason: undefined },
] as const;
const MR_SERIES = [
  "localizer",
  "t1_mprage_sag",
  "t2_tse_tra",
  "t2_flair_tra",
  "ep2d_diff_tra",
  "t1_se_tra_post",
  "t2_tse_cor",
  "pd_tse_fs_sag",
  "t1_vibe_fs_tra",
];
const CR_STUDIES = [
  { description: "XR CHEST PA AND LATERAL", code: "XRCH2", body: "CHEST", views: ["PA", "LAT"] },
  { description: "XR HAND LEFT 3 VIEWS", code: "XRHL3", body: "HAND", views: ["PA", "OBL", "LAT"] },
  { description: "XR PELVIS AP", code: "XRPEL", body: "PELVIS", views: ["AP"] },
] as const;

/** Files per modality for `dicomFiles` instance files: CT the bulk, MR about a quarter, CR a few (they are 10 MB each). */
function quotas(dicomFiles: number): Record<Modality, number> {
  const cr = dicomFiles >= 50 ? Math.max(1, Math.round(dicomFiles * 0.006)) : 0;
  const mr = Math.round(dicomFiles * 0.27);
  return { CT: dicomFiles - cr - mr, MR: mr, CR: cr };
}

export function junkCount(files: number): number {
  return files >= 20 ? Math.max(1, Math.round(files * 0.01)) : 0;
}

const pad = (n: number, width: number) => String(n).padStart(width, "0");
const folderName = (s: string) => s.replace(/[^A-Za-z0-9 ._-]+/g, "_").trim();

/** The whole archive as a plan: which files, with which attributes, where. Pure function of files and seed. */
export function planArchive(files: number, seed: number, headersOnly = false): ArchivePlan {
  const rng = new Rng(`dcm2fhir-bench/plan/${seed}`);
  const junkFiles = junkCount(files);
  const dicomFiles = files - junkFiles;
  const quota = quotas(dicomFiles);
  const studies: StudyPlan[] = [];
  const series: SeriesPlan[] = [];

  const newStudy = (modality: Modality): StudyPlan => {
    const index = studies.length;
    const year = rng.int(2016, 2024);
    const date = `${year}${pad(rng.int(1, 12), 2)}${pad(rng.int(1, 28), 2)}`;
    const time = `${pad(rng.int(7, 19), 2)}${pad(rng.int(0, 59), 2)}${pad(rng.int(0, 59), 2)}${rng.chance(0.5) ? `.${rng.digits(6)}` : ""}`;
    const kind = modality === "CT" ? rng.pick(CT_STUDIES) : modality === "MR" ? rng.pick(MR_STUDIES) : rng.pick(CR_STUDIES);
    const study: StudyPlan = {
      index,
      indexInPatient: 0,
      patient: undefined as unknown as PatientPlan, // assigned below
      modality,
      uid: `${UID_ROOT}.1.${seed}.${index + 1}.${date}${time.slice(0, 6)}.${rng.digits(6)}`,
      date,
      time,
      accession: `${year}${rng.digits(8)}`,
      studyId: String(rng.int(1000, 99999)),
      description: kind.description,
      procedureCode: kind.code,
      referring: rng.chance(0.85) ? `${rng.pick(FAMILY)}^${rng.pick(GIVEN)}^^Dr.` : "",
      institution: rng.pick(INSTITUTIONS),
      station: `${modality}${rng.int(1, 4)}_${rng.pick(["NORD", "SUED", "WEST"])}`,
      charset: rng.chance(0.8) ? "ISO_IR 100" : "ISO_IR 192",
      timezoneOffset: rng.chance(0.3) ? rng.pick(["+0100", "+0200", "-0500"]) : undefined,
      reason: "reason" in kind ? kind.reason : undefined,
      series: [],
    };
    studies.push(study);
    return study;
  };

  const newSeries = (
    study: StudyPlan,
    o: {
      description: string;
      protocol: string;
      count: number;
      rows: number;
      columns: number;
      spacing: number;
      thickness: number;
      blob: number;
      localizer?: SeriesPlan;
      body?: string;
    },
  ): SeriesPlan => {
    const number = study.series.length + 1;
    const s: SeriesPlan = {
      index: series.length,
      study,
      number,
      uid: `${UID_ROOT}.2.${seed}.${study.index + 1}.${number}.${rng.digits(8)}`,
      description: o.description,
      protocol: o.protocol,
      bodyPart: o.body ?? bodyOf(study),
      count: o.count,
      transferSyntax: "explicit-le", // chosen below, once sizes are final
      rows: o.rows,
      columns: o.columns,
      pixelSpacing: o.spacing,
      sliceThickness: o.thickness,
      time: addMinutes(study.time, number * rng.int(1, 4)),
      frameOfReferenceUID: o.localizer?.frameOfReferenceUID ?? `${UID_ROOT}.4.${seed}.${study.index + 1}.${number}.${rng.digits(6)}`,
      performing: `${rng.pick(FAMILY)}^${rng.pick(GIVEN)}`,
      operator: `${rng.pick(FAMILY)}^${rng.pick(GIVEN)}`,
      privateBlobBytes: 2 * o.blob,
      localizer: o.localizer,
      withExtension: rng.chance(0.5),
    };
    study.series.push(s);
    series.push(s);
    return s;
  };

  // Fill each modality's quota with whole studies; the last series of the last study takes what is left.
  let left = quota.CT;
  while (left > 0) {
    const study = newStudy("CT");
    const scout = newSeries(study, {
      description: "Scout",
      protocol: study.description,
      count: Math.min(left, rng.int(1, 3)),
      rows: 512,
      columns: 512,
      spacing: 0.976562,
      thickness: 1,
      blob: rng.int(250, 450),
    });
    left -= scout.count;
    const thick = rng.pick([5, 3, 2.5, 1.25]);
    const axial = [{ description: `Axial ${thick.toFixed(2)}mm STND`, thickness: thick, count: rng.int(60, 350) }];
    if (rng.chance(0.5)) axial.push({ description: "Axial 0.625mm BONE", thickness: 0.625, count: rng.int(150, 450) });
    if (rng.chance(0.35)) axial.push({ description: "Coronal MPR 3mm", thickness: 3, count: rng.int(40, 120) });
    for (const a of axial) {
      if (left <= 0) break;
      const s = newSeries(study, {
        description: a.description,
        protocol: study.description,
        count: Math.min(left, a.count),
        rows: 512,
        columns: 512,
        spacing: 0.703125,
        thickness: a.thickness,
        blob: rng.int(300, 900),
        localizer: scout,
      });
      left -= s.count;
    }
  }
  left = quota.MR;
  while (left > 0) {
    const study = newStudy("MR");
    const names = MR_SERIES.slice(0, rng.int(4, MR_SERIES.length));
    for (const name of names) {
      if (left <= 0) break;
      const count = Math.min(left, name === "localizer" ? 3 : rng.int(16, 60));
      const s = newSeries(study, {
        description: name,
        protocol: name,
        count,
        rows: 256,
        columns: 256,
        spacing: 0.9375,
        thickness: rng.pick([1, 3, 4, 5]),
        blob: rng.int(450, 1000),
      });
      left -= s.count;
    }
  }
  left = quota.CR;
  while (left > 0) {
    const study = newStudy("CR");
    const kind = CR_STUDIES.find((k) => k.description === study.description)!;
    for (const view of kind.views) {
      if (left <= 0) break;
      const portrait = view !== "LAT";
      newSeries(study, {
        description: `${kind.body} ${view}`,
        protocol: kind.description,
        count: 1,
        rows: portrait ? 2500 : 2000,
        columns: portrait ? 2000 : 2500,
        spacing: 0.15,
        thickness: 0,
        blob: rng.int(60, 160),
        body: kind.body,
      });
      left -= 1;
    }
  }

  // Transfer syntax per series (a series comes from one device): implicit VR while the implicit share is under 25 %.
  let implicitFiles = 0;
  let seenFiles = 0;
  for (const s of series) {
    const implicit = implicitFiles + s.count / 2 <= 0.25 * (seenFiles + s.count);
    s.transferSyntax = implicit ? "implicit-le" : "explicit-le";
    if (implicit) implicitFiles += s.count;
    seenFiles += s.count;
  }

  // Shuffle the studies (Fisher-Yates) and hand them out to patients, one to three each.
  const order = studies.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const patients: PatientPlan[] = [];
  const layouts: Layout[] = ["named", "dicomdir", "uid", "flat"];
  for (let k = 0; k < order.length; ) {
    const p: PatientPlan = {
      index: patients.length,
      id: `${rng.pick(["", "MRN", "P"])}${rng.digits(7)}`,
      family: rng.pick(FAMILY),
      given: rng.pick(GIVEN),
      birthDate: `${rng.int(1930, 2010)}${pad(rng.int(1, 12), 2)}${pad(rng.int(1, 28), 2)}`,
      sex: rng.chance(0.02) ? "O" : rng.pick(["M", "F"]),
      layout: layouts[patients.length % layouts.length]!,
    };
    patients.push(p);
    const n = rng.int(1, 3);
    for (let j = 0; j < n && k < order.length; j++, k++) {
      const study = studies[order[k]!]!;
      study.patient = p;
      study.indexInPatient = j;
    }
  }

  // Junk: next to the images, in the folders that hold them.
  const junk: JunkPlan[] = [];
  const junkNames = {
    text: ["README.txt", "notes.txt", "export.log", "index.html", "VERSION"],
    binary: ["Thumbs.db", ".DS_Store", "preview.jpg", "report.pdf", "00000017"],
    empty: ["LOCKFILE", "empty.dcm", ".lock", "IM000000"],
  } as const;
  // A junk file must not take an image's place (IM000000 is both a CD layout's first image and a lock file's name).
  const used = new Set<string>(series.flatMap((s) => Array.from({ length: s.count }, (_, i) => instancePath(s, i))));
  for (let i = 0; i < junkFiles; i++) {
    const kind = rng.pick(["text", "text", "binary", "binary", "empty"] as const);
    const s = series.length > 0 ? rng.pick(series) : undefined;
    const dir = s ? dirname(instancePath(s, 0)) : "misc";
    let name: string = rng.pick(junkNames[kind]);
    if (used.has(`${dir}/${name}`)) name = `${i}_${name}`;
    used.add(`${dir}/${name}`);
    junk.push({ path: `${dir}/${name}`, kind, size: kind === "empty" ? 0 : kind === "text" ? rng.int(200, 6000) : rng.int(512, 65536) });
  }

  let estimatedBytes = 0;
  for (const s of series) estimatedBytes += s.count * ((headersOnly ? 0 : s.rows * s.columns * 2) + 6000);
  for (const j of junk) estimatedBytes += j.size;
  return { files, seed, headersOnly, patients, studies, series, junk, dicomFiles, estimatedBytes };
}

function bodyOf(study: StudyPlan): string {
  const all = [...CT_STUDIES, ...MR_STUDIES, ...CR_STUDIES] as ReadonlyArray<{ description: string; body: string }>;
  return all.find((k) => k.description === study.description)?.body ?? "";
}

function addMinutes(time: string, minutes: number): string {
  const total = Math.min(23 * 60 + 59, Number(time.slice(0, 2)) * 60 + Number(time.slice(2, 4)) + minutes);
  return `${pad(Math.floor(total / 60), 2)}${pad(total % 60, 2)}${time.slice(4, 6)}`;
}

/** SOP Instance UID of image `i` (0-based) of a series. */
export function instanceUID(s: SeriesPlan, i: number): string {
  // A per-instance suffix from the series UID's random part keeps UIDs as long as real ones (50–64 characters).
  return `${UID_ROOT}.3.${s.study.index + 1}.${s.number}.${i + 1}.${s.uid.slice(-8)}${pad((i * 7919) % 10000, 4)}`;
}

/** Where image `i` of a series lives, relative to the archive's data folder. */
export function instancePath(s: SeriesPlan, i: number): string {
  const st = s.study;
  const p = st.patient;
  switch (p.layout) {
    case "named": // a viewer's export: names and descriptions, spaces included
      return `${folderName(`${p.family}_${p.given}_${p.id}`)}/${st.date} ${folderName(st.description)}/${s.number} ${folderName(s.description)}/IM-${pad(s.number, 4)}-${pad(i + 1, 4)}.dcm`;
    case "dicomdir": // a CD/DVD layout: 8-character names, no extension
      return `DICOM/PA${pad(p.index, 6)}/ST${pad(st.indexInPatient, 6)}/SE${pad(s.number, 6)}/IM${pad(i, 6)}`;
    case "uid": // a PACS export named by UIDs, with or without .dcm
      return `export/${st.date.slice(0, 4)}/${st.uid}/${s.uid}/${instanceUID(s, i)}${s.withExtension ? ".dcm" : ""}`;
    case "flat": // one folder per accession, every series in it
      return `${p.id}/${st.accession}/S${s.number}_I${pad(i + 1, 5)}.DCM`;
  }
}

// ---- the data sets --------------------------------------------------------------------------------------

const SOP_CLASS: Record<Modality, string> = {
  CT: "1.2.840.10008.5.1.4.1.1.2",
  MR: "1.2.840.10008.5.1.4.1.1.4",
  CR: "1.2.840.10008.5.1.4.1.1.1",
};

/** Private elements by (made-up) keyword, registered with dcmjs so its writer encodes them like any other. */
const PRIVATE_TAGS: Record<string, string> = {};
function privateTag(group: number, element: number, vr: string): string {
  const hex = `${group.toString(16).padStart(4, "0")}${element.toString(16).padStart(4, "0")}`.toUpperCase();
  const keyword = `Private_${hex}_${vr}`; // private tags mean different things under different creators
  if (!(keyword in PRIVATE_TAGS)) {
    PRIVATE_TAGS[keyword] = vr;
    dcmjs.data.DicomMetaDictionary.nameMap[keyword] = { tag: `(${hex.slice(0, 4)},${hex.slice(4)})`, vr, name: keyword, vm: "1-n", version: "PrivateTag" };
  }
  return keyword;
}

const ob = (bytes: Buffer) => [bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)];
const ds = (n: number, digits = 6) => {
  const s = n.toFixed(digits).replace(/\.?0+$/, "");
  return s === "-0" ? "0" : s.slice(0, 16);
};

/** Blob content for a series: deterministic, cheap, not all zeros. */
const blobCache = new Map<string, Buffer>();
function blob(s: SeriesPlan, salt: string, bytes: number): Buffer {
  const key = `${s.index}/${salt}/${bytes}`;
  let b = blobCache.get(key);
  if (!b) {
    if (blobCache.size > 256) blobCache.clear();
    b = new Rng(`blob/${key}`).bytes(bytes);
    blobCache.set(key, b);
  }
  return b;
}

/** The naturalized data set (dcmjs keywords) of image `i` of a series, without pixel data. */
export function instanceDataset(s: SeriesPlan, i: number): Record<string, unknown> {
  const st = s.study;
  const p = st.patient;
  const m = st.modality;
  const sliceLocation = sliceLocationOf(s, i);
  const contentTime = addMinutes(s.time, Math.floor(i / 60));
  const d: Record<string, unknown> = {
    SpecificCharacterSet: st.charset,
    ImageType: m === "CT" ? ["ORIGINAL", "PRIMARY", s.number === 1 ? "LOCALIZER" : "AXIAL"] : ["ORIGINAL", "PRIMARY", m === "MR" ? "M" : ""],
    InstanceCreationDate: st.date,
    InstanceCreationTime: contentTime,
    SOPClassUID: SOP_CLASS[m],
    SOPInstanceUID: instanceUID(s, i),
    StudyDate: st.date,
    SeriesDate: st.date,
    AcquisitionDate: st.date,
    ContentDate: st.date,
    StudyTime: st.time,
    SeriesTime: s.time,
    AcquisitionTime: contentTime,
    ContentTime: contentTime,
    AccessionNumber: st.accession,
    Modality: m,
    Manufacturer: m === "CT" ? "GE MEDICAL SYSTEMS" : m === "MR" ? "SIEMENS" : "FUJIFILM Corporation",
    InstitutionName: st.institution,
    InstitutionAddress: "Example Street 1, 8000 Example City",
    ReferringPhysicianName: st.referring,
    StationName: st.station,
    StudyDescription: st.description,
    ProcedureCodeSequence: [{ CodeValue: st.procedureCode, CodingSchemeDesignator: "99DCM2FHIR", CodeMeaning: st.description }],
    SeriesDescription: s.description,
    InstitutionalDepartmentName: "Radiology",
    PerformingPhysicianName: s.performing,
    OperatorsName: s.operator,
    ManufacturerModelName: m === "CT" ? "LightSpeed VCT" : m === "MR" ? "MAGNETOM Skyra" : "FCR PROFECT CS",
    PatientName: `${p.family}^${p.given}`,
    PatientID: p.id,
    IssuerOfPatientID: "EXAMPLE_HOSPITAL",
    PatientBirthDate: p.birthDate,
    PatientSex: p.sex,
    PatientAge: `${pad(Math.max(1, Number(st.date.slice(0, 4)) - Number(p.birthDate.slice(0, 4))), 3)}Y`,
    PatientWeight: ds(55 + (p.index % 40)),
    BodyPartExamined: s.bodyPart,
    DeviceSerialNumber: `${m}${pad(st.station.length * 1237, 6)}`,
    SoftwareVersions: m === "CT" ? "gmp_vct.42" : m === "MR" ? "syngo MR E11" : "A09",
    ProtocolName: s.protocol,
    PatientPosition: m === "CR" ? undefined : "HFS",
    StudyInstanceUID: st.uid,
    SeriesInstanceUID: s.uid,
    StudyID: st.studyId,
    SeriesNumber: s.number,
    AcquisitionNumber: 1,
    InstanceNumber: i + 1,
    SamplesPerPixel: 1,
    PhotometricInterpretation: m === "CR" ? "MONOCHROME1" : "MONOCHROME2",
    Rows: s.rows,
    Columns: s.columns,
    PixelSpacing: [ds(s.pixelSpacing), ds(s.pixelSpacing)],
    BitsAllocated: 16,
    BitsStored: m === "CT" ? 16 : 12,
    HighBit: m === "CT" ? 15 : 11,
    PixelRepresentation: m === "CT" ? 1 : 0,
    RequestAttributesSequence: [
      {
        RequestedProcedureID: st.accession.slice(-6),
        ScheduledProcedureStepID: st.studyId,
        ...(st.reason ? { ReasonForTheRequestedProcedure: st.reason } : {}),
      },
    ],
    PerformedProcedureStepStartDate: st.date,
    PerformedProcedureStepStartTime: st.time.slice(0, 6),
    PerformedProcedureStepID: st.studyId,
    PerformedProcedureStepDescription: st.description,
  };
  if (st.timezoneOffset) d.TimezoneOffsetFromUTC = st.timezoneOffset;
  if (m !== "CR") {
    Object.assign(d, {
      SliceThickness: ds(s.sliceThickness),
      ImagePositionPatient: [ds(-(s.columns * s.pixelSpacing) / 2, 3), ds(-(s.rows * s.pixelSpacing) / 2, 3), ds(sliceLocation, 3)],
      ImageOrientationPatient: ["1", "0", "0", "0", "1", "0"],
      FrameOfReferenceUID: s.frameOfReferenceUID,
      PositionReferenceIndicator: "",
      SliceLocation: ds(sliceLocation, 3),
    });
  }
  if (m === "CT") ctAttributes(d, s, i);
  else if (m === "MR") mrAttributes(d, s, i);
  else crAttributes(d, s, i);
  for (const key of Object.keys(d)) if (d[key] === undefined) delete d[key];
  return d;
}

const sliceLocationOf = (s: SeriesPlan, i: number) => -120 + i * (s.sliceThickness || 1);

function ctAttributes(d: Record<string, unknown>, s: SeriesPlan, i: number): void {
  const sliceLocation = sliceLocationOf(s, i);
  Object.assign(d, {
    ReferencedImageSequence: s.localizer ? [{ ReferencedSOPClassUID: SOP_CLASS.CT, ReferencedSOPInstanceUID: instanceUID(s.localizer, 0) }] : undefined,
    ScanOptions: "HELICAL MODE",
    KVP: "120",
    DataCollectionDiameter: "500",
    ReconstructionDiameter: ds(s.columns * s.pixelSpacing, 3),
    DistanceSourceToDetector: "949.075012",
    DistanceSourceToPatient: "541",
    GantryDetectorTilt: "0",
    TableHeight: "142",
    RotationDirection: "CW",
    ExposureTime: "500",
    XRayTubeCurrent: 100 + ((s.index * 37 + i * 3) % 300),
    Exposure: 5 + ((s.index + i) % 20),
    FilterType: "BODY FILTER",
    GeneratorPower: 48000,
    FocalSpots: "0.7",
    ConvolutionKernel: s.description.includes("BONE") ? "BONE" : "STANDARD",
    RevolutionTime: "0.5",
    SingleCollimationWidth: "0.625",
    TotalCollimationWidth: "40",
    TableSpeed: "39.375",
    TableFeedPerRotation: "39.375",
    SpiralPitchFactor: "0.984375",
    WindowCenter: s.description.includes("BONE") ? "300" : "40",
    WindowWidth: s.description.includes("BONE") ? "1500" : "400",
    RescaleIntercept: "-1024",
    RescaleSlope: "1",
    RescaleType: "HU",
    [privateTag(0x0009, 0x0010, "LO")]: "GEMS_IDEN_01",
    [privateTag(0x0009, 0x1001, "LO")]: "CT_LIGHTSPEED",
    [privateTag(0x0009, 0x1002, "SH")]: "CT01",
    [privateTag(0x0009, 0x1004, "SH")]: "LightSpeed VCT",
    [privateTag(0x0009, 0x1027, "SL")]: 1_600_000_000 + s.index * 1000 + i,
    [privateTag(0x0009, 0x10e3, "UI")]: `${UID_ROOT}.5.${s.index}.${i + 1}`,
    [privateTag(0x0019, 0x0010, "LO")]: "GEMS_ACQU_01",
    [privateTag(0x0019, 0x1002, "SL")]: 912,
    [privateTag(0x0019, 0x1003, "DS")]: ds(sliceLocation, 3),
    [privateTag(0x0019, 0x1011, "SS")]: 2,
    [privateTag(0x0019, 0x1018, "LO")]: "B",
    [privateTag(0x0019, 0x101a, "LO")]: "FAST",
    [privateTag(0x0019, 0x1023, "DS")]: "0.984375",
    [privateTag(0x0019, 0x1024, "DS")]: ds(sliceLocation, 3),
    [privateTag(0x0019, 0x1026, "SS")]: 1,
    [privateTag(0x0019, 0x102c, "SS")]: 1,
    [privateTag(0x0019, 0x1039, "SS")]: 0,
    [privateTag(0x0019, 0x1042, "SS")]: 0,
    [privateTag(0x0019, 0x1047, "SS")]: 3,
    [privateTag(0x0019, 0x1052, "SS")]: 0,
    [privateTag(0x0019, 0x109e, "LO")]: "SCAN_ACQUISITION",
    [privateTag(0x0021, 0x0010, "LO")]: "GEMS_RELA_01",
    [privateTag(0x0021, 0x1003, "SS")]: 0,
    [privateTag(0x0021, 0x1035, "SS")]: 1,
    [privateTag(0x0021, 0x1091, "SS")]: 0,
    [privateTag(0x0021, 0x1092, "FL")]: 0,
    [privateTag(0x0023, 0x0010, "LO")]: "GEMS_STDY_01",
    [privateTag(0x0023, 0x1070, "FD")]: 1_600_000_000.5,
    [privateTag(0x0027, 0x0010, "LO")]: "GEMS_IMAG_01",
    [privateTag(0x0027, 0x1010, "SS")]: 0,
    [privateTag(0x0027, 0x101c, "SL")]: 0,
    [privateTag(0x0027, 0x101e, "SL")]: 0,
    [privateTag(0x0027, 0x1035, "SS")]: 2,
    [privateTag(0x0027, 0x1040, "SH")]: "I",
    [privateTag(0x0027, 0x1041, "FL")]: sliceLocation,
    [privateTag(0x0027, 0x1042, "FL")]: -175,
    [privateTag(0x0027, 0x1043, "FL")]: 175,
    [privateTag(0x0027, 0x1044, "FL")]: sliceLocation,
    [privateTag(0x0027, 0x1050, "FL")]: 0,
    [privateTag(0x0027, 0x1051, "FL")]: 0,
    // Above the last attribute dcm2fhir reads: never parsed, only inside the first read window at most.
    [privateTag(0x0043, 0x0010, "LO")]: "GEMS_PARM_01",
    [privateTag(0x0043, 0x1001, "SS")]: 0,
    [privateTag(0x0043, 0x1027, "SH")]: "/1.0:1",
    [privateTag(0x0043, 0x1028, "OB")]: ob(blob(s, "0043,1028", s.privateBlobBytes)),
    [privateTag(0x0043, 0x102b, "SS")]: [4, 4, 0, 0],
    [privateTag(0x0043, 0x1031, "DS")]: ["-1.5", "2.5"],
    [privateTag(0x0043, 0x1040, "FL")]: 10.5,
    [privateTag(0x0043, 0x104e, "FL")]: 1.0,
    [privateTag(0x0043, 0x1064, "CS")]: "NONE",
  });
}

function mrAttributes(d: Record<string, unknown>, s: SeriesPlan, i: number): void {
  const sliceLocation = sliceLocationOf(s, i);
  Object.assign(d, {
    ScanningSequence: "SE",
    SequenceVariant: ["SK", "SP", "OSP"],
    ScanOptions: "PFP",
    MRAcquisitionType: "2D",
    SequenceName: `*tse2d1_${(s.number % 9) + 3}`,
    AngioFlag: "N",
    RepetitionTime: "4000",
    EchoTime: "96",
    NumberOfAverages: "2",
    ImagingFrequency: "123.255",
    ImagedNucleus: "1H",
    EchoNumbers: "1",
    MagneticFieldStrength: "3",
    SpacingBetweenSlices: ds(s.sliceThickness * 1.1),
    NumberOfPhaseEncodingSteps: 210,
    EchoTrainLength: 17,
    PercentSampling: "100",
    PercentPhaseFieldOfView: "87.5",
    PixelBandwidth: "190",
    ReceiveCoilName: "HeadNeck_20",
    TransmitCoilName: "Body",
    AcquisitionMatrix: [0, 256, 224, 0],
    InPlanePhaseEncodingDirection: "ROW",
    FlipAngle: "150",
    VariableFlipAngleFlag: "N",
    SAR: "0.42",
    dBdt: "0",
    WindowCenter: "412",
    WindowWidth: "977",
    [privateTag(0x0019, 0x0010, "LO")]: "SIEMENS MR HEADER",
    [privateTag(0x0019, 0x1008, "CS")]: "IMAGE NUM 4",
    [privateTag(0x0019, 0x1009, "LO")]: "1.0",
    [privateTag(0x0019, 0x100b, "DS")]: "4000",
    [privateTag(0x0019, 0x100f, "SH")]: "Fast",
    [privateTag(0x0019, 0x1011, "SH")]: "No",
    [privateTag(0x0019, 0x1012, "SL")]: [0, 0, -1274],
    [privateTag(0x0019, 0x1013, "SL")]: [0, 0, -1274],
    [privateTag(0x0019, 0x1015, "FD")]: [-120, -120, sliceLocation],
    [privateTag(0x0019, 0x1017, "DS")]: "1",
    [privateTag(0x0019, 0x1018, "IS")]: 2600,
    [privateTag(0x0029, 0x0010, "LO")]: "SIEMENS CSA HEADER",
    [privateTag(0x0029, 0x0011, "LO")]: "SIEMENS MEDCOM HEADER2",
    [privateTag(0x0029, 0x1008, "CS")]: "IMAGE NUM 4",
    [privateTag(0x0029, 0x1009, "LO")]: "20100202",
    // CSA image and series headers: the blobs a reader must skip without reading.
    [privateTag(0x0029, 0x1010, "OB")]: ob(blob(s, "0029,1010", s.privateBlobBytes)),
    [privateTag(0x0029, 0x1018, "CS")]: "MR",
    [privateTag(0x0029, 0x1019, "LO")]: "20100202",
    [privateTag(0x0029, 0x1020, "OB")]: ob(blob(s, "0029,1020", 400 + (s.privateBlobBytes >> 2) * 2)),
    [privateTag(0x0029, 0x1160, "LO")]: "com",
    [privateTag(0x0051, 0x0010, "LO")]: "SIEMENS MR HEADER",
    [privateTag(0x0051, 0x100a, "LO")]: "TA 02:16",
    [privateTag(0x0051, 0x100b, "LO")]: "256p*224",
    [privateTag(0x0051, 0x100c, "LO")]: "FoV 240*210",
    [privateTag(0x0051, 0x100e, "LO")]: "Tra",
    [privateTag(0x0051, 0x1011, "LO")]: "p2",
    [privateTag(0x0051, 0x1016, "LO")]: "p2 M/ND",
    [privateTag(0x0051, 0x1019, "LO")]: `A${i % 3}`,
  });
}

function crAttributes(d: Record<string, unknown>, s: SeriesPlan, i: number): void {
  Object.assign(d, {
    ViewPosition: s.description.split(" ").pop(),
    ImageLaterality: s.bodyPart === "HAND" ? "L" : undefined,
    KVP: "125",
    DistanceSourceToDetector: "1800",
    ExposureTime: "12",
    XRayTubeCurrent: 320,
    Exposure: 4,
    ImagerPixelSpacing: ["0.15", "0.15"],
    PlateType: "ST-VI",
    PhosphorType: "BaFX",
    SensitivityValue: "200",
    WindowCenter: "2047",
    WindowWidth: "4095",
    PresentationLUTShape: "IDENTITY",
    LossyImageCompression: "00",
    [privateTag(0x0009, 0x0010, "LO")]: "FDMS 1.0",
    [privateTag(0x0009, 0x1004, "SH")]: "CR",
    [privateTag(0x0009, 0x1006, "SH")]: "0123456789",
    [privateTag(0x0009, 0x1008, "US")]: 1,
    [privateTag(0x0009, 0x1009, "SH")]: "ST",
    [privateTag(0x0009, 0x1015, "LO")]: `${s.uid.slice(-8)}${i}`,
    [privateTag(0x0019, 0x0010, "LO")]: "FDMS 1.0",
    [privateTag(0x0019, 0x1015, "LO")]: "CHEST",
    [privateTag(0x0019, 0x1032, "LO")]: "S",
    [privateTag(0x0021, 0x0010, "LO")]: "FDMS 1.0",
    [privateTag(0x0021, 0x1010, "CS")]: "SEMI",
    [privateTag(0x0021, 0x1030, "CS")]: "A",
    [privateTag(0x0025, 0x0010, "LO")]: "FDMS 1.0",
    [privateTag(0x0025, 0x1010, "US")]: 1,
    [privateTag(0x0025, 0x1011, "SS")]: 0,
    [privateTag(0x0025, 0x1012, "US")]: 200,
    [privateTag(0x0025, 0x1013, "US")]: 1,
    [privateTag(0x0029, 0x0010, "LO")]: "FDMS 1.0",
    [privateTag(0x0029, 0x1020, "CS")]: "NORMAL",
    [privateTag(0x0029, 0x1050, "OB")]: ob(blob(s, "0029,1050", s.privateBlobBytes)),
    [privateTag(0x0029, 0x1060, "LO")]: "FCR",
  });
}

/** The encoded header of image `i` (File Meta Information and data set, no pixel data). */
export function instanceHeader(s: SeriesPlan, i: number): Buffer {
  return writeDicom(instanceDataset(s, i), { transferSyntax: s.transferSyntax });
}

/** (7FE0,0010) OW element header: 12 bytes in explicit VR, 8 in implicit VR (PS3.5 7.1). */
function pixelDataHeader(transferSyntax: TransferSyntax, length: number): Buffer {
  const implicit = transferSyntax === "implicit-le";
  const b = Buffer.alloc(implicit ? 8 : 12);
  b.writeUInt16LE(0x7fe0, 0);
  b.writeUInt16LE(0x0010, 2);
  if (implicit) b.writeUInt32LE(length, 4);
  else {
    b.write("OW", 4, "latin1");
    b.writeUInt32LE(length, 8);
  }
  return b;
}

/** One pixel pattern per image size, reused for every image of that size. */
const pixelCache = new Map<string, Buffer>();
function pixels(rows: number, columns: number): Buffer {
  const key = `${rows}x${columns}`;
  let b = pixelCache.get(key);
  if (!b) {
    b = Buffer.allocUnsafe(rows * columns * 2);
    for (let y = 0; y < rows; y++) {
      for (let x = 0; x < columns; x++) {
        const r = Math.hypot(x - columns / 2, y - rows / 2) / Math.max(rows, columns);
        b.writeUInt16LE(r < 0.45 ? 900 + ((x * 7 + y * 13) & 0xff) : 24, (y * columns + x) * 2);
      }
    }
    pixelCache.set(key, b);
  }
  return b;
}

function writeAll(path: string, parts: readonly Buffer[]): number {
  const fd = openSync(path, "w");
  try {
    const total = parts.reduce((n, p) => n + p.length, 0);
    let written = writevSync(fd, parts as Buffer[]);
    if (written < total) {
      // A short vectored write: finish part by part from where it stopped.
      let skip = written;
      for (const part of parts) {
        if (skip >= part.length) {
          skip -= part.length;
          continue;
        }
        let offset = skip;
        skip = 0;
        while (offset < part.length) {
          const n = writeSync(fd, part, offset);
          offset += n;
          written += n;
        }
      }
    }
    return written;
  } finally {
    closeSync(fd);
  }
}

function junkBytes(j: JunkPlan, index: number): Buffer {
  if (j.kind === "empty") return Buffer.alloc(0);
  const rng = new Rng(`junk/${index}/${j.path}`);
  if (j.kind === "binary") {
    const b = rng.bytes(j.size);
    if (j.path.endsWith(".jpg")) b.set([0xff, 0xd8, 0xff, 0xe0], 0);
    if (j.path.endsWith(".pdf")) b.write("%PDF-1.7\n", 0, "latin1");
    return b;
  }
  const lines: string[] = [];
  let size = 0;
  while (size < j.size) {
    const line = rng.pick([
      `Exported ${rng.int(1, 400)} images on ${rng.int(2016, 2024)}-${pad(rng.int(1, 12), 2)}-${pad(rng.int(1, 28), 2)}`,
      "Please do not modify the contents of this folder.",
      `<tr><td>Series ${rng.int(1, 9)}</td><td>${rng.int(1, 400)} images</td></tr>`,
      `INFO transfer complete, ${rng.int(1000, 99999)} KB`,
    ]);
    lines.push(line);
    size += line.length + 1;
  }
  return Buffer.from(`${lines.join("\n")}\n`);
}

// ---- the cached archive ---------------------------------------------------------------------------------

export interface ArchiveInfo {
  readonly hash: string;
  readonly generator: number;
  readonly files: number;
  readonly seed: number;
  readonly headersOnly: boolean;
  readonly dicomFiles: number;
  readonly junkFiles: number;
  readonly bytes: number;
  readonly patients: number;
  readonly studies: number;
  readonly series: number;
  readonly byModality: Record<Modality, { files: number; bytes: number }>;
  readonly implicitVRFiles: number;
  readonly headerBytes: { min: number; median: number; max: number };
  readonly generatedAt: string;
  readonly generationSeconds: number;
}

export interface Archive {
  /** bench/archive/<files>/ */
  readonly root: string;
  /** The folder to convert: bench/archive/<files>/data/ */
  readonly data: string;
  readonly info: ArchiveInfo;
  /** True when this call wrote it; false when a complete archive with the same hash was reused. */
  readonly generated: boolean;
}

export function archiveHash(files: number, seed: number, headersOnly = false): string {
  const sources = [fileURLToPath(import.meta.url), fileURLToPath(new URL("../lib/dicomWriter.ts", import.meta.url))];
  const h = createHash("sha256").update(JSON.stringify({ generator: GENERATOR_VERSION, files, seed, ...(headersOnly ? { headersOnly } : {}) }));
  for (const file of sources) h.update(readFileSync(file));
  return h.digest("hex").slice(0, 16);
}

/** Counts files and bytes under a folder (no links are followed: the generator writes none). */
export function countTree(root: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isDirectory()) stack.push(path);
      else if (e.isFile()) {
        files++;
        bytes += statSync(path).size;
      }
    }
  }
  return { files, bytes };
}

/** Free bytes where `dir` would be written, from df (statfs where df is missing). */
export function freeBytes(dir: string): number {
  let existing = resolve(dir);
  while (!existsSync(existing)) existing = dirname(existing);
  try {
    const out = execFileSync("df", ["-Pk", existing], { encoding: "utf8" }).trim().split("\n");
    const available = Number(out[out.length - 1]!.trim().split(/\s+/)[3]);
    if (Number.isFinite(available)) return available * 1024;
  } catch {
    // no df: ask the file system directly
  }
  const s = statfsSync(existing);
  return s.bavail * s.bsize;
}

const gb = (bytes: number) => `${(bytes / 1e9).toFixed(1)} GB`;

export class DiskSpaceError extends Error {
  override readonly name = "DiskSpaceError";
}

/** Reuses bench/archive/<files>/ when complete and of the same hash; otherwise (re)generates it. */
export async function ensureArchive(
  options: { files?: number; seed?: number; headersOnly?: boolean; force?: boolean; log?: (line: string) => void } = {},
): Promise<Archive> {
  const files = options.files ?? DEFAULT_FILES;
  const seed = options.seed ?? DEFAULT_SEED;
  const headersOnly = options.headersOnly ?? false;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (!Number.isInteger(files) || files < 1) throw new Error(`--files takes a whole number ≥ 1, not ${files}`);
  const root = join(ARCHIVE_BASE, headersOnly ? `${files}-headers` : String(files));
  const data = join(root, "data");
  const markerPath = join(root, "archive.json");
  const hash = archiveHash(files, seed, headersOnly);

  if (!options.force && existsSync(markerPath)) {
    try {
      const info = JSON.parse(readFileSync(markerPath, "utf8")) as ArchiveInfo;
      if (info.hash === hash) {
        const onDisk = countTree(data);
        if (onDisk.files === info.files && onDisk.bytes === info.bytes) {
          log(`archive: reusing ${root} (${info.files.toLocaleString("en-US")} files, ${gb(info.bytes)}, hash ${hash})`);
          return { root, data, info, generated: false };
        }
        log(`archive: ${root} is incomplete (${onDisk.files} files, ${onDisk.bytes} bytes on disk; ${info.files}, ${info.bytes} expected): regenerating`);
      } else log(`archive: ${root} was made by another generator or with other parameters (hash ${info.hash}, now ${hash}): regenerating`);
    } catch {
      log(`archive: ${markerPath} is unreadable: regenerating`);
    }
  }

  if (!existsSync(markerPath) && existsSync(root)) log(`archive: ${root} has no archive.json (an interrupted generation?): regenerating`);
  const plan = planArchive(files, seed, headersOnly);
  rmSync(root, { recursive: true, force: true });
  const free = freeBytes(root);
  if (free < plan.estimatedBytes + HEADROOM_BYTES) {
    throw new DiskSpaceError(
      `not enough free disk space for the ${files.toLocaleString("en-US")}-file archive: it needs about ${gb(plan.estimatedBytes)} plus ${gb(HEADROOM_BYTES)} headroom in ${ARCHIVE_BASE}, and ${gb(free)} is free. Free some space or pass a smaller --files.`,
    );
  }
  log(`archive: generating ${files.toLocaleString("en-US")} files (~${gb(plan.estimatedBytes)}) into ${data} (${gb(free)} free)`);
  const info = await generate(plan, data, hash, log);
  writeFileSync(markerPath, `${JSON.stringify(info, null, 2)}\n`);
  log(`archive: ${info.files.toLocaleString("en-US")} files, ${gb(info.bytes)} in ${info.generationSeconds} s`);
  return { root, data, info, generated: true };
}

/** What writing a set of series produced. */
interface WriteStats {
  files: number;
  bytes: number;
  implicitVRFiles: number;
  byModality: Record<Modality, { files: number; bytes: number }>;
  /** Header size in bytes → number of files. */
  headerSizes: Record<string, number>;
}

const emptyStats = (): WriteStats => ({
  files: 0,
  bytes: 0,
  implicitVRFiles: 0,
  byModality: { CT: { files: 0, bytes: 0 }, MR: { files: 0, bytes: 0 }, CR: { files: 0, bytes: 0 } },
  headerSizes: {},
});

/** Writes every image of the given series (indices into plan.series). */
function writeSeries(plan: ArchivePlan, data: string, indices: readonly number[], progress: (images: number, bytes: number) => void): WriteStats {
  const stats = emptyStats();
  const dirs = new Set<string>();
  for (const index of indices) {
    const s = plan.series[index]!;
    const px = plan.headersOnly ? undefined : pixels(s.rows, s.columns);
    const pixelData = px ? [pixelDataHeader(s.transferSyntax, px.length), px] : [];
    for (let i = 0; i < s.count; i++) {
      const path = join(data, instancePath(s, i));
      const dir = dirname(path);
      if (!dirs.has(dir)) {
        mkdirSync(dir, { recursive: true });
        dirs.add(dir);
      }
      const header = instanceHeader(s, i);
      const n = writeAll(path, [header, ...pixelData]);
      stats.headerSizes[header.length] = (stats.headerSizes[header.length] ?? 0) + 1;
      stats.byModality[s.study.modality].files++;
      stats.byModality[s.study.modality].bytes += n;
      if (s.transferSyntax === "implicit-le") stats.implicitVRFiles++;
      stats.files++;
      stats.bytes += n;
      progress(stats.files, stats.bytes);
    }
  }
  return stats;
}

function mergeStats(into: WriteStats, from: WriteStats): void {
  into.files += from.files;
  into.bytes += from.bytes;
  into.implicitVRFiles += from.implicitVRFiles;
  for (const m of Object.keys(into.byModality) as Modality[]) {
    into.byModality[m].files += from.byModality[m].files;
    into.byModality[m].bytes += from.byModality[m].bytes;
  }
  for (const [size, n] of Object.entries(from.headerSizes)) into.headerSizes[size] = (into.headerSizes[size] ?? 0) + n;
}

/**
 * dcmjs encodes a header in several milliseconds, so the series are shared out to one process per core (at most
 * 8), balanced by their cost; each re-plans the archive from the same files and seed and writes its share.
 */
async function generate(plan: ArchivePlan, data: string, hash: string, log: (line: string) => void): Promise<ArchiveInfo> {
  const started = performance.now();
  const processes = Math.max(1, Math.min(availableParallelism(), 8, plan.series.length));
  const shares: number[][] = Array.from({ length: processes }, () => []);
  const load = new Array<number>(processes).fill(0);
  const cost = (s: SeriesPlan) => s.count * (8 + (s.rows * s.columns) / 100_000); // ms: header encoding + writing
  const bySize = [...plan.series].sort((a, b) => cost(b) - cost(a) || a.index - b.index);
  for (const s of bySize) {
    const k = load.indexOf(Math.min(...load));
    shares[k]!.push(s.index);
    load[k]! += cost(s);
  }
  const stats = emptyStats();
  if (processes === 1) {
    let last = performance.now();
    mergeStats(
      stats,
      writeSeries(plan, data, shares[0]!, (images, bytes) => {
        if (performance.now() - last < 5000) return;
        last = performance.now();
        log(
          `archive: ${images.toLocaleString("en-US")} of ${plan.dicomFiles.toLocaleString("en-US")} images, ${gb(bytes)}, ${Math.round((last - started) / 1000)} s`,
        );
      }),
    );
  } else {
    log(`archive: writing with ${processes} processes`);
    const self = fileURLToPath(import.meta.url);
    const results = await Promise.all(
      shares.map(
        (share, k) =>
          new Promise<WriteStats>((done, fail) => {
            const args = [
              ...process.execArgv,
              self,
              "--worker",
              "--files",
              String(plan.files),
              "--seed",
              String(plan.seed),
              ...(plan.headersOnly ? ["--headers-only"] : []),
              "--data",
              data,
              "--series",
              share.join(","),
            ];
            const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
            let out = "";
            child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
            child.on("error", fail);
            child.on("close", (code) => {
              if (code !== 0) return fail(new Error(`archive writer process ${k + 1} of ${processes} exited with ${code}`));
              try {
                done(JSON.parse(out) as WriteStats);
              } catch (error) {
                fail(new Error(`archive writer process ${k + 1}: unreadable result (${(error as Error).message})`));
              }
            });
          }),
      ),
    );
    for (const r of results) mergeStats(stats, r);
  }
  if (stats.files !== plan.dicomFiles) throw new Error(`internal: ${stats.files} images written, ${plan.dicomFiles} planned`);
  plan.junk.forEach((j, index) => {
    const path = join(data, j.path);
    mkdirSync(dirname(path), { recursive: true });
    stats.bytes += writeAll(path, [junkBytes(j, index)]);
  });
  const sizes = Object.entries(stats.headerSizes)
    .map(([size, n]) => [Number(size), n] as const)
    .sort((a, b) => a[0] - b[0]);
  let cumulative = 0;
  let median = 0;
  for (const [size, n] of sizes) {
    cumulative += n;
    if (cumulative >= plan.dicomFiles / 2) {
      median = size;
      break;
    }
  }
  return {
    hash,
    generator: GENERATOR_VERSION,
    files: plan.files,
    seed: plan.seed,
    headersOnly: plan.headersOnly,
    dicomFiles: plan.dicomFiles,
    junkFiles: plan.junk.length,
    bytes: stats.bytes,
    patients: plan.patients.length,
    studies: plan.studies.length,
    series: plan.series.length,
    byModality: stats.byModality,
    implicitVRFiles: stats.implicitVRFiles,
    headerBytes: { min: sizes[0]?.[0] ?? 0, median, max: sizes[sizes.length - 1]?.[0] ?? 0 },
    generatedAt: new Date().toISOString(),
    generationSeconds: Math.round((performance.now() - started) / 100) / 10,
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      files: { type: "string", default: String(DEFAULT_FILES) },
      seed: { type: "string", default: String(DEFAULT_SEED) },
      "headers-only": { type: "boolean", default: false },
      force: { type: "boolean", default: false },
      // Internal: one writer process of generate().
      worker: { type: "boolean", default: false },
      data: { type: "string" },
      series: { type: "string" },
    },
  });
  if (values.worker) {
    const plan = planArchive(Number(values.files), Number(values.seed), values["headers-only"]);
    const indices = (values.series ?? "").split(",").filter(Boolean).map(Number);
    const stats = writeSeries(plan, values.data!, indices, () => {});
    process.stdout.write(JSON.stringify(stats));
  } else {
    try {
      const archive = await ensureArchive({ files: Number(values.files), seed: Number(values.seed), headersOnly: values["headers-only"], force: values.force });
      process.stdout.write(`${JSON.stringify({ data: archive.data, generated: archive.generated, ...archive.info }, null, 2)}\n`);
    } catch (error) {
      process.stderr.write(`gen-archive: ${(error as Error).message}\n`);
      process.exitCode = 1;
    }
  }
}
