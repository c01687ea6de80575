/**
 * The business day (营业日) of the clearing centre (issue 18, docs/settlement.md): day D runs
 * from D at the cut-off (Beijing time, default 04:00) to D + 1 at the cut-off. A tap at 01:30
 * Beijing time on 11 March belongs to business day 10 March. Beijing is UTC+8 all year.
 */
import { BEIJING_OFFSET_MS, beijingDayRange, DAY_MS } from './money-time.ts';

/** Default cut-off: 04:00 Beijing time (DOMAIN.md section 8, [P]). */
export const DEFAULT_CUTOFF_MINUTES = 4 * 60;

export interface BusinessDayWindow {
  day: string;
  /** Epoch ms of the day's start (its date at the cut-off), inclusive. */
  startMs: number;
  /** Epoch ms of its end (the next date at the cut-off), exclusive. */
  endMs: number;
}

function isoDate(utcMidnightMs: number): string {
  return new Date(utcMidnightMs).toISOString().slice(0, 10);
}

/** The business day an instant belongs to. */
export function businessDayOf(epochMs: number, cutoffMinutes: number): string {
  const local = epochMs + BEIJING_OFFSET_MS - cutoffMinutes * 60_000;
  return isoDate(Math.floor(local / DAY_MS) * DAY_MS);
}

/** [start, end) of business day `day` ('YYYY-MM-DD'); null when it is not a calendar date. */
export function businessDayWindow(day: string, cutoffMinutes: number): BusinessDayWindow | null {
  const range = beijingDayRange(day);
  if (range === null) return null;
  const startMs = range.startMs + cutoffMinutes * 60_000;
  return { day, startMs, endMs: startMs + DAY_MS };
}

/** The day after `day`. */
export function nextDay(day: string): string {
  return isoDate(Date.parse(`${day}T00:00:00Z`) + DAY_MS);
}

/** 'HH:MM' → minutes after midnight; null when malformed. */
export function parseCutoff(text: string): number | null {
  const match = /^([01][0-9]|2[0-3]):([0-5][0-9])$/.exec(text);
  return match === null ? null : Number(match[1]) * 60 + Number(match[2]);
}
