/**
 * Other cities' T-Union cards at every Beijing validator kind (issue 18): an unlisted issuer is
 * refused with its own code; a listed one pays Beijing fares under its issuer's policy record
 * (default: no monthly ladder, no bus or early-entry discount, no overdraft); a blacklisted
 * foreign card is refused without being locked.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CardView,
  DEFAULT_ISSUER_REGISTRY,
  type DeviceConfig,
  HOME_ISSUER_ID,
  IssuerAllowList,
  type IssuerPolicy,
  NOT_LISTED,
  TAP_RESULT,
  applyTwoPercentsFen,
  decideTap,
  defaultIssuerPolicy,
  deviceConfig,
  emptyTripRecord,
  makeTUnionCardNo,
  quoteSubwayFare,
  stationCode,
  type TripRecord,
} from '#core';
import { FARES, makeCard, sec, wed } from './fixtures.ts';

const net = FARES.subway;
const 花园桥 = stationCode(net, '花园桥');
const 潞城 = stationCode(net, '潞城');
const 土桥 = stationCode(net, '土桥');
const 国贸 = stationCode(net, '国贸');
const shanghai = DEFAULT_ISSUER_REGISTRY.byName('shanghai')!;
const shenzhen = DEFAULT_ISSUER_REGISTRY.byName('shenzhen')!;

const foreignCard = (issuer = shanghai, overrides: Partial<CardView> = {}): CardView =>
  makeCard({ cardNo: makeTUnionCardNo(issuer.productPrefix, 1), issuerId: issuer.issuerId, issuerCode: issuer.cityCode, overdraftLimitFen: 0, ...overrides });
const trip = (fields: Partial<TripRecord>): TripRecord => ({ ...emptyTripRecord(), ...fields });
const inSubway = (code: number, atMs: number, extra: Partial<TripRecord> = {}) =>
  trip({ journey: 'subway', journeyPlace: code, journeyTime: sec(atMs), journeyFareVersion: 3, ...extra });

const listOf = (...policies: IssuerPolicy[]) => new IssuerAllowList(HOME_ISSUER_ID, 1, policies);
const SHANGHAI_LISTED = listOf(defaultIssuerPolicy(shanghai.issuerId, 'shanghai'));

/** Every validator kind with a configuration the default fare tables know. */
const DEVICES: DeviceConfig[] = [
  deviceConfig({ deviceId: 'IN', kind: 'subway-entry', stationCode: 花园桥 }),
  deviceConfig({ deviceId: 'OUT', kind: 'subway-exit', stationCode: 潞城 }),
  deviceConfig({ deviceId: 'BUS', kind: 'bus', busLine: 1, busStop: 0 }),
  deviceConfig({ deviceId: 'PR-IN', kind: 'pr-entry', lotId: 1 }),
  deviceConfig({ deviceId: 'PR-OUT', kind: 'pr-exit', lotId: 1 }),
  deviceConfig({ deviceId: 'PARK', kind: 'park-gate', parkId: 101 }),
];

const decide = (card: CardView, device: DeviceConfig, list: IssuerAllowList, nowMs = wed(90000), blacklist = NOT_LISTED) =>
  decideTap({ card, device, blacklist, fares: FARES, nowMs, issuer: list.verdictFor(card.issuerId) });

