// FHIR dates as ranges: R4 search (search.html#date) treats every date value, in a resource or in a query,
// as the range its precision implies ("2024-03" is all of March), and compares ranges, not points.
import { offsetOfLocalTime } from "./timezone.js";

/** Milliseconds since the epoch, the upper bound excluded: [lo, hi). */
export interface Range {
  readonly lo: number;
  readonly hi: number;
}

// YYYY, YYYY-MM, YYYY-MM-DD, and a time to the minute, second or fraction, with or without a zone. A space
// stands for "+" in the zone: an unencoded "+" in a query string decodes to a space.
const DATE_TIME = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+\- ]\d{2}:\d{2})?)?)?)?$/;

/**
 * The range a FHIR date or dateTime covers; a value without a zone is read in `zone` (an IANA name).
 * Undefined for anything that is not a real date ("2020-13", "2024-02-30", "25:00").
 */
export function dateRange(text: string, zone: string): Range | undefined {
  const m = DATE_TIME.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, fraction, offset] = m;
  const year = Number(y);
  const month = mo === undefined ? undefined : Number(mo);
  const day = d === undefined ? undefined : Number(d);
  if (month !== undefined && (month < 1 || month > 12)) return undefined;
  if (day !== undefined && (day < 1 || day > daysInMonth(year, month!))) return undefined;
  if (h === undefined) {
    if (month === undefined) return { lo: localStart(zone, year, 1, 1), hi: localStart(zone, year + 1, 1, 1) };
    if (day === undefined) return { lo: localStart(zone, year, month, 1), hi: localStart(zone, month === 12 ? year + 1 : year, (month % 12) + 1, 1) };
    const next = new Date(utc(year, month, day, 0, 0, 0) + 86_400_000);
    return { lo: localStart(zone, year, month, day), hi: localStart(zone, next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate()) };
  }
  const hour = Number(h);
  const minute = Number(mi);
  // R4 time allows a leap second (":60").
  const second = s === undefined ? 0 : Number(s);
  if (hour > 23 || minute > 59 || second > 60) return undefined;
  const offsetMinutes = offset === undefined ? zoneOffsetMinutes(zone, year, month!, day!, hour, minute, second) : parseOffset(offset);
  if (offsetMinutes === undefined) return undefined;
  const digits = fraction ?? "";
  const lo = utc(year, month!, day!, hour, minute, second) - offsetMinutes * 60_000 + Math.floor(Number(`0.${digits || "0"}`) * 1000);
  const width = s === undefined ? 60_000 : digits.length === 0 ? 1000 : digits.length >= 3 ? 1 : 10 ** (3 - digits.length);
  return { lo, hi: lo + width };
}

function daysInMonth(year: number, month: number): number {
  return new Date(utc(year, month + 1, 0, 0, 0, 0)).getUTCDate();
}

/** Date.UTC reads years below 100 as 19xx; setUTCFullYear does not. */
function utc(year: number, month: number, day: number, hour: number, minute: number, second: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  return date.getTime();
}

/** Midnight at the start of a local day in `zone`. */
function localStart(zone: string, year: number, month: number, day: number): number {
  return utc(year, month, day, 0, 0, 0) - zoneOffsetMinutes(zone, year, month, day, 0, 0, 0) * 60_000;
}

// Asking ICU for an offset costs microseconds; searches ask for the same few days over and over.
const offsets = new Map<string, number>();

function zoneOffsetMinutes(zone: string, year: number, month: number, day: number, hour: number, minute: number, second: number): number {
  const date = `${String(year).padStart(4, "0")}-${String(month).padStart(2, "0")}-${String(day).padStart(2, "0")}`;
  const key = `${zone} ${date} ${hour}:${minute}:${second}`;
  let offset = offsets.get(key);
  if (offset === undefined) {
    if (offsets.size >= 10_000) offsets.clear();
    offsets.set(key, (offset = parseOffset(offsetOfLocalTime(zone, date, hour, minute, second))!));
  }
  return offset;
}

function parseOffset(offset: string): number | undefined {
  if (offset === "Z") return 0;
  const hours = Number(offset.slice(1, 3));
  const minutes = Number(offset.slice(4, 6));
  if (hours > 14 || minutes > 59) return undefined;
  const sign = offset[0] === "-" ? -1 : 1;
  return sign * (hours * 60 + minutes);
}
