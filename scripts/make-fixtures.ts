// Writes fixtures/dicom/: small DICOM files covering every mapped tag, each transfer syntax and layout the
// converter reads, several character sets, a study without time zone, a conflict, a duplicate and broken
// files. Deterministic: the same script writes the same bytes (test/cli/build.test.ts checks the checked-in
// files against a fresh run). Run: npm run fixtures (then review and commit fixtures/, and regenerate
// fixtures/expected/ with: npm run fixtures -- --expected).
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { encoderFor } from "./lib/charsetEncoder.js";
import { type WriteOptions, writeDicom } from "./lib/dicomWriter.js";

/** A UUID-derived root (PS3.5 B.2), so fixture UIDs cannot collide with real ones. */
const ROOT = "2.25.93284755117702911744137342310154461";
const uid = (...parts: number[]) => `${ROOT}.${parts.join(".")}`;

const CT = "1.2.840.10008.5.1.4.1.1.2";
const MR = "1.2.840.10008.5.1.4.1.1.4";
const US = "1.2.840.10008.5.1.4.1.1.6.1";
const CR = "1.2.840.10008.5.1.4.1.1.1";
const BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11";
const ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1";
const SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7";
const MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10";

type DataSet = Record<string, unknown>;
interface Fixture {
  readonly path: string;
  readonly bytes: Buffer;
}

/** A small image: the converter never reads pixels, but real files have them after the header. */
function pixels(rows: number, columns: number): DataSet {
  const data = new Uint16Array(rows * columns).map((_, i) => (i * 37) % 4096);
  return {
    SamplesPerPixel: 1,
    PhotometricInterpretation: "MONOCHROME2",
    Rows: rows,
    Columns: columns,
    BitsAllocated: 16,
    BitsStored: 12,
    HighBit: 11,
    PixelRepresentation: 0,
    PixelData: [data.buffer],
    _vrMap: { PixelData: "OW" },
  };
}

const code = (CodeValue: string, CodingSchemeDesignator: string, CodeMeaning: string) => ({ CodeValue, CodingSchemeDesignator, CodeMeaning });

// ---- Patient 1: Jürgen Müller, two studies at HOSP-A. The folder names spell his name and ID, as real
// archives do: test/cli/cli.test.ts checks that neither reaches the console.
const mueller: DataSet = {
  SpecificCharacterSet: "ISO_IR 100",
  PatientName: "Müller^Jürgen^Karl^Dr.^",
  PatientID: "PAT-0001",
  IssuerOfPatientID: "HOSP-A",
  IssuerOfPatientIDQualifiersSequence: [{ UniversalEntityID: "1.2.276.0.7230010.3.0.1", UniversalEntityIDType: "ISO" }],
  PatientBirthDate: "19700102",
  PatientSex: "M",
};

const chestStudy: DataSet = {
  ...mueller,
  StudyInstanceUID: uid(1),
  StudyDate: "20240315",
  StudyTime: "101530.25",
  TimezoneOffsetFromUTC: "+0100",
  AccessionNumber: "ACC-1001",
  IssuerOfAccessionNumberSequence: [{ LocalNamespaceEntityID: "RIS-A", UniversalEntityID: "1.2.276.0.7230010.3.0.2", UniversalEntityIDType: "ISO" }],
  StudyID: "S1001",
  ReferringPhysicianName: "Smith^John^Q^Dr.^MD",
  NameOfPhysiciansReadingStudy: ["Reader^Rita", "Second^Sam^^Dr."],
  StudyDescription: "CT CHEST WITHOUT CONTRAST",
  ProcedureCodeSequence: [code("24627-2", "LN", "CT Chest"), code("RPID16", "RADLEX", "CT Chest wo IV Contrast")],
  RequestAttributesSequence: [
    {
      RequestedProcedureID: "RP-1",
      ReasonForTheRequestedProcedure: "Persistent cough",
      ReasonForRequestedProcedureCodeSequence: [code("49727002", "SCT", "Cough")],
    },
  ],
  InstitutionName: "General Hospital",
  InstitutionalDepartmentName: "Radiology",
  // Study Comments, retired from DICOM but mapped by R4 to ImagingStudy.note.
  _raw: { "00324000": { vr: "LT", Value: ["Compared with the prior study.\r\nNo change."] } },
  Modality: "CT",
  SOPClassUID: CT,
};

