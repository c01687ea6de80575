/**
 * Subway fare policy: every number of DOMAIN.md section 4 as data, with its source tag.
 * [S] = public source, [P] = project policy, [U] = unconfirmed (kept configurable).
 */
import type { DistanceBandRule } from './distance-bands.ts';
import { WORKING_DAY_CALENDAR_YEARS } from './data/working-day-calendar.ts';
import { dayNumberFromYmd, ymdFromDayNumber } from './time.ts';

/** A line outside the distance graph, priced by its own rule over the distance along that line. */
/** Upper bound of an open-ended last band (JSON has no Infinity). */
export const OPEN_ENDED_M = 2_147_483_647;

export interface SpecialLineRule {
  /** Line name exactly as in the CSV. */
  line: string;
  /** 'flat': fareFen whatever the distance; 'distance': a band rule over the distance along the line. */
  kind: 'flat' | 'distance';
  flatFareFen: number;
  distanceRule: DistanceBandRule | null;
}

/** Monthly rail-spend ladder step: from `fromSpendFen` spent this month (before the trip), pay `percent`. */
export interface LadderStep {
  fromSpendFen: number;
  percent: number;
}

export interface EarlyEntryPolicy {
  enabled: boolean;
  /** Station names (must exist in the network). */
  stations: string[];
  /** Entries strictly before this minute of the day (420 = 07:00) qualify. */
  beforeMinutesOfDay: number;
  /**
   * Whether an entry at exactly that minute's first second (07:00:00) also qualifies [U]. Absent
   * or false: it does not (entries up to 06:59:59). Card times have whole seconds.
   */
  boundaryCounts?: boolean;
  percent: number;
}

/**
 * One year of the State Council's holiday notice (data/working-day-calendar.ts).
 * `holidays`: the days off (YYYYMMDD; weekend days inside a holiday may be listed);
 * `workdays`: the weekend days made working days (调休). Dates belong to `year`, or to the
 * December before it (a New Year holiday may start in the old year).
 */
export interface WorkingDayCalendarYear {
  year: number;
  holidays: number[];
  workdays: number[];
  /** True while the year's notice is not out (statutory days only, 调休 unknown) [U]. */
  provisional: boolean;
  /** Where the lists come from: the notice, its date and address. */
  source: string;
}

/**
 * Working days: Monday-Friday, minus the days off, plus the adjusted weekend working days, per
 * the yearly data in `years` [S 2026, U 2027]. `holidays` and `workdays` are extra dates outside
 * the yearly data (bundles published before `years` existed carry only these; normally empty).
 * A year with no entry falls back to Monday-Friday (calendarYearStatus says 'missing').
 */
export interface WorkingDayCalendar {
  holidays: number[];
  workdays: number[];
  /** Absent in bundles published before the yearly data (read as none). */
  years?: WorkingDayCalendarYear[];
}

export interface SubwayFarePolicy {
  /** Main network bands [S F1]. */
  main: DistanceBandRule;
  special: SpecialLineRule[];
  /** Judged on the spend before the trip [S F2 F3]. Ascending by fromSpendFen, first step from 0. */
  monthlyLadder: LadderStep[];
  /** Time in system before the overtime fare [S F4]. */
  maxTimeInSystemMs: number;
  /** Added to the fare when over the limit [S F4]; charged in full, never discounted [P]. */
  overtimeFen: number;
  /** Minimum effective balance to enter [S F6]. */
  minEntryBalanceFen: number;
  /** Exit at the entry station within this time is free (a rider who changed their mind) [P]. */
  sameStationFreeExitMs: number;
  /**
   * An open entry younger than this blocks a new entry (ALREADY_ENTERED, go to the service
   * desk); an older one is settled at the new entry at the maximum fare from its station [P].
   */
  staleEntryMs: number;
  earlyEntry: EarlyEntryPolicy;
  calendar: WorkingDayCalendar;
}

/** ≤6 km ¥3, ≤12 ¥4, ≤22 ¥5, ≤32 ¥6, then +¥1 per started 20 km [S F1]. */
export const BEIJING_MAIN_BANDS: DistanceBandRule = {
  bands: [
    { upToM: 6_000, fareFen: 300 },
    { upToM: 12_000, fareFen: 400 },
    { upToM: 22_000, fareFen: 500 },
    { upToM: 32_000, fareFen: 600 },
  ],
  stepM: 20_000,
  stepFen: 100,
  graceM: 0,
};

/** The 25 stations of the weekday early-entry discount (DOMAIN.md section 4). */
export const EARLY_ENTRY_STATIONS: readonly string[] = [
  '土桥',
  '临河里',
  '梨园',
  '九棵树',
  '果园',
  '通州北苑',
  '八里桥',
  '管庄',
  '双桥',
  '传媒大学',
  '高碑店',
  '南邵',
  '沙河高教园',
  '沙河',
  '巩华城',
  '朱辛庄',
  '北运河西',
  '通运门',
  '通州北关',
  '物资学院路',
  '常营',
  '草房',
  '黄渠',
  '褡裢坡',
  '青年路',
];

export const DEFAULT_SPECIAL_LINES: SpecialLineRule[] = [
  // Flat 25 yuan [S F1].
  { line: '首都机场线', kind: 'flat', flatFareFen: 2_500, distanceRule: null },
  // 10 / 25 / 35 yuan with breaks at 20 and 30 km along the line [S DOMAIN.md section 4].
  {
    line: '大兴机场线',
    kind: 'distance',
    flatFareFen: 0,
    distanceRule: {
      bands: [
        { upToM: 20_000, fareFen: 1_000 },
        { upToM: 30_000, fareFen: 2_500 },
        { upToM: OPEN_ENDED_M, fareFen: 3_500 },
      ],
      stepM: 0,
      stepFen: 0,
      graceM: 0,
    },
  },
  // The tram is priced separately on its own distance [S]; the data source's fare_rules.json5
  // applies the main-network bands to it (so ¥3 up to 6 km, ¥4 for the whole 8.7 km line) [U].
  { line: '西郊线', kind: 'distance', flatFareFen: 0, distanceRule: BEIJING_MAIN_BANDS },
];

