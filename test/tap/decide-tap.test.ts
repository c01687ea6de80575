import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyTwoPercentsFen,
  type CardView,
  decideTap,
  deviceConfig,
  type DeviceKind,
  emptyTripRecord,
  epochMsFromBeijing,
  NOT_LISTED,
  quoteSubwayFare,
  stationCode,
  TAP_RESULT,
  TAP_RESULT_MESSAGE,
  TAP_RESULT_PRECEDENCE,
  type TripRecord,
} from '#core';
import { FARES, makeCard, sec, wed } from './fixtures.ts';

const net = FARES.subway;
const 东单 = stationCode(net, '东单');
const 天安门西 = stationCode(net, '天安门西');
const 花园桥 = stationCode(net, '花园桥');
const 潞城 = stationCode(net, '潞城');
const 土桥 = stationCode(net, '土桥');
const 国贸 = stationCode(net, '国贸');
const 大兴机场 = stationCode(net, '大兴机场');

const entryGate = (code: number) => deviceConfig({ deviceId: 'G1', kind: 'subway-entry', stationCode: code });
const exitGate = (code: number) => deviceConfig({ deviceId: 'G2', kind: 'subway-exit', stationCode: code });
const bus = (line: number, stop: number) => deviceConfig({ deviceId: 'B1', kind: 'bus', busLine: line, busStop: stop });
const trip = (fields: Partial<TripRecord>): TripRecord => ({ ...emptyTripRecord(), ...fields });
const inSubway = (code: number, atMs: number, extra: Partial<TripRecord> = {}) =>
  trip({ journey: 'subway', journeyPlace: code, journeyTime: sec(atMs), journeyFareVersion: 3, ...extra });
const decide = (card: CardView, device = entryGate(东单), nowMs = wed(90000), blacklist = NOT_LISTED) =>
  decideTap({ card, device, blacklist, fares: FARES, nowMs });

describe('result codes', () => {
  it('are unique, all in the precedence table, all with a message', () => {
    const values = Object.values(TAP_RESULT);
    expect(new Set(values).size).toBe(values.length);
    expect([...TAP_RESULT_PRECEDENCE].sort()).toEqual([...values].sort());
    for (const v of values) expect(TAP_RESULT_MESSAGE[v]).toBeTruthy();
  });
  it('never renumbered', () => {
    expect(TAP_RESULT).toMatchObject({
      ACCEPTED: 0,
      OVERTIME_CHARGED: 1,
      TORN_TRANSACTION_RECOVERED: 2,
      BLACKLISTED_AND_LOCKED: 10,
      CARD_LOCKED: 11,
      BLACKLISTED: 12,
      INSUFFICIENT_BALANCE: 20,
      NO_ENTRY_RECORD: 23,
      MAC_FAILURE: 40,
      CARD_REMOVED: 42,
    });
  });
});

