import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesToHex, decodeBcd, encodeBcd } from '#core';

describe('BCD', () => {
  it('encodes dates and times as the card stores them', () => {
    expect(bytesToHex(encodeBcd(20261127, 4))).toBe('20261127');
    expect(bytesToHex(encodeBcd(81230, 3))).toBe('081230');
    expect(decodeBcd(Uint8Array.of(0x20, 0x26, 0x11, 0x27))).toBe(20261127);
  });
  it('round-trips every value that fits', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 7 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: 10 ** (2 * n) - 1 }))),
        ([n, v]) => {
          expect(decodeBcd(encodeBcd(v, n))).toBe(v);
        },
      ),
    );
  });
  it('rejects values that do not fit, negatives, and non-BCD nibbles', () => {
    expect(() => encodeBcd(100, 1)).toThrow(/does not fit/);
    expect(() => encodeBcd(-1, 2)).toThrow(RangeError);
    expect(() => encodeBcd(1.5, 2)).toThrow(RangeError);
    expect(() => decodeBcd(Uint8Array.of(0x1a))).toThrow(/not BCD/);
  });
});