describe('foreign cards at Beijing validators', () => {
  it('an unlisted issuer is refused with ISSUER_NOT_ACCEPTED at every validator kind, whatever the card holds', () => {
    for (const device of DEVICES) {
      // The card is otherwise fine for the device (an open entry/stay where the device needs one).
      const card = foreignCard(shenzhen, {
        trip:
          device.kind === 'subway-exit'
            ? inSubway(花园桥, wed(80000))
            : device.kind === 'pr-exit'
              ? trip({ parkingLot: 1, parkingEntryTime: sec(wed(80000)) })
              : emptyTripRecord(),
      });
      const d = decide(card, device, SHANGHAI_LISTED);
      expect(d, device.kind).toMatchObject({ resultCode: TAP_RESULT.ISSUER_NOT_ACCEPTED, accepted: false, chargeFen: 0, lock: false, newTrip: null });
      // Listing the issuer is what lets the same card through.
      const listed = decide(card, device, listOf(defaultIssuerPolicy(shenzhen.issuerId, 'shenzhen')));
      expect(listed.accepted, device.kind).toBe(true);
    }
  });
  it('no allow-list prefetched: only the home issuer id passes (safe default)', () => {
    const d = decideTap({ card: foreignCard(), device: DEVICES[0], blacklist: NOT_LISTED, fares: FARES, nowMs: wed(90000) });
    expect(d.resultCode).toBe(TAP_RESULT.ISSUER_NOT_ACCEPTED);
    expect(decideTap({ card: makeCard(), device: DEVICES[0], blacklist: NOT_LISTED, fares: FARES, nowMs: wed(90000) }).accepted).toBe(true);
  });
  it('a listed issuer pays Beijing fares without the monthly ladder, and its spend leaves the card’s Beijing month alone', () => {
    const month = { monthKey: 202611, monthRailSpendFen: 20_000 };
    const home = decideTap({
      card: makeCard({ trip: inSubway(花园桥, wed(80000), month) }),
      device: DEVICES[1],
      blacklist: NOT_LISTED,
      fares: FARES,
      nowMs: wed(90000),
    });
    const away = decide(foreignCard(shanghai, { trip: inSubway(花园桥, wed(80000), month) }), DEVICES[1], SHANGHAI_LISTED);
    const fare = quoteSubwayFare(net, '花园桥', '潞城').fareFen;
    expect(home.chargeFen).toBe(applyTwoPercentsFen(fare, 100, 50)); // a Beijing card past 150 yuan pays 50%
    expect(away).toMatchObject({ accepted: true, chargeFen: fare, fareFen: fare, discountFen: 0 });
    expect(away.newTrip).toMatchObject({ journey: 'none', ...month });
  });
  it('property: for any month spend, a foreign card pays the full Beijing fare (never the ladder)', () => {
    fc.assert(
      fc.property(fc.nat({ max: 100_000 }), (spend) => {
        const card = foreignCard(shanghai, { trip: inSubway(花园桥, wed(80000), { monthKey: 202611, monthRailSpendFen: spend }) });
        expect(decide(card, DEVICES[1], SHANGHAI_LISTED).chargeFen).toBe(quoteSubwayFare(net, '花园桥', '潞城').fareFen);
      }),
      { numRuns: 100 },
    );
  });
  it('no early-entry or bus card discount by default; the issuer’s record can grant them', () => {
    const early = (list: IssuerAllowList) =>
      decide(
        foreignCard(shanghai, { trip: inSubway(土桥, wed(64500)) }),
        deviceConfig({ deviceId: 'X', kind: 'subway-exit', stationCode: 国贸 }),
        list,
        wed(74500),
      );
    const full = quoteSubwayFare(net, '土桥', '国贸').fareFen;
    expect(early(SHANGHAI_LISTED).chargeFen).toBe(full);
    const generous = listOf({ ...defaultIssuerPolicy(shanghai.issuerId, 'shanghai'), earlyEntryDiscount: true, busCardDiscount: true, monthlyLadder: true });
    expect(early(generous).chargeFen).toBe(applyTwoPercentsFen(full, 50, 100));
    expect(decide(foreignCard(), DEVICES[2], SHANGHAI_LISTED).chargeFen).toBe(200); // the flat line's full 2 yuan
    expect(decide(foreignCard(), DEVICES[2], generous).chargeFen).toBe(100); // Beijing's card discount, granted
    expect(decide(foreignCard(shanghai, { profile: 'senior' }), DEVICES[2], SHANGHAI_LISTED).chargeFen).toBe(200); // seniors ride free only on Beijing cards
  });
  it('overdraft: the smaller of the card’s and the record’s (default 0)', () => {
    const card = foreignCard(shanghai, { overdraftLimitFen: 2_000, balanceFen: 100, trip: inSubway(花园桥, wed(80000)) });
    const d = decide(card, DEVICES[1], SHANGHAI_LISTED);
    expect(d).toMatchObject({ resultCode: TAP_RESULT.INSUFFICIENT_BALANCE, accepted: false });
    const withOverdraft = listOf({ ...defaultIssuerPolicy(shanghai.issuerId, 'shanghai'), overdraftLimitFen: 1_000 });
    expect(decide(card, DEVICES[1], withOverdraft).accepted).toBe(true);
  });
  it('maximum balance and maximum debit of the issuer’s record refuse with ISSUER_LIMIT_EXCEEDED', () => {
    const tight = listOf({ ...defaultIssuerPolicy(shanghai.issuerId, 'shanghai'), maxBalanceFen: 4_000, maxDebitFen: 500 });
    expect(decide(foreignCard(), DEVICES[0], tight).resultCode).toBe(TAP_RESULT.ISSUER_LIMIT_EXCEEDED); // holds 50 yuan
    const card = foreignCard(shanghai, { balanceFen: 3_000, trip: inSubway(花园桥, wed(80000)) });
    expect(decide(card, DEVICES[1], tight)).toMatchObject({ resultCode: TAP_RESULT.ISSUER_LIMIT_EXCEEDED, chargeFen: 0, newTrip: null });
  });
  it('a blacklisted foreign card is refused without being locked, whatever the reason', () => {
    for (const reason of ['formal-loss', 'cloned', 'temporary-loss'] as const) {
      const d = decide(foreignCard(), DEVICES[0], SHANGHAI_LISTED, wed(90000), { listed: true, reason });
      expect(d).toMatchObject({ resultCode: TAP_RESULT.BLACKLISTED, lock: false });
    }
    // A home card with a final reason is still locked.
    const home = decideTap({
      card: makeCard(),
      device: DEVICES[0],
      blacklist: { listed: true, reason: 'formal-loss' },
      fares: FARES,
      nowMs: wed(90000),
      issuer: SHANGHAI_LISTED.verdictFor(HOME_ISSUER_ID),
    });
    expect(home).toMatchObject({ resultCode: TAP_RESULT.BLACKLISTED_AND_LOCKED, lock: true });
  });
  it('a home T-Union (19-digit) card is a home card: ladder and discounts apply', () => {
    const card = makeCard({ cardNo: makeTUnionCardNo('31051700', 5), trip: inSubway(花园桥, wed(80000), { monthKey: 202611, monthRailSpendFen: 20_000 }) });
    const d = decide(card, DEVICES[1], SHANGHAI_LISTED);
    expect(d.chargeFen).toBe(applyTwoPercentsFen(quoteSubwayFare(net, '花园桥', '潞城').fareFen, 100, 50));
  });
});
