/**
 * The issuer key service's per-card TAC key cache (issuer-key-service.ts): the same verdicts as
 * deriving every key afresh, bounded, least recently used out, and a card's key for one key
 * version or algorithm never answers for another.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeCardNo, purchaseTacData, type CipherAlgorithm } from '#core';
import { DEFAULT_TAC_KEY_CACHE_CARDS, IssuerKeyService } from '#issuer/issuer-key-service';
import { genuineTacFromMaster, testKeySets } from './fixtures.ts';

const MASTER = testKeySets();

/** The card's genuine TAC over `data`, computed here from the master key with core only. */
function genuineTac(cardNo: string, keyVersion: number, algorithm: CipherAlgorithm, data: Uint8Array): Uint8Array {
  return genuineTacFromMaster(MASTER, cardNo, keyVersion, algorithm, data);
}

const tacData = (tsn: number, amountFen = 300): Uint8Array =>
  purchaseTacData({ amountFen, transactionType: 0x06, terminalId: '202600000001', tsn, date: 20260310, time: 101500 });

const cardNo = (n: number): string => makeCardNo('1000', n);

describe('TAC key cache', () => {
  it('gives the verdicts of the uncached service for genuine and forged TACs, any card, version and algorithm', () => {
    const cached = IssuerKeyService.fromKeySets(MASTER, 1, { tacKeyCacheCards: 8 });
    const uncached = IssuerKeyService.fromKeySets(MASTER, 1, { tacKeyCacheCards: 0 });
    const check = fc.record({
      card: fc.integer({ min: 1, max: 20 }),
      keyVersion: fc.constantFrom(1, 2),
      claimedVersion: fc.constantFrom(1, 2, 3),
      algorithm: fc.constantFrom<CipherAlgorithm>('3des', 'sm4'),
      claimedAlgorithm: fc.constantFrom<CipherAlgorithm>('3des', 'sm4'),
      tsn: fc.nat({ max: 0xffff }),
      flip: fc.option(fc.nat({ max: 31 }), { freq: 3 }),
    });
    fc.assert(
      fc.property(fc.array(check, { minLength: 1, maxLength: 60 }), (checks) => {
        for (const c of checks) {
          const no = cardNo(c.card);
          const data = tacData(c.tsn);
          const tac = genuineTac(no, c.keyVersion, c.algorithm, data);
          if (c.flip !== null) tac[c.flip >> 3] ^= 1 << (c.flip & 7);
          const request = { cardNo: no, keyVersion: c.claimedVersion, algorithm: c.claimedAlgorithm, data, tac };
          const expected = c.flip === null && c.claimedVersion === c.keyVersion && c.claimedAlgorithm === c.algorithm;
          expect(uncached.verifyTac(request)).toBe(expected);
          expect(cached.verifyTac(request)).toBe(expected);
        }
        expect(cached.tacKeyCacheSize).toBeLessThanOrEqual(8);
      }),
      { numRuns: 200 },
    );
    expect(uncached.tacKeyCacheSize).toBe(0);
    expect(cached.tacKeyCacheStats.hits).toBeGreaterThan(0);
  });

  it('a card cached under one version or algorithm is not verified with that key under another', () => {
    const keys = IssuerKeyService.fromKeySets(MASTER, 2, { tacKeyCacheCards: 4 });
    const no = cardNo(7);
    const data = tacData(42);
    const v1 = genuineTac(no, 1, '3des', data);
    const v2 = genuineTac(no, 2, '3des', data);
    const sm4v1 = genuineTac(no, 1, 'sm4', data);
    expect(keys.verifyTac({ cardNo: no, keyVersion: 1, algorithm: '3des', data, tac: v1 })).toBe(true); // v1 key cached
    expect(keys.verifyTac({ cardNo: no, keyVersion: 2, algorithm: '3des', data, tac: v1 })).toBe(false);
    expect(keys.verifyTac({ cardNo: no, keyVersion: 2, algorithm: '3des', data, tac: v2 })).toBe(true); // now v2 cached
    expect(keys.verifyTac({ cardNo: no, keyVersion: 1, algorithm: '3des', data, tac: v2 })).toBe(false);
    expect(keys.verifyTac({ cardNo: no, keyVersion: 1, algorithm: 'sm4', data, tac: v1 })).toBe(false);
    expect(keys.verifyTac({ cardNo: no, keyVersion: 1, algorithm: 'sm4', data, tac: sm4v1 })).toBe(true);
    expect(keys.verifyTac({ cardNo: no, keyVersion: 1, algorithm: '3des', data, tac: sm4v1.subarray(0, 4) })).toBe(false);
    expect(keys.verifyTac({ cardNo: no, keyVersion: 1, algorithm: '3des', data, tac: v1 })).toBe(true);
    // One entry per card whatever it was asked under.
    expect(keys.tacKeyCacheSize).toBe(1);
  });

  it('is bounded and drops the least recently used card first', () => {
    const keys = IssuerKeyService.fromKeySets(MASTER, 1, { tacKeyCacheCards: 3 });
    const verify = (n: number): boolean => {
      const data = tacData(n);
      return keys.verifyTac({ cardNo: cardNo(n), keyVersion: 1, algorithm: '3des', data, tac: genuineTac(cardNo(n), 1, '3des', data) });
    };
    const stats = keys.tacKeyCacheStats;
    for (const n of [1, 2, 3]) expect(verify(n)).toBe(true);
    expect(stats).toEqual({ hits: 0, misses: 3 });
    expect(verify(1)).toBe(true); // 1 is now the most recent: 2 is the oldest
    expect(stats).toEqual({ hits: 1, misses: 3 });
    expect(verify(4)).toBe(true); // evicts 2
    expect(keys.tacKeyCacheSize).toBe(3);
    expect(verify(1)).toBe(true);
    expect(verify(3)).toBe(true);
    expect(stats).toEqual({ hits: 3, misses: 4 });
    expect(verify(2)).toBe(true); // derived again
    expect(stats).toEqual({ hits: 3, misses: 5 });
    for (let n = 10; n < 200; n++) expect(verify(n)).toBe(true);
    expect(keys.tacKeyCacheSize).toBe(3);
  });

  it('a malformed card number or unknown version is "not valid" and leaves the cache as it was', () => {
    const keys = IssuerKeyService.fromKeySets(MASTER, 1, { tacKeyCacheCards: 2 });
    const data = tacData(1);
    const tac = genuineTac(cardNo(1), 1, '3des', data);
    expect(keys.verifyTac({ cardNo: cardNo(1), keyVersion: 1, algorithm: '3des', data, tac })).toBe(true);
    expect(() => keys.verifyTac({ cardNo: '12AB', keyVersion: 1, algorithm: '3des', data, tac })).toThrow();
    expect(() => keys.verifyTac({ cardNo: cardNo(2), keyVersion: 1, algorithm: 'aes' as CipherAlgorithm, data, tac })).toThrow(TypeError);
    expect(keys.verifyTac({ cardNo: cardNo(1), keyVersion: 9, algorithm: '3des', data, tac })).toBe(false);
    expect(keys.tacKeyCacheSize).toBe(1);
    expect(keys.verifyTac({ cardNo: cardNo(1), keyVersion: 1, algorithm: '3des', data, tac })).toBe(true);
    expect(keys.tacKeyCacheStats.hits).toBe(1);
  });

  it('defaults to a bounded cache and refuses a negative or fractional size; keys stay redacted', () => {
    const keys = IssuerKeyService.fromKeySets(MASTER);
    expect(DEFAULT_TAC_KEY_CACHE_CARDS).toBeGreaterThan(0);
    const data = tacData(5);
    expect(keys.verifyTac({ cardNo: cardNo(5), keyVersion: 2, algorithm: 'sm4', data, tac: genuineTac(cardNo(5), 2, 'sm4', data) })).toBe(true);
    expect(keys.tacKeyCacheSize).toBe(1);
    expect(JSON.stringify(keys)).not.toMatch(/schedule|tacKeys/);
    expect(() => IssuerKeyService.fromKeySets(MASTER, 1, { tacKeyCacheCards: -1 })).toThrow(RangeError);
    expect(() => IssuerKeyService.fromKeySets(MASTER, 1, { tacKeyCacheCards: 1.5 })).toThrow(RangeError);
  });
});
