/**
 * The purse MACs of DOMAIN.md section 3.
 *
 * transactionMac: ISO/IEC 9797-1 MAC algorithm 1, padding method 2, IV 0, leftmost 4 bytes;
 *   single DES with an 8-byte session key (MAC1, MAC2, TAC), or the project's SM4 profile
 *   (SM4-CBC-MAC, 16-byte key and blocks).
 * retailMac: ISO/IEC 9797-1 MAC algorithm 3 for command MACs (APPLICATION BLOCK, authorised
 *   record writes): DES-CBC with K_left, then decrypt with K_right and encrypt with K_left;
 *   SM4 profile: SM4-CBC-MAC under the 16-byte key with a 16-byte IV.
 *
 * Hot path: called several times per tap on ~4-32 bytes, so the CBC runs on 32-bit words with
 * cached schedules, the padding is applied on the fly (no padded copy of the data) and the only
 * allocation is the 4-byte result (none with transactionMacInto).
 */
import type { CipherAlgorithm } from './algorithm.ts';
import { assertBytes } from './bytes.ts';
import { desDecryptSchedules, desEncryptSchedules, readU32BE, sm4EncryptRoundKeys } from './cipher-blocks.ts';
import { buildDesScheduleInto, desCryptWords, type DesSchedule } from './des.ts';
import { buildSm4RoundKeysInto, sm4CryptWords, type Sm4RoundKeys } from './sm4.ts';

export const MAC_BYTES = 4;

/** Block size of a cipher suite in bytes: 8 for DES/3DES, 16 for SM4. */
export function blockBytes(algorithm: CipherAlgorithm): number {
  return algorithm === 'sm4' ? 16 : 8;
}

/** ISO/IEC 9797-1 padding method 2: append 0x80, then zeros to a multiple of the block size. */
export function padIso9797Method2(data: Uint8Array, blockSize: number): Uint8Array {
  assertBytes(data, 'data');
  const length = (Math.floor(data.length / blockSize) + 1) * blockSize;
  const out = new Uint8Array(length);
  out.set(data);
  out[data.length] = 0x80;
  return out;
}

const WORDS = new Int32Array(4);

/**
 * Big-endian word `wordIndex` of the last, padded block that starts at `start`: the remaining
 * data bytes, then 0x80, then zeros.
 */
function paddedWord(data: Uint8Array, start: number, wordIndex: number): number {
  let w = 0;
  const end = data.length;
  for (let j = 0; j < 4; j++) {
    const p = start + wordIndex * 4 + j;
    const byte = p < end ? data[p] : p === end ? 0x80 : 0;
    w |= byte << (24 - 8 * j);
  }
  return w;
}

/** DES-CBC over data padded with method 2; returns via WORDS[0..1] the last cipher block. */
function desCbcLastBlock(ks: DesSchedule, ivLeft: number, ivRight: number, data: Uint8Array): void {
  let l = ivLeft;
  let r = ivRight;
  const fullEnd = data.length - (data.length % 8);
  for (let off = 0; off < fullEnd; off += 8) {
    desCryptWords(ks, l ^ readU32BE(data, off), r ^ readU32BE(data, off + 4), WORDS);
    l = WORDS[0];
    r = WORDS[1];
  }
  desCryptWords(ks, l ^ paddedWord(data, fullEnd, 0), r ^ paddedWord(data, fullEnd, 1), WORDS);
}

function sm4CbcLastBlock(rk: Sm4RoundKeys, iv: Uint8Array | null, data: Uint8Array): void {
  let x0 = iv === null ? 0 : readU32BE(iv, 0);
  let x1 = iv === null ? 0 : readU32BE(iv, 4);
  let x2 = iv === null ? 0 : readU32BE(iv, 8);
  let x3 = iv === null ? 0 : readU32BE(iv, 12);
  const fullEnd = data.length - (data.length % 16);
  for (let off = 0; off < fullEnd; off += 16) {
    sm4CryptWords(rk, x0 ^ readU32BE(data, off), x1 ^ readU32BE(data, off + 4), x2 ^ readU32BE(data, off + 8), x3 ^ readU32BE(data, off + 12), WORDS);
    x0 = WORDS[0];
    x1 = WORDS[1];
    x2 = WORDS[2];
    x3 = WORDS[3];
  }
  sm4CryptWords(
    rk,
    x0 ^ paddedWord(data, fullEnd, 0),
    x1 ^ paddedWord(data, fullEnd, 1),
    x2 ^ paddedWord(data, fullEnd, 2),
    x3 ^ paddedWord(data, fullEnd, 3),
    WORDS,
  );
}

function leftmost4(word: number, mac: Uint8Array, offset: number): Uint8Array {
  mac[offset] = word >>> 24;
  mac[offset + 1] = (word >>> 16) & 0xff;
  mac[offset + 2] = (word >>> 8) & 0xff;
  mac[offset + 3] = word & 0xff;
  return mac;
}

function assertAlgorithm(algorithm: unknown): asserts algorithm is CipherAlgorithm {
  if (algorithm !== '3des' && algorithm !== 'sm4') {
    throw new TypeError(`algorithm must be '3des' or 'sm4', got ${String(algorithm)}`);
  }
}

