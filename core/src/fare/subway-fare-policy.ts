/**
 * Subway fare policy: every number of DOMAIN.md section 4 as data, with its source tag.
 * [S] = public source, [P] = project policy, [U] = unconfirmed (kept configurable).
 */
import type { DistanceBandRule } from './distance-bands.ts';

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
  percent: number;
}

/**
 * Working days: Monday-Friday, minus `holidays`, plus `workdays` (the State Council's adjusted
 * weekend working days). Both lists hold YYYYMMDD values and must be updated each year [P].
 */
export interface WorkingDayCalendar {
  holidays: number[];
  workdays: number[];
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
  earlyEntry: { enabled: true, stations: [...EARLY_ENTRY_STATIONS], beforeMinutesOfDay: 7 * 60, percent: 50 },
  calendar: { holidays: [], workdays: [] },
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
  return isoWeekday <= 5;
}
