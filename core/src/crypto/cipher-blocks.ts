/**
 * Block-level DES, 3DES and SM4 on bytes, with cached key schedules. These are the primitives
 * the MAC and key-derivation functions use; they are exported for the card simulator, the PSAM
 * and tests. Results are fresh Uint8Arrays; inputs may be Buffers.
 */
import { assertBytes } from './bytes.ts';
import { buildDesSchedule, buildDesScheduleInto, buildTripleDesSchedule, buildTripleDesScheduleInto, desCryptWords, type DesSchedule } from './des.ts';
import { ScheduleCache } from './schedule-cache.ts';
import { buildSm4RoundKeys, buildSm4RoundKeysInto, sm4CryptWords, type Sm4RoundKeys } from './sm4.ts';

/** Schedules kept per cache; a validator sees one session key per tap and a few master keys. */
export const KEY_SCHEDULE_CACHE_CAPACITY = 256;

// When full, an evicted schedule is rebuilt in place for the new key (no garbage per tap);
// a schedule from these caches is used at once and never kept (schedule-cache.ts).
export const desEncryptSchedules = new ScheduleCache<DesSchedule>(
  KEY_SCHEDULE_CACHE_CAPACITY,
  (k) => buildDesSchedule(k, false),
  (k, ks) => buildDesScheduleInto(k, false, ks),
);
export const desDecryptSchedules = new ScheduleCache<DesSchedule>(
  KEY_SCHEDULE_CACHE_CAPACITY,
  (k) => buildDesSchedule(k, true),
  (k, ks) => buildDesScheduleInto(k, true, ks),
);
export const tripleDesEncryptSchedules = new ScheduleCache<DesSchedule>(
  KEY_SCHEDULE_CACHE_CAPACITY,
  (k) => buildTripleDesSchedule(k, false),
  (k, ks) => buildTripleDesScheduleInto(k, false, ks),
);
export const tripleDesDecryptSchedules = new ScheduleCache<DesSchedule>(
  KEY_SCHEDULE_CACHE_CAPACITY,
  (k) => buildTripleDesSchedule(k, true),
  (k, ks) => buildTripleDesScheduleInto(k, true, ks),
);
export const sm4EncryptRoundKeys = new ScheduleCache<Sm4RoundKeys>(
  KEY_SCHEDULE_CACHE_CAPACITY,
  (k) => buildSm4RoundKeys(k, false),
  (k, rk) => buildSm4RoundKeysInto(k, false, rk),
);
export const sm4DecryptRoundKeys = new ScheduleCache<Sm4RoundKeys>(
  KEY_SCHEDULE_CACHE_CAPACITY,
  (k) => buildSm4RoundKeys(k, true),
  (k, rk) => buildSm4RoundKeysInto(k, true, rk),
);

const WORDS = new Int32Array(4);

export function readU32BE(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) | bytes[offset + 3];
}

export function writeU32BE(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 24;
  bytes[offset + 1] = (value >>> 16) & 0xff;
  bytes[offset + 2] = (value >>> 8) & 0xff;
  bytes[offset + 3] = value & 0xff;
}

function desBlock(ks: DesSchedule, block: Uint8Array): Uint8Array {
  desCryptWords(ks, readU32BE(block, 0), readU32BE(block, 4), WORDS);
  const out = new Uint8Array(8);
  writeU32BE(out, 0, WORDS[0]);
  writeU32BE(out, 4, WORDS[1]);
  return out;
}

function sm4Block(rk: Sm4RoundKeys, block: Uint8Array): Uint8Array {
  sm4CryptWords(rk, readU32BE(block, 0), readU32BE(block, 4), readU32BE(block, 8), readU32BE(block, 12), WORDS);
  const out = new Uint8Array(16);
  for (let i = 0; i < 4; i++) writeU32BE(out, i * 4, WORDS[i]);
  return out;
}

/** Single DES, one 8-byte block (ECB). */
export function desEncryptBlock(key8: Uint8Array, block8: Uint8Array): Uint8Array {
  assertBytes(key8, 'key8', 8);
  assertBytes(block8, 'block8', 8);
  return desBlock(desEncryptSchedules.get(key8), block8);
}

export function desDecryptBlock(key8: Uint8Array, block8: Uint8Array): Uint8Array {
  assertBytes(key8, 'key8', 8);
  assertBytes(block8, 'block8', 8);
  return desBlock(desDecryptSchedules.get(key8), block8);
}

function assertTripleDesKey(key: Uint8Array): void {
  assertBytes(key, 'key');
  if (key.length !== 16 && key.length !== 24) throw new RangeError(`key must be 16 or 24 bytes (3DES), got ${key.length}`);
}

/** 3DES EDE, one 8-byte block; a 16-byte key is the two-key form K1 K2 K1. */
export function tripleDesEncryptBlock(key: Uint8Array, block8: Uint8Array): Uint8Array {
  assertTripleDesKey(key);
  assertBytes(block8, 'block8', 8);
  return desBlock(tripleDesEncryptSchedules.get(key), block8);
}

export function tripleDesDecryptBlock(key: Uint8Array, block8: Uint8Array): Uint8Array {
  assertTripleDesKey(key);
  assertBytes(block8, 'block8', 8);
  return desBlock(tripleDesDecryptSchedules.get(key), block8);
}

/** SM4, one 16-byte block (ECB). */
export function sm4EncryptBlock(key16: Uint8Array, block16: Uint8Array): Uint8Array {
  assertBytes(key16, 'key16', 16);
  assertBytes(block16, 'block16', 16);
  return sm4Block(sm4EncryptRoundKeys.get(key16), block16);
}

export function sm4DecryptBlock(key16: Uint8Array, block16: Uint8Array): Uint8Array {
  assertBytes(key16, 'key16', 16);
  assertBytes(block16, 'block16', 16);
  return sm4Block(sm4DecryptRoundKeys.get(key16), block16);
}