function chestSlice(series: 1 | 2, instance: number): DataSet {
  return {
    ...chestStudy,
    SeriesInstanceUID: uid(1, series),
    SeriesNumber: series,
    SeriesDescription: series === 1 ? "Axial 5 mm" : "Coronal MPR",
    SeriesDate: "20240315",
    SeriesTime: series === 1 ? "101600" : "102000.5",
    PerformingPhysicianName: "House^Gregory",
    OperatorsName: ["Tech^Tina", "Op^Oscar"],
    BodyPartExamined: "CHEST",
    SOPInstanceUID: uid(1, series, instance),
    InstanceNumber: instance,
    ...pixels(64, 64),
  };
}

const kneeStudy: DataSet = {
  ...mueller,
  StudyInstanceUID: uid(2),
  // No Timezone Offset From UTC: the zone rule (--timezone, else the system zone) decides; HHMM gets :00 seconds.
  StudyDate: "20240402",
  StudyTime: "0930",
  AccessionNumber: "ACC-1002",
  StudyDescription: "MR KNEE LEFT",
  _raw: { "00321030": { vr: "LO", Value: ["Knee pain after fall"] } }, // Reason for Study, retired but still written
  Modality: "MR",
  SOPClassUID: MR,
  SeriesInstanceUID: uid(2, 1),
  SeriesNumber: 1,
  SeriesDescription: "PD FS sag",
  SeriesDate: "20240402",
  SeriesTime: "093512",
  BodyPartExamined: "KNEE",
  Laterality: "L",
  InstitutionName: "General Hospital",
};

// ---- Other patients, one character set each (PS3.5 Annexes H-K and the pydicom charset files' names).
function singleImage(p: {
  n: number;
  charset: string;
  name: string | DataSet;
  patientId?: string;
  modality: string;
  sopClass: string;
  extra?: DataSet;
}): DataSet {
  return {
    SpecificCharacterSet: p.charset,
    PatientName: p.name,
    ...(p.patientId && { PatientID: p.patientId }),
    StudyInstanceUID: uid(p.n),
    StudyDate: "20230701",
    StudyTime: "080000",
    TimezoneOffsetFromUTC: "+0000",
    Modality: p.modality,
    SeriesInstanceUID: uid(p.n, 1),
    SeriesNumber: 1,
    SOPClassUID: p.sopClass,
    SOPInstanceUID: uid(p.n, 1, 1),
    InstanceNumber: 1,
    ...p.extra,
  };
}

const yamada = { Alphabetic: "Yamada^Tarou", Ideographic: "山田^太郎", Phonetic: "やまだ^たろう" };
const hong = { Alphabetic: "Hong^Gildong", Ideographic: "洪^吉洞", Phonetic: "홍^길동" };
const wang = { Alphabetic: "Wang^XiaoDong", Ideographic: "王^小东" };

function conflictImage(instance: number, overrides: DataSet = {}): DataSet {
  return {
    SpecificCharacterSet: "ISO_IR 192",
    PatientName: "Gómez^José",
    PatientID: "PAT-0100",
    PatientBirthDate: "19851224",
    PatientSex: "M",
    StudyInstanceUID: uid(20),
    StudyDate: "20240110",
    StudyTime: "140000",
    TimezoneOffsetFromUTC: "-0500",
    AccessionNumber: "ACC-2000",
    StudyDescription: "XR HAND",
    Modality: "CR",
    SeriesInstanceUID: uid(20, 1),
    SeriesNumber: 1,
    BodyPartExamined: "HAND",
    ImageLaterality: "R",
    SOPClassUID: CR,
    SOPInstanceUID: uid(20, 1, instance),
    InstanceNumber: instance,
    ...pixels(8, 8),
    ...overrides,
  };
}

