/**
 * The card image (with keys: the simulator's persistence, the gateway's issuance answer) and the
 * card view (no keys: what READ returns to a terminal) as versioned bytes.
 *
 * Layout, format version 1 (all integers big-endian):
 *   0  version (01)           1  kind (56 'V' view, 49 'I' image)
 *   2  card number, 8 bytes BCD (the application serial)
 *  10  issuer code (2)       12  generation (1..3)      13  profile (0 adult, 1 student, 2 senior)
 *  14  flags: bit 0 transit opened, bit 1 suburban opened, bit 2 locked (others zero)
 *  15  expiry date (4 BCD YYYYMMDD)
 *  19  balance (u32)         23  overdraft used (u24)    26  overdraft limit (u24)
 *  29  offline ATC (u16)     31  online ATC (u16)        33  key version (u8)  34  algorithm id
 *  35  log count (0..10), then 10 slots of 23 bytes, most recent first, unused slots all zero
 * 266  trip record body (48)  314  park pass previous (14)  328  park pass current (14)
 * 342  end of a view; an image then holds the five 16-byte keys: purchase, load, tac, block,
 *      issuer (80 bytes), 422 bytes in all.
 *
 * Semantic checks (both ways): balance <= LIMITS.balanceCapFen, overdraft used <= limit, and
 * balance and overdraft used are never both non-zero (a debit empties the balance before it
 * draws overdraft; a load repays overdraft before it raises the balance).
 */
import { ALGORITHM_ID, algorithmFromId } from '../crypto/algorithm.ts';
import { LIMITS } from '../limits.ts';
import type { CardImage, CardKeys, CardView, HolderProfile, TransactionLogRecord } from './card-image.ts';
import { assertCardNo } from './card-number.ts';
import {
  checkDate,
  checkHex,
  checkUint,
  fail,
  readBcd,
  readDate,
  readHex,
  readU16,
  readU24,
  readU32,
  writeBcd,
  writeHex,
  writeU16,
  writeU24,
  writeU32,
} from './card-fields.ts';
import { LOG_RECORD_BYTES, readLogRecordAt, validateLogRecord, writeLogRecordAt } from './log-record-codec.ts';
import {
  PARK_PASS_BODY_BYTES,
  TRIP_BODY_BYTES,
  readParkPassBody,
  readTripBody,
  validateParkPass,
  validateTripRecord,
  writeParkPassBody,
  writeTripBody,
} from './card-records.ts';

export const CARD_FORMAT_VERSION = 1;
export const CARD_KIND = { view: 0x56, image: 0x49 } as const;

const PROFILES: readonly HolderProfile[] = ['adult', 'student', 'senior'];
const KEY_NAMES: ReadonlyArray<keyof CardKeys> = ['purchase', 'load', 'tac', 'block', 'issuer'];
const MAX_LOG = LIMITS.cardLogRecords;

const OFFSET_LOG = 36;
const OFFSET_TRIP = OFFSET_LOG + MAX_LOG * LOG_RECORD_BYTES;
const OFFSET_PASS_PREVIOUS = OFFSET_TRIP + TRIP_BODY_BYTES;
const OFFSET_PASS_CURRENT = OFFSET_PASS_PREVIOUS + PARK_PASS_BODY_BYTES;
export const CARD_VIEW_BYTES = OFFSET_PASS_CURRENT + PARK_PASS_BODY_BYTES;
export const CARD_KEY_BYTES = 16;
export const CARD_IMAGE_BYTES = CARD_VIEW_BYTES + KEY_NAMES.length * CARD_KEY_BYTES;

/** Validates every field of a view (also the view part of an image). Throws CardFormatError. */
export function validateCardView(view: CardView): void {
  if (view === null || typeof view !== 'object') fail('card view must be an object');
  assertCardNo(view.cardNo);
  checkHex(view.issuerCode, 2, 'issuerCode');
  if (view.generation !== 1 && view.generation !== 2 && view.generation !== 3) fail(`generation must be 1, 2 or 3, got ${String(view.generation)}`);
  if (PROFILES.indexOf(view.profile) < 0) fail(`profile must be one of ${PROFILES.join(', ')}, got ${String(view.profile)}`);
  if (typeof view.transitOpened !== 'boolean') fail('transitOpened must be a boolean');
  if (typeof view.suburbanOpened !== 'boolean') fail('suburbanOpened must be a boolean');
  if (typeof view.locked !== 'boolean') fail('locked must be a boolean');
  checkDate(view.expiryDate, 'expiryDate');
  checkUint(view.balanceFen, 0xffffffff, 'balanceFen');
  checkUint(view.overdraftUsedFen, 0xffffff, 'overdraftUsedFen');
  checkUint(view.overdraftLimitFen, 0xffffff, 'overdraftLimitFen');
  checkPurse(view.balanceFen, view.overdraftUsedFen, view.overdraftLimitFen);
  checkUint(view.offlineAtc, 0xffff, 'offlineAtc');
  checkUint(view.onlineAtc, 0xffff, 'onlineAtc');
  checkUint(view.keyVersion, 0xff, 'keyVersion');
  if (view.algorithm !== '3des' && view.algorithm !== 'sm4') fail(`algorithm must be '3des' or 'sm4', got ${String(view.algorithm)}`);
  if (!Array.isArray(view.log) || view.log.length > MAX_LOG) fail(`log must be an array of at most ${MAX_LOG} records`);
  for (const record of view.log) validateLogRecord(record);
  validateTripRecord(view.trip);
  if (!Array.isArray(view.parkPasses) || view.parkPasses.length !== 2) fail('parkPasses must hold exactly two records');
  validateParkPass(view.parkPasses[0]);
  validateParkPass(view.parkPasses[1]);
}