describe('card-level checks and their precedence', () => {
  it.each([
    ['final blacklisting locks', makeCard(), { listed: true, reason: 'formal-loss' }, TAP_RESULT.BLACKLISTED_AND_LOCKED, true],
    ['cloned locks', makeCard(), { listed: true, reason: 'cloned' }, TAP_RESULT.BLACKLISTED_AND_LOCKED, true],
    ['already locked + final: no second lock', makeCard({ locked: true }), { listed: true, reason: 'replaced' }, TAP_RESULT.CARD_LOCKED, false],
    ['temporary loss refused, not locked', makeCard(), { listed: true, reason: 'temporary-loss' }, TAP_RESULT.BLACKLISTED, false],
    ['locked card refused with a stale list', makeCard({ locked: true }), { listed: false }, TAP_RESULT.CARD_LOCKED, false],
    ['locked beats temporary loss', makeCard({ locked: true }), { listed: true, reason: 'temporary-loss' }, TAP_RESULT.CARD_LOCKED, false],
    ['generation 2', makeCard({ generation: 2 }), { listed: false }, TAP_RESULT.WRONG_GENERATION, false],
    ['transit not opened', makeCard({ transitOpened: false }), { listed: false }, TAP_RESULT.TRANSIT_NOT_OPENED, false],
    ['expired', makeCard({ expiryDate: 20261124 }), { listed: false }, TAP_RESULT.CARD_EXPIRED, false],
    ['negative balance', makeCard({ balanceFen: 100, overdraftUsedFen: 200 }), { listed: false }, TAP_RESULT.NEGATIVE_BALANCE, false],
    ['under 3 yuan', makeCard({ balanceFen: 299 }), { listed: false }, TAP_RESULT.INSUFFICIENT_BALANCE, false],
    ['exactly 3 yuan', makeCard({ balanceFen: 300 }), { listed: false }, TAP_RESULT.ACCEPTED, false],
  ] as const)('%s', (_, card, blacklist, code, lock) => {
    const d = decide(card as CardView, entryGate(东单), wed(90000), blacklist as never);
    expect(d.resultCode).toBe(code);
    expect(d.lock).toBe(lock);
    expect(d.accepted).toBe(code === TAP_RESULT.ACCEPTED);
    if (!d.accepted) expect(d.chargeFen).toBe(0);
  });

  it('an expired card may still exit', () => {
    const card = makeCard({ expiryDate: 20261124, trip: inSubway(天安门西, wed(85000)) });
    expect(decide(card, exitGate(东单)).resultCode).toBe(TAP_RESULT.ACCEPTED);
  });
});

describe('subway', () => {
  it('entry is a zero-amount purchase writing the entry', () => {
    const d = decide(makeCard(), entryGate(东单), wed(90000));
    expect(d).toMatchObject({ accepted: true, chargeFen: 0, fareFen: 0, lock: false });
    expect(d.newTrip).toMatchObject({
      journey: 'subway',
      journeyPlace: 东单,
      journeyTime: sec(wed(90000)),
      journeyFareVersion: 3,
      lastTransitTime: sec(wed(90000)),
    });
  });

  it('exit charges the distance fare and closes the journey, updating the month spend', () => {
    const d = decide(makeCard({ trip: inSubway(花园桥, wed(80000)) }), exitGate(潞城), wed(90000));
    expect(d).toMatchObject({ resultCode: TAP_RESULT.ACCEPTED, chargeFen: 700, fareFen: 700, discountFen: 0 });
    expect(d.newTrip).toMatchObject({ journey: 'none', journeyPlace: 0, monthKey: 202611, monthRailSpendFen: 700 });
  });

  it('applies the ladder on spend before the trip', () => {
    const d = decide(makeCard({ trip: inSubway(花园桥, wed(80000), { monthKey: 202611, monthRailSpendFen: 9_900 }) }), exitGate(潞城), wed(90000));
    expect(d.chargeFen).toBe(700);
    const d2 = decide(makeCard({ trip: inSubway(花园桥, wed(80000), { monthKey: 202611, monthRailSpendFen: 10_000 }) }), exitGate(潞城), wed(90000));
    expect(d2).toMatchObject({ chargeFen: 560, fareFen: 700, discountFen: 140 });
    expect(d2.newTrip?.monthRailSpendFen).toBe(10_560);
  });

  it('overtime: accepted with the overtime code and +3 yuan', () => {
    const d = decide(makeCard({ trip: inSubway(天安门西, wed(50000)) }), exitGate(东单), wed(90001));
    expect(d).toMatchObject({ resultCode: TAP_RESULT.OVERTIME_CHARGED, accepted: true, chargeFen: 600, fareFen: 600 });
  });

  it('early entry discount at 土桥 before 07:00 on a working day', () => {
    const full = quoteSubwayFare(net, '土桥', '国贸').fareFen;
    const d = decide(makeCard({ trip: inSubway(土桥, wed(64500)) }), exitGate(国贸), wed(74500));
    expect(d.chargeFen).toBe(applyTwoPercentsFen(full, 50, 100));
  });

  it('exit without entry is refused (service desk)', () => {
    expect(decide(makeCard(), exitGate(东单)).resultCode).toBe(TAP_RESULT.NO_ENTRY_RECORD);
    expect(
      decide(makeCard({ trip: trip({ journey: 'bus', journeyLine: 801, journeyMarkFen: 600, journeyTime: sec(wed(80000)) }) }), exitGate(东单)).resultCode,
    ).toBe(TAP_RESULT.NO_ENTRY_RECORD);
  });

  it('same-station exit within 5 minutes is free', () => {
    const d = decide(makeCard({ trip: inSubway(东单, wed(90000)) }), exitGate(东单), wed(90400));
    expect(d).toMatchObject({ accepted: true, chargeFen: 0 });
    expect(decide(makeCard({ trip: inSubway(东单, wed(90000)) }), exitGate(东单), wed(91000)).chargeFen).toBe(300);
  });

  it('entry with a recent open entry is refused; a stale one is settled at the max fare', () => {
    expect(decide(makeCard({ trip: inSubway(天安门西, wed(80000)) }), entryGate(东单), wed(90000)).resultCode).toBe(TAP_RESULT.ALREADY_ENTERED);
    const d = decide(makeCard({ trip: inSubway(天安门西, wed(40000)) }), entryGate(东单), wed(90000));
    expect(d).toMatchObject({ accepted: true, chargeFen: net.maxFareFromFen[天安门西], settledFen: net.maxFareFromFen[天安门西] });
    expect(d.newTrip).toMatchObject({ journey: 'subway', journeyPlace: 东单 });
  });

  it('exit beyond the overdraft floor is refused with the shortfall; inside the floor goes negative', () => {
    const card = makeCard({ balanceFen: 300, overdraftLimitFen: 2_000, trip: inSubway(大兴机场, wed(80000)) });
    const d = decide(card, exitGate(东单), wed(90000));
    const fare = quoteSubwayFare(net, '大兴机场', '东单').fareFen;
    expect(d).toMatchObject({ resultCode: TAP_RESULT.INSUFFICIENT_BALANCE, accepted: false, fareFen: fare, shortfallFen: fare - 2_300 });
    const ok = decide(makeCard({ balanceFen: 300, trip: inSubway(花园桥, wed(80000)) }), exitGate(潞城), wed(90000));
    expect(ok).toMatchObject({ accepted: true, chargeFen: 700 });
  });
});

