import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { emptyParkPass, emptyTripRecord } from '#core/card/card-image';
import {
  CARD_IMAGE_BYTES,
  CARD_VIEW_BYTES,
  cardViewOf,
  cloneCardImage,
  encodeCardImage,
  encodeCardView,
  parseCardImage,
  parseCardView,
} from '#core/card/card-codec';
import { CardFormatError } from '#core/card/card-format-error';
import { LOG_RECORD_BYTES, encodeLogRecord, parseLogRecord } from '#core/card/log-record-codec';
import { encodeFunctions, encodeParkPass, encodeTripRecord, parseFunctions, parseParkPass, parseTripRecord } from '#core/card/card-records';
import { arbCardImage, arbCardView, arbLogRecord, arbParkPass, arbTripRecord } from './arbitraries.ts';
import { SAMPLE_IMAGE, SAMPLE_LOG_RECORD, SAMPLE_TRIP } from './sample-cards.ts';

const VECTORS = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'vectors', 'card-records.json'), 'utf8')) as Record<string, string>;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

/** Parsing any byte string either throws CardFormatError or yields a value that re-encodes to the same bytes. */
function canonicalOrRejected<T>(bytes: Uint8Array, parse: (b: Uint8Array) => T, encode: (v: T) => Uint8Array): void {
  let value: T;
  try {
    value = parse(bytes);
  } catch (error) {
    expect(error).toBeInstanceOf(CardFormatError);
    return;
  }
  expect(hex(encode(value))).toBe(hex(bytes));
}

/** Mutates one byte of a valid encoding (the likely shape of corruption). */
const mutated = (valid: fc.Arbitrary<Uint8Array>) =>
  fc.tuple(valid, fc.nat(), fc.integer({ min: 1, max: 255 })).map(([bytes, at, x]) => {
    const copy = new Uint8Array(bytes);
    copy[at % copy.length] ^= x;
    return copy;
  });

describe('card codecs: hex vectors', () => {
  it('log record layout is ATC(2) overdraft(3) amount(4) type(1) terminal(6) date(4) time(3)', () => {
    const bytes = encodeLogRecord(SAMPLE_LOG_RECORD);
    expect(bytes.length).toBe(LOG_RECORD_BYTES);
    expect(hex(bytes)).toBe('0102' + '0001F4' + '0000012C' + '09' + '112233445566' + '20260115' + '073045');
    expect(hex(bytes)).toBe(VECTORS.logRecord);
  });
  it('every record matches its stored vector and parses back', () => {
    expect(hex(encodeTripRecord(SAMPLE_TRIP))).toBe(VECTORS.tripRecord);
    expect(parseTripRecord(fromHex(VECTORS.tripRecord))).toEqual(SAMPLE_TRIP);
    expect(hex(encodeParkPass(SAMPLE_IMAGE.parkPasses[1]))).toBe(VECTORS.parkPassCurrent);
    expect(parseParkPass(fromHex(VECTORS.parkPassCurrent))).toEqual(SAMPLE_IMAGE.parkPasses[1]);
    expect(hex(encodeFunctions({ transitOpened: true, suburbanOpened: false }))).toBe(VECTORS.functionsTransitOnly);
    expect(hex(encodeCardView(cardViewOf(SAMPLE_IMAGE)))).toBe(VECTORS.cardView);
    expect(hex(encodeCardImage(SAMPLE_IMAGE))).toBe(VECTORS.cardImage);
    expect(parseCardImage(fromHex(VECTORS.cardImage))).toEqual(SAMPLE_IMAGE);
  });
  it('the view never carries keys, even when encoded from an image', () => {
    const viewBytes = encodeCardView(SAMPLE_IMAGE);
    expect(viewBytes.length).toBe(CARD_VIEW_BYTES);
    expect(hex(viewBytes)).toBe(VECTORS.cardView);
    expect(hex(viewBytes)).not.toContain('11111111111111111111111111111111');
    expect(CARD_IMAGE_BYTES).toBe(CARD_VIEW_BYTES + 80);
  });
});

describe('card codecs: round trips (properties)', () => {
  it('log record', () => {
    fc.assert(
      fc.property(arbLogRecord, (r) => {
        expect(parseLogRecord(encodeLogRecord(r))).toEqual(r);
      }),
      { numRuns: 300 },
    );
  });
  it('trip record', () => {
    fc.assert(
      fc.property(arbTripRecord, (r) => {
        expect(parseTripRecord(encodeTripRecord(r))).toEqual(r);
      }),
      { numRuns: 300 },
    );
  });
  it('park pass', () => {
    fc.assert(
      fc.property(arbParkPass, (r) => {
        expect(parseParkPass(encodeParkPass(r))).toEqual(r);
      }),
      { numRuns: 300 },
    );
  });
  it('functions', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), (transitOpened, suburbanOpened) => {
        expect(parseFunctions(encodeFunctions({ transitOpened, suburbanOpened }))).toEqual({ transitOpened, suburbanOpened });
      }),
    );
  });
  it('card view', () => {
    fc.assert(
      fc.property(arbCardView, (v) => {
        expect(parseCardView(encodeCardView(v))).toEqual(v);
      }),
      { numRuns: 200 },
    );
  });
  it('card image (keys included) and clone', () => {
    fc.assert(
      fc.property(arbCardImage, (img) => {
        expect(parseCardImage(encodeCardImage(img))).toEqual(img);
        expect(cloneCardImage(img)).toEqual(img);
      }),
      { numRuns: 200 },
    );
  });
});

