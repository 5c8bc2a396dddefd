import type { CodedEntry } from "../dicom/instance.js";
import type { PersonName, PersonNameGroup, TimeOfDay } from "../dicom/values.js";
import { CODING_SCHEME_SYSTEM } from "./codes/codingScheme.js";
import { offsetOfLocalTime } from "./timezone.js";
import type { CodeableConcept, Coding, HumanName } from "./types.js";

export const DICOM_CODE_SYSTEM = "http://dicom.nema.org/resources/ontology/DCM";
export const SNOMED_CT = "http://snomed.info/sct";

// FHIR string: `^[ \r\n\t\S]+$` — other white space (NBSP, ideographic space, …) fails validation, and
// code points below 32 other than tab, CR and LF SHOULD NOT appear (R4 2.24.0.1 string).
const FOREIGN_WHITE_SPACE = /[\v\f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]/g;
const CONTROL = /[\u0000-\u0008\u000e-\u001f\u007f]/g;

/** A DICOM text value as a valid FHIR string, or undefined when nothing is left of it. */
export function fhirString(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const cleaned = value.replace(CONTROL, "").replace(FOREIGN_WHITE_SPACE, " ").trim();
  return cleaned === "" ? undefined : cleaned;
}

/** FHIR code: no leading, trailing or repeated white space. */
export function fhirCode(value: string | undefined): string | undefined {
  const s = fhirString(value);
  return s === undefined ? undefined : s.split(/\s+/).join(" ");
}

/** A coded entry of a DICOM code sequence as a CodeableConcept; the designator's FHIR system when it has one. */
export function codeableConcept(entry: CodedEntry): CodeableConcept | undefined {
  const code = fhirCode(entry.code);
  const display = fhirString(entry.meaning);
  const system = entry.scheme === undefined ? undefined : CODING_SCHEME_SYSTEM.get(entry.scheme.trim());
  const version = fhirString(entry.schemeVersion);
  if (code === undefined) return display === undefined ? undefined : { text: display };
  const coding: Coding = { ...(system && { system }), ...(system && version && { version }), code, ...(display && { display }) };
  return { coding: [coding], ...(display && { text: display }) };
}

const EN_REPRESENTATION = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation";

/**
 * A Person Name as FHIR HumanNames: one per component group. The ideographic and phonetic groups carry
 * ISO 21090's EN representation (IDE, SYL), the extension FHIR defines for exactly this.
 */
export function humanNames(name: PersonName | undefined): HumanName[] {
  if (!name) return [];
  const groups: Array<[PersonNameGroup | undefined, string | undefined]> = [
    [name.alphabetic, undefined],
    [name.ideographic, "IDE"],
    [name.phonetic, "SYL"],
  ];
  return groups.flatMap(([group, representation]) => {
    if (!group) return [];
    const family = fhirString(group.family);
    const given = [group.given, group.middle].flatMap((g) => fhirString(g) ?? []);
    const prefix = fhirString(group.prefix);
    const suffix = fhirString(group.suffix);
    const text = displayOfGroup(group, representation !== undefined);
    if (text === undefined) return [];
    const human: HumanName = {
      ...(representation && { extension: [{ url: EN_REPRESENTATION, valueCode: representation }] }),
      text,
      ...(family && { family }),
      ...(given.length > 0 && { given }),
      ...(prefix && { prefix: [prefix] }),
      ...(suffix && { suffix: [suffix] }),
    };
    return [human];
  });
}

/** A readable name for Reference.display: the alphabetic group when there is one, never `^`-separated. */
export function displayName(name: PersonName | undefined): string | undefined {
  if (!name) return undefined;
  if (name.alphabetic) return displayOfGroup(name.alphabetic, false);
  const other = name.ideographic ?? name.phonetic;
  return other ? displayOfGroup(other, true) : undefined;
}

/** Alphabetic names read given-first ("Dr. Tarou Yamada"); ideographic and phonetic ones family-first, as written. */
function displayOfGroup(group: PersonNameGroup, familyFirst: boolean): string | undefined {
  const order = familyFirst
    ? [group.prefix, group.family, group.given, group.middle, group.suffix]
    : [group.prefix, group.given, group.middle, group.family, group.suffix];
  return fhirString(order.flatMap((part) => fhirString(part) ?? []).join(" "));
}

/** How a time without an offset was placed in a zone: pinned by the user, or the converting machine's. */
export interface ZoneRule {
  readonly zone: string;
  readonly source: "option" | "system";
}

export interface DateTimeResult {
  readonly value: string;
  /** True when the offset came from the zone rule because the file had no Timezone Offset From UTC. */
  readonly zoneFromRule: boolean;
  /** True when an hour-only time had to be dropped: FHIR has no hour precision. */
  readonly timeDropped: boolean;
}

/**
 * DA + TM as FHIR dateTime. A time SHALL carry an offset: (0008,0201) when the file has one, else the
 * zone rule. Seconds are zero-filled where only minutes were written, as R4 allows ("Seconds must be
 * provided due to schema type constraints but may be zero-filled"); no other precision is invented.
 */
export function dateTime(date: string | undefined, time: TimeOfDay | undefined, offset: string | undefined, rule: ZoneRule): DateTimeResult | undefined {
  if (date === undefined) return undefined;
  if (time === undefined) return { value: date, zoneFromRule: false, timeDropped: false };
  if (time.minute === undefined) return { value: date, zoneFromRule: false, timeDropped: true };
  const second = time.second ?? "00";
  const clock = `${time.hour}:${time.minute}:${second}${time.fraction ? `.${time.fraction}` : ""}`;
  const zoneOffset = offset ?? offsetOfLocalTime(rule.zone, date, Number(time.hour), Number(time.minute), Number(second));
  return { value: `${date}T${clock}${zoneOffset}`, zoneFromRule: offset === undefined, timeDropped: false };
}