export function fixtures(): Fixture[] {
  const files: Fixture[] = [];
  const add = (path: string, dataset: DataSet, options: WriteOptions = {}) => {
    const encodeText = dataset.SpecificCharacterSet ? encoderFor(dataset.SpecificCharacterSet as string) : undefined;
    files.push({ path, bytes: writeDicom(dataset, { encodeText, ...options }) });
  };
  const mr = "HOSP-A/Mueller Juergen PAT-0001";

  // Study 1: CT, series 1 explicit VR little endian, series 2 implicit VR little endian without file extensions.
  for (const i of [1, 2, 3]) add(`${mr}/CT 2024-03-15/axial/IM000${i}.dcm`, chestSlice(1, i));
  for (const i of [1, 2]) add(`${mr}/CT 2024-03-15/coronal/IM100${i}`, chestSlice(2, i), { transferSyntax: "implicit-le" });
  // The same slice again, cut inside its pixel data: the header is whole, so it is still an instance.
  const cut = writeDicom(chestSlice(1, 4), { encodeText: encoderFor("ISO_IR 100") });
  files.push({ path: `${mr}/CT 2024-03-15/axial/IM0004.dcm`, bytes: cut.subarray(0, cut.length - 3000) });

  // Study 2: MR, explicit VR big endian, no time zone in the files.
  for (const i of [1, 2]) {
    add(`${mr}/MR knee/${i}.dcm`, { ...kneeStudy, SOPInstanceUID: uid(2, 1, i), InstanceNumber: i, ...pixels(16, 16) }, { transferSyntax: "explicit-be" });
  }

  // Japanese (ISO 2022 IR 87), deflated; the study time has only an hour, which FHIR cannot say.
  add(
    "jp/yamada.dcm",
    singleImage({
      n: 10,
      charset: "\\ISO 2022 IR 87",
      name: yamada,
      patientId: "JP-0042",
      modality: "US",
      sopClass: US,
      extra: { StudyTime: "14", StudyDescription: "腹部超音波", ...pixels(8, 8) },
    }),
    { transferSyntax: "deflated" },
  );
  // Korean (ISO 2022 IR 149), a raw data set: no preamble, no file meta.
  add(
    "kr/hong",
    singleImage({
      n: 11,
      charset: "\\ISO 2022 IR 149",
      name: hong,
      patientId: "KR-7",
      modality: "CR",
      sopClass: CR,
      extra: { BodyPartExamined: "CHEST", ...pixels(8, 8) },
    }),
    { transferSyntax: "implicit-le", layout: "no-meta" },
  );
  // Chinese (GB18030): a report whose title is its Concept Name, and a PDF whose title is its Document Title.
  add(
    "cn/wang-report.dcm",
    singleImage({
      n: 12,
      charset: "GB18030",
      name: wang,
      patientId: "CN-1",
      modality: "SR",
      sopClass: BASIC_TEXT_SR,
      extra: { ConceptNameCodeSequence: [code("18782-3", "LN", "Radiology Study observation (narrative)")], ValueType: "CONTAINER" },
    }),
  );
  add(
    "cn/wang-letter.dcm",
    singleImage({
      n: 12,
      charset: "GB18030",
      name: wang,
      patientId: "CN-1",
      modality: "DOC",
      sopClass: ENCAPSULATED_PDF,
      extra: {
        SeriesInstanceUID: uid(12, 2),
        SeriesNumber: 2,
        SOPInstanceUID: uid(12, 2, 1),
        DocumentTitle: "转诊信",
        MIMETypeOfEncapsulatedDocument: "application/pdf",
      },
    }),
  );
  const singles: Array<[string, string, string, string]> = [
    ["charsets/russian.dcm", "ISO_IR 144", "Люкceмбypг", "MG"],
    ["charsets/greek.dcm", "ISO_IR 126", "Διονυσιος", "XA"],
    ["charsets/hebrew.dcm", "ISO_IR 138", "שרון^דבורה", "NM"],
    ["charsets/arabic.dcm", "ISO_IR 127", "قباني^لنزار", "PT"],
    ["charsets/latin9.dcm", "ISO_IR 203", "Œuvre^Élise", "OT"],
  ];
  for (const [i, [path, charset, name, modality]] of singles.entries()) {
    add(path, singleImage({ n: 13 + i, charset, name, patientId: `CS-${i + 1}`, modality, sopClass: SECONDARY_CAPTURE }));
  }

  // A study whose files disagree on Patient Name, Study Date and Accession Number, and a duplicate instance.
  add("conflict/a.dcm", conflictImage(1));
  add("conflict/b.dcm", conflictImage(2));
  add("conflict/c.dcm", conflictImage(3, { PatientName: "Gomez^Jose", StudyDate: "20240111", AccessionNumber: "ACC-2000B" }));
  add("conflict/copy of a.dcm", conflictImage(1));

  // No Patient ID: the study gets a patient of its own.
  add(
    "no-patient-id/img.dcm",
    singleImage({
      n: 30,
      charset: "ISO_IR 100",
      name: "Unknown^Patient",
      modality: "OT",
      sopClass: SECONDARY_CAPTURE,
      extra: { PatientSex: "O", BodyPartExamined: "SKULL" },
    }),
  );
  // Gzipped, read transparently.
  add("gz/head.dcm.gz", singleImage({ n: 31, charset: "", name: "Gz^Gary", patientId: "GZ-1", modality: "CT", sopClass: CT, extra: pixels(8, 8) }), {
    gzip: true,
  });

  // Files that are not instances, each with its reason code.
  files.push({ path: "bad/notes.txt", bytes: Buffer.from("Scanned on the old PACS; see ticket 4711.\n") });
  files.push({ path: "bad/empty.dcm", bytes: Buffer.alloc(0) });
  const truncated = writeDicom(singleImage({ n: 40, charset: "", name: "Cut^Carl", patientId: "X-1", modality: "CT", sopClass: CT }));
  files.push({ path: "bad/truncated.dcm", bytes: truncated.subarray(0, 300) });
  add("bad/no-study-uid.dcm", {
    ...singleImage({ n: 41, charset: "", name: "No^Study", patientId: "X-2", modality: "CT", sopClass: CT }),
    StudyInstanceUID: undefined,
  });
  add("bad/long-uid.dcm", {
    ...singleImage({ n: 42, charset: "", name: "Long^Uid", patientId: "X-3", modality: "CT", sopClass: CT }),
    SOPInstanceUID: undefined,
    _raw: { "00080018": { vr: "UI", Value: [`${ROOT}.${"9".repeat(160)}`] } },
  });
  add(
    "bad/invalid-date.dcm",
    singleImage({ n: 43, charset: "", name: "Bad^Date", patientId: "X-4", modality: "CT", sopClass: CT, extra: { StudyDate: "20241341" } }),
  );
  add(
    "bad/DICOMDIR",
    { FileSetID: "FIXTURES", DirectoryRecordSequence: [{ DirectoryRecordType: "PATIENT", PatientID: "X-5", PatientName: "Dir^Dora" }] },
    { mediaStorage: { sopClassUID: MEDIA_STORAGE_DIRECTORY, sopInstanceUID: uid(44) } },
  );
  return files;
}

