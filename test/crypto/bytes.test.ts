import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesEqual, bytesToHex, concatBytes, constantTimeEqual, hexToBytes, xorBytes } from '#core';
import { ScheduleCache } from '#core/crypto/schedule-cache';

describe('hex', () => {
  it('round-trips and prints upper case', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        expect(hexToBytes(bytesToHex(b))).toEqual(b);
        expect(hexToBytes(bytesToHex(b).toLowerCase())).toEqual(b);
      }),
    );
    expect(bytesToHex(Uint8Array.of(0, 0xab, 0x0f))).toBe('00AB0F');
    expect(hexToBytes('0a 0B\n0c')).toEqual(Uint8Array.of(10, 11, 12));
  });
  it('rejects odd length and non-hex', () => {
    expect(() => hexToBytes('abc')).toThrow(RangeError);
    expect(() => hexToBytes('zz')).toThrow(TypeError);
  });
});

describe('concat, xor, equality', () => {
  it('concatenates in order', () => {
    expect(concatBytes(Uint8Array.of(1), new Uint8Array(0), Buffer.from([2, 3]))).toEqual(Uint8Array.of(1, 2, 3));
  });
  it('xor is its own inverse and refuses different lengths', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.uint8Array({ minLength: 8, maxLength: 8 }), (a, b) => {
        expect(xorBytes(xorBytes(a, b), b)).toEqual(a);
      }),
    );
    expect(() => xorBytes(new Uint8Array(2), new Uint8Array(3))).toThrow(/lengths differ/);
  });
  it('equality', () => {
    expect(bytesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).toBe(true);
    expect(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3))).toBe(false);
    expect(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1))).toBe(false);
    expect(constantTimeEqual(Uint8Array.of(9, 2), Uint8Array.of(9, 2))).toBe(true);
  });
});

describe('ScheduleCache', () => {
  it('stays bounded, evicts the oldest, and rebuilds an evicted key correctly', () => {
    let builds = 0;
    const cache = new ScheduleCache<string>(3, (k) => {
      builds++;
      return bytesToHex(k);
    });
    const keys = [1, 2, 3, 4].map((n) => Uint8Array.of(n, n));
    for (const k of keys) expect(cache.get(k)).toBe(bytesToHex(k));
    expect(cache.size).toBe(3);
    expect(builds).toBe(4);
    expect(cache.get(keys[3])).toBe('0404'); // last-key fast path
    expect(cache.get(keys[1])).toBe('0202'); // still cached
    expect(builds).toBe(4);
    expect(cache.get(keys[0])).toBe('0101'); // was evicted: rebuilt
    expect(builds).toBe(5);
    expect(cache.size).toBe(3);
  });
  it('a key in steady use survives a stream of one-shot keys (LRU, not FIFO)', () => {
    let builds = 0;
    const cache = new ScheduleCache<number>(4, () => ++builds);
    const master = Uint8Array.of(0xff, 0xff);
    cache.get(master);
    for (let i = 0; i < 100; i++) {
      cache.get(Uint8Array.of(0, i)); // a session key, used once
      cache.get(Uint8Array.of(0, i)); // MAC2 with the same key: last-key fast path
      cache.get(master); // the next tap derives from the master key again
    }
    expect(builds).toBe(101); // the master key was built once
    expect(cache.size).toBeLessThanOrEqual(4);
  });
  it('a caller mutating its key buffer after the call does not poison the cache', () => {
    const cache = new ScheduleCache<string>(4, (k) => bytesToHex(k));
    const key = Uint8Array.of(1, 2);
    expect(cache.get(key)).toBe('0102');
    key[0] = 9;
    expect(cache.get(key)).toBe('0902');
  });
});
