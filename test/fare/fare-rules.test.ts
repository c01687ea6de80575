import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyPercentFen,
  applyTwoPercentsFen,
  beijingDateTime,
  busMarkAmountFen,
  busSegmentFareFen,
  buildFareTables,
  DEFAULT_BUS_FARE_POLICY,
  DEFAULT_SUBWAY_FARE_POLICY,
  defaultFareTablesSpec,
  encodeFareTablesJson,
  epochMsFromBeijing,
  EXAMPLE_BUS_LINES,
  EXAMPLE_PARK_AND_RIDE_LOTS,
  EXAMPLE_SUBURBAN_RAIL,
  FareTablesFormatError,
  isParkPassValidOn,
  isWorkingDay,
  monthlyLadderPercent,
  parkingChargeFen,
  parseFareTablesJson,
  parseSubwayNetwork,
  priceSubwayTrip,
  quoteSubwayFare,
  selectFareTables,
  stationCode,
  suburbanFareFen,
  validParkPassSlot,
} from '#core';
import { SUBWAY_CSV } from './subway-data.ts';

const network = parseSubwayNetwork(SUBWAY_CSV);
const HOUR = 3_600_000;

describe('Beijing time', () => {
  it('is UTC+8 with the right weekday', () => {
    // 2026-11-26 23:59:30 UTC = 2026-11-27 07:59:30 Beijing, a Friday.
    const t = beijingDateTime(Date.UTC(2026, 10, 26, 23, 59, 30));
    expect(t).toMatchObject({ date: 20261127, time: 75930, month: 202611, weekday: 5, minutesOfDay: 479 });
    expect(beijingDateTime(0)).toMatchObject({ date: 19700101, time: 80000, weekday: 4 });
  });
  it('round-trips with epochMsFromBeijing and agrees with Date', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_102_444_800_000 }), (ms) => {
        const t = beijingDateTime(ms);
        const d = new Date(ms + 8 * HOUR);
        expect(t.date).toBe(d.getUTCFullYear() * 10000 + (d.getUTCMonth() + 1) * 100 + d.getUTCDate());
        expect(t.weekday).toBe(((d.getUTCDay() + 6) % 7) + 1);
        expect(epochMsFromBeijing(t.date, t.time)).toBe(Math.floor(ms / 1000) * 1000);
      }),
    );
  });
});

describe('rounding', () => {
  it('floors once, never above the amount', () => {
    expect(applyPercentFen(300, 80)).toBe(240);
    expect(applyPercentFen(301, 50)).toBe(150);
    expect(applyTwoPercentsFen(500, 50, 80)).toBe(200);
    expect(applyTwoPercentsFen(333, 50, 50)).toBe(83);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 100 }), (a, p, q) => {
        const v = applyTwoPercentsFen(a, p, q);
        expect(Number.isInteger(v)).toBe(true);
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(a);
      }),
    );
  });
});

describe('monthly ladder', () => {
  const ladder = DEFAULT_SUBWAY_FARE_POLICY.monthlyLadder;
  it.each([
    [0, 100],
    [9_999, 100],
    [10_000, 80],
    [14_999, 80],
    [15_000, 50],
    [39_999, 50],
    [40_000, 100],
    [1_000_000, 100],
  ])('spend %i fen before → %i%%', (spend, percent) => {
    expect(monthlyLadderPercent(ladder, spend)).toBe(percent);
  });
});

