/**
 * The allocation-free tap path computes exactly what the allocating API computes:
 * - ScheduleCache recycles the least recently used entry (key copy and value rebuilt in place):
 *   every value it returns equals a fresh build for that key, whatever the access sequence,
 *   hash collisions included;
 * - the `...Into` variants (diversification, session key, MAC) equal node:crypto references
 *   while one output buffer is reused and more keys stream through than the schedule caches
 *   hold (so their schedules are rebuilt in place);
 * - the software PSAM (reused session-key and scratch buffers, recycled DPK cache) answers the
 *   same MAC1 as core's allocating functions compute, verifies exactly the genuine MAC2, and
 *   never changes a MAC1 it handed out.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  diversifyKey,
  diversifyKeyInto,
  purchaseMac1Data,
  purchaseSessionKey,
  purchaseSessionKeyInto,
  sessionKeyBytes,
  transactionMac,
  transactionMacInto,
  type CipherAlgorithm,
} from '#core';
import { KEY_SCHEDULE_CACHE_CAPACITY } from '#core/crypto/cipher-blocks';
import { ScheduleCache } from '#core/crypto/schedule-cache';
import { nodeSm4EncryptBlock, nodeTransactionMac, nodeTripleDesEncryptBlock } from '#core/crypto/alt/node-ciphers';
import { SoftwarePsam } from '#validator/psam';
import { makeIssuer, TERMINAL_ID } from '../purse/fixtures.ts';

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const algorithmArb = fc.constantFrom<CipherAlgorithm>('3des', 'sm4');

describe('ScheduleCache with in-place rebuild', () => {
  /** A "schedule" of 4 words derived from the key, built fresh or into a recycled array. */
  const derive = (key: Uint8Array, out: Int32Array): Int32Array => {
    let acc = 0x1234;
    for (let i = 0; i < 4; i++) {
      for (const b of key) acc = Math.imul(acc ^ b, 0x9e3779b1) ^ (acc >>> 15);
      out[i] = acc;
    }
    return out;
  };

  it('every value equals a fresh build for its key, for any access sequence and capacity', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(fc.integer({ min: 0, max: 11 }), { minLength: 1, maxLength: 200 }), (capacity, sequence) => {
        let builds = 0;
        let rebuilds = 0;
        const cache = new ScheduleCache<Int32Array>(
          capacity,
          (k) => {
            builds++;
            return derive(k, new Int32Array(4));
          },
          (k, recycled) => {
            rebuilds++;
            return derive(k, recycled);
          },
        );
        // Keys of two lengths; the caller's buffer is mutated after each call.
        for (const n of sequence) {
          const key = n % 2 === 0 ? Uint8Array.of(n, 1, 2, 3, 4, 5, 6, 7) : Uint8Array.of(n, 9, 8, 7, 6, 5, 4, 3, 2);
          const value = cache.get(key);
          expect([...value]).toEqual([...derive(key, new Int32Array(4))]);
          key.fill(0xee);
          expect(cache.size).toBeLessThanOrEqual(capacity);
        }
        expect(cache.hits + cache.misses).toBe(sequence.length);
        expect(builds + rebuilds).toBe(cache.misses);
        expect(builds).toBeLessThanOrEqual(capacity + 12); // fresh objects only until full (+ collisions)
      }),
      { numRuns: 300, seed: 20261127 },
    );
  });

  it("two keys with the same hash never get each other's value", () => {
    // FNV-1a folded to 30 bits: these two 8-byte keys collide (found by search).
    const a = Uint8Array.from(Buffer.from('5367577d95a8d1b3', 'hex'));
    const b = Uint8Array.from(Buffer.from('3e5047480479b64a', 'hex'));
    const cache = new ScheduleCache<string>(
      8,
      (k) => Buffer.from(k).toString('hex'),
      (k) => Buffer.from(k).toString('hex'),
    );
    for (let i = 0; i < 4; i++) {
      expect(cache.get(a)).toBe('5367577d95a8d1b3');
      expect(cache.get(b)).toBe('3e5047480479b64a');
    }
    expect(cache.size).toBe(1); // they share (and take turns in) one slot: a miss, never a wrong hit
  });

  it('a value recycled for another key is not served for the old one (no stale last-key hit)', () => {
    const cache = new ScheduleCache<Int32Array>(
      1,
      (k) => derive(k, new Int32Array(4)),
      (k, r) => derive(k, r),
    );
    const a = Uint8Array.of(1, 1, 1, 1, 1, 1, 1, 1);
    const b = Uint8Array.of(2, 2, 2, 2, 2, 2, 2, 2);
    const first = cache.get(a);
    const expectedA = [...first];
    const second = cache.get(b);
    expect(second).toBe(first); // recycled in place
    expect([...cache.get(a)]).toEqual(expectedA);
    expect(cache.misses).toBe(3);
  });
});

