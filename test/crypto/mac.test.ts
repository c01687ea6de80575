import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesToHex, hexToBytes, padIso9797Method2, retailMac, transactionMac, type CipherAlgorithm } from '#core';
import { forgeDesCbcEncrypt, forgeDesEncryptBlock } from '#core/crypto/alt/forge-des';
import { genericMacAlgorithm1, genericMacAlgorithm3 } from '#core/crypto/alt/generic-mac';
import { nodeDesDecryptBlock, nodeDesEncryptBlock, nodeSm4EncryptBlock, nodeTransactionMac } from '#core/crypto/alt/node-ciphers';
import { VECTORS } from './load-vectors.ts';

const h = hexToBytes;
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const data = fc.uint8Array({ minLength: 0, maxLength: 64 });

describe('transactionMac vectors', () => {
  for (const v of VECTORS.transactionMac3des.cases) {
    it(`3DES key ${v.key} data ${v.data || '(empty)'}`, () => {
      expect(bytesToHex(transactionMac(h(v.key), h(v.data)))).toBe(v.mac);
      expect(bytesToHex(transactionMac(h(v.key), h(v.data), '3des'))).toBe(v.mac);
    });
  }
  for (const v of VECTORS.transactionMacSm4.cases) {
    it(`SM4 key ${v.key} data ${v.data || '(empty)'}`, () => {
      expect(bytesToHex(transactionMac(h(v.key), h(v.data), 'sm4'))).toBe(v.mac);
    });
  }
  it('hand-checked: empty data with key 0 is DES_0(8000000000000000), the SP 800-20 KAT', () => {
    expect(bytesToHex(transactionMac(new Uint8Array(8), new Uint8Array(0)))).toBe('95F8A5E5');
  });
  it('hand-checked via node-forge DES-CBC: MAC1 over amount||type||terminal||date||time', () => {
    const key = h('0123456789ABCDEF');
    const mac1Input = h('00000001' + '06' + '000000000001' + '20261127' + '081230'); // 18 bytes
    // Independent path: pad by hand (18 bytes -> 24), CBC with forge, take the first 4 bytes
    // of the last block.
    const padded = h('000000010600000000000120261127081230' + '800000000000');
    const cbc = forgeDesCbcEncrypt(key, new Uint8Array(8), padded);
    expect(bytesToHex(transactionMac(key, mac1Input))).toBe(bytesToHex(cbc.subarray(16, 20)));
  });
});

describe('transactionMac = the standard written out over other block implementations', () => {
  it('3DES suite vs node:crypto CBC and vs the byte-level algorithm over forge and OpenSSL blocks', () => {
    fc.assert(
      fc.property(bytes(8), data, (key, d) => {
        const own = transactionMac(key, d, '3des');
        expect(own).toEqual(nodeTransactionMac(key, d, '3des'));
        expect(own).toEqual(genericMacAlgorithm1(forgeDesEncryptBlock, key, new Uint8Array(8), d, 8));
        expect(own).toEqual(genericMacAlgorithm1(nodeDesEncryptBlock, key, new Uint8Array(8), d, 8));
      }),
      { numRuns: 200 },
    );
  });
  it('SM4 suite vs node:crypto sm4-cbc and vs the byte-level algorithm over sm4-ecb', () => {
    fc.assert(
      fc.property(bytes(16), data, (key, d) => {
        const own = transactionMac(key, d, 'sm4');
        expect(own).toEqual(nodeTransactionMac(key, d, 'sm4'));
        expect(own).toEqual(genericMacAlgorithm1(nodeSm4EncryptBlock, key, new Uint8Array(16), d, 16));
      }),
      { numRuns: 200 },
    );
  });
});

describe('retailMac', () => {
  for (const v of VECTORS.retailMac3des.cases) {
    it(`3DES vector ${v.data}`, () => {
      expect(bytesToHex(retailMac(h(v.key), h(v.iv), h(v.data)))).toBe(v.mac);
    });
  }
  for (const v of VECTORS.retailMacSm4.cases) {
    it(`SM4 vector ${v.data}`, () => {
      expect(bytesToHex(retailMac(h(v.key), h(v.iv), h(v.data), 'sm4'))).toBe(v.mac);
    });
  }
  it('3DES = ISO 9797-1 algorithm 3 written out over OpenSSL DES', () => {
    fc.assert(
      fc.property(bytes(16), bytes(8), data, (key, iv, d) => {
        expect(retailMac(key, iv, d)).toEqual(genericMacAlgorithm3(nodeDesEncryptBlock, nodeDesDecryptBlock, key, iv, d));
      }),
      { numRuns: 200 },
    );
  });
  it('3DES with K_left = K_right reduces to algorithm 1 (the output transform cancels)', () => {
    fc.assert(
      fc.property(bytes(8), data, (k, d) => {
        const key16 = new Uint8Array(16);
        key16.set(k, 0);
        key16.set(k, 8);
        expect(retailMac(key16, new Uint8Array(8), d)).toEqual(transactionMac(k, d));
      }),
      { numRuns: 100 },
    );
  });
  it('SM4 = SM4-CBC-MAC with the IV, over sm4-ecb', () => {
    fc.assert(
      fc.property(bytes(16), bytes(16), data, (key, iv, d) => {
        expect(retailMac(key, iv, d, 'sm4')).toEqual(genericMacAlgorithm1(nodeSm4EncryptBlock, key, iv, d, 16));
      }),
      { numRuns: 200 },
    );
  });
  it('the IV matters (challenge binds the command to this card session)', () => {
    const key = h('0123456789ABCDEFFEDCBA9876543210');
    const d = h('841E000004');
    expect(retailMac(key, h('1A2B3C4D00000000'), d)).not.toEqual(retailMac(key, h('1A2B3C4E00000000'), d));
  });
});