describe('card codecs: corrupt input', () => {
  it('a mutated log record is rejected with CardFormatError or is canonical', () => {
    fc.assert(
      fc.property(mutated(arbLogRecord.map(encodeLogRecord)), (b) => {
        canonicalOrRejected(b, parseLogRecord, encodeLogRecord);
      }),
      { numRuns: 500 },
    );
  });
  it('a mutated trip record / park pass / functions record is rejected or canonical', () => {
    fc.assert(
      fc.property(mutated(arbTripRecord.map(encodeTripRecord)), (b) => {
        canonicalOrRejected(b, parseTripRecord, encodeTripRecord);
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(mutated(arbParkPass.map(encodeParkPass)), (b) => {
        canonicalOrRejected(b, parseParkPass, encodeParkPass);
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(mutated(fc.constant(encodeFunctions({ transitOpened: true, suburbanOpened: true }))), (b) =>
        canonicalOrRejected(b, parseFunctions, encodeFunctions),
      ),
    );
  });
  it('a mutated card view / image is rejected or canonical', () => {
    fc.assert(
      fc.property(mutated(arbCardView.map(encodeCardView)), (b) => {
        canonicalOrRejected(b, parseCardView, encodeCardView);
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(mutated(arbCardImage.map(encodeCardImage)), (b) => {
        canonicalOrRejected(b, parseCardImage, encodeCardImage);
      }),
      { numRuns: 300 },
    );
  });
  it('truncated or extended bytes are rejected', () => {
    const view = encodeCardView(SAMPLE_IMAGE);
    expect(() => parseCardView(view.slice(0, -1))).toThrow(CardFormatError);
    expect(() => parseCardView(new Uint8Array([...view, 0]))).toThrow(/must be 375 bytes/);
    expect(() => parseLogRecord(new Uint8Array(22))).toThrow(CardFormatError);
    expect(() => parseCardImage(view)).toThrow(/kind byte/);
  });
  it('names the problem: version, BCD, enum, ranges, purse invariants', () => {
    const view = encodeCardView(SAMPLE_IMAGE);
    const bad = (at: number, value: number): Uint8Array => {
      const copy = new Uint8Array(view);
      copy[at] = value;
      return copy;
    };
    expect(() => parseCardView(bad(0, 1))).toThrow(/format version 1 is not supported/);
    expect(() => parseCardView(bad(12, 0x1a))).toThrow(/application serial byte 0 is not BCD/);
    expect(() => parseCardView(bad(4, 0x1a))).toThrow(/city code\) are not BCD/);
    expect(() => parseCardView(bad(10, 0))).toThrow(/file 0x15 app type 0/);
    expect(() => parseCardView(bad(38, 0x20))).toThrow(/file 0x17 cityCode 2000 does not match/);
    expect(() => parseCardView(bad(49, 4))).toThrow(/generation 4/);
    expect(() => parseCardView(bad(50, 3))).toThrow(/profile code 3/);
    expect(() => parseCardView(bad(67, 7))).toThrow(/algorithm id/);
    expect(() => parseCardView(bad(68, 11))).toThrow(/log count 11/);
    expect(() => parseLogRecord(fromHex(`${VECTORS.logRecord.slice(0, 18)}07${VECTORS.logRecord.slice(20)}`))).toThrow(/type must be 02, 06 or 09/);
    expect(() => parseLogRecord(fromHex(`${VECTORS.logRecord.slice(0, 32)}20261315${VECTORS.logRecord.slice(40)}`))).toThrow(/date YYYYMMDD/);
    expect(() => parseLogRecord(fromHex(`${VECTORS.logRecord.slice(0, 40)}076045`))).toThrow(/time hhmmss/);
    expect(() => encodeCardView({ ...SAMPLE_IMAGE, balanceFen: 100_001 })).toThrow(/over the cap/);
    expect(() => encodeCardView({ ...SAMPLE_IMAGE, balanceFen: 100, overdraftUsedFen: 100 })).toThrow(/both be non-zero/);
    expect(() => encodeCardView({ ...SAMPLE_IMAGE, balanceFen: 0, overdraftUsedFen: 2_001 })).toThrow(/exceeds the limit/);
    expect(() => encodeCardView({ ...SAMPLE_IMAGE, cardNo: '12345' })).toThrow(/16 decimal digits or 19 starting 31/);
    expect(() => encodeCardView({ ...SAMPLE_IMAGE, trip: { ...emptyTripRecord(), monthKey: 202613 } })).toThrow(/monthKey/);
    expect(() => encodeCardView({ ...SAMPLE_IMAGE, parkPasses: [{ ...emptyParkPass(), visits: 1 }, emptyParkPass()] })).toThrow(/empty park pass/);
    expect(() => encodeCardImage({ ...SAMPLE_IMAGE, keys: { ...SAMPLE_IMAGE.keys, tac: new Uint8Array(8) } })).toThrow(/key tac must be 16 bytes/);
  });
  it('accepts a Node Buffer and lower-case hex on input, answers upper-case hex', () => {
    const bytes = encodeLogRecord({ ...SAMPLE_LOG_RECORD, terminalId: 'aabbccddeeff' });
    expect(parseLogRecord(Buffer.from(bytes)).terminalId).toBe('AABBCCDDEEFF');
    const image = parseCardImage(Buffer.from(encodeCardImage(SAMPLE_IMAGE)));
    expect(Object.getPrototypeOf(image.keys.tac)).toBe(Uint8Array.prototype);
  });
});
