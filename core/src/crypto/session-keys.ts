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
import { sm4EncryptBlock, tripleDesEncryptBlock } from './cipher-blocks.ts';

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
  assertAlgorithm(algorithm);
  assertBytes(masterKey16, 'masterKey16', 16);
  assertBytes(diversifier8, 'diversifier8', 8);
  const notD = new Uint8Array(8);
  for (let i = 0; i < 8; i++) notD[i] = ~diversifier8[i] & 0xff;
  if (algorithm === '3des') {
    const out = new Uint8Array(16);
    out.set(tripleDesEncryptBlock(masterKey16, diversifier8), 0);
    out.set(tripleDesEncryptBlock(masterKey16, notD), 8);
    return out;
  }
  const block = new Uint8Array(16);
  block.set(diversifier8, 0);
  block.set(notD, 8);
  return sm4EncryptBlock(masterKey16, block);
}

/** Derives a session key from the 8 input bytes with a 16-byte card key. */
function sessionKeyFromInput(key16: Uint8Array, input8: Uint8Array, algorithm: CipherAlgorithm): Uint8Array {
  if (algorithm === '3des') return tripleDesEncryptBlock(key16, input8);
  const block = new Uint8Array(16);
  block.set(input8, 0);
  block[8] = 0x80; // padding method 2 from 8 to 16 bytes
  return sm4EncryptBlock(key16, block);
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
  assertBytes(dpk16, 'dpk16', 16);
  assertBytes(cardRandom4, 'cardRandom4', 4);
  assertUint(offlineAtc, 'offlineAtc', 0xffff);
  assertUint(terminalSerial, 'terminalSerial', 0xffffffff);
  const input = new Uint8Array(8);
  input.set(cardRandom4, 0);
  input[4] = offlineAtc >>> 8;
  input[5] = offlineAtc & 0xff;
  input[6] = (terminalSerial >>> 8) & 0xff;
  input[7] = terminalSerial & 0xff;
  return sessionKeyFromInput(dpk16, input, algorithm);
}

/** SESLK: input = cardRandom(4) || onlineATC(2, big-endian) || 8000. */
export function loadSessionKey(
  dlk16: Uint8Array,
  cardRandom4: Uint8Array,
  onlineAtc: number,
  algorithm: CipherAlgorithm = '3des',
): Uint8Array {
  assertAlgorithm(algorithm);
  assertBytes(dlk16, 'dlk16', 16);
  assertBytes(cardRandom4, 'cardRandom4', 4);
  assertUint(onlineAtc, 'onlineAtc', 0xffff);
  const input = new Uint8Array(8);
  input.set(cardRandom4, 0);
  input[4] = onlineAtc >>> 8;
  input[5] = onlineAtc & 0xff;
  input[6] = 0x80;
  input[7] = 0x00;
  return sessionKeyFromInput(dlk16, input, algorithm);
}

/** TAC key: 3DES DTK_left XOR DTK_right (8 bytes); SM4 the 16-byte DTK itself (a copy). */
export function tacSessionKey(dtk16: Uint8Array, algorithm: CipherAlgorithm = '3des'): Uint8Array {
  assertAlgorithm(algorithm);
  assertBytes(dtk16, 'dtk16', 16);
  if (algorithm === 'sm4') return Uint8Array.prototype.slice.call(dtk16) as Uint8Array;
  const out = new Uint8Array(8);
  for (let i = 0; i < 8; i++) out[i] = dtk16[i] ^ dtk16[i + 8];
  return out;
}
