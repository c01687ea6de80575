import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesToHex, diversifyKey, hexToBytes, loadSessionKey, purchaseSessionKey, sessionKeyBytes, tacSessionKey, transactionMac, xorBytes } from '#core';
import { forgeTripleDesEncryptBlock } from '#core/crypto/alt/forge-des';
import { nodeSm4EncryptBlock, nodeTripleDesEncryptBlock } from '#core/crypto/alt/node-ciphers';
import { VECTORS } from './load-vectors.ts';

const h = hexToBytes;
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const not = (b: Uint8Array) => b.map((x) => ~x & 0xff);

describe('diversifyKey', () => {
  for (const v of VECTORS.diversify.cases) {
    it(`${v.algorithm} vector`, () => {
      expect(bytesToHex(diversifyKey(h(v.masterKey), h(v.diversifier), v.algorithm))).toBe(v.cardKey);
    });
  }
  it('3DES: 3DES_MK(D) || 3DES_MK(NOT D), checked with node:crypto and node-forge', () => {
    fc.assert(
      fc.property(bytes(16), bytes(8), (mk, d) => {
        const key = diversifyKey(mk, d);
        expect(key.length).toBe(16);
        expect(key.subarray(0, 8)).toEqual(nodeTripleDesEncryptBlock(mk, d));
        expect(key.subarray(8, 16)).toEqual(forgeTripleDesEncryptBlock(mk, not(d)));
      }),
      { numRuns: 200 },
    );
  });
  it('SM4: SM4_MK(D || NOT D), checked with node:crypto', () => {
    fc.assert(
      fc.property(bytes(16), bytes(8), (mk, d) => {
        const block = new Uint8Array(16);
        block.set(d, 0);
        block.set(not(d), 8);
        expect(diversifyKey(mk, d, 'sm4')).toEqual(nodeSm4EncryptBlock(mk, block));
      }),
      { numRuns: 200 },
    );
  });
  it('different cards get different keys', () => {
    const mk = h('404142434445464748494A4B4C4D4E4F');
    expect(diversifyKey(mk, h('0000100012345678'))).not.toEqual(diversifyKey(mk, h('0000100012345679')));
  });
  it('rejects wrong lengths', () => {
    expect(() => diversifyKey(new Uint8Array(8), new Uint8Array(8))).toThrow(/masterKey16 must be 16 bytes, got 8/);
    expect(() => diversifyKey(new Uint8Array(16), new Uint8Array(10), 'sm4')).toThrow(/diversifier8 must be 8 bytes, got 10/);
  });
});

