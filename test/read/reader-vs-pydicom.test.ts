// An independent cross-check of DicomFileReader against pydicom on a corpus of real DICOM files.
//
// test/corpus/pydicom-reference.json holds what pydicom 2.3.1 decodes for every file of ../shared/corpus
// (made by scripts/corpus-reference.py; CI needs no Python). For every file pydicom reads as an instance,
// our record must agree with it on every attribute our record holds, after the conversions that differ
// by design (dates YYYY-MM-DD, times split into parts, person names as component objects, values trimmed,
// empty values absent, invalid DA/TM/IS/offset values dropped with a warning). Every file pydicom skips
// must fail in our reader, and no file may be an instance for us that pydicom does not list.
//
// The conversions below are written from PS3.5 6.2 again rather than imported from src/dicom/values.ts:
// the point is a second opinion. Where we and pydicom disagree on purpose, the disagreement is written down
// in EXPECTED_DIFFERENCES with its reason, and checked to be exactly that disagreement.

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { type ParsedInstance, isParsedInstance } from "../../src/dicom/instance.js";
import { DicomFileReader } from "../../src/read/readFile.js";
import { describeWith } from "../helpers/resources.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const corpusRoot = resolve(repoRoot, "../shared/corpus");
const referencePath = join(repoRoot, "test", "corpus", "pydicom-reference.json");

// ---- the reference, as scripts/corpus-reference.py writes it ---------------------------------------------

interface PyError {
  readonly pydicomError: string;
  readonly raw?: string;
}
/** null: absent; "": present and empty; a list: VM > 1. */
type PyString = string | readonly string[] | null | PyError;
type PyInteger = number | "" | ReadonlyArray<number | ""> | null | PyError;
interface PyNameGroup {
  readonly family: string;
  readonly given: string;
  readonly middle: string;
  readonly prefix: string;
  readonly suffix: string;
}
interface PyPersonName {
  readonly value: string;
  readonly alphabetic?: PyNameGroup;
  readonly ideographic?: PyNameGroup;
  readonly phonetic?: PyNameGroup;
}
type PyPersonNames = readonly PyPersonName[] | "" | null | PyError;
interface PyCodeItem {
  readonly CodeValue: PyString;
  readonly CodingSchemeDesignator: PyString;
  readonly CodeMeaning: PyString;
}
type PyCodes = readonly PyCodeItem[] | null | PyError;

interface PyFile {
  readonly StudyInstanceUID: PyString;
  readonly SeriesInstanceUID: PyString;
  readonly SOPInstanceUID: PyString;
  readonly SOPClassUID: PyString;
  readonly PatientID: PyString;
  readonly IssuerOfPatientID: PyString;
  readonly PatientName: PyPersonNames;
  readonly PatientBirthDate: PyString;
  readonly PatientSex: PyString;
  readonly StudyDate: PyString;
  readonly StudyTime: PyString;
  readonly SeriesDate: PyString;
  readonly SeriesTime: PyString;
  readonly TimezoneOffsetFromUTC: PyString;
  readonly AccessionNumber: PyString;
  readonly StudyID: PyString;
  readonly ReferringPhysicianName: PyPersonNames;
  readonly StudyDescription: PyString;
  readonly SeriesDescription: PyString;
  readonly Modality: PyString;
  readonly SeriesNumber: PyInteger;
  readonly InstanceNumber: PyInteger;
  readonly InstitutionName: PyString;
  readonly InstitutionalDepartmentName: PyString;
  readonly BodyPartExamined: PyString;
  readonly Laterality: PyString;
  readonly ImageLaterality: PyString;
  readonly PerformingPhysicianName: PyPersonNames;
  readonly OperatorsName: PyPersonNames;
  readonly ProcedureCodeSequence: PyCodes;
  readonly ConceptNameCodeSequence: PyCodes;
  readonly DocumentTitle: PyString;
}

