/**
 * fast-check arbitraries for the card image and its records. Exported for other helpers'
 * tests (tap engine, validator, gateway): every value they produce passes the card codecs.
 */
import fc from 'fast-check';
import {
  DEFAULT_OVERDRAFT_LIMIT_FEN,
  type CardImage,
  type CardKeys,
  type CardView,
  type ParkPassRecord,
  type TransactionLogRecord,
  type TripRecord,
} from '#core/card/card-image';
import { LIMITS } from '#core/limits';

const u32 = fc.nat({ max: 0xffffffff });
const HEX = '0123456789ABCDEF';

export const arbHex = (byteLength: number): fc.Arbitrary<string> =>
  fc.uint8Array({ minLength: byteLength, maxLength: byteLength }).map((b) => Array.from(b, (x) => HEX[x >> 4] + HEX[x & 15]).join(''));

/** A legacy 16-digit card number (the home issuer's pre-T-Union range). */
export const arbLegacyCardNo: fc.Arbitrary<string> = fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 16, maxLength: 16 }).map((d) => d.join(''));

/** A 19-digit T-Union card number (31 + 17 digits). */
export const arbTUnionCardNo: fc.Arbitrary<string> = fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 17, maxLength: 17 }).map((d) => `31${d.join('')}`);

/** Either range. */
export const arbCardNo: fc.Arbitrary<string> = fc.oneof(arbLegacyCardNo, arbTUnionCardNo);

/** An issuer id whose bytes 2-3 are a BCD city code (16 upper-case hex digits). */
export const arbIssuerId: fc.Arbitrary<string> = fc
  .tuple(fc.uint8Array({ minLength: 2, maxLength: 2 }), fc.integer({ min: 0, max: 9999 }), fc.uint8Array({ minLength: 4, maxLength: 4 }))
  .map(
    ([head, city, tail]) =>
      Array.from(head, (x) => HEX[x >> 4] + HEX[x & 15]).join('') + String(city).padStart(4, '0') + Array.from(tail, (x) => HEX[x >> 4] + HEX[x & 15]).join(''),
  );

/** A valid calendar date YYYYMMDD between 2000 and 2099. */
export const arbDate: fc.Arbitrary<number> = fc
  .record({ y: fc.integer({ min: 2000, max: 2099 }), m: fc.integer({ min: 1, max: 12 }), d: fc.integer({ min: 1, max: 28 }) })
  .map(({ y, m, d }) => y * 10000 + m * 100 + d);

export const arbTime: fc.Arbitrary<number> = fc
  .record({ h: fc.integer({ min: 0, max: 23 }), m: fc.integer({ min: 0, max: 59 }), s: fc.integer({ min: 0, max: 59 }) })
  .map(({ h, m, s }) => h * 10000 + m * 100 + s);

export const arbMonth: fc.Arbitrary<number> = fc
  .record({ y: fc.integer({ min: 2000, max: 2099 }), m: fc.integer({ min: 1, max: 12 }) })
  .map(({ y, m }) => y * 100 + m);

export const arbLogRecord: fc.Arbitrary<TransactionLogRecord> = fc.record({
  atc: fc.nat({ max: 0xffff }),
  overdraftFen: fc.nat({ max: 0xffffff }),
  amountFen: u32,
  type: fc.constantFrom(0x02, 0x06, 0x09) as fc.Arbitrary<TransactionLogRecord['type']>,
  terminalId: arbHex(6),
  date: arbDate,
  time: arbTime,
});

export const arbTripRecord: fc.Arbitrary<TripRecord> = fc.record({
  journey: fc.constantFrom('none', 'subway', 'bus', 'suburban') as fc.Arbitrary<TripRecord['journey']>,
  journeyPlace: u32,
  journeyLine: u32,
  journeyTime: u32,
  journeyMarkFen: u32,
  journeyFareVersion: u32,
  parkingLot: u32,
  parkingEntryTime: u32,
  parkingDay: fc.oneof(fc.constant(0), arbDate),
  parkingDayChargedFen: u32,
  lastTransitTime: u32,
  monthKey: fc.oneof(fc.constant(0), arbMonth),
  monthRailSpendFen: u32,
});

export const arbParkPass: fc.Arbitrary<ParkPassRecord> = fc.oneof(
  fc.constant({ year: 0, visits: 0, lastParkId: 0, lastEntryTime: 0 }),
  fc.record({ year: fc.integer({ min: 2000, max: 2099 }), visits: u32, lastParkId: u32, lastEntryTime: u32 }),
);

/** Balance and overdraft used as the card keeps them: never both non-zero, used <= limit, balance <= cap. */
export const arbPurse: fc.Arbitrary<{ balanceFen: number; overdraftUsedFen: number; overdraftLimitFen: number }> = fc
  .record({
    overdraftLimitFen: fc.oneof(fc.constant(DEFAULT_OVERDRAFT_LIMIT_FEN), fc.nat({ max: 0xffffff })),
    effective: fc.integer({ min: -0xffffff, max: LIMITS.balanceCapFen }),
  })
  .map(({ overdraftLimitFen, effective }) => {
    const clamped = Math.max(effective, -overdraftLimitFen);
    return { balanceFen: Math.max(clamped, 0), overdraftUsedFen: Math.max(-clamped, 0), overdraftLimitFen };
  });

export const arbCardView: fc.Arbitrary<CardView> = fc
  .record({
    cardNo: arbCardNo,
    issuerCode: arbHex(2),
    issuerId: arbIssuerId,
    startDate: fc.constantFrom(20000101, 20151225),
    generation: fc.constantFrom(1, 2, 3) as fc.Arbitrary<CardView['generation']>,
    profile: fc.constantFrom('adult', 'student', 'senior') as fc.Arbitrary<CardView['profile']>,
    transitOpened: fc.boolean(),
    suburbanOpened: fc.boolean(),
    expiryDate: arbDate,
    purse: arbPurse,
    offlineAtc: fc.nat({ max: 0xffff }),
    onlineAtc: fc.nat({ max: 0xffff }),
    keyVersion: fc.nat({ max: 0xff }),
    algorithm: fc.constantFrom('3des', 'sm4') as fc.Arbitrary<CardView['algorithm']>,
    log: fc.array(arbLogRecord, { maxLength: LIMITS.cardLogRecords }),
    trip: arbTripRecord,
    parkPasses: fc.tuple(arbParkPass, arbParkPass),
    locked: fc.boolean(),
  })
  .map(({ purse, ...rest }) => ({ ...rest, ...purse, startDate: Math.min(rest.startDate, rest.expiryDate) }));

export const arbKey16: fc.Arbitrary<Uint8Array> = fc.uint8Array({ minLength: 16, maxLength: 16 });

export const arbCardKeys: fc.Arbitrary<CardKeys> = fc.record({
  purchase: arbKey16,
  load: arbKey16,
  tac: arbKey16,
  block: arbKey16,
  issuer: arbKey16,
});

export const arbCardImage: fc.Arbitrary<CardImage> = fc.record({ view: arbCardView, keys: arbCardKeys }).map(({ view, keys }) => ({ ...view, keys }));
