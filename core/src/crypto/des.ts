/**
 * DES and two/three-key 3DES (FIPS 46-3, NIST SP 800-67), written for speed in plain TypeScript.
 *
 * Why our own: a purse MAC is a handful of DES blocks; node:crypto pays a native call and a
 * cipher object per key (OpenSSL 3 also refuses plain 'des-ecb'), node-forge pays its buffer
 * layer. Here the key schedule is computed once per key and cached, and a block is 16 rounds of
 * table lookups on two 32-bit words with no allocation. bench/crypto-primitives.bench.ts
 * measures all three; test/crypto cross-checks them.
 *
 * Layout (the classic "SP-table" formulation, as in libdes): the 64-bit block is two 32-bit
 * words; IP and IP^-1 are done by five swap-moves; inside the rounds both halves are rotated
 * left by one bit so that the expansion E becomes byte-aligned 6-bit fields:
 *   with a = rotl(R, 1):  S2, S4, S6, S8 inputs are bytes 3..0 of a (low 6 bits),
 *   with b = rotr(R, 3):  S1, S3, S5, S7 inputs are bytes 3..0 of b.
 * Each round key is stored as the matching two words, and SP tables merge S-box, P and the
 * one-bit rotation. All tables are computed at load time from the FIPS tables below.
 */
import { assertBytes } from './bytes.ts';

// FIPS 46-3 tables, 1-based bit numbers counted from the most significant bit.
const PC1 = [
  57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36, 63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30,
  22, 14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4,
];
const PC2 = [
  14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2, 41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34,
  53, 46, 42, 50, 36, 29, 32,
];
const SHIFTS = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];
const P = [16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, 2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25];
const SBOXES = [
  '14 4 13 1 2 15 11 8 3 10 6 12 5 9 0 7 0 15 7 4 14 2 13 1 10 6 12 11 9 5 3 8 4 1 14 8 13 6 2 11 15 12 9 7 3 10 5 0 15 12 8 2 4 9 1 7 5 11 3 14 10 0 6 13',
  '15 1 8 14 6 11 3 4 9 7 2 13 12 0 5 10 3 13 4 7 15 2 8 14 12 0 1 10 6 9 11 5 0 14 7 11 10 4 13 1 5 8 12 6 9 3 2 15 13 8 10 1 3 15 4 2 11 6 7 12 0 5 14 9',
  '10 0 9 14 6 3 15 5 1 13 12 7 11 4 2 8 13 7 0 9 3 4 6 10 2 8 5 14 12 11 15 1 13 6 4 9 8 15 3 0 11 1 2 12 5 10 14 7 1 10 13 0 6 9 8 7 4 15 14 3 11 5 2 12',
  '7 13 14 3 0 6 9 10 1 2 8 5 11 12 4 15 13 8 11 5 6 15 0 3 4 7 2 12 1 10 14 9 10 6 9 0 12 11 7 13 15 1 3 14 5 2 8 4 3 15 0 6 10 1 13 8 9 4 5 11 12 7 2 14',
  '2 12 4 1 7 10 11 6 8 5 3 15 13 0 14 9 14 11 2 12 4 7 13 1 5 0 15 10 3 9 8 6 4 2 1 11 10 13 7 8 15 9 12 5 6 3 0 14 11 8 12 7 1 14 2 13 6 15 0 9 10 4 5 3',
  '12 1 10 15 9 2 6 8 0 13 3 4 14 7 5 11 10 15 4 2 7 12 9 5 6 1 13 14 0 11 3 8 9 14 15 5 2 8 12 3 7 0 4 10 1 13 11 6 4 3 2 12 9 5 15 10 11 14 1 7 6 0 8 13',
  '4 11 2 14 15 0 8 13 3 12 9 7 5 10 6 1 13 0 11 7 4 9 1 10 14 3 5 12 2 15 8 6 1 4 11 13 12 3 7 14 10 15 6 8 0 5 9 2 6 11 13 8 1 4 10 7 9 5 0 15 14 2 3 12',
  '13 2 8 4 6 15 11 1 10 9 3 14 5 0 12 7 1 15 13 8 10 3 7 4 12 5 6 11 0 14 9 2 7 11 4 1 9 12 14 2 0 6 10 13 15 3 5 8 2 1 14 7 4 10 8 13 15 12 9 0 3 5 6 11',
].map((row) => row.split(' ').map(Number));

const rotl32 = (x: number, n: number): number => (x << n) | (x >>> (32 - n));

