/**
 * The working-day calendar of the early-entry discount (core/src/fare/data/working-day-calendar.ts,
 * POLICIES.md "Working-day calendar"): 2026 from the State Council notice of 2025-11-04, 2027's
 * statutory days (provisional), carried and validated inside the fare-tables bundle.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  beijingDateTime,
  calendarYearStatus,
  DEFAULT_SUBWAY_FARE_POLICY,
  dayNumberFromYmd,
  defaultFareTablesSpec,
  encodeFareTablesJson,
  epochMsFromBeijing,
  FareTablesFormatError,
  isWorkingDay,
  parseFareTablesJson,
  parseSubwayNetwork,
  priceSubwayTrip,
  quoteSubwayFare,
  stationCode,
  type SubwayFarePolicy,
  WORKING_DAY_CALENDAR_YEARS,
  ymdFromDayNumber,
} from '#core';
import { SUBWAY_CSV } from './subway-data.ts';

const calendar = DEFAULT_SUBWAY_FARE_POLICY.calendar;
const weekdayOf = (ymd: number) => beijingDateTime(epochMsFromBeijing(ymd, 120000)).weekday;
const working = (ymd: number) => isWorkingDay(calendar, ymd, weekdayOf(ymd));

/** The notice of 2025-11-04, written out independently of the data module. */
function ranges(...pairs: Array<[string, string]>): Set<string> {
  const out = new Set<string>();
  for (const [from, to] of pairs) {
    for (let d = Date.parse(`2026-${from}T00:00:00Z`); d <= Date.parse(`2026-${to}T00:00:00Z`); d += 86_400_000)
      out.add(new Date(d).toISOString().slice(5, 10));
  }
  return out;
}
const NOTICE_2026_OFF = ranges(
  ['01-01', '01-03'],
  ['02-15', '02-23'],
  ['04-04', '04-06'],
  ['05-01', '05-05'],
  ['06-19', '06-21'],
  ['09-25', '09-27'],
  ['10-01', '10-07'],
);
const NOTICE_2026_WORK = new Set(['01-04', '02-14', '02-28', '05-09', '09-20', '10-10']);

describe('working-day calendar data', () => {
  it('2027-01-01 is not a working day; a weekday holiday is not; a Saturday or Sunday made a working day is', () => {
    expect(weekdayOf(20270101)).toBe(5);
    expect(working(20270101)).toBe(false);
    expect(working(20261001)).toBe(false); // Thursday, 国庆
    expect(working(20260217)).toBe(false); // Tuesday, 春节
    expect(weekdayOf(20261010)).toBe(6);
    expect(working(20261010)).toBe(true); // Saturday made a working day
    expect(weekdayOf(20260104)).toBe(7);
    expect(working(20260104)).toBe(true); // Sunday made a working day
    expect(working(20261011)).toBe(false); // an ordinary Sunday
    expect(working(20261012)).toBe(true); // an ordinary Monday
    expect(working(20270209)).toBe(true); // 2027: only the statutory days are known
  });

  it('for any date in 2026, isWorkingDay agrees with the notice (Mon-Fri minus days off, plus weekend working days)', () => {
    const first = dayNumberFromYmd(20260101);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 364 }), (offset) => {
        const ymd = ymdFromDayNumber(first + offset);
        const mmdd = `${String(ymd).slice(4, 6)}-${String(ymd).slice(6, 8)}`;
        const weekday = new Date(Date.UTC(2026, 0, 1 + offset)).getUTCDay(); // 0 Sunday
        const expected = NOTICE_2026_WORK.has(mmdd) || (weekday >= 1 && weekday <= 5 && !NOTICE_2026_OFF.has(mmdd));
        expect(working(ymd), String(ymd)).toBe(expected);
      }),
      { numRuns: 400 },
    );
    // And every day once, exhaustively: 365 days, 2026 has 248 working days by the notice.
    let count = 0;
    for (let i = 0; i < 365; i++) count += working(ymdFromDayNumber(first + i)) ? 1 : 0;
    expect(count).toBe(248);
  });

  it('each year carries its source; 2026 is published, 2027 provisional, 2028 missing', () => {
    for (const year of WORKING_DAY_CALENDAR_YEARS) expect(year.source.length).toBeGreaterThan(20);
    expect(WORKING_DAY_CALENDAR_YEARS.find((y) => y.year === 2026)?.source).toContain('2025-11-04');
    expect(calendarYearStatus(calendar, 2026)).toBe('published');
    expect(calendarYearStatus(calendar, 2027)).toBe('provisional');
    expect(calendarYearStatus(calendar, 2028)).toBe('missing');
    expect(isWorkingDay(calendar, 20280103, 1)).toBe(true); // a missing year: Monday-Friday
  });
});

