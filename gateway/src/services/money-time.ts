/**
 * Beijing local calendar for the money services (UTC+8 all year, no daylight saving): the
 * date/time a load MAC2 carries, the natural days of the refund deadline, report days.
 * The clock is always passed in (`nowMs`), never read here.
 */
export const BEIJING_OFFSET_MS = 8 * 60 * 60 * 1000;
export const DAY_MS = 24 * 60 * 60 * 1000;

/** YYYYMMDD and hhmmss in Beijing time. */
export function beijingDateTime(epochMs: number): { date: number; time: number } {
  const local = new Date(epochMs + BEIJING_OFFSET_MS);
  const date = local.getUTCFullYear() * 10_000 + (local.getUTCMonth() + 1) * 100 + local.getUTCDate();
  const time = local.getUTCHours() * 10_000 + local.getUTCMinutes() * 100 + local.getUTCSeconds();
  return { date, time };
}

/** Epoch ms of 00:00 Beijing time of the day containing `epochMs`. */
export function beijingStartOfDayMs(epochMs: number): number {
  return Math.floor((epochMs + BEIJING_OFFSET_MS) / DAY_MS) * DAY_MS - BEIJING_OFFSET_MS;
}

/** Parses 'YYYY-MM-DD' into [start, end) epoch ms of that Beijing day and its YYYYMMDD; null when invalid. */
export function beijingDayRange(day: string): { startMs: number; endMs: number; yyyymmdd: number } | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (match === null) return null;
  const [year, month, dayOfMonth] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const utcMidnight = Date.UTC(year, month - 1, dayOfMonth);
  const check = new Date(utcMidnight);
  if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== dayOfMonth) return null;
  const startMs = utcMidnight - BEIJING_OFFSET_MS;
  return { startMs, endMs: startMs + DAY_MS, yyyymmdd: year * 10_000 + month * 100 + dayOfMonth };
}