/** SP[(k-1)*64 + x] = rotl(P(S_k(x) in nibble k), 1); x is the 6-bit S-box input b1..b6. */
const SP = new Int32Array(8 * 64);
for (let k = 0; k < 8; k++) {
  for (let x = 0; x < 64; x++) {
    const row = ((x >>> 4) & 2) | (x & 1);
    const col = (x >>> 1) & 15;
    const s = SBOXES[k][row * 16 + col];
    const f = s << (28 - 4 * k); // S-box output bits 4k+1..4k+4 of the 32-bit f input to P
    let permuted = 0;
    for (let i = 0; i < 32; i++) {
      if ((f >>> (32 - P[i])) & 1) permuted |= 1 << (31 - i);
    }
    SP[k * 64 + x] = rotl32(permuted, 1);
  }
}

/** PC1 by key byte: PC1_C/D[byteIndex*256 + value] = that byte's contribution to C or D (28 bits). */
const PC1_C = new Int32Array(8 * 256);
const PC1_D = new Int32Array(8 * 256);
for (let i = 0; i < 56; i++) {
  const keyBit = PC1[i] - 1; // 0-based from the MSB of the 64-bit key
  const byteIndex = keyBit >>> 3;
  const mask = 0x80 >>> (keyBit & 7);
  for (let v = 0; v < 256; v++) {
    if ((v & mask) === 0) continue;
    if (i < 28) PC1_C[byteIndex * 256 + v] |= 1 << (27 - i);
    else PC1_D[byteIndex * 256 + v] |= 1 << (27 - (i - 28));
  }
}

/**
 * PC2 by 7-bit chunk of C and of D: PC2_X[(chunk*128 + value)*2 + w] is the contribution to
 * round-key word w (0: S2 S4 S6 S8 fields, 1: S1 S3 S5 S7 fields).
 */
const PC2_C = new Int32Array(4 * 128 * 2);
const PC2_D = new Int32Array(4 * 128 * 2);
for (let j = 0; j < 48; j++) {
  const cdBit = PC2[j] - 1; // 0..55: 0..27 in C, 28..55 in D
  const sbox = Math.floor(j / 6); // 0-based: S1 = 0
  const bitInField = 5 - (j % 6);
  const word = sbox % 2 === 1 ? 0 : 1; // S2, S4, S6, S8 (odd 0-based) go to word 0
  const byteShift = 24 - 8 * Math.floor(sbox / 2);
  const contribution = 1 << (byteShift + bitInField);
  const inD = cdBit >= 28;
  const bit = inD ? cdBit - 28 : cdBit; // 0 = MSB of the 28-bit half
  const chunk = Math.floor(bit / 7);
  const mask = 0x40 >>> (bit % 7);
  const table = inD ? PC2_D : PC2_C;
  for (let v = 0; v < 128; v++) {
    if (v & mask) table[(chunk * 128 + v) * 2 + word] |= contribution;
  }
}

/** The 16 round keys of one DES key, 32 words, in encryption order. */
function desRoundKeys(key: Uint8Array, offset: number, out: Int32Array, outOffset: number, reverse: boolean): void {
  let c = 0;
  let d = 0;
  for (let i = 0; i < 8; i++) {
    const v = key[offset + i];
    c |= PC1_C[i * 256 + v];
    d |= PC1_D[i * 256 + v];
  }
  for (let round = 0; round < 16; round++) {
    const s = SHIFTS[round];
    c = ((c << s) | (c >>> (28 - s))) & 0x0fffffff;
    d = ((d << s) | (d >>> (28 - s))) & 0x0fffffff;
    let w0 = 0;
    let w1 = 0;
    for (let chunk = 0; chunk < 4; chunk++) {
      const shift = 21 - 7 * chunk;
      const ci = (chunk * 128 + ((c >>> shift) & 0x7f)) * 2;
      const di = (chunk * 128 + ((d >>> shift) & 0x7f)) * 2;
      w0 |= PC2_C[ci] | PC2_D[di];
      w1 |= PC2_C[ci + 1] | PC2_D[di + 1];
    }
    const slot = reverse ? 15 - round : round;
    out[outOffset + slot * 2] = w0;
    out[outOffset + slot * 2 + 1] = w1;
  }
}

/** A key schedule: 32 words per DES pass (1 pass for DES, 3 for 3DES EDE). */
export type DesSchedule = Int32Array;

/** Builds a schedule without the cache (decrypt = round keys in reverse order). */
export function buildDesSchedule(key8: Uint8Array, decrypt: boolean): DesSchedule {
  return buildDesScheduleInto(key8, decrypt, new Int32Array(32));
}

/** As buildDesSchedule, into `out` (32 words, e.g. a schedule the cache evicted); returns out. */
export function buildDesScheduleInto(key8: Uint8Array, decrypt: boolean, out: DesSchedule): DesSchedule {
  assertBytes(key8, 'DES key', 8);
  if (out.length !== 32) throw new RangeError(`DES schedule must be 32 words, got ${out.length}`);
  desRoundKeys(key8, 0, out, 0, decrypt);
  return out;
}