function checkPurse(balanceFen: number, overdraftUsedFen: number, overdraftLimitFen: number): void {
  if (balanceFen > LIMITS.balanceCapFen) fail(`balance ${balanceFen} fen is over the cap of ${LIMITS.balanceCapFen}`);
  if (overdraftUsedFen > overdraftLimitFen) fail(`overdraft used ${overdraftUsedFen} fen exceeds the limit ${overdraftLimitFen}`);
  if (balanceFen !== 0 && overdraftUsedFen !== 0) fail('balance and overdraft used cannot both be non-zero');
}

export function validateCardImage(image: CardImage): void {
  validateCardView(image);
  if (image.keys === null || typeof image.keys !== 'object') fail('keys must be an object');
  for (const name of KEY_NAMES) {
    const key = image.keys[name];
    if (!(key instanceof Uint8Array) || key.length !== CARD_KEY_BYTES) fail(`key ${name} must be ${CARD_KEY_BYTES} bytes`);
  }
}

function writeView(out: Uint8Array, view: CardView, kind: number): void {
  out[0] = CARD_FORMAT_VERSION;
  out[1] = kind;
  const cardNo = view.cardNo;
  for (let i = 0; i < 8; i++) out[2 + i] = ((cardNo.charCodeAt(2 * i) - 48) << 4) | (cardNo.charCodeAt(2 * i + 1) - 48);
  writeHex(out, 10, view.issuerCode);
  out[12] = view.generation;
  out[13] = PROFILES.indexOf(view.profile);
  out[14] = (view.transitOpened ? 1 : 0) | (view.suburbanOpened ? 2 : 0) | (view.locked ? 4 : 0);
  writeBcd(out, 15, view.expiryDate, 4);
  writeU32(out, 19, view.balanceFen);
  writeU24(out, 23, view.overdraftUsedFen);
  writeU24(out, 26, view.overdraftLimitFen);
  writeU16(out, 29, view.offlineAtc);
  writeU16(out, 31, view.onlineAtc);
  out[33] = view.keyVersion;
  out[34] = ALGORITHM_ID[view.algorithm];
  out[35] = view.log.length;
  for (let i = 0; i < view.log.length; i++) writeLogRecordAt(out, OFFSET_LOG + i * LOG_RECORD_BYTES, view.log[i]);
  writeTripBody(out, OFFSET_TRIP, view.trip);
  writeParkPassBody(out, OFFSET_PASS_PREVIOUS, view.parkPasses[0]);
  writeParkPassBody(out, OFFSET_PASS_CURRENT, view.parkPasses[1]);
}

function readView(bytes: Uint8Array, expectedKind: number, expectedLength: number, name: string): CardView {
  if (!(bytes instanceof Uint8Array)) fail(`${name} must be a Uint8Array`);
  if (bytes.length < 2) fail(`${name} is too short (${bytes.length} bytes)`);
  if (bytes[0] !== CARD_FORMAT_VERSION) fail(`${name}: format version ${bytes[0]} is not supported (expected ${CARD_FORMAT_VERSION})`);
  if (bytes[1] !== expectedKind) fail(`${name}: kind byte 0x${bytes[1].toString(16)} is not 0x${expectedKind.toString(16)}`);
  if (bytes.length !== expectedLength) fail(`${name} must be ${expectedLength} bytes, got ${bytes.length}`);
  const cardNo = readBcdDigits(bytes, 2, 8);
  const generation = bytes[12];
  if (generation < 1 || generation > 3) fail(`generation ${generation} is not 1, 2 or 3`);
  const profileCode = bytes[13];
  if (profileCode >= PROFILES.length) fail(`profile code ${profileCode} is unknown`);
  const flags = bytes[14];
  if ((flags & ~7) !== 0) fail(`reserved flag bits set in 0x${flags.toString(16)}`);
  const balanceFen = readU32(bytes, 19);
  const overdraftUsedFen = readU24(bytes, 23);
  const overdraftLimitFen = readU24(bytes, 26);
  checkPurse(balanceFen, overdraftUsedFen, overdraftLimitFen);
  let algorithm: CardView['algorithm'];
  try {
    algorithm = algorithmFromId(bytes[34]);
  } catch {
    fail(`algorithm id 0x${bytes[34].toString(16)} is unknown`);
  }
  const logCount = bytes[35];
  if (logCount > MAX_LOG) fail(`log count ${logCount} is over ${MAX_LOG}`);
  const log: TransactionLogRecord[] = new Array(logCount);
  for (let i = 0; i < logCount; i++) log[i] = readLogRecordAt(bytes, OFFSET_LOG + i * LOG_RECORD_BYTES);
  for (let i = OFFSET_LOG + logCount * LOG_RECORD_BYTES; i < OFFSET_TRIP; i++) {
    if (bytes[i] !== 0) fail('an unused log slot is not empty');
  }
  return {
    cardNo,
    issuerCode: readHex(bytes, 10, 2),
    generation: generation as CardView['generation'],
    profile: PROFILES[profileCode],
    transitOpened: (flags & 1) !== 0,
    suburbanOpened: (flags & 2) !== 0,
    expiryDate: readDate(bytes, 15, 'expiryDate'),
    balanceFen,
    overdraftUsedFen,
    overdraftLimitFen,
    offlineAtc: readU16(bytes, 29),
    onlineAtc: readU16(bytes, 31),
    keyVersion: bytes[33],
    algorithm,
    log,
    trip: readTripBody(bytes, OFFSET_TRIP),
    parkPasses: [readParkPassBody(bytes, OFFSET_PASS_PREVIOUS), readParkPassBody(bytes, OFFSET_PASS_CURRENT)],
    locked: (flags & 4) !== 0,
  };
}