interface Reference {
  readonly header: { readonly pydicom: string; readonly command: string; readonly fileCount: number; readonly skippedCount: number };
  readonly files: Readonly<Record<string, PyFile>>;
  readonly skipped: Readonly<Record<string, { readonly missing?: readonly string[]; readonly pydicomError: string | null }>>;
}

const reference = JSON.parse(readFileSync(referencePath, "utf8")) as Reference;

// ---- pydicom's values in our representation (PS3.5 6.2) --------------------------------------------------

/** What an attribute should be in our record, and the warning our reader must add when it drops the value. */
interface Expectation {
  readonly value: unknown;
  readonly warning?: string;
}

const isError = (v: unknown): v is PyError => typeof v === "object" && v !== null && "pydicomError" in v;

function pydicomFailed(what: string, v: PyError): never {
  throw new Error(`pydicom could not decode ${what} (${v.pydicomError}); add an entry to EXPECTED_DIFFERENCES if that is right`);
}

/** Our values are trimmed of space, NUL and the control white space around them (PS3.5 6.2: padding). */
const trim = (s: string) => s.replace(/^[\0 \t\r\n]+|[\0 \t\r\n]+$/g, "");

/** A string value as our record keeps it: values joined by `\`, trimmed; empty means absent. */
function str(v: PyString, what: string): string | undefined {
  if (v === null) return undefined;
  if (isError(v)) pydicomFailed(what, v);
  const joined = typeof v === "string" ? v : v.join("\\");
  return trim(joined) || undefined;
}

/** DA: YYYYMMDD, or the ACR-NEMA YYYY.MM.DD that PS3.5 6.2 recommends still accepting; a real calendar day. */
function date(v: PyString, what: string, warning: string): Expectation {
  const s = str(v, what);
  if (s === undefined) return { value: undefined };
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(s) ?? /^(\d{4})\.(\d{2})\.(\d{2})$/.exec(s);
  if (m) {
    const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const real = new Date(Date.UTC(2000, mo - 1, d));
    real.setUTCFullYear(y);
    if (y >= 1 && real.getUTCFullYear() === y && real.getUTCMonth() === mo - 1 && real.getUTCDate() === d) {
      return { value: `${m[1]}-${m[2]}-${m[3]}` };
    }
  }
  return { value: undefined, warning };
}

