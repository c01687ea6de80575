import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cardNoFromCardSerial, cardSerialFromCardNo, isLuhnValid, makeCardNo, maskCardNo } from '#core/card/card-number';
import { CardFormatError } from '#core/card/card-format-error';
import { arbCardNo } from './arbitraries.ts';

describe('card numbers', () => {
  it('the serial is the packed BCD of the 16 digits', () => {
    expect(Buffer.from(cardSerialFromCardNo('1000754300000018')).toString('hex')).toBe('1000754300000018');
    fc.assert(
      fc.property(arbCardNo, (no) => {
        expect(cardNoFromCardSerial(cardSerialFromCardNo(no))).toBe(no);
      }),
    );
  });
  it('rejects anything but 16 decimal digits with a clear error', () => {
    for (const bad of ['', '123', '10007543000000181', '100075430000001a', ' 000754300000018']) {
      expect(() => cardSerialFromCardNo(bad)).toThrow(CardFormatError);
    }
    expect(() => cardSerialFromCardNo('12')).toThrow(/exactly 16 decimal digits/);
    expect(() => cardNoFromCardSerial(new Uint8Array(8).fill(0xaa))).toThrow(/not BCD/);
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
  it('masks for logs', () => {
    expect(maskCardNo('1000754300001234')).toBe('1000****1234');
    expect(maskCardNo('12')).toBe('****');
  });
});