describe('early-entry discount follows the calendar', () => {
  const network = parseSubwayNetwork(SUBWAY_CSV);
  const 土桥 = stationCode(network, '土桥');
  const 国贸 = stationCode(network, '国贸');
  const full = quoteSubwayFare(network, '土桥', '国贸').fareFen;
  const charge = (net: typeof network, ymd: number, hhmmss: number) =>
    priceSubwayTrip(net, {
      entryCode: 土桥,
      exitCode: 国贸,
      entryTimeMs: epochMsFromBeijing(ymd, hhmmss),
      exitTimeMs: epochMsFromBeijing(ymd, hhmmss) + 40 * 60_000,
      cardMonthKey: 0,
      cardMonthSpendFen: 0,
    }).chargeFen;

  it('half fare before 07:00 on working days only', () => {
    expect(charge(network, 20261012, 63000)).toBe(Math.floor(full / 2)); // Monday
    expect(charge(network, 20261010, 63000)).toBe(Math.floor(full / 2)); // Saturday made a working day
    expect(charge(network, 20261001, 63000)).toBe(full); // Thursday, 国庆
    expect(charge(network, 20270101, 63000)).toBe(full); // Friday, 元旦 2027 (provisional)
    expect(charge(network, 20261011, 63000)).toBe(full); // Sunday
  });

  it('07:00:00 itself: not by default, yes when the policy says so; 07:00:01 never, 06:59:59 always', () => {
    expect(charge(network, 20261012, 65959)).toBe(Math.floor(full / 2));
    expect(charge(network, 20261012, 70000)).toBe(full);
    expect(charge(network, 20261012, 70001)).toBe(full);
    const policy: SubwayFarePolicy = structuredClone(DEFAULT_SUBWAY_FARE_POLICY);
    policy.earlyEntry.boundaryCounts = true;
    const inclusive = parseSubwayNetwork(SUBWAY_CSV, policy);
    expect(charge(inclusive, 20261012, 65959)).toBe(Math.floor(full / 2));
    expect(charge(inclusive, 20261012, 70000)).toBe(Math.floor(full / 2));
    expect(charge(inclusive, 20261012, 70001)).toBe(full);
    expect(charge(inclusive, 20261001, 70000)).toBe(full); // still working days only
  });
});

describe('the calendar inside the fare-tables bundle', () => {
  const base = () => defaultFareTablesSpec(SUBWAY_CSV, 2, 0);

  it('travels in the bundle and decodes to the same working days', () => {
    const tables = parseFareTablesJson(encodeFareTablesJson(base()));
    expect(tables.spec.subwayPolicy.calendar.years?.map((y) => [y.year, y.provisional])).toEqual([
      [2026, false],
      [2027, true],
    ]);
    expect(isWorkingDay(tables.subway.policy.calendar, 20270101, 5)).toBe(false);
    expect(tables.spec.subwayPolicy.earlyEntry.boundaryCounts).toBe(false);
  });

  it('a bundle published before the yearly data (no years, no boundaryCounts) still decodes: Monday-Friday, 07:00:00 does not count', () => {
    const old = JSON.parse(encodeFareTablesJson(base()));
    delete old.subwayPolicy.calendar.years;
    delete old.subwayPolicy.earlyEntry.boundaryCounts;
    const tables = parseFareTablesJson(JSON.stringify(old));
    expect(isWorkingDay(tables.subway.policy.calendar, 20270101, 5)).toBe(true);
    expect(calendarYearStatus(tables.subway.policy.calendar, 2026)).toBe('missing');
  });

  it('a new year published as a new version is applied from its data', () => {
    const spec = base();
    spec.subwayPolicy.calendar.years!.push({ year: 2028, provisional: false, source: 'test notice', holidays: [20280103], workdays: [20280108] });
    const tables = parseFareTablesJson(encodeFareTablesJson(spec));
    expect(isWorkingDay(tables.subway.policy.calendar, 20280103, 1)).toBe(false);
    expect(isWorkingDay(tables.subway.policy.calendar, 20280108, 6)).toBe(true);
  });

  const refused: Array<[string, (years: NonNullable<SubwayFarePolicy['calendar']['years']>) => void, RegExp]> = [
    ['a date no calendar has', (y) => y[0].holidays.push(20260230), /20260230 is not a calendar date/],
    ['month 13', (y) => y[0].holidays.push(20261301), /20261301 is not a calendar date/],
    ['a weekday as a weekend working day', (y) => y[0].workdays.push(20261012), /2026-10-12 is a weekday/],
    ['a date both off and working', (y) => y[0].workdays.push(20260103), /2026-01-03 is already listed/],
    ['a date listed twice', (y) => y[0].holidays.push(20260101), /2026-01-01 is already listed/],
    ['a date outside its year', (y) => y[1].holidays.push(20261125), /2026-11-25 is outside 2027/],
    ['a year twice', (y) => y.push({ ...y[1], holidays: [], workdays: [] }), /2027: listed twice/],
    ['a year without a source', (y) => (y[0].source = ' '), /2026: source must name/],
  ];
  for (const [what, edit, message] of refused) {
    it(`refuses ${what}, saying which`, () => {
      const spec = base();
      edit(spec.subwayPolicy.calendar.years!);
      expect(() => parseFareTablesJson(encodeFareTablesJson(spec))).toThrow(FareTablesFormatError);
      expect(() => parseFareTablesJson(encodeFareTablesJson(spec))).toThrow(message);
    });
  }

  it('refuses mistyped calendar data before building', () => {
    for (const edit of [
      (c: Record<string, unknown>) => (c.years = 'x'),
      (c: Record<string, unknown>) => ((c.years as Array<Record<string, unknown>>)[0].provisional = 'no'),
      (c: Record<string, unknown>) => ((c.years as Array<Record<string, unknown>>)[0].holidays = ['2026-01-01']),
      (c: Record<string, unknown>) => delete (c.years as Array<Record<string, unknown>>)[1].source,
    ]) {
      const json = JSON.parse(encodeFareTablesJson(base()));
      edit(json.subwayPolicy.calendar);
      expect(() => parseFareTablesJson(JSON.stringify(json))).toThrow(/fare tables invalid: .*calendar/);
    }
  });
});