describe('bus', () => {
  it('flat line charges at boarding with the profile discount', () => {
    expect(decide(makeCard(), bus(1, 0)).chargeFen).toBe(100);
    expect(decide(makeCard({ profile: 'student' }), bus(1, 0)).chargeFen).toBe(50);
    expect(decide(makeCard({ profile: 'senior', balanceFen: 0 }), bus(1, 0))).toMatchObject({ accepted: true, chargeFen: 0 });
    expect(decide(makeCard({ balanceFen: 99 }), bus(1, 0)).resultCode).toBe(TAP_RESULT.INSUFFICIENT_BALANCE);
  });

  it('segmented tap-on writes stop and mark amount; tap-off charges by distance', () => {
    const on = decide(makeCard(), bus(801, 1), wed(80000));
    expect(on).toMatchObject({ accepted: true, chargeFen: 0 });
    expect(on.newTrip).toMatchObject({ journey: 'bus', journeyLine: 801, journeyPlace: 1, journeyMarkFen: 500 });
    const off = decide(makeCard({ trip: on.newTrip! }), bus(801, 6), wed(83000));
    // 3.1 km → 22.05 km = 18.95 km: 2 + 2 = 4 yuan, adult 50%.
    expect(off).toMatchObject({ accepted: true, fareFen: 400, chargeFen: 200 });
    expect(off.newTrip?.journey).toBe('none');
  });

  it('a double tap at the boarding stop is refused', () => {
    const on = decide(makeCard(), bus(801, 1), wed(80000));
    expect(decide(makeCard({ trip: on.newTrip! }), bus(801, 1), wed(80030)).resultCode).toBe(TAP_RESULT.ALREADY_ENTERED);
  });

  it('a missing tap-off is charged undiscounted at the next tap, on any device', () => {
    const open = trip({ journey: 'bus', journeyLine: 801, journeyPlace: 0, journeyMarkFen: 600, journeyTime: sec(wed(70000)) });
    const other = decide(makeCard({ trip: open }), bus(902, 0), wed(90000));
    expect(other).toMatchObject({ accepted: true, chargeFen: 600, settledFen: 600 });
    expect(other.newTrip).toMatchObject({ journeyLine: 902 });
    const subway = decide(makeCard({ trip: open, profile: 'senior' }), entryGate(东单), wed(90000));
    expect(subway).toMatchObject({ accepted: true, chargeFen: 600, fareFen: 600, discountFen: 0 });
    const flat = decide(makeCard({ trip: open }), bus(1, 0), wed(90000));
    expect(flat).toMatchObject({ chargeFen: 600 + 100, fareFen: 600 + 200 });
  });

  it('a tap on the same segmented line after the ride window is a new boarding that first settles the old mark', () => {
    const on = decide(makeCard(), bus(801, 1), wed(80000));
    // Next day, same line: the rider never tapped off yesterday; this is not yesterday's tap-off.
    const nextDay = decide(makeCard({ trip: on.newTrip! }), bus(801, 6), wed(80000) + 86_400_000);
    expect(nextDay).toMatchObject({ accepted: true, chargeFen: 500, fareFen: 500, settledFen: 500, discountFen: 0 });
    expect(nextDay.newTrip).toMatchObject({ journey: 'bus', journeyLine: 801, journeyPlace: 6 });
    // Inside the window it is still the tap-off.
    const sameRide = decide(makeCard({ trip: on.newTrip! }), bus(801, 6), wed(80000) + FARES.spec.busPolicy.maxRideMs! - 1_000);
    expect(sameRide).toMatchObject({ accepted: true, chargeFen: 200 });
    expect(sameRide.newTrip?.journey).toBe('none');
  });

  it('an expired card may still tap off the ride it boarded (a journey begun validly can end)', () => {
    const on = decide(makeCard({ expiryDate: 20261125 }), bus(801, 1), wed(233000));
    expect(on.accepted).toBe(true);
    const off = decide(makeCard({ expiryDate: 20261125, trip: on.newTrip! }), bus(801, 6), epochMsFromBeijing(20261126, 1000));
    expect(off).toMatchObject({ accepted: true, chargeFen: 200 });
    // A new boarding after expiry is still refused.
    expect(decide(makeCard({ expiryDate: 20261125 }), bus(801, 1), epochMsFromBeijing(20261126, 1000)).resultCode).toBe(TAP_RESULT.CARD_EXPIRED);
  });

  it('refuses an unknown line or stop as a device configuration error', () => {
    expect(decide(makeCard(), bus(999, 0)).resultCode).toBe(TAP_RESULT.DEVICE_CONFIG_ERROR);
    expect(decide(makeCard(), bus(801, 99)).resultCode).toBe(TAP_RESULT.DEVICE_CONFIG_ERROR);
  });
});