/** TM: HH[MM[SS[.F{1,6}]]], or the ACR-NEMA HH:MM[:SS[.F]] that PS3.5 6.2 recommends still accepting. */
function time(v: PyString, what: string, warning: string): Expectation {
  const s = str(v, what);
  if (s === undefined) return { value: undefined };
  const m = /^(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?$/.exec(s) ?? /^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$/.exec(s);
  // Seconds may be 60: PS3.5 allows a leap second.
  if (!m || Number(m[1]) > 23 || Number(m[2] ?? 0) > 59 || Number(m[3] ?? 0) > 60) return { value: undefined, warning };
  const [, hour, minute, second, fraction] = m;
  return { value: { hour, ...(minute && { minute }), ...(second && { second }), ...(fraction && { fraction }) } };
}

/** Timezone Offset From UTC: &HHMM (PS3.3 C.12.1.1.8), kept as ±HH:MM within FHIR's range -12:00..+14:00. */
function offset(v: PyString): Expectation {
  const s = str(v, "TimezoneOffsetFromUTC");
  if (s === undefined) return { value: undefined };
  const m = /^([+-])(\d{2})(\d{2})$/.exec(s);
  const minutes = m ? Number(m[2]) * 60 + Number(m[3]) : NaN;
  if (!m || Number(m[3]) > 59 || minutes > (m[1] === "+" ? 14 * 60 : 12 * 60)) return { value: undefined, warning: "invalid-timezone-offset" };
  return { value: `${m[1]}${m[2]}:${m[3]}` };
}

/** IS as FHIR unsignedInt, which is what series and instance numbers are in ImagingStudy. */
function unsignedInt(v: PyInteger, what: string, warning: string): Expectation {
  if (v === null || v === "") return { value: undefined };
  if (isError(v)) pydicomFailed(what, v);
  if (typeof v !== "number") return { value: undefined, warning }; // VM > 1 is not a number
  return Number.isInteger(v) && v >= 0 && v <= 2147483647 ? { value: v } : { value: undefined, warning };
}

type NameGroup = Partial<Record<keyof PyNameGroup, string>>;
type Name = Partial<Record<"alphabetic" | "ideographic" | "phonetic", NameGroup>>;

function nameGroup(g: PyNameGroup | undefined): NameGroup | undefined {
  if (!g) return undefined;
  const out: NameGroup = {};
  for (const key of ["family", "given", "middle", "prefix", "suffix"] as const) {
    const part = trim(g[key]);
    if (part) out[key] = part;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Every non-empty PN value, each group's components trimmed and empty ones left out. */
function names(v: PyPersonNames, what: string): Name[] {
  if (v === null || v === "") return [];
  if (isError(v)) pydicomFailed(what, v);
  return v.flatMap((pn) => {
    const out: Name = {};
    for (const group of ["alphabetic", "ideographic", "phonetic"] as const) {
      const g = nameGroup(pn[group]);
      if (g) out[group] = g;
    }
    return Object.keys(out).length > 0 ? [out] : [];
  });
}

function codes(v: PyCodes, what: string): Array<{ code?: string; scheme?: string; meaning?: string }> {
  if (v === null) return [];
  if (isError(v)) pydicomFailed(what, v);
  return v.flatMap((item, i) => {
    const entry = {
      code: str(item.CodeValue, `${what}[${i}].CodeValue`),
      scheme: str(item.CodingSchemeDesignator, `${what}[${i}].CodingSchemeDesignator`),
      meaning: str(item.CodeMeaning, `${what}[${i}].CodeMeaning`),
    };
    return entry.code || entry.meaning ? [dropUndefined(entry)] : [];
  });
}

function dropUndefined<O extends object>(o: O): O {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as O;
}

const plain = (value: unknown): Expectation => ({ value });
const emptyToUndefined = <T>(list: T[]) => (list.length > 0 ? list : undefined);

/**
 * The attributes compared: what pydicom says, converted, against the member of our record that holds it.
 * Keys name our record's member; the comment on each says which DICOM attribute it comes from.
 */
const ATTRIBUTES: ReadonlyArray<{
  readonly name: string;
  readonly pydicom: (p: PyFile) => unknown;
  readonly expected: (p: PyFile) => Expectation;
  readonly ours: (r: ParsedInstance) => unknown;
}> = [
  {
    name: "studyInstanceUID",
    pydicom: (p) => p.StudyInstanceUID,
    expected: (p) => plain(str(p.StudyInstanceUID, "StudyInstanceUID")),
    ours: (r) => r.studyInstanceUID,
  },
  {
    name: "seriesInstanceUID",
    pydicom: (p) => p.SeriesInstanceUID,
    expected: (p) => plain(str(p.SeriesInstanceUID, "SeriesInstanceUID")),
    ours: (r) => r.seriesInstanceUID,
  },
  // SOPInstanceUID / SOPClassUID, or their Media Storage counterparts in the file meta: the script applies the fallback.
  { name: "sopInstanceUID", pydicom: (p) => p.SOPInstanceUID, expected: (p) => plain(str(p.SOPInstanceUID, "SOPInstanceUID")), ours: (r) => r.sopInstanceUID },
  { name: "sopClassUID", pydicom: (p) => p.SOPClassUID, expected: (p) => plain(str(p.SOPClassUID, "SOPClassUID")), ours: (r) => r.sopClassUID },
  { name: "study.patientId", pydicom: (p) => p.PatientID, expected: (p) => plain(str(p.PatientID, "PatientID")), ours: (r) => r.study.patientId },
  {
    name: "study.issuerOfPatientId",
    pydicom: (p) => p.IssuerOfPatientID,
    expected: (p) => plain(str(p.IssuerOfPatientID, "IssuerOfPatientID")),
    ours: (r) => r.study.issuerOfPatientId,
  },
  // The first non-empty value: Patient Name is VM 1, a second value is an encoding error.
  {
    name: "study.patientName",
    pydicom: (p) => p.PatientName,
    expected: (p) => plain(names(p.PatientName, "PatientName")[0]),
    ours: (r) => r.study.patientName,
  },
  {
    name: "study.patientBirthDate",
    pydicom: (p) => p.PatientBirthDate,
    expected: (p) => date(p.PatientBirthDate, "PatientBirthDate", "invalid-birth-date"),
    ours: (r) => r.study.patientBirthDate,
  },
  { name: "study.patientSex", pydicom: (p) => p.PatientSex, expected: (p) => plain(str(p.PatientSex, "PatientSex")), ours: (r) => r.study.patientSex },
  { name: "study.date", pydicom: (p) => p.StudyDate, expected: (p) => date(p.StudyDate, "StudyDate", "invalid-study-date"), ours: (r) => r.study.date },
  { name: "study.time", pydicom: (p) => p.StudyTime, expected: (p) => time(p.StudyTime, "StudyTime", "invalid-study-time"), ours: (r) => r.study.time },
  {
    name: "study.timezoneOffset",
    pydicom: (p) => p.TimezoneOffsetFromUTC,
    expected: (p) => offset(p.TimezoneOffsetFromUTC),
    ours: (r) => r.study.timezoneOffset,
  },
  {
    name: "study.accessionNumber",
    pydicom: (p) => p.AccessionNumber,
    expected: (p) => plain(str(p.AccessionNumber, "AccessionNumber")),
    ours: (r) => r.study.accessionNumber,
  },
  { name: "study.studyId", pydicom: (p) => p.StudyID, expected: (p) => plain(str(p.StudyID, "StudyID")), ours: (r) => r.study.studyId },
  {
    name: "study.referringPhysician",
    pydicom: (p) => p.ReferringPhysicianName,
    expected: (p) => plain(names(p.ReferringPhysicianName, "ReferringPhysicianName")[0]),
    ours: (r) => r.study.referringPhysician,
  },
  {
    name: "study.description",
    pydicom: (p) => p.StudyDescription,
    expected: (p) => plain(str(p.StudyDescription, "StudyDescription")),
    ours: (r) => r.study.description,
  },
  {
    name: "study.procedureCodes",
    pydicom: (p) => p.ProcedureCodeSequence,
    expected: (p) => plain(emptyToUndefined(codes(p.ProcedureCodeSequence, "ProcedureCodeSequence"))),
    ours: (r) => r.study.procedureCodes?.map(({ code, scheme, meaning }) => dropUndefined({ code, scheme, meaning })),
  },
  {
    name: "study.institutionName",
    pydicom: (p) => p.InstitutionName,
    expected: (p) => plain(str(p.InstitutionName, "InstitutionName")),
    ours: (r) => r.study.institutionName,
  },
  {
    name: "study.departmentName",
    pydicom: (p) => p.InstitutionalDepartmentName,
    expected: (p) => plain(str(p.InstitutionalDepartmentName, "InstitutionalDepartmentName")),
    ours: (r) => r.study.departmentName,
  },
  {
    name: "series.number",
    pydicom: (p) => p.SeriesNumber,
    expected: (p) => unsignedInt(p.SeriesNumber, "SeriesNumber", "invalid-series-number"),
    ours: (r) => r.series.number,
  },
  { name: "series.modality", pydicom: (p) => p.Modality, expected: (p) => plain(str(p.Modality, "Modality")), ours: (r) => r.series.modality },
  {
    name: "series.description",
    pydicom: (p) => p.SeriesDescription,
    expected: (p) => plain(str(p.SeriesDescription, "SeriesDescription")),
    ours: (r) => r.series.description,
  },
  { name: "series.date", pydicom: (p) => p.SeriesDate, expected: (p) => date(p.SeriesDate, "SeriesDate", "invalid-series-date"), ours: (r) => r.series.date },
  { name: "series.time", pydicom: (p) => p.SeriesTime, expected: (p) => time(p.SeriesTime, "SeriesTime", "invalid-series-time"), ours: (r) => r.series.time },
  {
    name: "series.timezoneOffset",
    pydicom: (p) => p.TimezoneOffsetFromUTC,
    expected: (p) => offset(p.TimezoneOffsetFromUTC),
    ours: (r) => r.series.timezoneOffset,
  },
  {
    name: "series.performingPhysicians",
    pydicom: (p) => p.PerformingPhysicianName,
    expected: (p) => plain(emptyToUndefined(names(p.PerformingPhysicianName, "PerformingPhysicianName"))),
    ours: (r) => r.series.performingPhysicians,
  },
  {
    name: "series.operators",
    pydicom: (p) => p.OperatorsName,
    expected: (p) => plain(emptyToUndefined(names(p.OperatorsName, "OperatorsName"))),
    ours: (r) => r.series.operators,
  },
  {
    name: "series.institutionName",
    pydicom: (p) => p.InstitutionName,
    expected: (p) => plain(str(p.InstitutionName, "InstitutionName")),
    ours: (r) => r.series.institutionName,
  },
  {
    name: "series.bodyPartExamined",
    pydicom: (p) => p.BodyPartExamined,
    expected: (p) => plain(str(p.BodyPartExamined, "BodyPartExamined")),
    ours: (r) => r.series.bodyPartExamined,
  },
  // Laterality (0020,0060) of the series, else Image Laterality (0020,0062) of the image.
  {
    name: "series.laterality",
    pydicom: (p) => ({ Laterality: p.Laterality, ImageLaterality: p.ImageLaterality }),
    expected: (p) => plain(str(p.Laterality, "Laterality") ?? str(p.ImageLaterality, "ImageLaterality")),
    ours: (r) => r.series.laterality,
  },
  {
    name: "instanceNumber",
    pydicom: (p) => p.InstanceNumber,
    expected: (p) => unsignedInt(p.InstanceNumber, "InstanceNumber", "invalid-instance-number"),
    ours: (r) => r.instanceNumber,
  },
  // Concept Name Code Sequence (VM 1: its first coded item) Code Meaning, else Document Title.
  {
    name: "title",
    pydicom: (p) => ({ ConceptNameCodeSequence: p.ConceptNameCodeSequence, DocumentTitle: p.DocumentTitle }),
    expected: (p) => plain(codes(p.ConceptNameCodeSequence, "ConceptNameCodeSequence")[0]?.meaning ?? str(p.DocumentTitle, "DocumentTitle")),
    ours: (r) => r.title,
  },
];

/** The warnings our reader adds when it drops one of the values compared here. */
const VALUE_WARNINGS: ReadonlySet<string> = new Set([
  "invalid-birth-date",
  "invalid-study-date",
  "invalid-study-time",
  "invalid-series-date",
  "invalid-series-time",
  "invalid-timezone-offset",
  "invalid-series-number",
  "invalid-instance-number",
]);

// ---- disagreements that are right ------------------------------------------------------------------------

/**
 * Where our record and pydicom differ on purpose or through a pydicom quirk: the exact values on both sides,
 * and why. Each entry is checked to still describe what happens; one that no longer does fails the test.
 * Empty since the first run (pydicom 2.3.1): on every file and attribute of the corpus the two readers agree.
 */
const EXPECTED_DIFFERENCES: ReadonlyArray<{
  readonly file: string;
  readonly attribute: string;
  /** The attribute's value(s) in the reference, as pydicom decoded them. */
  readonly pydicom: unknown;
  /** Our record's value. */
  readonly ours: unknown;
  readonly verdict: "pydicom quirk" | "by design";
  readonly reason: string;
}> = [];

// ---- the corpus ------------------------------------------------------------------------------------------

function corpusFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      const stat = statSync(path);
      if (stat.isDirectory()) return corpusFiles(path);
      return stat.isFile() ? [relative(corpusRoot, path).split(sep).join("/")] : [];
    });
}

