/**
 * Beijing local time from an epoch instant, by pure arithmetic. Core has no clock: the
 * caller passes `nowMs`. Beijing is UTC+8 all year (no daylight saving since 1991), so the
 * local calendar is the UTC calendar of `ms + 8 h`.
 */

export const BEIJING_OFFSET_MS = 8 * 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface BeijingDateTime {
  /** YYYYMMDD */
  date: number;
  /** hhmmss */
  time: number;
  /** YYYYMM: the natural month of the monthly rail ladder. */
  month: number;
  /** ISO weekday: 1 = Monday ... 7 = Sunday. */
  weekday: number;
  /** Minutes since local midnight, 0..1439. */
  minutesOfDay: number;
  /** Days since 1970-01-01 in local time (a calendar-day index, for day arithmetic). */
  dayNumber: number;
}

/**
 * Civil date from a day number (days since 1970-01-01), H. Hinnant's `civil_from_days`,
 * valid for the whole proleptic Gregorian calendar.
 */
export function civilFromDays(dayNumber: number): { year: number; month: number; day: number } {
  const z = dayNumber + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  return { year, month, day };
}

/** Day number (days since 1970-01-01) of a civil date, H. Hinnant's `days_from_civil`. */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = month > 2 ? month - 3 : month + 9;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Beijing local day number of an epoch instant (ms). */
export function beijingDayNumber(epochMs: number): number {
  return Math.floor((epochMs + BEIJING_OFFSET_MS) / DAY_MS);
}

/** YYYYMMDD of a day number. */
export function ymdFromDayNumber(dayNumber: number): number {
  const { year, month, day } = civilFromDays(dayNumber);
  return year * 10000 + month * 100 + day;
}

/** Day number of a YYYYMMDD value. */
export function dayNumberFromYmd(ymd: number): number {
  return daysFromCivil(Math.floor(ymd / 10000), Math.floor(ymd / 100) % 100, ymd % 100);
}

export function beijingDateTime(epochMs: number): BeijingDateTime {
  if (!Number.isFinite(epochMs)) throw new RangeError(`beijingDateTime: not a time: ${epochMs}`);
  const local = Math.floor(epochMs) + BEIJING_OFFSET_MS;
  const dayNumber = Math.floor(local / DAY_MS);
  const msOfDay = local - dayNumber * DAY_MS;
  const secondsOfDay = Math.floor(msOfDay / 1000);
  const hh = Math.floor(secondsOfDay / 3600);
  const mm = Math.floor(secondsOfDay / 60) % 60;
  const ss = secondsOfDay % 60;
  const { year, month, day } = civilFromDays(dayNumber);
  // 1970-01-01 was a Thursday (ISO 4).
  const weekday = ((((dayNumber + 3) % 7) + 7) % 7) + 1;
  return {
    date: year * 10000 + month * 100 + day,
    time: hh * 10000 + mm * 100 + ss,
    month: year * 100 + month,
    weekday,
    minutesOfDay: hh * 60 + mm,
    dayNumber,
  };
}

/** Epoch ms of a Beijing local date and time (hhmmss), the inverse of beijingDateTime. */
export function epochMsFromBeijing(ymd: number, hhmmss = 0): number {
  const hh = Math.floor(hhmmss / 10000);
  const mm = Math.floor(hhmmss / 100) % 100;
  const ss = hhmmss % 100;
  return dayNumberFromYmd(ymd) * DAY_MS + ((hh * 60 + mm) * 60 + ss) * 1000 - BEIJING_OFFSET_MS;
}