describe('subway trip fare', () => {
  const 东单 = stationCode(network, '东单');
  const 天安门西 = stationCode(network, '天安门西');
  const 土桥 = stationCode(network, '土桥');
  const 国贸 = stationCode(network, '国贸');
  // Wednesday 2026-11-25.
  const wed = (hhmmss: number) => epochMsFromBeijing(20261125, hhmmss);
  const trip = (entryCode: number, exitCode: number, entryMs: number, exitMs: number, monthKey = 0, spend = 0) =>
    priceSubwayTrip(network, { entryCode, exitCode, entryTimeMs: entryMs, exitTimeMs: exitMs, cardMonthKey: monthKey, cardMonthSpendFen: spend });

  it('full fare under 100 yuan, then 80%, 50%, full again; spend judged before the trip', () => {
    expect(trip(天安门西, 东单, wed(90000), wed(91000)).chargeFen).toBe(300);
    expect(trip(天安门西, 东单, wed(90000), wed(91000), 202611, 9_999).chargeFen).toBe(300);
    expect(trip(天安门西, 东单, wed(90000), wed(91000), 202611, 10_000).chargeFen).toBe(240);
    expect(trip(天安门西, 东单, wed(90000), wed(91000), 202611, 15_000).chargeFen).toBe(150);
    expect(trip(天安门西, 东单, wed(90000), wed(91000), 202611, 40_000).chargeFen).toBe(300);
  });

  it('a new month starts the ladder again', () => {
    const r = trip(天安门西, 东单, wed(90000), wed(91000), 202610, 20_000);
    expect(r.chargeFen).toBe(300);
    expect(r.monthKey).toBe(202611);
    expect(r.monthSpendAfterFen).toBe(300);
  });

  it('adds the overtime fare in full over 4 hours', () => {
    const r = trip(天安门西, 东单, wed(90000), wed(90000) + 4 * HOUR + 1000, 202611, 15_000);
    expect(r).toMatchObject({ fareFen: 600, overtimeFen: 300, chargeFen: 150 + 300, discountFen: 150 });
    expect(trip(天安门西, 东单, wed(90000), wed(90000) + 4 * HOUR).overtimeFen).toBe(0);
  });

  it('early entry before 07:00 on a working day at a listed station pays 50%, multiplied with the ladder', () => {
    const full = quoteSubwayFare(network, '土桥', '国贸').fareFen;
    expect(trip(土桥, 国贸, wed(65959), wed(75000)).chargeFen).toBe(full / 2);
    expect(trip(土桥, 国贸, wed(70000), wed(75000)).chargeFen).toBe(full);
    expect(trip(土桥, 国贸, wed(65000), wed(75000), 202611, 10_000).chargeFen).toBe(applyTwoPercentsFen(full, 50, 80));
    // Saturday: no discount.
    expect(trip(土桥, 国贸, epochMsFromBeijing(20261128, 60000), epochMsFromBeijing(20261128, 70000)).chargeFen).toBe(full);
    // 国贸 is not on the list.
    expect(trip(国贸, 土桥, wed(60000), wed(70000)).chargeFen).toBe(full);
  });

  it('working-day calendar: holidays off, adjusted workdays on', () => {
    const cal = { holidays: [20261001], workdays: [20260927] };
    expect(isWorkingDay(cal, 20261001, 4)).toBe(false);
    expect(isWorkingDay(cal, 20260927, 7)).toBe(true);
    expect(isWorkingDay(cal, 20261002, 5)).toBe(true);
    expect(isWorkingDay(cal, 20261003, 6)).toBe(false);
  });

  it('same-station exit inside the window is free, later is the minimum fare', () => {
    expect(trip(东单, 东单, wed(90000), wed(90400)).chargeFen).toBe(0);
    expect(trip(东单, 东单, wed(90000), wed(91000)).chargeFen).toBe(300);
  });

  it('never negative and never above the undiscounted fare', () => {
    const n = network.stationCount;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: n }),
        fc.integer({ min: 1, max: n }),
        fc.integer({ min: 0, max: 86_400_000 * 2 }),
        fc.integer({ min: 0, max: 10 * HOUR }),
        fc.integer({ min: 0, max: 60_000 }),
        (a, b, startOffset, duration, spend) => {
          const entry = wed(0) + startOffset;
          const r = trip(a, b, entry, entry + duration, beijingDateTime(entry + duration).month, spend);
          expect(r.chargeFen).toBeGreaterThanOrEqual(0);
          expect(r.chargeFen).toBeLessThanOrEqual(r.fareFen);
          expect(r.discountFen).toBe(r.fareFen - r.chargeFen);
        },
      ),
      { numRuns: 1_000 },
    );
  });
});

describe('bus', () => {
  const seg = EXAMPLE_BUS_LINES.find((l) => l.lineId === 801)!;
  it.each([
    [0, 1, 200],
    [0, 3, 200],
    [0, 4, 300],
    [0, 5, 400],
    [0, 6, 500],
    [0, 7, 600],
    [7, 0, 600],
    [3, 5, 200],
  ])('801 stop %i → %i: %i fen', (a, b, fare) => {
    expect(busSegmentFareFen(DEFAULT_BUS_FARE_POLICY, seg, a, b)).toBe(fare);
  });
  it('mark amount is the fare to the farther terminus', () => {
    expect(busMarkAmountFen(DEFAULT_BUS_FARE_POLICY, seg, 0)).toBe(600);
    expect(busMarkAmountFen(DEFAULT_BUS_FARE_POLICY, seg, 3)).toBe(400);
    expect(busMarkAmountFen(DEFAULT_BUS_FARE_POLICY, seg, 7)).toBe(600);
  });
  it('profile percentages: adult 50, student 25, senior 0', () => {
    const p = DEFAULT_BUS_FARE_POLICY.profilePercent;
    expect([applyPercentFen(500, p.adult), applyPercentFen(500, p.student), applyPercentFen(500, p.senior)]).toEqual([250, 125, 0]);
  });
});