describe('suburban', () => {
  const sub = (kind: DeviceKind, code: number) => deviceConfig({ deviceId: 'S', kind, stationCode: code });
  it('needs the function opened', () => {
    expect(decide(makeCard(), sub('suburban-entry', 1)).resultCode).toBe(TAP_RESULT.FUNCTION_NOT_OPENED);
  });
  it('charges by the suburban table at exit', () => {
    const on = decide(makeCard({ suburbanOpened: true }), sub('suburban-entry', 1), wed(80000));
    expect(on.newTrip).toMatchObject({ journey: 'suburban', journeyPlace: 1 });
    const off = decide(makeCard({ suburbanOpened: true, trip: on.newTrip! }), sub('suburban-exit', 3), wed(90000));
    expect(off).toMatchObject({ accepted: true, chargeFen: 700 });
  });
});

describe('P+R', () => {
  const pr = (kind: DeviceKind, lotId = 1) => deviceConfig({ deviceId: 'P', kind, lotId });
  it('preferential rate with a transit tap during the stay, else hourly', () => {
    const on = decide(makeCard(), pr('pr-entry'), wed(70000));
    expect(on.newTrip).toMatchObject({ parkingLot: 1, parkingEntryTime: sec(wed(70000)) });
    const withRide = { ...on.newTrip!, lastTransitTime: sec(wed(73000)) };
    expect(decide(makeCard({ trip: withRide }), pr('pr-exit'), wed(190000)).chargeFen).toBe(200);
    const noRide = decide(makeCard({ trip: on.newTrip! }), pr('pr-exit'), wed(93000));
    expect(noRide.chargeFen).toBe(1_500);
    expect(noRide.newTrip).toMatchObject({ parkingLot: 0, parkingDay: 20261125, parkingDayChargedFen: 1_500 });
  });
  it('refuses a second entry and an exit at another lot', () => {
    const on = decide(makeCard(), pr('pr-entry'), wed(70000));
    expect(decide(makeCard({ trip: on.newTrip! }), pr('pr-entry', 2), wed(80000)).resultCode).toBe(TAP_RESULT.ALREADY_ENTERED);
    expect(decide(makeCard({ trip: on.newTrip! }), pr('pr-exit', 2), wed(80000)).resultCode).toBe(TAP_RESULT.NO_ENTRY_RECORD);
  });
});

