// DICOM JSON (PS3.18 F.2), as a WADO-RS metadata answer carries it, presented as the values a header parse
// gives (parser.ts `Values`), so that one builder (instance.ts `toParsedInstance`) makes the instance record
// of a file and of an instance in a PACS alike. Only the attributes the builder reads (INSTANCE_SPEC) are taken.
import type { FileFailure, FilePath } from "../core/reasons.js";
import { type TextKind, textDecoderFor } from "./charset.js";
import { INSTANCE_SPEC } from "./instanceSpec.js";
import { type ParsedInstance, toParsedInstance } from "./instance.js";
import { type ParsedHeader, type Spec, type Values, hexTag } from "./header.js";
import * as T from "./tags.js";

/** An answer that is not the DICOM JSON it should be; the message says where, never a value. */
export class BadDicomJson extends Error {
  override readonly name = "BadDicomJson";
}

/** VRs the builder decodes by the Specific Character Set; every other VR is read as it is (default repertoire). */
const TEXT_VRS = new Set(["SH", "LO", "ST", "LT", "UT", "UC", "PN"]);
/** Text in DICOM JSON is already Unicode: handed to the builder as UTF-8 bytes, with a character set that says so. */
const UTF8 = "ISO_IR 192";

/** One data set of a WADO-RS metadata answer as an instance record, or why it is not an instance. Throws BadDicomJson. */
export function readDicomJsonInstance(path: FilePath, dataSet: unknown): ParsedInstance | FileFailure {
  return toParsedInstance(path, dicomJsonHeader(dataSet));
}

/** A DICOM JSON data set as the parsed header of a file holding the same values in UTF-8. Throws BadDicomJson. */
export function dicomJsonHeader(dataSet: unknown): ParsedHeader {
  const object = asObject(dataSet, "the data set");
  const warnings: string[] = [];
  // (0008,0005) still names the file's character set, though the text was decoded by it: it is only needed for
  // values sent as InlineBinary, which are the file's bytes.
  const declared = joined(asObject(object[key(T.SpecificCharacterSet)] ?? {}, hexTag(T.SpecificCharacterSet)), hexTag(T.SpecificCharacterSet)) ?? "";
  const values = toValues(object, INSTANCE_SPEC, declared, warnings);
  values.set(T.SpecificCharacterSet, UTF8);
  return { meta: new Map(), keys: [], dataSet: values, transferSyntaxUID: undefined, isMediaDirectory: false, stoppedEarly: undefined, warnings };
}

/** The trimmed text of a top-level string attribute (a UID, say), if the data set has one. Throws BadDicomJson. */
export function dicomJsonString(dataSet: unknown, tag: number): string | undefined {
  const element = asObject(dataSet, "the data set")[key(tag)];
  if (element === undefined) return undefined;
  const text = joined(asObject(element, hexTag(tag)), hexTag(tag))?.trim();
  return text === "" ? undefined : text;
}

function toValues(object: Record<string, unknown>, spec: Spec, declared: string, warnings: string[]): Values {
  const values: Values = new Map();
  for (const [tag, wanted] of spec) {
    const raw = object[key(tag)];
    if (raw === undefined) continue;
    const where = hexTag(tag);
    const element = asObject(raw, where);
    if (typeof wanted !== "string") {
      const items = sequenceItems(element, where);
      if (items)
        values.set(
          tag,
          items.map((item, i) => (item === null ? new Map() : toValues(asObject(item, `item ${i + 1} of ${where}`), wanted, declared, warnings))),
        );
      continue;
    }
    const value = stringValue(element, wanted, declared, where, warnings);
    if (value !== undefined) values.set(tag, value);
  }
  return values;
}

/** A sequence's items; undefined for an element that is not a sequence here (a UN or bulk value: the builder skips it). */
function sequenceItems(element: Record<string, unknown>, where: string): unknown[] | undefined {
  if (element.vr !== undefined && element.vr !== "SQ") return undefined;
  const value = element.Value;
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new BadDicomJson(`${where}: Value is not an array`);
  return value;
}

/** A value as the bytes a UTF-8 file would hold (text VRs) or as it is (default repertoire); undefined when not sent inline. */
function stringValue(element: Record<string, unknown>, vr: string, declared: string, where: string, warnings: string[]): string | undefined {
  if (element.Value !== undefined) {
    const text = joined(element, where)!;
    return TEXT_VRS.has(vr) ? Buffer.from(text, "utf8").toString("latin1") : text;
  }
  if (element.InlineBinary !== undefined) {
    // An element the PACS could not type (VR UN) arrives as the file's bytes, in the file's character set.
    if (typeof element.InlineBinary !== "string") throw new BadDicomJson(`${where}: InlineBinary is not a string`);
    const bytes = Buffer.from(element.InlineBinary, "base64").toString("latin1");
    if (!TEXT_VRS.has(vr)) return bytes;
    return Buffer.from(textDecoderFor(declared)(bytes, textKind(vr)), "utf8").toString("latin1");
  }
  // A BulkDataURI is never followed: the attributes read here are short, and bulk data is what we never fetch.
  if (element.BulkDataURI !== undefined) {
    warnings.push("bulk-data-not-fetched");
    return undefined;
  }
  return "";
}

/**
 * The values of an element joined as a file holds them: multiple values separated by `\`, an empty (null) value
 * as an empty string, numbers (IS, DS) as their shortest text, a Person Name's groups separated by `=`.
 */
function joined(element: Record<string, unknown>, where: string): string | undefined {
  const value = element.Value;
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new BadDicomJson(`${where}: Value is not an array`);
  return value.map((v, i) => single(v, `value ${i + 1} of ${where}`)).join("\\");
}

function single(value: unknown, where: string): string {
  if (value === null) return "";
  if (typeof value === "string") return value;
  // IS and DS arrive as numbers: their text in the file ("5.000000", "+5") is gone, and the number is what is left.
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  if (typeof value === "object" && !Array.isArray(value)) return personName(value as Record<string, unknown>, where);
  throw new BadDicomJson(`${where} is neither a string, a number, null nor a Person Name`);
}

const PN_GROUPS = ["Alphabetic", "Ideographic", "Phonetic"] as const;

/** PS3.18 F.2.2: a PN value is an object of up to three component groups, each `^`-separated as in the file. */
function personName(value: Record<string, unknown>, where: string): string {
  const groups = PN_GROUPS.map((name) => {
    const group = value[name];
    if (group === undefined || group === null) return "";
    if (typeof group !== "string") throw new BadDicomJson(`${where}: ${name} is not a string`);
    return group;
  });
  return groups.join("=").replace(/=+$/, "");
}

function textKind(vr: string): TextKind {
  if (vr === "PN") return "PN";
  return vr === "ST" || vr === "LT" || vr === "UT" ? "text" : "multi";
}

function asObject(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new BadDicomJson(`${where} is not a JSON object`);
  return value as Record<string, unknown>;
}

/** DICOM JSON names attributes by their tag as eight uppercase hexadecimal digits (PS3.18 F.2.1.1). */
const key = (tag: number): string => tag.toString(16).toUpperCase().padStart(8, "0");