/**
 * MAC1, MAC2 and TAC: ISO 9797-1 MAC algorithm 1 (3DES suite: single DES with an 8-byte key;
 * SM4 suite: SM4 with a 16-byte key), IV zero, padding method 2, leftmost 4 bytes.
 */
export function transactionMac(sessionKey: Uint8Array, data: Uint8Array, algorithm: CipherAlgorithm = '3des'): Uint8Array {
  return transactionMacInto(sessionKey, data, algorithm, new Uint8Array(MAC_BYTES), 0);
}

/** As transactionMac, written into out[offset..offset+3] (returns out): no allocation. */
export function transactionMacInto(sessionKey: Uint8Array, data: Uint8Array, algorithm: CipherAlgorithm, out: Uint8Array, offset = 0): Uint8Array {
  assertAlgorithm(algorithm);
  assertBytes(data, 'data');
  assertBytes(out, 'out');
  if (!Number.isInteger(offset) || offset < 0 || offset + MAC_BYTES > out.length) throw new RangeError(`out has no room for a MAC at offset ${offset}`);
  if (algorithm === '3des') {
    assertBytes(sessionKey, 'sessionKey', 8);
    desCbcLastBlock(desEncryptSchedules.get(sessionKey), 0, 0, data);
  } else {
    assertBytes(sessionKey, 'sessionKey', 16);
    sm4CbcLastBlock(sm4EncryptRoundKeys.get(sessionKey), null, data);
  }
  return leftmost4(WORDS[0], out, offset);
}

/**
 * A transaction-MAC session key made ready for many MACs: its algorithm and its own key schedule
 * (32 words for both suites), built once. For a holder that keeps a key across calls (the issuer
 * key service's per-card TAC keys): the shared schedule caches recycle their values, so a
 * schedule from them must never be kept; this one is the holder's.
 */
export interface TransactionMacKey {
  readonly algorithm: CipherAlgorithm;
  readonly schedule: Int32Array;
}

/**
 * Prepares `sessionKey` (8 bytes for 3DES, 16 for SM4) for transactionMacWithKeyInto. Given
 * `recycled` (a key its holder no longer needs), its schedule is rebuilt in place and it is
 * returned, so a bounded holder allocates nothing once full.
 */
export function prepareTransactionMacKey(sessionKey: Uint8Array, algorithm: CipherAlgorithm, recycled?: TransactionMacKey | null): TransactionMacKey {
  assertAlgorithm(algorithm);
  assertBytes(sessionKey, 'sessionKey', algorithm === '3des' ? 8 : 16);
  const reuse = recycled !== undefined && recycled !== null && recycled.schedule.length === 32;
  const schedule = reuse ? recycled.schedule : new Int32Array(32);
  if (algorithm === '3des') buildDesScheduleInto(sessionKey, false, schedule);
  else buildSm4RoundKeysInto(sessionKey, false, schedule);
  if (!reuse) return { algorithm, schedule };
  (recycled as { algorithm: CipherAlgorithm }).algorithm = algorithm;
  return recycled;
}

/** transactionMacInto with a prepared key: the same MAC, without a schedule lookup. */
export function transactionMacWithKeyInto(key: TransactionMacKey, data: Uint8Array, out: Uint8Array, offset = 0): Uint8Array {
  assertBytes(data, 'data');
  assertBytes(out, 'out');
  if (!Number.isInteger(offset) || offset < 0 || offset + MAC_BYTES > out.length) throw new RangeError(`out has no room for a MAC at offset ${offset}`);
  if (key.schedule.length !== 32) throw new RangeError('a prepared MAC key has a 32-word schedule');
  if (key.algorithm === '3des') desCbcLastBlock(key.schedule, 0, 0, data);
  else if (key.algorithm === 'sm4') sm4CbcLastBlock(key.schedule, null, data);
  else assertAlgorithm(key.algorithm);
  return leftmost4(WORDS[0], out, offset);
}

/**
 * Command MAC. 3DES suite: ISO 9797-1 MAC algorithm 3 ("retail MAC") with key16 = K_left ||
 * K_right and an 8-byte IV (challenge(4) || 00000000). SM4 suite: SM4-CBC-MAC under key16 with
 * a 16-byte IV (challenge(4) || 12 zero bytes). Padding method 2; leftmost 4 bytes.
 */
export function retailMac(key16: Uint8Array, iv: Uint8Array, data: Uint8Array, algorithm: CipherAlgorithm = '3des'): Uint8Array {
  assertAlgorithm(algorithm);
  assertBytes(key16, 'key16', 16);
  assertBytes(data, 'data');
  if (algorithm === '3des') {
    assertBytes(iv, 'iv', 8);
    const left = key16.subarray(0, 8);
    const right = key16.subarray(8, 16);
    desCbcLastBlock(desEncryptSchedules.get(left), readU32BE(iv, 0), readU32BE(iv, 4), data);
    // Output transformation 3: decrypt with K_right, encrypt with K_left.
    desCryptWords(desDecryptSchedules.get(right), WORDS[0], WORDS[1], WORDS);
    desCryptWords(desEncryptSchedules.get(left), WORDS[0], WORDS[1], WORDS);
  } else {
    assertBytes(iv, 'iv', 16);
    sm4CbcLastBlock(sm4EncryptRoundKeys.get(key16), iv, data);
  }
  return leftmost4(WORDS[0], new Uint8Array(MAC_BYTES), 0);
}