export const FIXTURES_DIR = fileURLToPath(new URL("../fixtures/dicom/", import.meta.url));

/** The options the expected output was made with; the same as `npm start`'s. */
export const EXPECTED_OPTIONS = {
  inputs: ["fixtures/dicom"],
  timezone: "Europe/Zurich",
  endpoint: "http://127.0.0.1:8042/dicom-web",
  format: "bundle",
} as const;
export const EXPECTED_DIR = fileURLToPath(new URL("../fixtures/expected/", import.meta.url));

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const repo = fileURLToPath(new URL("..", import.meta.url));
  if (process.argv.includes("--expected")) {
    // The converter's own output, reviewed by a person before it is committed; elapsed time zeroed.
    process.chdir(repo);
    const { convert } = await import("../src/convert.js");
    const { SEARCH_INDEX_FILE } = await import("../src/core/outputFiles.js");
    rmSync(EXPECTED_DIR, { recursive: true, force: true });
    // No report.html: the expected outputs are compared byte for byte, and the page holds the run's peak memory.
    const { report } = await convert({ ...EXPECTED_OPTIONS, out: EXPECTED_DIR, workers: 1, htmlReport: false });
    writeFileSync(join(EXPECTED_DIR, "report.json"), `${JSON.stringify({ ...report, elapsedSeconds: 0 }, null, 2)}\n`);
    // The search index is derived from the NDJSON pinned here: it is checked by its own tests, not pinned.
    rmSync(join(EXPECTED_DIR, SEARCH_INDEX_FILE), { force: true });
    console.log(`expected output -> fixtures/expected/ (${report.files.seen} files, ${report.studies} studies)`);
  } else {
    rmSync(FIXTURES_DIR, { recursive: true, force: true });
    for (const f of fixtures()) {
      const path = join(FIXTURES_DIR, f.path);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, f.bytes);
    }
    console.log(`${fixtures().length} files -> fixtures/dicom/`);
  }
}