describe('purchaseSessionKey', () => {
  it('3DES: 3DES_DPK(random(4) || offlineATC(2) || TSN[2..3])', () => {
    const dpk = h('0123456789ABCDEFFEDCBA9876543210');
    const key = purchaseSessionKey(dpk, h('A1B2C3D4'), 0x0102, 0x11223344);
    expect(key).toEqual(nodeTripleDesEncryptBlock(dpk, h('A1B2C3D4' + '0102' + '3344')));
    expect(key.length).toBe(sessionKeyBytes('3des'));
  });
  it('SM4: SM4_DPK(input8 || 80 00 00 00 00 00 00 00), 16 bytes', () => {
    const dpk = h('0123456789ABCDEFFEDCBA9876543210');
    const key = purchaseSessionKey(dpk, h('A1B2C3D4'), 0x0102, 0x11223344, 'sm4');
    expect(key).toEqual(nodeSm4EncryptBlock(dpk, h('A1B2C3D4010233448000000000000000')));
    expect(key.length).toBe(16);
  });
  it('random, ATC and TSN all feed the key; only the low two bytes of the TSN count', () => {
    fc.assert(
      fc.property(bytes(16), bytes(4), fc.integer({ min: 0, max: 0xfffe }), fc.integer({ min: 0, max: 0xffff }), (dpk, rnd, atc, tsnLow) => {
        const base = purchaseSessionKey(dpk, rnd, atc, tsnLow);
        expect(purchaseSessionKey(dpk, rnd, atc + 1, tsnLow)).not.toEqual(base);
        expect(purchaseSessionKey(dpk, rnd, atc, (tsnLow + 1) & 0xffff)).not.toEqual(base);
        expect(purchaseSessionKey(dpk, rnd, atc, tsnLow + 0x10000)).toEqual(base);
        const rnd2 = Uint8Array.from(rnd);
        rnd2[0] ^= 1;
        expect(purchaseSessionKey(dpk, rnd2, atc, tsnLow)).not.toEqual(base);
      }),
      { numRuns: 100 },
    );
  });
  it('rejects bad integers and lengths', () => {
    const dpk = new Uint8Array(16);
    expect(() => purchaseSessionKey(dpk, new Uint8Array(4), 0x10000, 0)).toThrow(/offlineAtc must be in 0..65535/);
    expect(() => purchaseSessionKey(dpk, new Uint8Array(4), 1.5, 0)).toThrow(/offlineAtc must be an integer/);
    expect(() => purchaseSessionKey(dpk, new Uint8Array(4), 0, -1)).toThrow(/terminalSerial/);
    expect(() => purchaseSessionKey(dpk, new Uint8Array(4), 0, 2 ** 32)).toThrow(/terminalSerial/);
    expect(() => purchaseSessionKey(dpk, new Uint8Array(3), 0, 0)).toThrow(/cardRandom4 must be 4 bytes, got 3/);
    expect(() => purchaseSessionKey(new Uint8Array(8), new Uint8Array(4), 0, 0)).toThrow(/dpk16 must be 16 bytes, got 8/);
  });
});

describe('loadSessionKey', () => {
  it('3DES: 3DES_DLK(random(4) || onlineATC(2) || 8000)', () => {
    const dlk = h('00112233445566778899AABBCCDDEEFF');
    expect(loadSessionKey(dlk, h('01020304'), 0x00ff)).toEqual(nodeTripleDesEncryptBlock(dlk, h('0102030400FF8000')));
  });
  it('SM4: SM4_DLK(random || onlineATC || 8000 || 80 00..)', () => {
    const dlk = h('00112233445566778899AABBCCDDEEFF');
    expect(loadSessionKey(dlk, h('01020304'), 0x00ff, 'sm4')).toEqual(nodeSm4EncryptBlock(dlk, h('0102030400FF80008000000000000000')));
  });
  it('rejects bad arguments', () => {
    expect(() => loadSessionKey(new Uint8Array(16), new Uint8Array(4), -1)).toThrow(/onlineAtc/);
    expect(() => loadSessionKey(new Uint8Array(15), new Uint8Array(4), 0)).toThrow(/dlk16 must be 16 bytes, got 15/);
  });
});

describe('tacSessionKey', () => {
  it('3DES: left half XOR right half; SM4: a copy of the key', () => {
    fc.assert(
      fc.property(bytes(16), (dtk) => {
        expect(tacSessionKey(dtk)).toEqual(xorBytes(dtk.subarray(0, 8), dtk.subarray(8, 16)));
        const sm4 = tacSessionKey(dtk, 'sm4');
        expect(sm4).toEqual(dtk);
        sm4[0] ^= 1;
        expect(sm4).not.toEqual(dtk); // a copy: callers cannot corrupt the card's key through it
      }),
    );
  });
  it('the TAC key works as a transactionMac key of the right length', () => {
    const dtk = h('0123456789ABCDEFFEDCBA9876543210');
    expect(bytesToHex(tacSessionKey(dtk))).toBe('FFFFFFFFFFFFFFFF');
    expect(transactionMac(tacSessionKey(dtk), h('00000001'))).toHaveLength(4);
    expect(transactionMac(tacSessionKey(dtk, 'sm4'), h('00000001'), 'sm4')).toHaveLength(4);
    expect(() => tacSessionKey(new Uint8Array(8))).toThrow(/dtk16 must be 16 bytes, got 8/);
  });
});
