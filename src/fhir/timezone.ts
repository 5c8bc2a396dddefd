// Offsets of IANA time zones for local wall-clock times, from the ICU data Node ships (no zone tables of our own).

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) formatters.set(zone, (f = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "longOffset" })));
  return f;
}

/**
 * Zones that are UTC all year: answered without ICU, whose first formatter costs a run ~25 ms of start-up here
 * (it loads the locale data), before the first file is read.
 */
const ALWAYS_UTC = new Set(["UTC", "Etc/UTC"]);

/** True for a zone name ICU knows ("Europe/Zurich", "UTC"); the CLI rejects others as bad usage. */
export function isTimeZone(zone: string): boolean {
  if (ALWAYS_UTC.has(zone)) return true;
  try {
    formatterFor(zone);
    return true;
  } catch {
    return false;
  }
}

/** The zone this machine is set to, used for times without an offset when no --timezone is given. */
export const systemTimeZone = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone ?? "UTC";

function offsetMinutesAt(zone: string, epochMs: number): number {
  const name = formatterFor(zone)
    .formatToParts(epochMs)
    .find((p) => p.type === "timeZoneName")?.value;
  // "GMT", "GMT+01:00", or with seconds for local mean time before 1900 ("GMT+00:34:08").
  const m = /^GMT(?:([+-])(\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(name ?? "");
  if (!m?.[1]) return 0;
  const minutes = Number(m[2]) * 60 + Number(m[3]) + Math.round(Number(m[4] ?? 0) / 60);
  return m[1] === "-" ? -minutes : minutes;
}

/**
 * The UTC offset ("+01:00") in force in `zone` at a local date and time. Two passes settle the offset at
 * the instant itself; in a daylight-saving gap or overlap the result is still one fixed, repeatable choice.
 */
export function offsetOfLocalTime(zone: string, date: string, hour: number, minute: number, second: number): string {
  if (ALWAYS_UTC.has(zone)) return "+00:00";
  const [y, mo, d] = date.split("-").map(Number) as [number, number, number];
  const wall = new Date(0);
  wall.setUTCFullYear(y, mo - 1, d);
  wall.setUTCHours(hour, minute, Math.min(second, 59), 0);
  const first = offsetMinutesAt(zone, wall.getTime());
  const minutes = offsetMinutesAt(zone, wall.getTime() - first * 60_000);
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}
