/**
 * SM4 block cipher (GB/T 32907-2016), plain TypeScript with merged S-box + linear-transform
 * tables ("T-tables") and no allocation per block. Round keys are cached by the callers
 * (see cipher-blocks.ts). Cross-checked in test/crypto against node:crypto 'sm4-ecb' and the
 * standard's vector.
 */
import { assertBytes } from './bytes.ts';

// The S-box of GB/T 32907-2016, row by row.
const SBOX_HEX =
  'd690e9fecce13db716b614c228fb2c052b679a762abe04c3aa441326498606999c4250f491ef987a33540b43edcfac62' +
  'e4b31ca9c908e89580df94fa758f3fa64707a7fcf37317ba83593c19e6854fa8686b81b27164da8bf8eb0f4b70569d35' +
  '1e240e5e6358d1a225227c3b01217887d40046579fd327524c3602e7a0c4c89eeabf8ad240c738b5a3f7f2cef96115a1' +
  'e0ae5da49b341a55ad933230f58cb1e31df6e22e8266ca60c02923ab0d534e6fd5db3745defd8e2f03ff6a726d6c5b51' +
  '8d1baf92bbddbc7f11d95c411f105ad80ac13188a5cd7bbd2d74d012b8e5b4b08969974a0c96777e65b9f109c56ec684' +
  '18f07dec3adc4d2079ee5f3ed7cb3948';
const SBOX = new Uint8Array(256);
for (let i = 0; i < 256; i++) SBOX[i] = parseInt(SBOX_HEX.slice(i * 2, i * 2 + 2), 16);

const FK = [0xa3b1bac6, 0x56aa3350, 0x677d9197, 0xb27022dc];
/** CK_i = (ck_i0, ck_i1, ck_i2, ck_i3) with ck_ij = (4i + j) * 7 mod 256 (GB/T 32907 section 7.3). */
const CK = new Int32Array(32);
for (let i = 0; i < 32; i++) {
  let w = 0;
  for (let j = 0; j < 4; j++) w = (w << 8) | (((4 * i + j) * 7) & 0xff);
  CK[i] = w;
}

const rotl32 = (x: number, n: number): number => (x << n) | (x >>> (32 - n));

/** T0[x] = L(S(x) << 24); T1..T3 are the same rotated by 8, 16, 24 (L commutes with rotation). */
const T0 = new Int32Array(256);
const T1 = new Int32Array(256);
const T2 = new Int32Array(256);
const T3 = new Int32Array(256);
for (let x = 0; x < 256; x++) {
  const b = SBOX[x] << 24;
  const l = b ^ rotl32(b, 2) ^ rotl32(b, 10) ^ rotl32(b, 18) ^ rotl32(b, 24);
  T0[x] = l;
  T1[x] = rotl32(l, 24);
  T2[x] = rotl32(l, 16);
  T3[x] = rotl32(l, 8);
}

function tauKey(a: number): number {
  const b = (SBOX[a >>> 24] << 24) | (SBOX[(a >>> 16) & 0xff] << 16) | (SBOX[(a >>> 8) & 0xff] << 8) | SBOX[a & 0xff];
  return b ^ rotl32(b, 13) ^ rotl32(b, 23);
}

/** 32 round keys; decrypt = the same keys in reverse order. */
export type Sm4RoundKeys = Int32Array;

export function buildSm4RoundKeys(key16: Uint8Array, decrypt: boolean): Sm4RoundKeys {
  return buildSm4RoundKeysInto(key16, decrypt, new Int32Array(32));
}

/** As buildSm4RoundKeys, into `rk` (32 words, e.g. round keys the cache evicted); returns rk. */
export function buildSm4RoundKeysInto(key16: Uint8Array, decrypt: boolean, rk: Sm4RoundKeys): Sm4RoundKeys {
  assertBytes(key16, 'SM4 key', 16);
  if (rk.length !== 32) throw new RangeError(`SM4 round keys must be 32 words, got ${rk.length}`);
  let k0 = readU32(key16, 0) ^ FK[0];
  let k1 = readU32(key16, 4) ^ FK[1];
  let k2 = readU32(key16, 8) ^ FK[2];
  let k3 = readU32(key16, 12) ^ FK[3];
  for (let i = 0; i < 32; i++) {
    const next = k0 ^ tauKey(k1 ^ k2 ^ k3 ^ CK[i]);
    rk[decrypt ? 31 - i : i] = next;
    k0 = k1;
    k1 = k2;
    k2 = k3;
    k3 = next;
  }
  return rk;
}

/** One SM4 block on four big-endian words; writes out[0..3]. No allocation. */
export function sm4CryptWords(rk: Sm4RoundKeys, x0: number, x1: number, x2: number, x3: number, out: Int32Array): void {
  for (let i = 0; i < 32; i += 4) {
    let a = x1 ^ x2 ^ x3 ^ rk[i];
    x0 ^= T0[a >>> 24] ^ T1[(a >>> 16) & 0xff] ^ T2[(a >>> 8) & 0xff] ^ T3[a & 0xff];
    a = x2 ^ x3 ^ x0 ^ rk[i + 1];
    x1 ^= T0[a >>> 24] ^ T1[(a >>> 16) & 0xff] ^ T2[(a >>> 8) & 0xff] ^ T3[a & 0xff];
    a = x3 ^ x0 ^ x1 ^ rk[i + 2];
    x2 ^= T0[a >>> 24] ^ T1[(a >>> 16) & 0xff] ^ T2[(a >>> 8) & 0xff] ^ T3[a & 0xff];
    a = x0 ^ x1 ^ x2 ^ rk[i + 3];
    x3 ^= T0[a >>> 24] ^ T1[(a >>> 16) & 0xff] ^ T2[(a >>> 8) & 0xff] ^ T3[a & 0xff];
  }
  // The reverse transform R: output (X35, X34, X33, X32).
  out[0] = x3;
  out[1] = x2;
  out[2] = x1;
  out[3] = x0;
}

function readU32(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) | bytes[offset + 3];
}
