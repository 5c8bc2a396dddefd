import type { FileFailure, FilePath } from "../core/reasons.js";
import type { HeaderRead, InstanceCore } from "../core/record.js";
import type { ByteSource } from "./byteSource.js";
import type { ParsedHeader, Values } from "./header.js";
import { INSTANCE_SPEC, KEY_TAGS } from "./instanceSpec.js";
import { parseHeader } from "./parser.js";
import * as T from "./tags.js";
import { type TextDecoderFn, type TextKind, textDecoderFor } from "./charset.js";
import {
  type PersonName,
  type TimeOfDay,
  parseDate,
  parsePersonName,
  parseTime,
  parseTimezoneOffset,
  parseUID,
  parseUnsignedInt,
  splitValues,
} from "./values.js";

/** A coded entry of a Code Sequence macro (PS3.3 8.8). */
export interface CodedEntry {
  readonly code?: string;
  readonly scheme?: string;
  readonly schemeVersion?: string;
  readonly meaning?: string;
}

/** Issuer of Accession Number / Issuer of Patient ID qualifiers: the HL7 v2 HD triplet (PS3.3 10.5). */
export interface EntityIssuer {
  readonly localId?: string;
  readonly universalId?: string;
  readonly universalIdType?: string;
}

/** Attributes every instance of a study should agree on, the patient's among them. */
export interface StudyAttributes {
  readonly patientId?: string;
  readonly issuerOfPatientId?: string;
  readonly issuerOfPatientIdQualifiers?: EntityIssuer;
  readonly patientName?: PersonName;
  readonly patientBirthDate?: string;
  readonly patientSex?: string;
  readonly date?: string;
  readonly time?: TimeOfDay;
  readonly timezoneOffset?: string;
  readonly accessionNumber?: string;
  readonly accessionIssuer?: EntityIssuer;
  readonly studyId?: string;
  readonly referringPhysician?: PersonName;
  readonly readingPhysicians?: readonly PersonName[];
  readonly description?: string;
  readonly procedureCodes?: readonly CodedEntry[];
  readonly reasonCodes?: readonly CodedEntry[];
  readonly reasonTexts?: readonly string[];
  readonly institutionName?: string;
  readonly departmentName?: string;
  /** Study Comments (0032,4000): retired from DICOM, still in the R4 mapping (ImagingStudy.note). */
  readonly comments?: string;
}

/** Attributes every instance of a series should agree on. */
export interface SeriesAttributes {
  readonly number?: number;
  readonly modality?: string;
  readonly description?: string;
  readonly date?: string;
  readonly time?: TimeOfDay;
  readonly timezoneOffset?: string;
  readonly performingPhysicians?: readonly PersonName[];
  readonly operators?: readonly PersonName[];
  readonly institutionName?: string;
  readonly bodyPartExamined?: string;
  readonly laterality?: string;
}

/** What the parser makes of one file: an instance, and the study and series attributes it carries. */
export interface ParsedInstance extends InstanceCore {
  readonly study: StudyAttributes;
  readonly series: SeriesAttributes;
  /** The attributes as JSON: grouping keys variants by this text, so equal attributes must give equal text. */
  readonly studyJSON: string;
  readonly seriesJSON: string;
}

/** The UIDs without which a file cannot be an ImagingStudy instance, in the order their absence is reported. */
const REQUIRED_UIDS = [
  { name: "Study Instance UID (0020,000D)", tag: T.StudyInstanceUID, metaTag: undefined, reason: "missing-study-uid" },
  { name: "Series Instance UID (0020,000E)", tag: T.SeriesInstanceUID, metaTag: undefined, reason: "missing-series-uid" },
  { name: "SOP Instance UID (0008,0018)", tag: T.SOPInstanceUID, metaTag: T.MediaStorageSOPInstanceUID, reason: "missing-sop-instance-uid" },
  { name: "SOP Class UID (0008,0016)", tag: T.SOPClassUID, metaTag: T.MediaStorageSOPClassUID, reason: "missing-sop-class" },
] as const;

/**
 * Reads one instance from a stream that can be opened more than once. The instances of a series carry the same
 * study and series attributes byte for byte: a first pass collects those elements as raw keys without decoding
 * them, and only for keys not seen before does a second, full pass decode, parse and serialize them. That
 * saves most of a reader's work; the result is the same as `toParsedInstance` on a full parse.
 */