describe('...Into variants equal the references while buffers are reused', () => {
  it('diversifyKeyInto = 3DES_MK(D) || 3DES_MK(NOT D) / SM4_MK(D || NOT D) (node:crypto), one out buffer', () => {
    const out = new Uint8Array(16);
    fc.assert(
      fc.property(bytes(16), bytes(8), algorithmArb, (mk, d, algorithm) => {
        const notD = d.map((x) => ~x & 0xff);
        const expected =
          algorithm === '3des'
            ? Buffer.concat([nodeTripleDesEncryptBlock(mk, d), nodeTripleDesEncryptBlock(mk, notD)])
            : nodeSm4EncryptBlock(mk, Buffer.concat([d, notD]));
        expect(Buffer.from(diversifyKeyInto(mk, d, algorithm, out))).toEqual(Buffer.from(expected));
        expect(Buffer.from(diversifyKey(mk, d, algorithm))).toEqual(Buffer.from(expected));
      }),
      // More distinct master keys than the schedule caches hold: their entries are recycled.
      { numRuns: KEY_SCHEDULE_CACHE_CAPACITY * 3, seed: 11 },
    );
  });

  it('purchaseSessionKeyInto and transactionMacInto = node:crypto, one key buffer and one MAC buffer', () => {
    const key8 = new Uint8Array(8);
    const key16 = new Uint8Array(16);
    const macOut = new Uint8Array(10);
    fc.assert(
      fc.property(
        bytes(16),
        bytes(4),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        algorithmArb,
        fc.uint8Array({ maxLength: 40 }),
        fc.integer({ min: 0, max: 6 }),
        (dpk, random, atc, tsn, algorithm, data, offset) => {
          const input = Uint8Array.of(...random, atc >>> 8, atc & 0xff, (tsn >>> 8) & 0xff, tsn & 0xff);
          const expectedKey =
            algorithm === '3des' ? nodeTripleDesEncryptBlock(dpk, input) : nodeSm4EncryptBlock(dpk, Uint8Array.of(...input, 0x80, 0, 0, 0, 0, 0, 0, 0));
          const key = purchaseSessionKeyInto(dpk, random, atc, tsn, algorithm, algorithm === '3des' ? key8 : key16);
          expect(key.length).toBe(sessionKeyBytes(algorithm));
          expect(Buffer.from(key)).toEqual(Buffer.from(expectedKey));
          expect(Buffer.from(purchaseSessionKey(dpk, random, atc, tsn, algorithm))).toEqual(Buffer.from(expectedKey));
          const expectedMac = Buffer.from(nodeTransactionMac(expectedKey, data, algorithm));
          macOut.fill(0x5a);
          transactionMacInto(key, data, algorithm, macOut, offset);
          expect(Buffer.from(macOut.subarray(offset, offset + 4))).toEqual(expectedMac);
          // Only its four bytes are written.
          expect([...macOut.subarray(0, offset), ...macOut.subarray(offset + 4)].every((x) => x === 0x5a)).toBe(true);
          expect(Buffer.from(transactionMac(key, data, algorithm))).toEqual(expectedMac);
        },
      ),
      { numRuns: KEY_SCHEDULE_CACHE_CAPACITY * 3, seed: 12 },
    );
  });

  it('transactionMacInto refuses an out buffer without room', () => {
    expect(() => transactionMacInto(new Uint8Array(8), new Uint8Array(3), '3des', new Uint8Array(5), 2)).toThrow(RangeError);
  });
});

describe('software PSAM with reused buffers', () => {
  const issuer = makeIssuer();
  const material = issuer.psamKeyMaterial();
  const master = material.purchaseMasterKeys.get(1)!;

  /** MAC1 and MAC2 as core's allocating functions compute them (what the PSAM did before). */
  function reference(
    serial: Uint8Array,
    algorithm: CipherAlgorithm,
    random: Uint8Array,
    atc: number,
    tsn: number,
    amountFen: number,
    type: number,
    date: Uint8Array,
    time: Uint8Array,
  ) {
    const sessionKey = purchaseSessionKey(diversifyKey(master, serial, algorithm), random, atc, tsn, algorithm);
    return {
      mac1: Buffer.from(transactionMac(sessionKey, purchaseMac1Data(amountFen, type, TERMINAL_ID, date, time), algorithm)),
      mac2: transactionMac(sessionKey, Uint8Array.of(amountFen >>> 24, (amountFen >>> 16) & 0xff, (amountFen >>> 8) & 0xff, amountFen & 0xff), algorithm),
    };
  }

  it('MAC1 and MAC2 checks equal the allocating computation over many cards, a tiny DPK cache, both suites', () => {
    const psam = new SoftwarePsam({ terminalId: TERMINAL_ID, tsnStart: 0xfffffff0, dpkCacheSize: 3, ...material });
    const handedOut: Array<{ mac1: Uint8Array; copy: Buffer }> = [];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 9 }),
        algorithmArb,
        bytes(4),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.constantFrom(0x06, 0x09),
        fc.boolean(),
        fc.boolean(),
        (card, algorithm, random, atc, amountFen, type, genuine, recoverFirst) => {
          const serial = Uint8Array.of(0x10, 0x00, 0x75, 0x43, 0, 0, 0, card);
          const date = Uint8Array.of(0x20, 0x26, 0x11, 0x25);
          const time = Uint8Array.of(0x09, 0x00, card);
          const tsn = psam.tsn;
          const expected = reference(serial, algorithm, random, atc, tsn, amountFen, type, date, time);
          const request = { cardSerial: serial, keyVersion: 1, algorithm, cardRandom: random, offlineAtc: atc, amountFen, transactionType: type, date, time };
          const result = psam.beginPurchase(request);
          expect(result.tsn).toBe(tsn);
          expect(Buffer.from(result.mac1)).toEqual(expected.mac1);
          handedOut.push({ mac1: result.mac1, copy: Buffer.from(result.mac1) });
          // A recovery check in the middle of a session leaves the session's key alone.
          if (recoverFirst) expect(psam.verifyRecoveredMac2({ ...request, tsn }, expected.mac2)).toBe(true);
          const mac2 = genuine ? expected.mac2 : expected.mac2.map((x, i) => (i === 0 ? x ^ 1 : x));
          expect(psam.verifyMac2(mac2)).toBe(genuine);
          expect(psam.verifyMac2(expected.mac2)).toBe(false); // the session is closed
        },
      ),
      { numRuns: 400, seed: 5 },
    );
    for (const { mac1, copy } of handedOut) expect(Buffer.from(mac1)).toEqual(copy);
  });
});
