/**
 * Key diversification and session keys (DOMAIN.md section 3).
 *
 * 3DES suite (PBOC): card key = 3DES_MK(D) || 3DES_MK(NOT D); session key = 3DES_K(input8)
 * (8 bytes); TAC key = K_left XOR K_right.
 * SM4 suite (project profile): card key = SM4_MK(D || NOT D); session key = SM4_K(input8 padded
 * with ISO 9797-1 method 2 to 16 bytes) (16 bytes); TAC key = the 16-byte key itself.
 */
import type { CipherAlgorithm } from './algorithm.ts';
import { assertBytes, assertUint } from './bytes.ts';
import { readU32BE, sm4EncryptRoundKeys, tripleDesEncryptSchedules, writeU32BE } from './cipher-blocks.ts';
import { desCryptWords } from './des.ts';
import { sm4CryptWords } from './sm4.ts';

// Scratch words of the block computations here (single-threaded, never escapes a call).
const WORDS = new Int32Array(4);

function assertAlgorithm(algorithm: unknown): asserts algorithm is CipherAlgorithm {
  if (algorithm !== '3des' && algorithm !== 'sm4') {
    throw new TypeError(`algorithm must be '3des' or 'sm4', got ${String(algorithm)}`);
  }
}

/** Session key length in bytes: 8 for 3DES, 16 for SM4. */
export function sessionKeyBytes(algorithm: CipherAlgorithm): number {
  return algorithm === 'sm4' ? 16 : 8;
}

/** Card key from a 16-byte master key and the card's 8-byte diversifier (application serial). */
export function diversifyKey(masterKey16: Uint8Array, diversifier8: Uint8Array, algorithm: CipherAlgorithm = '3des'): Uint8Array {
  return diversifyKeyInto(masterKey16, diversifier8, algorithm, new Uint8Array(16));
}

/**
 * As diversifyKey, written into `out` (16 bytes; returned): no allocation, for the PSAM's tap
 * path. D and NOT D are fed to the cipher as words (NOT D = the words' bitwise complement).
 */
export function diversifyKeyInto(masterKey16: Uint8Array, diversifier8: Uint8Array, algorithm: CipherAlgorithm, out: Uint8Array): Uint8Array {
  assertAlgorithm(algorithm);
  assertBytes(masterKey16, 'masterKey16', 16);
  assertBytes(diversifier8, 'diversifier8', 8);
  assertBytes(out, 'out', 16);
  const d0 = readU32BE(diversifier8, 0);
  const d1 = readU32BE(diversifier8, 4);
  if (algorithm === '3des') {
    const ks = tripleDesEncryptSchedules.get(masterKey16);
    desCryptWords(ks, d0, d1, WORDS);
    writeU32BE(out, 0, WORDS[0]);
    writeU32BE(out, 4, WORDS[1]);
    desCryptWords(ks, ~d0, ~d1, WORDS);
    writeU32BE(out, 8, WORDS[0]);
    writeU32BE(out, 12, WORDS[1]);
    return out;
  }
  sm4CryptWords(sm4EncryptRoundKeys.get(masterKey16), d0, d1, ~d0, ~d1, WORDS);
  for (let i = 0; i < 4; i++) writeU32BE(out, i * 4, WORDS[i]);
  return out;
}

/**
 * Derives a session key from the 8 input bytes, given as two big-endian words, with a 16-byte
 * card key, into `out` (8 bytes for 3DES, 16 for SM4).
 */
function sessionKeyFromInputInto(key16: Uint8Array, input0: number, input1: number, algorithm: CipherAlgorithm, out: Uint8Array): Uint8Array {
  assertBytes(out, 'out', sessionKeyBytes(algorithm));
  if (algorithm === '3des') {
    desCryptWords(tripleDesEncryptSchedules.get(key16), input0, input1, WORDS);
    writeU32BE(out, 0, WORDS[0]);
    writeU32BE(out, 4, WORDS[1]);
    return out;
  }
  // SM4: the input padded with method 2 from 8 to 16 bytes (0x80, then zeros).
  sm4CryptWords(sm4EncryptRoundKeys.get(key16), input0, input1, 0x80000000 | 0, 0, WORDS);
  for (let i = 0; i < 4; i++) writeU32BE(out, i * 4, WORDS[i]);
  return out;
}

/**
 * SESPK: input = cardRandom(4) || offlineATC(2, big-endian) || TSN[2..3] (the low two bytes of
 * the terminal's 4-byte big-endian transaction serial).
 */
export function purchaseSessionKey(
  dpk16: Uint8Array,
  cardRandom4: Uint8Array,
  offlineAtc: number,
  terminalSerial: number,
  algorithm: CipherAlgorithm = '3des',
): Uint8Array {
  assertAlgorithm(algorithm);
  return purchaseSessionKeyInto(dpk16, cardRandom4, offlineAtc, terminalSerial, algorithm, new Uint8Array(sessionKeyBytes(algorithm)));
}

/** As purchaseSessionKey, written into `out` (sessionKeyBytes(algorithm) bytes; returned): no allocation. */
export function purchaseSessionKeyInto(
  dpk16: Uint8Array,
  cardRandom4: Uint8Array,
  offlineAtc: number,
  terminalSerial: number,
  algorithm: CipherAlgorithm,
  out: Uint8Array,
): Uint8Array {
  assertAlgorithm(algorithm);
  assertBytes(dpk16, 'dpk16', 16);
  assertBytes(cardRandom4, 'cardRandom4', 4);
  assertUint(offlineAtc, 'offlineAtc', 0xffff);
  assertUint(terminalSerial, 'terminalSerial', 0xffffffff);
  return sessionKeyFromInputInto(dpk16, readU32BE(cardRandom4, 0), (offlineAtc << 16) | (terminalSerial & 0xffff), algorithm, out);
}

/** SESLK: input = cardRandom(4) || onlineATC(2, big-endian) || 8000. */
export function loadSessionKey(dlk16: Uint8Array, cardRandom4: Uint8Array, onlineAtc: number, algorithm: CipherAlgorithm = '3des'): Uint8Array {
  assertAlgorithm(algorithm);
  assertBytes(dlk16, 'dlk16', 16);
  assertBytes(cardRandom4, 'cardRandom4', 4);
  assertUint(onlineAtc, 'onlineAtc', 0xffff);
  return sessionKeyFromInputInto(dlk16, readU32BE(cardRandom4, 0), (onlineAtc << 16) | 0x8000, algorithm, new Uint8Array(sessionKeyBytes(algorithm)));
}

/** TAC key: 3DES DTK_left XOR DTK_right (8 bytes); SM4 the 16-byte DTK itself (a copy). */
export function tacSessionKey(dtk16: Uint8Array, algorithm: CipherAlgorithm = '3des'): Uint8Array {
  assertAlgorithm(algorithm);
  return tacSessionKeyInto(dtk16, algorithm, new Uint8Array(sessionKeyBytes(algorithm)));
}

/** As tacSessionKey, written into `out` (sessionKeyBytes(algorithm) bytes; returned): no allocation. */
export function tacSessionKeyInto(dtk16: Uint8Array, algorithm: CipherAlgorithm, out: Uint8Array): Uint8Array {
  assertAlgorithm(algorithm);
  assertBytes(dtk16, 'dtk16', 16);
  assertBytes(out, 'out', sessionKeyBytes(algorithm));
  if (algorithm === 'sm4') {
    out.set(dtk16);
    return out;
  }
  for (let i = 0; i < 8; i++) out[i] = dtk16[i] ^ dtk16[i + 8];
  return out;
}