export function readInstance(path: FilePath, open: () => ByteSource, firstWindowBytes: number): ParsedInstance | FileFailure {
  const quick = parseHeader(open(), INSTANCE_SPEC, { firstWindowBytes, keyTags: KEY_TAGS });
  const required = requiredUIDs(path, quick);
  if ("reason" in required) return required;
  const text = new TextReader(ascii(quick.dataSet, T.SpecificCharacterSet) ?? "");
  const [studyRaw, seriesRaw] = quick.keys;
  const study = studyCache.find(text.charset, studyRaw);
  const series = seriesCache.find(text.charset, seriesRaw);
  if (study && series) return assemble(path, quick, text, required, study, series);

  const full = parseHeader(open(), INSTANCE_SPEC, { firstWindowBytes });
  const fullRequired = requiredUIDs(path, full);
  if ("reason" in fullRequired) return fullRequired;
  const builtStudy = study ?? studyCache.remember(text.charset, studyRaw, studyAttributes(full.dataSet, text));
  const builtSeries = series ?? seriesCache.remember(text.charset, seriesRaw, seriesAttributes(full.dataSet, text));
  return assemble(path, full, text, fullRequired, builtStudy, builtSeries);
}

/** Turns a complete parsed header into an instance record, or says why the file is not one. */
export function toParsedInstance(path: FilePath, header: ParsedHeader): ParsedInstance | FileFailure {
  const required = requiredUIDs(path, header);
  if ("reason" in required) return required;
  const text = new TextReader(ascii(header.dataSet, T.SpecificCharacterSet) ?? "");
  return assemble(path, header, text, required, studyAttributes(header.dataSet, text), seriesAttributes(header.dataSet, text));
}

/** The UIDs an instance needs, or why the file is not an instance. */
function requiredUIDs(path: FilePath, header: ParsedHeader): [string, string, string, string] | FileFailure {
  const { dataSet: ds, meta } = header;
  const stopped = header.stoppedEarly;
  if (stopped?.reason === "not-dicom") return { path, reason: "not-dicom", message: stopped.message };
  if (header.isMediaDirectory || ascii(meta, T.MediaStorageSOPClassUID) === T.MediaStorageDirectoryStorage) {
    return { path, reason: "dicomdir", message: "Directory Information (group 0004) found: a DICOMDIR indexes instances, it is not one" };
  }
  if (ds.size === 0 && stopped) return { path, reason: stopped.reason, message: stopped.message };
  const uids: string[] = [];
  const missing: Array<(typeof REQUIRED_UIDS)[number]> = [];
  for (const required of REQUIRED_UIDS) {
    const value = ascii(ds, required.tag) ?? (required.metaTag !== undefined ? ascii(meta, required.metaTag) : undefined);
    if (value === undefined) missing.push(required);
    else uids.push(value);
  }
  if (missing.length > 0) {
    const names = missing.map((m) => m.name).join(", ");
    // A header cut short explains a missing attribute better than its absence does.
    if (stopped) return { path, reason: stopped.reason, message: `${stopped.message}; before that, no ${names}` };
    return { path, reason: missing[0]!.reason, message: `no ${names} in the header` };
  }
  for (const [i, value] of uids.entries()) {
    if (parseUID(value) === undefined) {
      const name = REQUIRED_UIDS[i]!.name;
      return {
        path,
        reason: "invalid-value",
        message: `${name} is not a UID (digits and dots, at most 64 characters; this one has ${value.length} characters)`,
      };
    }
  }
  return uids as [string, string, string, string];
}

function assemble(
  path: FilePath,
  header: ParsedHeader,
  text: TextReader,
  [studyInstanceUID, seriesInstanceUID, sopInstanceUID, sopClassUID]: [string, string, string, string],
  study: Built<StudyAttributes>,
  series: Built<SeriesAttributes>,
): ParsedInstance {
  const ds = header.dataSet;
  const warnings = header.warnings;
  if (header.stoppedEarly) warnings.push(`stopped-early:${header.stoppedEarly.reason}`);
  warnings.push(...study.warnings, ...series.warnings);
  return {
    path,
    studyInstanceUID,
    seriesInstanceUID,
    sopInstanceUID,
    sopClassUID,
    instanceNumber: checked(ascii(ds, T.InstanceNumber), parseUnsignedInt, "invalid-instance-number", warnings),
    title: codes(items(ds, T.ConceptNameCodeSequence), text)[0]?.meaning ?? text.value(ds, T.DocumentTitle, "text"),
    study: study.attributes,
    series: series.attributes,
    studyJSON: study.json,
    seriesJSON: series.json,
    warnings,
  };
}

export const isParsedInstance = (r: ParsedInstance | FileFailure): r is ParsedInstance => "sopInstanceUID" in r;