export const DEFAULT_SUBWAY_FARE_POLICY: SubwayFarePolicy = {
  main: BEIJING_MAIN_BANDS,
  special: DEFAULT_SPECIAL_LINES,
  monthlyLadder: [
    { fromSpendFen: 0, percent: 100 },
    { fromSpendFen: 10_000, percent: 80 },
    { fromSpendFen: 15_000, percent: 50 },
    { fromSpendFen: 40_000, percent: 100 },
  ],
  maxTimeInSystemMs: 4 * 60 * 60 * 1000,
  overtimeFen: 300,
  minEntryBalanceFen: 300,
  sameStationFreeExitMs: 5 * 60 * 1000,
  staleEntryMs: 4 * 60 * 60 * 1000,
  earlyEntry: { enabled: true, stations: [...EARLY_ENTRY_STATIONS], beforeMinutesOfDay: 7 * 60, boundaryCounts: false, percent: 50 },
  calendar: { holidays: [], workdays: [], years: structuredClone([...WORKING_DAY_CALENDAR_YEARS]) },
};

/** Percent the monthly ladder charges for a trip, given the month's spend before it. */
export function monthlyLadderPercent(ladder: readonly LadderStep[], spendBeforeFen: number): number {
  let percent = 100;
  for (let i = 0; i < ladder.length; i++) {
    if (spendBeforeFen >= ladder[i].fromSpendFen) percent = ladder[i].percent;
    else break;
  }
  return percent;
}

/** Working day per the calendar (ISO weekday 1..7). */
export function isWorkingDay(calendar: WorkingDayCalendar, ymd: number, isoWeekday: number): boolean {
  if (calendar.workdays.includes(ymd)) return true;
  if (calendar.holidays.includes(ymd)) return false;
  for (const year of calendar.years ?? []) {
    if (year.workdays.includes(ymd)) return true;
    if (year.holidays.includes(ymd)) return false;
  }
  return isoWeekday <= 5;
}

/** How well the calendar knows a year: from its notice, provisional (statutory days only), or missing (Monday-Friday). */
export function calendarYearStatus(calendar: WorkingDayCalendar, year: number): 'published' | 'provisional' | 'missing' {
  const entry = (calendar.years ?? []).find((y) => y.year === year);
  if (!entry) return 'missing';
  return entry.provisional ? 'provisional' : 'published';
}

/** ISO weekday (1 = Monday .. 7 = Sunday) of a YYYYMMDD date. */
function isoWeekdayOfYmd(ymd: number): number {
  return ((((dayNumberFromYmd(ymd) + 3) % 7) + 7) % 7) + 1;
}

function describeDate(ymd: number): string {
  const s = String(ymd);
  return `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}`;
}

/** True when YYYYMMDD names a real date (no 02-30, no month 13). */
export function isCalendarDate(ymd: number): boolean {
  if (!Number.isSafeInteger(ymd) || ymd < 10_000_101 || ymd > 99_991_231) return false;
  return ymdFromDayNumber(dayNumberFromYmd(ymd)) === ymd;
}

/**
 * The rules of calendar data (the types are checked by the bundle decoder first): real dates,
 * weekend working days on a Saturday or Sunday, no date both off and working, each date once,
 * each year once with its source, each date in its year (or the December before).
 */
export function validateWorkingDayCalendar(calendar: WorkingDayCalendar): void {
  const seen = new Map<number, string>();
  const note = (ymd: number, where: string, working: boolean): void => {
    if (!isCalendarDate(ymd)) throw new RangeError(`calendar ${where}: ${ymd} is not a calendar date (YYYYMMDD)`);
    if (working && isoWeekdayOfYmd(ymd) <= 5)
      throw new RangeError(`calendar ${where}: ${describeDate(ymd)} is a weekday; weekend working days must fall on a Saturday or Sunday`);
    const before = seen.get(ymd);
    if (before !== undefined) throw new RangeError(`calendar ${where}: ${describeDate(ymd)} is already listed in ${before}`);
    seen.set(ymd, where);
  };
  for (const ymd of calendar.holidays) note(ymd, 'holidays', false);
  for (const ymd of calendar.workdays) note(ymd, 'workdays', true);
  const years = new Set<number>();
  for (const entry of calendar.years ?? []) {
    if (!Number.isSafeInteger(entry.year) || entry.year < 1900 || entry.year > 9999) throw new RangeError(`calendar year ${entry.year}: must be 1900..9999`);
    if (years.has(entry.year)) throw new RangeError(`calendar year ${entry.year}: listed twice`);
    years.add(entry.year);
    if (entry.source.trim() === '') throw new RangeError(`calendar year ${entry.year}: source must name the notice (or say why it is provisional)`);
    const first = (entry.year - 1) * 10_000 + 1201;
    const last = entry.year * 10_000 + 1231;
    for (const [list, working] of [
      [entry.holidays, false],
      [entry.workdays, true],
    ] as const) {
      const where = `${entry.year} ${working ? 'workdays' : 'holidays'}`;
      for (const ymd of list) {
        note(ymd, where, working);
        if (ymd < first || ymd > last) throw new RangeError(`calendar ${where}: ${describeDate(ymd)} is outside ${entry.year}`);
      }
    }
  }
}