describe('suburban', () => {
  it('prices by distance between example stations', () => {
    expect(suburbanFareFen(EXAMPLE_SUBURBAN_RAIL, 1, 2)).toEqual({ distanceM: 18_000, fareFen: 300 });
    expect(suburbanFareFen(EXAMPLE_SUBURBAN_RAIL, 1, 3)).toEqual({ distanceM: 41_000, fareFen: 700 });
    expect(suburbanFareFen(EXAMPLE_SUBURBAN_RAIL, 4, 1)).toEqual({ distanceM: 73_000, fareFen: 900 });
  });
});

describe('P+R', () => {
  const lot = EXAMPLE_PARK_AND_RIDE_LOTS[0];
  const t = (ymd: number, hhmmss: number) => epochMsFromBeijing(ymd, hhmmss);
  it('preferential rate when a transit tap falls inside the stay', () => {
    const r = parkingChargeFen(lot, t(20261125, 80000), t(20261125, 190000), t(20261125, 83000), 0, 0);
    expect(r).toEqual({ chargeFen: 200, preferential: true, exitDay: 20261125, exitDayChargedFen: 200 });
  });
  it('per started hour otherwise, capped per calendar day', () => {
    expect(parkingChargeFen(lot, t(20261125, 80000), t(20261125, 80001), 0, 0, 0).chargeFen).toBe(500);
    expect(parkingChargeFen(lot, t(20261125, 80000), t(20261125, 100000), 0, 0, 0).chargeFen).toBe(1_000);
    expect(parkingChargeFen(lot, t(20261125, 80000), t(20261125, 100001), 0, 0, 0).chargeFen).toBe(1_500);
    expect(parkingChargeFen(lot, t(20261125, 80000), t(20261125, 200000), 0, 0, 0).chargeFen).toBe(3_000);
    // Two days: 08:00-24:00 capped 30, then 00:00-10:00 on day two (10 hours) capped 30.
    expect(parkingChargeFen(lot, t(20261125, 80000), t(20261126, 100000), 0, 0, 0).chargeFen).toBe(6_000);
    // Transit tap before the stay does not count.
    expect(parkingChargeFen(lot, t(20261125, 80000), t(20261125, 90000), t(20261125, 70000), 0, 0).preferential).toBe(false);
  });
  it('the daily cap spans stays on the same day', () => {
    const r = parkingChargeFen(lot, t(20261125, 150000), t(20261125, 200000), 0, 20261125, 2_500);
    expect(r.chargeFen).toBe(500);
    expect(r.exitDayChargedFen).toBe(3_000);
  });
});

describe('park pass', () => {
  it('year Y is valid 1 Jan Y to 31 Jan Y+1 inclusive', () => {
    expect(isParkPassValidOn(2026, 20251231)).toBe(false);
    expect(isParkPassValidOn(2026, 20260101)).toBe(true);
    expect(isParkPassValidOn(2026, 20270131)).toBe(true);
    expect(isParkPassValidOn(2026, 20270201)).toBe(false);
    expect(isParkPassValidOn(0, 20260101)).toBe(false);
  });
  it('picks the valid pass with the higher year', () => {
    const p = (year: number) => ({ year, visits: 0, lastParkId: 0, lastEntryTime: 0 });
    expect(validParkPassSlot([p(2026), p(2027)], 20270115)).toBe(1);
    expect(validParkPassSlot([p(2026), p(0)], 20270115)).toBe(0);
    expect(validParkPassSlot([p(2026), p(0)], 20270201)).toBe(-1);
  });
});

describe('fare tables', () => {
  it('round-trip through JSON and rebuild the same network', () => {
    const tables = buildFareTables(defaultFareTablesSpec(SUBWAY_CSV, 7, 1_000));
    const again = parseFareTablesJson(encodeFareTablesJson(tables));
    expect(again.version).toBe(7);
    expect(again.spec).toEqual(tables.spec);
    expect(Array.from(again.subway.fareFen)).toEqual(Array.from(tables.subway.fareFen));
  });
  it('rejects malformed bundles with a clear error', () => {
    expect(() => parseFareTablesJson('nope')).toThrow(FareTablesFormatError);
    expect(() => parseFareTablesJson('{"format":"fare-tables/1"}')).toThrow(/missing version/);
    const spec = defaultFareTablesSpec(SUBWAY_CSV, 1, 0);
    spec.subwayPolicy.monthlyLadder[1].percent = 120;
    expect(() => parseFareTablesJson(encodeFareTablesJson(spec))).toThrow(FareTablesFormatError);
  });
  it('selects the table in force', () => {
    const list = [
      { version: 1, effectiveFromMs: 0 },
      { version: 2, effectiveFromMs: 1_000 },
      { version: 3, effectiveFromMs: 5_000 },
    ];
    expect(selectFareTables(list, 999)?.version).toBe(1);
    expect(selectFareTables(list, 1_000)?.version).toBe(2);
    expect(selectFareTables(list, 10_000)?.version).toBe(3);
    expect(selectFareTables(list, -1)).toBeNull();
  });
});