function studyAttributes(ds: Values, text: TextReader): Built<StudyAttributes> {
  const warnings: string[] = [];
  const requestItems = items(ds, T.RequestAttributesSequence);
  const attributes: StudyAttributes = {
    patientId: text.value(ds, T.PatientID),
    issuerOfPatientId: text.value(ds, T.IssuerOfPatientID),
    issuerOfPatientIdQualifiers: issuer(items(ds, T.IssuerOfPatientIDQualifiersSequence)[0], text),
    patientName: text.personNames(ds, T.PatientName)[0],
    patientBirthDate: checked(ascii(ds, T.PatientBirthDate), parseDate, "invalid-birth-date", warnings),
    patientSex: ascii(ds, T.PatientSex),
    date: checked(ascii(ds, T.StudyDate), parseDate, "invalid-study-date", warnings),
    time: checked(ascii(ds, T.StudyTime), parseTime, "invalid-study-time", warnings),
    timezoneOffset: checked(ascii(ds, T.TimezoneOffsetFromUTC), parseTimezoneOffset, "invalid-timezone-offset", warnings),
    accessionNumber: text.value(ds, T.AccessionNumber),
    accessionIssuer: issuer(items(ds, T.IssuerOfAccessionNumberSequence)[0], text),
    studyId: text.value(ds, T.StudyID),
    referringPhysician: text.personNames(ds, T.ReferringPhysicianName)[0],
    readingPhysicians: nonEmpty(text.personNames(ds, T.NameOfPhysiciansReadingStudy)),
    description: text.value(ds, T.StudyDescription),
    procedureCodes: nonEmpty(codes(items(ds, T.ProcedureCodeSequence), text)),
    reasonCodes: nonEmpty(
      codes(
        [...items(ds, T.ReasonForRequestedProcedureCodeSequence), ...requestItems.flatMap((item) => items(item, T.ReasonForRequestedProcedureCodeSequence))],
        text,
      ),
    ),
    reasonTexts: nonEmpty(
      unique([
        ...splitValues(text.value(ds, T.ReasonForTheRequestedProcedure) ?? ""),
        ...requestItems.flatMap((item) => splitValues(text.value(item, T.ReasonForTheRequestedProcedure) ?? "")),
        ...splitValues(text.value(ds, T.ReasonForStudy) ?? ""),
      ]),
    ),
    institutionName: text.value(ds, T.InstitutionName),
    departmentName: text.value(ds, T.InstitutionalDepartmentName),
    comments: text.value(ds, T.StudyComments, "text"),
  };
  return { attributes, json: JSON.stringify(attributes), warnings };
}

function seriesAttributes(ds: Values, text: TextReader): Built<SeriesAttributes> {
  const warnings: string[] = [];
  const attributes: SeriesAttributes = {
    number: checked(ascii(ds, T.SeriesNumber), parseUnsignedInt, "invalid-series-number", warnings),
    modality: ascii(ds, T.Modality),
    description: text.value(ds, T.SeriesDescription),
    date: checked(ascii(ds, T.SeriesDate), parseDate, "invalid-series-date", warnings),
    time: checked(ascii(ds, T.SeriesTime), parseTime, "invalid-series-time", warnings),
    timezoneOffset: checked(ascii(ds, T.TimezoneOffsetFromUTC), parseTimezoneOffset, "invalid-timezone-offset", []),
    performingPhysicians: nonEmpty(text.personNames(ds, T.PerformingPhysicianName)),
    operators: nonEmpty(text.personNames(ds, T.OperatorsName)),
    institutionName: text.value(ds, T.InstitutionName),
    bodyPartExamined: ascii(ds, T.BodyPartExamined),
    laterality: ascii(ds, T.Laterality) ?? ascii(ds, T.ImageLaterality),
  };
  return { attributes, json: JSON.stringify(attributes), warnings };
}

/** The study or series attributes built from a set of raw values, the JSON of them, and the problems found. */
interface Built<A> {
  readonly attributes: A;
  readonly json: string;
  readonly warnings: readonly string[];
}

/**
 * Built attributes by the raw bytes of their elements and the character set that decodes them. Consecutive
 * files are mostly of one series: the last key found is compared byte for byte first, which spares making
 * and hashing a string of a kilobyte or so per key and file. Bounded: an archive of unrelated files cannot
 * grow it without limit.
 */
class AttributeCache<A> {
  private readonly byKey = new Map<string, Built<A>>();
  private lastCharset = "";
  private lastRaw = Buffer.alloc(0);
  private last: Built<A> | undefined;

  /** `raw` is a view that the next parse overwrites: what is kept of it is a copy. */
  find(charset: string, raw: Buffer | undefined): Built<A> | undefined {
    if (raw === undefined) return undefined;
    if (this.last && charset === this.lastCharset && raw.equals(this.lastRaw)) return this.last;
    const found = this.byKey.get(keyOf(charset, raw));
    if (found) this.setLast(charset, raw, found);
    return found;
  }