describe('padding method 2', () => {
  it('always appends 0x80; a full last block gets a whole extra block', () => {
    expect(bytesToHex(padIso9797Method2(h(''), 8))).toBe('8000000000000000');
    expect(bytesToHex(padIso9797Method2(h('01020304050607'), 8))).toBe('0102030405060780');
    expect(bytesToHex(padIso9797Method2(h('0102030405060708'), 8))).toBe('01020304050607088000000000000000');
    expect(padIso9797Method2(new Uint8Array(16), 16).length).toBe(32);
  });
  it('data of a whole number of blocks differs from the same data with 80 00.. appended by hand', () => {
    // Without the extra block, D and D || 80 00 00 00 00 00 00 00 would collide.
    const key = h('F1E2D3C4B5A69788');
    const d = h('0011223344556677');
    expect(transactionMac(key, d)).not.toEqual(transactionMac(key, h('00112233445566778000000000000000')));
    expect(bytesToHex(transactionMac(key, h('0011223344556677')))).toBe('CF97A8AB');
  });
  it('every length 0..40 matches the padded CBC in both suites', () => {
    for (const algorithm of ['3des', 'sm4'] as CipherAlgorithm[]) {
      const key = algorithm === 'sm4' ? h('00112233445566778899AABBCCDDEEFF') : h('0011223344556677');
      for (let n = 0; n <= 40; n++) {
        const d = Uint8Array.from({ length: n }, (_, i) => (i * 37 + 11) & 0xff);
        expect(transactionMac(key, d, algorithm)).toEqual(nodeTransactionMac(key, d, algorithm));
      }
    }
  });
});

describe('a MAC changes when any input byte changes', () => {
  for (const algorithm of ['3des', 'sm4'] as CipherAlgorithm[]) {
    it(`${algorithm}: flipping one bit of data or key changes the MAC`, () => {
      const keyLength = algorithm === 'sm4' ? 16 : 8;
      fc.assert(
        fc.property(bytes(keyLength), fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.nat(), fc.integer({ min: 0, max: 7 }), (key, d, where, bit) => {
          const mac = transactionMac(key, d, algorithm);
          const flipped = Uint8Array.from(d);
          flipped[where % d.length] ^= 1 << bit;
          // A 32-bit MAC collides with probability 2^-32 per case: over these runs, never.
          expect(transactionMac(key, flipped, algorithm)).not.toEqual(mac);
          const otherKey = Uint8Array.from(key);
          // DES ignores the parity bit (bit 0) of each key byte, so flip bit 1..7 there.
          otherKey[where % keyLength] ^= algorithm === 'sm4' ? 1 << bit : 2 << (bit % 7);
          expect(transactionMac(otherKey, d, algorithm)).not.toEqual(mac);
        }),
        { numRuns: 500 },
      );
    });
  }
  it('appending a zero byte changes the MAC (padding is unambiguous)', () => {
    fc.assert(
      fc.property(bytes(8), fc.uint8Array({ maxLength: 30 }), (key, d) => {
        const longer = new Uint8Array(d.length + 1);
        longer.set(d);
        expect(transactionMac(key, longer)).not.toEqual(transactionMac(key, d));
      }),
      { numRuns: 300 },
    );
  });
});

describe('argument checks', () => {
  it('names the argument and the expected length', () => {
    expect(() => transactionMac(new Uint8Array(16), new Uint8Array(4))).toThrow(/sessionKey must be 8 bytes, got 16/);
    expect(() => transactionMac(new Uint8Array(8), new Uint8Array(4), 'sm4')).toThrow(/sessionKey must be 16 bytes, got 8/);
    expect(() => retailMac(new Uint8Array(8), new Uint8Array(8), new Uint8Array(4))).toThrow(/key16 must be 16 bytes, got 8/);
    expect(() => retailMac(new Uint8Array(16), new Uint8Array(4), new Uint8Array(4))).toThrow(/iv must be 8 bytes, got 4/);
    expect(() => retailMac(new Uint8Array(16), new Uint8Array(8), new Uint8Array(4), 'sm4')).toThrow(/iv must be 16 bytes, got 8/);
    expect(() => transactionMac(new Uint8Array(8), 'abc' as unknown as Uint8Array)).toThrow(/data must be a Uint8Array/);
    expect(() => transactionMac(new Uint8Array(8), new Uint8Array(4), 'aes' as CipherAlgorithm)).toThrow(/algorithm/);
  });
  it('accepts Buffers and returns a plain 4-byte Uint8Array', () => {
    const mac = transactionMac(Buffer.from('0123456789ABCDEF', 'hex'), Buffer.from('00000001', 'hex'));
    expect(mac).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(mac)).toBe(false);
    expect(bytesToHex(mac)).toBe('AF20EEFE');
  });
});
