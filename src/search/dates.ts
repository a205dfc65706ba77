/** An inclusive range of ISO-8601 UTC instants; open ends of a Period are '-infinity'/'infinity'. */
export interface DateRange {
  start: string;
  end: string;
}

/**
 * FHIR date, dateTime and instant, with each part optional from the month down. Seconds are
 * optional although R4 requires them with a time: a stored value is indexed for what it
 * says rather than dropped for a lapse the validator should have caught.
 */
const DATE_TIME =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

const MINUTE = 60_000;
const DAY = 86_400_000;

/**
 * The instants a date-like value covers at its precision: '1970' is the whole of 1970,
 * '2020-01-01T10:00:00+02:00' the second from 08:00:00.000Z. A value without a timezone is
 * taken as UTC, because the server has no better-founded zone to assume and the same rule
 * applied to query values keeps the two comparable. Undefined for anything malformed.
 */
export function dateRange(value: string): DateRange | undefined {
  const match = DATE_TIME.exec(value);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s, fraction, zone] = match;
  const year = Number(y);
  if (year < 1) return undefined;
  if (mo === undefined) return span(utc(year, 1, 1), utc(year + 1, 1, 1));
  const month = Number(mo);
  if (month < 1 || month > 12) return undefined;
  if (d === undefined) return span(utc(year, month, 1), utc(year, month + 1, 1));
  const day = Number(d);
  const midnight = utc(year, month, day);
  if (day < 1 || new Date(midnight).getUTCDate() !== day) return undefined;
  if (h === undefined || mi === undefined) return span(midnight, midnight + DAY);

  const hour = Number(h);
  const minute = Number(mi);
  const second = s === undefined ? 0 : Number(s);
  // 60 is a leap second; Date rolls it into the next minute, which is as close as we get.
  if (hour > 23 || minute > 59 || second > 60) return undefined;
  const offset = zone === undefined ? 0 : zoneOffset(zone);
  if (offset === undefined) return undefined;
  const start = midnight + ((hour * 60 + minute) * 60 + second) * 1000 - offset * MINUTE;

  let width: number;
  let millis = 0;
  if (s === undefined) width = MINUTE;
  else if (fraction === undefined) width = 1000;
  else {
    // Finer than a millisecond can't be stored; such a value is its millisecond.
    const digits = fraction.slice(0, 3);
    millis = Number(digits.padEnd(3, '0'));
    width = 10 ** (3 - digits.length);
  }
  return span(start + millis, start + millis + width);
}

/** A Period's range; an absent end is open. Undefined if neither end is usable. */
export function periodRange(start: unknown, end: unknown): DateRange | undefined {
  if (start === undefined && end === undefined) return undefined;
  const from = start === undefined ? undefined : asRange(start);
  const to = end === undefined ? undefined : asRange(end);
  // A present but malformed end makes the whole period unknowable, not open.
  if ((start !== undefined && !from) || (end !== undefined && !to)) return undefined;
  if (from && to && Date.parse(from.start) > Date.parse(to.end)) return undefined;
  return { start: from?.start ?? '-infinity', end: to?.end ?? 'infinity' };
}

function asRange(value: unknown): DateRange | undefined {
  return typeof value === 'string' ? dateRange(value) : undefined;
}

/** Milliseconds since the epoch of a UTC midnight; months past 12 roll into the next year. */
function utc(year: number, month: number, day: number): number {
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, doesn't read years 0–99 as 1900–1999.
  date.setUTCFullYear(year, month - 1, day);
  return date.getTime();
}

/** Minutes east of UTC, or undefined for an impossible offset. */
function zoneOffset(zone: string): number | undefined {
  if (zone === 'Z') return 0;
  const hours = Number(zone.slice(1, 3));
  const minutes = Number(zone.slice(4, 6));
  if (hours > 14 || minutes > 59) return undefined;
  return (zone.startsWith('-') ? -1 : 1) * (hours * 60 + minutes);
}

/** The inclusive range for the half-open [start, next). */
function span(start: number, next: number): DateRange | undefined {
  const from = new Date(start);
  const to = new Date(next - 1);
  if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime())) return undefined;
  return { start: from.toISOString(), end: to.toISOString() };
}

/** A Timing's ranges: each event, and the bounds of its repeat when given as a Period. */
export function timingRanges(timing: unknown): DateRange[] {
  const ranges: (DateRange | undefined)[] = [];
  const events = field(timing, 'event');
  if (Array.isArray(events)) ranges.push(...events.map(asRange));
  const bounds = field(field(timing, 'repeat'), 'boundsPeriod');
  if (bounds !== undefined) ranges.push(periodRange(field(bounds, 'start'), field(bounds, 'end')));
  return ranges.filter((range): range is DateRange => range !== undefined);
}

function field(data: unknown, key: string): unknown {
  return typeof data === 'object' && data !== null
    ? (data as Record<string, unknown>)[key]
    : undefined;
}
