import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatYuan, parseYuan, YuanFormatError } from '#core';

describe('yuan edge codec', () => {
  it.each([
    ['0', 0],
    ['50', 5000],
    ['50.5', 5050],
    ['50.05', 5005],
    ['999999999.99', 99999999999],
  ])('parses %s as %d fen', (text, expected) => {
    expect(parseYuan(text, Number.MAX_SAFE_INTEGER)).toBe(expected);
  });

  it.each(['-1', '1.001', '1e3', ' 1', '1 ', '01', '+1', '1.', '.5', '', 'NaN', 'Infinity', '0x10', '１'])('refuses %j', (text) => {
    expect(() => parseYuan(text)).toThrow(YuanFormatError);
  });

  it.each([50, 50.5, null, undefined, {}, ['1']])('refuses a non-string %j', (value) => {
    expect(() => parseYuan(value)).toThrow(YuanFormatError);
  });

  it('refuses amounts over the cap', () => {
    expect(() => parseYuan('1000.01', 100_000)).toThrow(/over the limit/);
    expect(parseYuan('1000.00', 100_000)).toBe(100_000);
  });

  it('round-trips every fen amount through format and parse', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 ** 11 - 1 }), (amount) => {
        expect(parseYuan(formatYuan(amount), Number.MAX_SAFE_INTEGER)).toBe(amount);
      }),
    );
  });

  it('refuses text of ten or more yuan digits (the wire accepts at most 999999999.99)', () => {
    expect(() => parseYuan(formatYuan(10 ** 11), Number.MAX_SAFE_INTEGER)).toThrow(YuanFormatError);
  });
});
