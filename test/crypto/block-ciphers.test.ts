import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bytesToHex,
  desDecryptBlock,
  desEncryptBlock,
  hexToBytes,
  sm4DecryptBlock,
  sm4EncryptBlock,
  tripleDesDecryptBlock,
  tripleDesEncryptBlock,
} from '#core';
import { forgeDesEncryptBlock, forgeTripleDesEncryptBlock } from '#core/crypto/alt/forge-des';
import {
  nodeDesDecryptBlock,
  nodeDesEncryptBlock,
  nodeSm4DecryptBlock,
  nodeSm4EncryptBlock,
  nodeTripleDesDecryptBlock,
  nodeTripleDesEncryptBlock,
} from '#core/crypto/alt/node-ciphers';
import { buildSm4RoundKeys, sm4CryptWords } from '#core/crypto/sm4';
import { VECTORS } from './load-vectors.ts';

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const h = hexToBytes;

describe('DES known answers (FIPS 81, SP 800-20)', () => {
  for (const v of VECTORS.des.cases) {
    it(`${v.key} / ${v.plaintext}`, () => {
      for (const encrypt of [desEncryptBlock, nodeDesEncryptBlock, forgeDesEncryptBlock]) {
        expect(bytesToHex(encrypt(h(v.key), h(v.plaintext)))).toBe(v.ciphertext);
      }
      expect(bytesToHex(desDecryptBlock(h(v.key), h(v.ciphertext)))).toBe(v.plaintext);
    });
  }
});

describe('3DES known answers (SP 800-67)', () => {
  for (const v of VECTORS.tdes.cases) {
    it(`three-key ${v.key.slice(0, 8)}…`, () => {
      const pt = h(v.plaintext);
      let out = '';
      for (let off = 0; off < pt.length; off += 8) {
        const block = pt.subarray(off, off + 8);
        const own = tripleDesEncryptBlock(h(v.key), block);
        expect(own).toEqual(nodeTripleDesEncryptBlock(h(v.key), block));
        expect(own).toEqual(forgeTripleDesEncryptBlock(h(v.key), block));
        expect(tripleDesDecryptBlock(h(v.key), own)).toEqual(new Uint8Array(block));
        out += bytesToHex(own);
      }
      expect(out).toBe(v.ciphertext);
    });
  }
  it('two-key 3DES with K1 = K2 degenerates to single DES', () => {
    const k = h('133457799BBCDFF1');
    const k16 = new Uint8Array(16);
    k16.set(k, 0);
    k16.set(k, 8);
    expect(bytesToHex(tripleDesEncryptBlock(k16, h('0123456789ABCDEF')))).toBe('85E813540F0AB405');
  });
});

describe('SM4 known answers (GB/T 32907)', () => {
  for (const v of VECTORS.sm4.cases) {
    it(`${v.key} / ${v.plaintext}`, () => {
      expect(bytesToHex(sm4EncryptBlock(h(v.key), h(v.plaintext)))).toBe(v.ciphertext);
      expect(bytesToHex(nodeSm4EncryptBlock(h(v.key), h(v.plaintext)))).toBe(v.ciphertext);
      expect(bytesToHex(sm4DecryptBlock(h(v.key), h(v.ciphertext)))).toBe(v.plaintext);
    });
  }
  it('1,000,000 iterated encryptions (example 2)', () => {
    const v = VECTORS.sm4.iterated;
    // Word-level loop on one round-key set: the published vector at ~0.3 s instead of
    // allocating a million blocks.
    const rk = buildSm4RoundKeys(h(v.key), false);
    const block = h(v.plaintext);
    const w = new Int32Array(4);
    const dv = new DataView(block.buffer);
    let x0 = dv.getInt32(0),
      x1 = dv.getInt32(4),
      x2 = dv.getInt32(8),
      x3 = dv.getInt32(12);
    for (let i = 0; i < v.iterations; i++) {
      sm4CryptWords(rk, x0, x1, x2, x3, w);
      x0 = w[0];
      x1 = w[1];
      x2 = w[2];
      x3 = w[3];
    }
    const out = new Uint8Array(16);
    const ov = new DataView(out.buffer);
    ov.setInt32(0, x0);
    ov.setInt32(4, x1);
    ov.setInt32(8, x2);
    ov.setInt32(12, x3);
    expect(bytesToHex(out)).toBe(v.ciphertext);
  });
});

describe('cross-check of every implementation on random keys and blocks', () => {
  it('single DES: own = node:crypto = node-forge; decrypt inverts', () => {
    fc.assert(
      fc.property(bytes(8), bytes(8), (key, block) => {
        const own = desEncryptBlock(key, block);
        expect(own).toEqual(nodeDesEncryptBlock(key, block));
        expect(own).toEqual(forgeDesEncryptBlock(key, block));
        expect(desDecryptBlock(key, own)).toEqual(block);
        expect(nodeDesDecryptBlock(key, block)).toEqual(desDecryptBlock(key, block));
      }),
      { numRuns: 300 },
    );
  });
  it('3DES two-key and three-key: own = node:crypto = node-forge; decrypt inverts', () => {
    fc.assert(
      fc.property(fc.oneof(bytes(16), bytes(24)), bytes(8), (key, block) => {
        const own = tripleDesEncryptBlock(key, block);
        expect(own).toEqual(nodeTripleDesEncryptBlock(key, block));
        expect(own).toEqual(forgeTripleDesEncryptBlock(key, block));
        expect(tripleDesDecryptBlock(key, own)).toEqual(block);
        expect(nodeTripleDesDecryptBlock(key, block)).toEqual(tripleDesDecryptBlock(key, block));
      }),
      { numRuns: 300 },
    );
  });
  it('SM4: own = node:crypto; decrypt inverts', () => {
    fc.assert(
      fc.property(bytes(16), bytes(16), (key, block) => {
        const own = sm4EncryptBlock(key, block);
        expect(own).toEqual(nodeSm4EncryptBlock(key, block));
        expect(sm4DecryptBlock(key, own)).toEqual(block);
        expect(nodeSm4DecryptBlock(key, block)).toEqual(sm4DecryptBlock(key, block));
      }),
      { numRuns: 300 },
    );
  });
  it('accepts Buffers and subarrays at any offset', () => {
    const hex = Buffer.from(h('FF133457799BBCDFF10123456789ABCDEF'));
    expect(bytesToHex(desEncryptBlock(hex.subarray(1, 9), hex.subarray(9, 17)))).toBe('85E813540F0AB405');
  });
});

describe('length errors name the argument', () => {
  it('rejects wrong key and block lengths', () => {
    expect(() => desEncryptBlock(new Uint8Array(7), new Uint8Array(8))).toThrow(/key8 must be 8 bytes, got 7/);
    expect(() => desEncryptBlock(new Uint8Array(8), new Uint8Array(9))).toThrow(/block8 must be 8 bytes, got 9/);
    expect(() => tripleDesEncryptBlock(new Uint8Array(8), new Uint8Array(8))).toThrow(/16 or 24 bytes/);
    expect(() => sm4EncryptBlock(new Uint8Array(15), new Uint8Array(16))).toThrow(/key16 must be 16 bytes, got 15/);
    expect(() => sm4EncryptBlock(new Uint8Array(16), new Uint8Array(8))).toThrow(RangeError);
    expect(() => desEncryptBlock('00' as unknown as Uint8Array, new Uint8Array(8))).toThrow(TypeError);
  });
});