describe('park gate', () => {
  const gate = (parkId: number) => deviceConfig({ deviceId: 'K', kind: 'park-gate', parkId });
  const pass = (year: number, lastParkId = 0, lastEntryTime = 0) => ({ year, visits: 3, lastParkId, lastEntryTime });
  it('counts a visit on the valid pass', () => {
    const d = decide(makeCard({ parkPasses: [pass(0), pass(2026)] }), gate(1), wed(100000));
    expect(d).toMatchObject({ accepted: true, chargeFen: 0, newTrip: null });
    expect(d.newParkPass).toEqual({ slot: 1, record: { year: 2026, visits: 4, lastParkId: 1, lastEntryTime: sec(wed(100000)) } });
  });
  it('uses the previous-year pass in January', () => {
    const jan = epochMsFromBeijing(20270120, 100000);
    const d = decide(makeCard({ parkPasses: [pass(2026), pass(0)] }), gate(2), jan);
    expect(d.newParkPass?.slot).toBe(0);
  });
  it('anti-passback within 10 minutes at the same park only', () => {
    const card = makeCard({ parkPasses: [pass(0), pass(2026, 1, sec(wed(95500)))] });
    expect(decide(card, gate(1), wed(100000)).resultCode).toBe(TAP_RESULT.ANTI_PASSBACK);
    expect(decide(card, gate(1), wed(100600)).accepted).toBe(true);
    expect(decide(card, gate(2), wed(100000)).accepted).toBe(true);
  });
  it('no pass: refuse, or sell the single ticket where the park has one', () => {
    expect(decide(makeCard(), gate(1)).resultCode).toBe(TAP_RESULT.NO_VALID_PASS);
    expect(decide(makeCard({ parkPasses: [pass(0), pass(2026)] }), gate(101))).toMatchObject({ accepted: true, chargeFen: 1_000 });
    expect(decide(makeCard({ balanceFen: 999 }), gate(101)).resultCode).toBe(TAP_RESULT.INSUFFICIENT_BALANCE);
    expect(decide(makeCard({ parkPasses: [pass(2020), pass(0)] }), gate(1)).resultCode).toBe(TAP_RESULT.NO_VALID_PASS);
  });
  it('works without the transit function', () => {
    expect(decide(makeCard({ transitOpened: false, parkPasses: [pass(0), pass(2026)] }), gate(1)).accepted).toBe(true);
  });
});

