// Parsing of DICOM value representations (PS3.5 6.2) into checked, normalized values.
// Each parser returns undefined for a value that is not what its VR allows; the caller records a warning.

/** One component group of a Person Name (PS3.5 6.2.1.1). */
export interface PersonNameGroup {
  readonly family?: string;
  readonly given?: string;
  readonly middle?: string;
  readonly prefix?: string;
  readonly suffix?: string;
}

/** A Person Name's alphabetic, ideographic and phonetic representations (PS3.5 6.2.1.2). */
export interface PersonName {
  readonly alphabetic?: PersonNameGroup;
  readonly ideographic?: PersonNameGroup;
  readonly phonetic?: PersonNameGroup;
}

const UID = /^[0-9]+(\.[0-9]+)*$/;

/** UI: digits and dots, at most 64 characters (PS3.5 9.1). Leading zeros in components are tolerated: archives have them. */
export function parseUID(value: string): string | undefined {
  return value.length <= 64 && UID.test(value) ? value : undefined;
}

/** DA as FHIR `date` (YYYY-MM-DD); also the ACR-NEMA form YYYY.MM.DD that old archives still hold. */
export function parseDate(value: string): string | undefined {
  const m = /^(\d{4})\.?(\d{2})\.?(\d{2})$/.exec(value);
  if (!m) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  return `${m[1]}-${m[2]}-${m[3]}`;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** A TM value with the precision it was written with. */
export interface TimeOfDay {
  readonly hour: string;
  readonly minute?: string;
  readonly second?: string;
  /** Fraction digits as written, never padded. */
  readonly fraction?: string;
}

/** TM: HH[MM[SS[.F{1,6}]]], and the ACR-NEMA form HH:MM:SS. */
export function parseTime(value: string): TimeOfDay | undefined {
  const m = /^(\d{2})(?::?(\d{2})(?::?(\d{2})(?:\.(\d{1,6}))?)?)?$/.exec(value);
  if (!m) return undefined;
  const [, hour, minute, second, fraction] = m;
  if (Number(hour) > 23 || Number(minute ?? 0) > 59 || Number(second ?? 0) > 60) return undefined;
  return { hour: hour!, ...(minute && { minute }), ...(second && { second }), ...(fraction && { fraction }) };
}

/** Timezone Offset From UTC (0008,0201): &ZZXX, as an ISO 8601 offset within FHIR's -12:00..+14:00. */
export function parseTimezoneOffset(value: string): string | undefined {
  const m = /^([+-])(\d{2})(\d{2})$/.exec(value);
  if (!m) return undefined;
  const minutes = Number(m[2]) * 60 + Number(m[3]);
  if (Number(m[3]) > 59 || (m[1] === "+" ? minutes > 14 * 60 : minutes > 12 * 60)) return undefined;
  return `${m[1]}${m[2]}:${m[3]}`;
}

/** IS restricted to FHIR unsignedInt (0..2147483647), the type of series and instance numbers. */
export function parseUnsignedInt(value: string): number | undefined {
  if (!/^[+]?\d{1,12}$/.test(value)) return undefined;
  const n = Number(value);
  return n <= 2147483647 ? n : undefined;
}

/** PN: up to three `=`-separated groups of up to five `^`-separated components. */
export function parsePersonName(value: string): PersonName | undefined {
  const groups = value.split("=");
  const alphabetic = parseGroup(groups[0]);
  const ideographic = parseGroup(groups[1]);
  const phonetic = parseGroup(groups[2]);
  if (!alphabetic && !ideographic && !phonetic) return undefined;
  const name: { alphabetic?: PersonNameGroup; ideographic?: PersonNameGroup; phonetic?: PersonNameGroup } = {};
  if (alphabetic) name.alphabetic = alphabetic;
  if (ideographic) name.ideographic = ideographic;
  if (phonetic) name.phonetic = phonetic;
  return name;
}

const COMPONENTS = ["family", "given", "middle", "prefix", "suffix"] as const;

function parseGroup(group: string | undefined): PersonNameGroup | undefined {
  if (!group) return undefined;
  const parts = group.split("^");
  let result: { -readonly [K in keyof PersonNameGroup]: string } | undefined;
  for (let i = 0; i < COMPONENTS.length && i < parts.length; i++) {
    const component = parts[i]!.trim();
    if (component !== "") (result ??= {})[COMPONENTS[i]!] = component;
  }
  return result;
}

/** The values of a multi-valued string, empty ones dropped. */
export function splitValues(value: string): string[] {
  return value
    .split("\\")
    .map((v) => v.trim())
    .filter((v) => v !== "");
}