/**
 * 3DES EDE schedule for a 16-byte (K1 K2, K3 = K1) or 24-byte (K1 K2 K3) key:
 * encrypt = E_K1, D_K2, E_K3; decrypt = D_K3, E_K2, D_K1.
 */
export function buildTripleDesSchedule(key: Uint8Array, decrypt: boolean): DesSchedule {
  return buildTripleDesScheduleInto(key, decrypt, new Int32Array(96));
}

/** As buildTripleDesSchedule, into `ks` (96 words, e.g. a schedule the cache evicted); returns ks. */
export function buildTripleDesScheduleInto(key: Uint8Array, decrypt: boolean, ks: DesSchedule): DesSchedule {
  assertBytes(key, '3DES key');
  if (key.length !== 16 && key.length !== 24) {
    throw new RangeError(`3DES key must be 16 or 24 bytes, got ${key.length}`);
  }
  if (ks.length !== 96) throw new RangeError(`3DES schedule must be 96 words, got ${ks.length}`);
  const k3 = key.length === 24 ? 16 : 0;
  // A 16-byte key's K3 is K1 with the same direction as the first pass: copy that pass's round
  // keys instead of deriving them again (one of three key schedules per session key on the tap path).
  if (!decrypt) {
    desRoundKeys(key, 0, ks, 0, false);
    desRoundKeys(key, 8, ks, 32, true);
    if (k3 === 0) ks.copyWithin(64, 0, 32);
    else desRoundKeys(key, k3, ks, 64, false);
  } else {
    desRoundKeys(key, k3, ks, 0, true);
    desRoundKeys(key, 8, ks, 32, false);
    if (k3 === 0) ks.copyWithin(64, 0, 32);
    else desRoundKeys(key, 0, ks, 64, true);
  }
  return ks;
}

/**
 * Encrypts or decrypts one block given as two big-endian words; the direction is baked into
 * the schedule. Writes the result to out[0], out[1]. No allocation.
 */
export function desCryptWords(ks: DesSchedule, left: number, right: number, out: Int32Array): void {
  let tmp: number;
  // IP
  tmp = ((left >>> 4) ^ right) & 0x0f0f0f0f;
  right ^= tmp;
  left ^= tmp << 4;
  tmp = ((left >>> 16) ^ right) & 0x0000ffff;
  right ^= tmp;
  left ^= tmp << 16;
  tmp = ((right >>> 2) ^ left) & 0x33333333;
  left ^= tmp;
  right ^= tmp << 2;
  tmp = ((right >>> 8) ^ left) & 0x00ff00ff;
  left ^= tmp;
  right ^= tmp << 8;
  tmp = ((left >>> 1) ^ right) & 0x55555555;
  right ^= tmp;
  left ^= tmp << 1;
  left = (left << 1) | (left >>> 31);
  right = (right << 1) | (right >>> 31);

  const words = ks.length;
  for (let base = 0; base < words; base += 32) {
    for (let i = base; i < base + 32; i += 2) {
      const a = right ^ ks[i];
      const b = ((right >>> 4) | (right << 28)) ^ ks[i + 1];
      tmp = left;
      left = right;
      right =
        tmp ^
        (SP[64 + ((a >>> 24) & 0x3f)] |
          SP[192 + ((a >>> 16) & 0x3f)] |
          SP[320 + ((a >>> 8) & 0x3f)] |
          SP[448 + (a & 0x3f)] |
          SP[(b >>> 24) & 0x3f] |
          SP[128 + ((b >>> 16) & 0x3f)] |
          SP[256 + ((b >>> 8) & 0x3f)] |
          SP[384 + (b & 0x3f)]);
    }
    // Undo the last swap: the preoutput of a pass is R16 L16.
    tmp = left;
    left = right;
    right = tmp;
  }

  left = (left >>> 1) | (left << 31);
  right = (right >>> 1) | (right << 31);
  // IP^-1
  tmp = ((left >>> 1) ^ right) & 0x55555555;
  right ^= tmp;
  left ^= tmp << 1;
  tmp = ((right >>> 8) ^ left) & 0x00ff00ff;
  left ^= tmp;
  right ^= tmp << 8;
  tmp = ((right >>> 2) ^ left) & 0x33333333;
  left ^= tmp;
  right ^= tmp << 2;
  tmp = ((left >>> 16) ^ right) & 0x0000ffff;
  right ^= tmp;
  left ^= tmp << 16;
  tmp = ((left >>> 4) ^ right) & 0x0f0f0f0f;
  right ^= tmp;
  left ^= tmp << 4;
  out[0] = left;
  out[1] = right;
}