  remember(charset: string, raw: Buffer | undefined, built: Built<A>): Built<A> {
    if (raw === undefined) return built;
    if (this.byKey.size >= CACHE_LIMIT) this.byKey.clear();
    this.byKey.set(keyOf(charset, raw), built);
    this.setLast(charset, raw, built);
    return built;
  }

  private setLast(charset: string, raw: Buffer, built: Built<A>): void {
    this.lastCharset = charset;
    this.lastRaw = Buffer.from(raw);
    this.last = built;
  }
}

const keyOf = (charset: string, raw: Buffer) => `${charset}\u0000${raw.toString("latin1")}`;
const CACHE_LIMIT = 4096;
const studyCache = new AttributeCache<StudyAttributes>();
const seriesCache = new AttributeCache<SeriesAttributes>();

/** Text values of one data set, decoded in its Specific Character Set and trimmed; empty is absent. */
class TextReader {
  private readonly decode: TextDecoderFn;

  constructor(readonly charset: string) {
    this.decode = textDecoderFor(charset);
  }

  value(values: Values, tag: number, kind: TextKind = "multi"): string | undefined {
    const v = values.get(tag);
    if (typeof v !== "string") return undefined;
    return nonBlank(this.decode(v, kind));
  }

  personNames(values: Values, tag: number): PersonName[] {
    return splitValues(this.value(values, tag, "PN") ?? "").flatMap((v) => parsePersonName(v) ?? []);
  }
}

/** A value of a VR in the default repertoire (UI, DA, TM, CS, IS, …), trimmed; empty is absent. */
function ascii(values: Values, tag: number): string | undefined {
  const v = values.get(tag);
  return typeof v === "string" ? nonBlank(v) : undefined;
}

/** Strips the space and NUL padding of DICOM values (PS3.5 6.2) and surrounding white space. */
function nonBlank(s: string): string | undefined {
  // Every file has a dozen values to trim, most with nothing or one byte of padding: no regular expression.
  let start = 0;
  let end = s.length;
  while (start < end && isPadding(s.charCodeAt(start))) start++;
  while (end > start && isPadding(s.charCodeAt(end - 1))) end--;
  if (start === end) return undefined;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

/** NUL, or what JavaScript's \s matches (ECMA-262 WhiteSpace and LineTerminator). */
function isPadding(c: number): boolean {
  if (c > 0x20 && c < 0xa0) return false;
  return (
    c === 0x20 ||
    c === 0 ||
    (c >= 0x09 && c <= 0x0d) ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

function items(values: Values, tag: number): Values[] {
  const v = values.get(tag);
  return Array.isArray(v) ? v : [];
}

function checked<V>(value: string | undefined, parse: (s: string) => V | undefined, warning: string, warnings: string[]): V | undefined {
  if (value === undefined) return undefined;
  const parsed = parse(value);
  if (parsed === undefined) warnings.push(warning);
  return parsed;
}

function codes(list: Values[], text: TextReader): CodedEntry[] {
  const entries: CodedEntry[] = [];
  for (const item of list) {
    const code = text.value(item, T.CodeValue) ?? text.value(item, T.LongCodeValue) ?? ascii(item, T.URNCodeValue);
    const meaning = text.value(item, T.CodeMeaning);
    if (code || meaning)
      entries.push({ code, scheme: text.value(item, T.CodingSchemeDesignator), schemeVersion: text.value(item, T.CodingSchemeVersion), meaning });
  }
  return entries;
}

function issuer(item: Values | undefined, text: TextReader): EntityIssuer | undefined {
  if (!item) return undefined;
  const result = {
    localId: text.value(item, T.LocalNamespaceEntityID, "text"),
    universalId: text.value(item, T.UniversalEntityID, "text"),
    universalIdType: ascii(item, T.UniversalEntityIDType),
  };
  return result.localId || result.universalId || result.universalIdType ? result : undefined;
}

const unique = (values: string[]) => [...new Set(values)];

/**
 * Absent is undefined, never an empty list, so that equal attributes serialize to equal JSON (records are
 * grouped by it, and JSON.stringify leaves undefined members out).
 */
const nonEmpty = <T>(list: T[]): T[] | undefined => (list.length > 0 ? list : undefined);

/** A parse as the pipeline's record (core/record.ts): the attributes travel as their JSON text only. */
export function toHeaderRead({ result, bytesRead }: { readonly result: ParsedInstance | FileFailure; readonly bytesRead: number }): HeaderRead {
  if ("reason" in result) return { bytesRead, failure: result };
  const { study: _study, series: _series, studyJSON, seriesJSON, ...instance } = result;
  return { bytesRead, instance, studyJSON, seriesJSON };
}