describe('properties', () => {
  const kinds: DeviceKind[] = ['subway-entry', 'subway-exit', 'bus', 'suburban-entry', 'suburban-exit', 'pr-entry', 'pr-exit', 'park-gate'];
  const arbDevice = fc
    .record({
      kind: fc.constantFrom(...kinds),
      station: fc.integer({ min: 1, max: net.stationCount }),
      sub: fc.integer({ min: 1, max: 4 }),
      line: fc.constantFrom(1, 3, 801, 902),
      stop: fc.integer({ min: 0, max: 3 }),
      lot: fc.integer({ min: 1, max: 3 }),
      park: fc.constantFrom(1, 5, 101),
    })
    .map((d) =>
      deviceConfig({
        deviceId: 'X',
        kind: d.kind,
        stationCode: d.kind.startsWith('suburban') ? d.sub : d.station,
        busLine: d.line,
        busStop: d.stop,
        lotId: d.lot,
        parkId: d.park,
      }),
    );
  const arbTrip = fc.record({
    journey: fc.constantFrom('none', 'subway', 'bus', 'suburban') as fc.Arbitrary<TripRecord['journey']>,
    place: fc.integer({ min: 1, max: 4 }),
    ageMs: fc.integer({ min: 0, max: 10 * 3_600_000 }),
    mark: fc.integer({ min: 0, max: 1_000 }),
    spend: fc.integer({ min: 0, max: 50_000 }),
    parked: fc.boolean(),
  });
  const arbCard = fc.record({
    balance: fc.integer({ min: 0, max: 100_000 }),
    used: fc.integer({ min: 0, max: 2_000 }),
    profile: fc.constantFrom('adult', 'student', 'senior') as fc.Arbitrary<CardView['profile']>,
    suburban: fc.boolean(),
    trip: arbTrip,
  });
  const nowMs = wed(120000);

  it('a charge is never negative, never beyond the floor, never above the fare (except settled marks) and refusals charge nothing', () => {
    fc.assert(
      fc.property(arbDevice, arbCard, (device, c) => {
        const t = c.trip;
        const card = makeCard({
          balanceFen: c.balance,
          overdraftUsedFen: c.used,
          profile: c.profile,
          suburbanOpened: c.suburban,
          trip: trip({
            journey: t.journey,
            journeyPlace: t.journey === 'none' ? 0 : t.place,
            journeyLine: t.journey === 'bus' ? 801 : 0,
            journeyTime: t.journey === 'none' ? 0 : sec(nowMs - t.ageMs),
            journeyMarkFen: t.journey === 'bus' ? t.mark : 0,
            monthKey: 202611,
            monthRailSpendFen: t.spend,
            parkingLot: t.parked ? 1 : 0,
            parkingEntryTime: t.parked ? sec(nowMs - t.ageMs) : 0,
          }),
        });
        const d = decideTap({ card, device, blacklist: NOT_LISTED, fares: FARES, nowMs });
        expect(d.chargeFen).toBeGreaterThanOrEqual(0);
        expect(Number.isSafeInteger(d.chargeFen)).toBe(true);
        expect(d.chargeFen).toBeLessThanOrEqual(d.fareFen);
        expect(d.discountFen).toBe(d.accepted ? d.fareFen - d.chargeFen : 0);
        if (!d.accepted) {
          expect(d.chargeFen).toBe(0);
          expect(d.newTrip).toBeNull();
        } else {
          expect(card.balanceFen - card.overdraftUsedFen - d.chargeFen).toBeGreaterThanOrEqual(-card.overdraftLimitFen);
          // The journey charged at exit is never also charged at entry: an entry/boarding
          // charges only what settles an earlier unfinished journey (plus a flat bus fare).
          if (device.kind === 'subway-entry' || device.kind === 'suburban-entry' || device.kind === 'pr-entry') {
            expect(d.chargeFen).toBe(d.settledFen);
          }
        }
      }),
      { numRuns: 3_000 },
    );
  });

  it('the monthly ladder never charges more than the undiscounted fare', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: net.stationCount }),
        fc.integer({ min: 1, max: net.stationCount }),
        fc.integer({ min: 0, max: 60_000 }),
        (a, b, spend) => {
          const card = makeCard({ balanceFen: 100_000, trip: inSubway(a, wed(110000), { monthKey: 202611, monthRailSpendFen: spend }) });
          const d = decide(card, exitGate(b), wed(113000));
          expect(d.accepted).toBe(true);
          expect(d.chargeFen).toBeLessThanOrEqual(d.fareFen);
          expect(d.fareFen).toBe(quoteSubwayFare(net, net.stationNames[a], net.stationNames[b]).fareFen);
        },
      ),
      { numRuns: 1_000 },
    );
  });
});