const reader = new DicomFileReader();
const readCorpusFile = (key: string) => reader.read(join(corpusRoot, ...key.split("/"))).result;

const corpusPresent = existsSync(corpusRoot);
const title = `DicomFileReader agrees with pydicom ${reference.header.pydicom} on the real files in ../shared/corpus`;

describeWith(corpusPresent ? undefined : `the corpus ../shared/corpus is absent (${corpusRoot})`, title, () => {
  const referenced = Object.keys(reference.files);

  it("the reference covers exactly the files of the corpus (re-run scripts/corpus-reference.py if not)", () => {
    expect(referenced.length).toBe(reference.header.fileCount);
    expect(Object.keys(reference.skipped).length).toBe(reference.header.skippedCount);
    expect(referenced.length).toBeGreaterThan(100);
    expect([...referenced, ...Object.keys(reference.skipped)].sort()).toEqual(corpusFiles(corpusRoot).sort());
  });

  it.each(referenced)("%s: same attributes as pydicom", (key) => {
    const result = readCorpusFile(key);
    if (!isParsedInstance(result)) throw new Error(`pydicom reads an instance, we fail with ${result.reason}: ${result.message}`);
    const py = reference.files[key]!;
    const disagreements: string[] = [];
    for (const attribute of ATTRIBUTES) {
      const ours = attribute.ours(result);
      const documented = EXPECTED_DIFFERENCES.find((d) => d.file === key && d.attribute === attribute.name);
      if (documented) {
        // The documented difference, exactly: pydicom still says what it said, and so do we.
        expect(attribute.pydicom(py), `${attribute.name}: pydicom's value in EXPECTED_DIFFERENCES`).toEqual(documented.pydicom);
        expect(ours, `${attribute.name}: our value in EXPECTED_DIFFERENCES`).toEqual(documented.ours);
        continue;
      }
      const expected = attribute.expected(py);
      if (!equal(ours, expected.value)) {
        disagreements.push(
          `${attribute.name}: ours ${JSON.stringify(ours)}, pydicom ${JSON.stringify(attribute.pydicom(py))} (expected ${JSON.stringify(expected.value)})`,
        );
      }
      if (expected.warning !== undefined && !result.warnings.includes(expected.warning)) {
        disagreements.push(
          `${attribute.name}: pydicom's value is invalid and was dropped, but there is no warning ${expected.warning} (warnings: ${result.warnings.join(", ")})`,
        );
      }
    }
    // And no value dropped as invalid that pydicom's value does not make invalid.
    const expectedWarnings = ATTRIBUTES.flatMap((a) => {
      const documented = EXPECTED_DIFFERENCES.some((d) => d.file === key && d.attribute === a.name);
      return documented ? [] : (a.expected(py).warning ?? []);
    });
    const ourWarnings = result.warnings.filter((w) => VALUE_WARNINGS.has(w));
    expect(disagreements).toEqual([]);
    expect([...new Set(ourWarnings)].sort(), "our invalid-value warnings").toEqual([...new Set(expectedWarnings)].sort());
  });

  it.each(Object.keys(reference.skipped))("%s: pydicom skips it, and it is no instance for us either", (key) => {
    const result = readCorpusFile(key);
    expect(isParsedInstance(result), isParsedInstance(result) ? `an instance for us: ${result.sopInstanceUID}` : "").toBe(false);
  });

  it("no file is an instance for us that pydicom does not read as one", () => {
    const extra = corpusFiles(corpusRoot).filter((key) => !(key in reference.files) && isParsedInstance(readCorpusFile(key)));
    expect(extra).toEqual([]);
  });

  it("every expected difference names a file and an attribute that are compared", () => {
    for (const d of EXPECTED_DIFFERENCES) {
      expect(reference.files[d.file], d.file).toBeDefined();
      expect(ATTRIBUTES.map((a) => a.name)).toContain(d.attribute);
      expect(d.reason.length).toBeGreaterThan(20);
    }
  });
});

/** Deep equality where an absent member and an undefined one are the same (our record omits absent members). */
function equal(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, x]) => [k, canonical(x)]),
    );
  }
  return v;
}