function readBcdDigits(bytes: Uint8Array, offset: number, byteLength: number): string {
  readBcd(bytes, offset, byteLength, 'card number'); // validates the nibbles
  let s = '';
  for (let i = offset; i < offset + byteLength; i++) s += String.fromCharCode(48 + (bytes[i] >>> 4), 48 + (bytes[i] & 15));
  return s;
}

/** Encodes what a terminal may read (keys never included, even when given an image). */
export function encodeCardView(view: CardView): Uint8Array {
  validateCardView(view);
  const out = new Uint8Array(CARD_VIEW_BYTES);
  writeView(out, view, CARD_KIND.view);
  return out;
}

export function parseCardView(bytes: Uint8Array): CardView {
  return readView(bytes, CARD_KIND.view, CARD_VIEW_BYTES, 'card view');
}

/** Encodes the whole secure-element content, keys included (simulator persistence, issuance). */
export function encodeCardImage(image: CardImage): Uint8Array {
  validateCardImage(image);
  const out = new Uint8Array(CARD_IMAGE_BYTES);
  writeView(out, image, CARD_KIND.image);
  for (let i = 0; i < KEY_NAMES.length; i++) out.set(image.keys[KEY_NAMES[i]], CARD_VIEW_BYTES + i * CARD_KEY_BYTES);
  return out;
}

export function parseCardImage(bytes: Uint8Array): CardImage {
  const view = readView(bytes, CARD_KIND.image, CARD_IMAGE_BYTES, 'card image');
  const keyAt = (i: number): Uint8Array => bytes.slice(CARD_VIEW_BYTES + i * CARD_KEY_BYTES, CARD_VIEW_BYTES + (i + 1) * CARD_KEY_BYTES);
  const keys: CardKeys = { purchase: keyAt(0), load: keyAt(1), tac: keyAt(2), block: keyAt(3), issuer: keyAt(4) };
  // Buffer.slice shares memory; copy into plain Uint8Arrays so the image owns its keys.
  for (const name of KEY_NAMES) keys[name] = new Uint8Array(keys[name]);
  return { ...view, keys };
}

/** The keyless view of an image (a fresh object; the log and records are copied). */
export function cardViewOf(image: CardView): CardView {
  return {
    cardNo: image.cardNo,
    issuerCode: image.issuerCode,
    generation: image.generation,
    profile: image.profile,
    transitOpened: image.transitOpened,
    suburbanOpened: image.suburbanOpened,
    expiryDate: image.expiryDate,
    balanceFen: image.balanceFen,
    overdraftUsedFen: image.overdraftUsedFen,
    overdraftLimitFen: image.overdraftLimitFen,
    offlineAtc: image.offlineAtc,
    onlineAtc: image.onlineAtc,
    keyVersion: image.keyVersion,
    algorithm: image.algorithm,
    log: image.log.map((r) => ({ ...r })),
    trip: { ...image.trip },
    parkPasses: [{ ...image.parkPasses[0] }, { ...image.parkPasses[1] }],
    locked: image.locked,
  };
}

/** A deep copy of an image (keys copied too). */
export function cloneCardImage(image: CardImage): CardImage {
  const keys: CardKeys = {
    purchase: new Uint8Array(image.keys.purchase),
    load: new Uint8Array(image.keys.load),
    tac: new Uint8Array(image.keys.tac),
    block: new Uint8Array(image.keys.block),
    issuer: new Uint8Array(image.keys.issuer),
  };
  return { ...cardViewOf(image), keys };
}
