/**
 * prepareTransactionMacKey / transactionMacWithKeyInto (a session key with its own schedule, for
 * holders that keep keys across calls) give exactly transactionMac's MAC; tacSessionKeyInto is
 * tacSessionKey without the allocation; hexToBytes's fast path parses as the general path does.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bytesToHex,
  hexToBytes,
  prepareTransactionMacKey,
  tacSessionKey,
  tacSessionKeyInto,
  transactionMac,
  transactionMacWithKeyInto,
  type CipherAlgorithm,
} from '#core';
import { nodeTransactionMac } from '#core/crypto/alt/node-ciphers';

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const data = fc.uint8Array({ minLength: 0, maxLength: 64 });
const algorithm = fc.constantFrom<CipherAlgorithm>('3des', 'sm4');
const keyLength = (a: CipherAlgorithm): number => (a === 'sm4' ? 16 : 8);

describe('prepared transaction-MAC key', () => {
  it('MACs exactly as transactionMac and the node:crypto reference, for any key and data', () => {
    fc.assert(
      fc.property(algorithm, bytes(16), data, (alg, keyBytes, message) => {
        const sessionKey = keyBytes.subarray(0, keyLength(alg));
        const key = prepareTransactionMacKey(sessionKey, alg);
        const out = new Uint8Array(4);
        const mac = bytesToHex(transactionMacWithKeyInto(key, message, out, 0));
        expect(mac).toBe(bytesToHex(transactionMac(sessionKey, message, alg)));
        expect(mac).toBe(bytesToHex(nodeTransactionMac(sessionKey, message, alg)));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps its own schedule: MACs under many other keys in between change nothing', () => {
    const sessionKey = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    const message = Uint8Array.of(9, 8, 7);
    const key = prepareTransactionMacKey(sessionKey, '3des');
    const before = bytesToHex(transactionMacWithKeyInto(key, message, new Uint8Array(4)));
    // Enough other keys to cycle the shared schedule caches (capacity 256) several times.
    for (let i = 0; i < 1_000; i++) transactionMac(Uint8Array.of(i & 0xff, i >> 8, 0, 0, 0, 0, 0, 1), message, '3des');
    sessionKey.fill(0); // the caller's buffer is not the key either
    expect(bytesToHex(transactionMacWithKeyInto(key, message, new Uint8Array(4)))).toBe(before);
    expect(before).toBe(bytesToHex(transactionMac(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), message, '3des')));
  });

  it('a recycled key is rebuilt in place for the new key and algorithm', () => {
    fc.assert(
      fc.property(algorithm, algorithm, bytes(16), bytes(16), data, (a1, a2, k1, k2, message) => {
        const first = prepareTransactionMacKey(k1.subarray(0, keyLength(a1)), a1);
        const schedule = first.schedule;
        const second = prepareTransactionMacKey(k2.subarray(0, keyLength(a2)), a2, first);
        expect(second).toBe(first);
        expect(second.schedule).toBe(schedule);
        expect(second.algorithm).toBe(a2);
        expect(bytesToHex(transactionMacWithKeyInto(second, message, new Uint8Array(4)))).toBe(
          bytesToHex(transactionMac(k2.subarray(0, keyLength(a2)), message, a2)),
        );
      }),
      { numRuns: 100 },
    );
  });

  it('refuses a wrong key length, an unknown algorithm and an output without room', () => {
    expect(() => prepareTransactionMacKey(new Uint8Array(16), '3des')).toThrow(/sessionKey must be 8 bytes/);
    expect(() => prepareTransactionMacKey(new Uint8Array(8), 'sm4')).toThrow(/sessionKey must be 16 bytes/);
    expect(() => prepareTransactionMacKey(new Uint8Array(8), 'aes' as CipherAlgorithm)).toThrow(TypeError);
    const key = prepareTransactionMacKey(new Uint8Array(8), '3des');
    expect(() => transactionMacWithKeyInto(key, new Uint8Array(3), new Uint8Array(4), 1)).toThrow(/no room/);
    expect(() =>
      transactionMacWithKeyInto({ algorithm: 'aes' as CipherAlgorithm, schedule: new Int32Array(32) }, new Uint8Array(3), new Uint8Array(4)),
    ).toThrow(TypeError);
  });
});

describe('tacSessionKeyInto', () => {
  it('writes the bytes tacSessionKey returns', () => {
    fc.assert(
      fc.property(algorithm, bytes(16), (alg, dtk) => {
        const out = new Uint8Array(keyLength(alg)).fill(0xee);
        expect(tacSessionKeyInto(dtk, alg, out)).toBe(out);
        expect(bytesToHex(out)).toBe(bytesToHex(tacSessionKey(dtk, alg)));
      }),
    );
    expect(() => tacSessionKeyInto(new Uint8Array(16), '3des', new Uint8Array(16))).toThrow(/out must be 8 bytes/);
    expect(() => tacSessionKeyInto(new Uint8Array(16), 'sm4', new Uint8Array(8))).toThrow(/out must be 16 bytes/);
  });
});

describe('hexToBytes fast path', () => {
  // Independent reading of the documented rule: whitespace between digits is dropped, then an
  // even run of hex digits is the bytes; anything else throws.
  function reference(hex: string): Uint8Array | 'throws' {
    const clean = hex.replace(/\s+/g, '');
    if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) return 'throws';
    return Uint8Array.from(Buffer.from(clean, 'hex'));
  }
  const hexish = fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF \n\tgG-xZ'.split('')), maxLength: 24 });

  it('parses or refuses exactly as the rule says, for hex, mixed case, whitespace and stray characters', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          hexish,
          fc.uint8Array({ maxLength: 16 }).map((b) => Buffer.from(b).toString('hex')),
        ),
        (text) => {
          const expected = reference(text);
          if (expected === 'throws') expect(() => hexToBytes(text)).toThrow();
          else expect(hexToBytes(text)).toEqual(expected);
        },
      ),
      { numRuns: 1_000 },
    );
    expect(hexToBytes('')).toEqual(new Uint8Array(0));
    expect(hexToBytes('0aFf')).toEqual(Uint8Array.of(0x0a, 0xff));
    expect(() => hexToBytes('0g')).toThrow(TypeError);
    expect(() => hexToBytes('0a0')).toThrow(RangeError);
  });
});
