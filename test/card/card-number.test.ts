import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applicationSerialFromCardNo,
  cardNoFromApplicationSerial,
  cardNoFromCardSerial,
  cardNoHasDiversifier,
  cardSerialFromCardNo,
  isCardNo,
  isLuhnValid,
  isTUnionCardNo,
  keyDiversifierFromCardNo,
  makeCardNo,
  makeTUnionCardNo,
  maskCardNo,
} from '#core/card/card-number';
import { CardFormatError } from '#core/card/card-format-error';
import { arbCardNo, arbLegacyCardNo, arbTUnionCardNo } from './arbitraries.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('card numbers', () => {
  it('a legacy serial is the packed BCD of the 16 digits, and is its own diversifier', () => {
    expect(hex(cardSerialFromCardNo('1000754300000018'))).toBe('1000754300000018');
    expect(hex(applicationSerialFromCardNo('1000754300000018'))).toBe('00001000754300000018');
    fc.assert(
      fc.property(arbLegacyCardNo, (no) => {
        expect(cardNoFromCardSerial(cardSerialFromCardNo(no))).toBe(no);
      }),
    );
  });
  it('the real Beijing T-Union sample: serial 03 10 51 70 01 01 70 90 79 84 is card 3105170010170907984 (no Luhn digit)', () => {
    const serial = new Uint8Array(Buffer.from('03105170010170907984', 'hex'));
    expect(cardNoFromApplicationSerial(serial)).toBe('3105170010170907984');
    expect(hex(applicationSerialFromCardNo('3105170010170907984'))).toBe('03105170010170907984');
    expect(hex(keyDiversifierFromCardNo('3105170010170907984'))).toBe('5170010170907984');
    expect(isTUnionCardNo('3105170010170907984')).toBe(true);
    expect(isLuhnValid('3105170010170907984')).toBe(false);
  });
  it('property: serial <-> number round trips for both ranges; the diversifier is the serial’s rightmost 8 bytes', () => {
    fc.assert(
      fc.property(arbCardNo, (no) => {
        const serial = applicationSerialFromCardNo(no);
        expect(serial).toHaveLength(10);
        expect(cardNoFromApplicationSerial(serial)).toBe(no);
        const diversifier = keyDiversifierFromCardNo(no);
        expect(hex(diversifier)).toBe(hex(serial.subarray(2)));
        expect(cardNoHasDiversifier(no, diversifier)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
  it('property: different T-Union numbers have different serials, and a legacy serial never reads as T-Union', () => {
    fc.assert(
      fc.property(arbTUnionCardNo, arbLegacyCardNo, (t, l) => {
        expect(hex(applicationSerialFromCardNo(t))).not.toBe(hex(applicationSerialFromCardNo(l)));
        expect(isTUnionCardNo(cardNoFromApplicationSerial(applicationSerialFromCardNo(l)))).toBe(false);
      }),
    );
  });
  it('rejects anything but 16 digits or 19 starting 31 with a clear error', () => {
    for (const bad of [
      '',
      '123',
      '10007543000000181',
      '100075430000001a',
      ' 000754300000018',
      '3205170010170907984',
      '31051700101709079841',
      '310517001017090798',
    ]) {
      expect(isCardNo(bad)).toBe(false);
      expect(() => cardSerialFromCardNo(bad)).toThrow(CardFormatError);
    }
    expect(() => cardSerialFromCardNo('12')).toThrow(/exactly 16 decimal digits or 19 starting 31/);
    expect(() => cardNoFromCardSerial(new Uint8Array(8).fill(0xaa))).toThrow(/not BCD/);
    // A first serial digit other than 0 would be lost by dropping it: refused.
    expect(() => cardNoFromApplicationSerial(new Uint8Array(Buffer.from('13105170010170907984', 'hex')))).toThrow(/not a T-Union/);
    expect(() => cardNoFromApplicationSerial(new Uint8Array(Buffer.from('03205170010170907984', 'hex')))).toThrow(/not a T-Union/);
    expect(() => cardNoFromApplicationSerial(new Uint8Array(9))).toThrow(/10 bytes/);
  });
  it('makeCardNo makes Luhn-valid numbers; one changed digit breaks the check', () => {
    expect(makeCardNo('10007543', 1)).toBe('1000754300000015');
    expect(isLuhnValid('4539578763621486')).toBe(true); // a published Luhn example
    fc.assert(
      fc.property(fc.nat({ max: 9_999_999 }), fc.nat({ max: 15 }), fc.integer({ min: 1, max: 9 }), (seq, at, delta) => {
        const no = makeCardNo('10007543', seq);
        expect(no).toHaveLength(16);
        expect(isLuhnValid(no)).toBe(true);
        const digit = (Number(no[at]) + delta) % 10;
        expect(isLuhnValid(no.slice(0, at) + digit + no.slice(at + 1))).toBe(false);
      }),
    );
    expect(() => makeCardNo('10007543', 10_000_000)).toThrow(/does not fit/);
  });
  it('makeTUnionCardNo: product prefix + 11-digit sequence, no check digit', () => {
    expect(makeTUnionCardNo('31047700', 42)).toBe('3104770000000000042');
    expect(() => makeTUnionCardNo('3104770', 1)).toThrow(/8 digits starting 31/);
    expect(() => makeTUnionCardNo('31047700', 1e11)).toThrow(/does not fit/);
  });
  it('masks for logs', () => {
    expect(maskCardNo('1000754300001234')).toBe('1000****1234');
    expect(maskCardNo('3105170010170907984')).toBe('3105****7984');
    expect(maskCardNo('12')).toBe('****');
  });
});
