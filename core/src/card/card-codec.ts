/**
 * The card image (with keys: the simulator's persistence, the gateway's issuance answer) and the
 * card view (no keys: what READ returns to a terminal) as versioned bytes.
 *
 * Layout, format version 2 (issue 18; all integers big-endian):
 *   0  version (02)           1  kind (56 'V' view, 49 'I' image)
 *   2  file 0x15, 30 bytes (tunion-files.ts): issuer id, app type, app version, the 10-byte
 *      BCD application serial (the card number), start date, expiry date, issuer FCI
 *  32  file 0x17, 15 bytes: country, province, city, interconnection kind, card type, settlement unit
 *  47  issuer code (2)       49  generation (1..3)      50  profile (0 adult, 1 student, 2 senior)
 *  51  flags: bit 0 transit opened, bit 1 suburban opened, bit 2 locked (others zero)
 *  52  balance (u32)         56  overdraft used (u24)    59  overdraft limit (u24)
 *  62  offline ATC (u16)     64  online ATC (u16)        66  key version (u8)  67  algorithm id
 *  68  log count (0..10), then 10 slots of 23 bytes, most recent first, unused slots all zero
 * 299  trip record body (48)  347  park pass previous (14)  361  park pass current (14)
 * 375  end of a view; an image then holds the five 16-byte keys: purchase, load, tac, block,
 *      issuer (80 bytes), 455 bytes in all.
 * (Version 1 carried an 8-byte serial and no T-Union files; it is not read any more.)
 *
 * File 0x17 is derived from the view [P]: country 156; province = the city code's first two
 * digits + 00; city = issuer id bytes 2-3; interconnection kind 0001 for a 19-digit T-Union
 * number, 0000 for a legacy one; card type 01 adult, 02 student, 03 senior (TUM's card types);
 * settlement unit = city code + 0000. A parsed card whose 0x17 disagrees is refused.
 *
 * Semantic checks (both ways): balance <= LIMITS.balanceCapFen, overdraft used <= limit, and
 * balance and overdraft used are never both non-zero (a debit empties the balance before it
 * draws overdraft; a load repays overdraft before it raises the balance).
 */
import { ALGORITHM_ID, algorithmFromId } from '../crypto/algorithm.ts';
import { LIMITS } from '../limits.ts';
import type { CardImage, CardKeys, CardView, HolderProfile, TransactionLogRecord } from './card-image.ts';
import { TUNION_CARD_NO_DIGITS, assertCardNo } from './card-number.ts';
import {
  CHINA_COUNTRY_CODE,
  INTEROP_KIND,
  ISSUER_FILE_BYTES,
  MANAGEMENT_FILE_BYTES,
  TUNION_APP_TYPE,
  TUNION_APP_VERSION,
  cityCodeOfIssuerId,
  encodeIssuerFileInto,
  encodeManagementFileInto,
  parseIssuerFileAt,
  parseManagementFileAt,
  type ManagementFile,
} from './tunion-files.ts';
import { checkDate, checkHex, checkUint, fail, readHex, readU16, readU24, readU32, writeHex, writeU16, writeU24, writeU32 } from './card-fields.ts';
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

export const CARD_FORMAT_VERSION = 2;
export const CARD_KIND = { view: 0x56, image: 0x49 } as const;

const PROFILES: readonly HolderProfile[] = ['adult', 'student', 'senior'];
const KEY_NAMES: ReadonlyArray<keyof CardKeys> = ['purchase', 'load', 'tac', 'block', 'issuer'];
const MAX_LOG = LIMITS.cardLogRecords;

const OFFSET_0X15 = 2;
const OFFSET_0X17 = OFFSET_0X15 + ISSUER_FILE_BYTES;
const OFFSET_FIELDS = OFFSET_0X17 + MANAGEMENT_FILE_BYTES;
const OFFSET_LOG = OFFSET_FIELDS + 22;
const PROFILE_CARD_TYPES = [0x01, 0x02, 0x03];
const ISSUER_ID = /^[0-9A-F]{16}$/;

/** File 0x17 as derived from the view (see the header). */
export function managementFileOf(view: Pick<CardView, 'cardNo' | 'issuerId' | 'profile'>): ManagementFile {
  const city = cityCodeOfIssuerId(view.issuerId);
  return {
    countryCode: CHINA_COUNTRY_CODE,
    provinceCode: `${city.slice(0, 2)}00`,
    cityCode: city,
    interopKind: view.cardNo.length === TUNION_CARD_NO_DIGITS ? INTEROP_KIND.tunion : INTEROP_KIND.none,
    cardType: PROFILE_CARD_TYPES[PROFILES.indexOf(view.profile)],
    settlementUnit: `${city}0000`,
  };
}
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
  if (typeof view.issuerId !== 'string' || !ISSUER_ID.test(view.issuerId))
    fail(`issuerId must be 16 upper-case hex digits, got ${JSON.stringify(view.issuerId)}`);
  cityCodeOfIssuerId(view.issuerId);
  checkDate(view.startDate, 'startDate');
  if (view.generation !== 1 && view.generation !== 2 && view.generation !== 3) fail(`generation must be 1, 2 or 3, got ${String(view.generation)}`);
  if (PROFILES.indexOf(view.profile) < 0) fail(`profile must be one of ${PROFILES.join(', ')}, got ${String(view.profile)}`);
  if (typeof view.transitOpened !== 'boolean') fail('transitOpened must be a boolean');
  if (typeof view.suburbanOpened !== 'boolean') fail('suburbanOpened must be a boolean');
  if (typeof view.locked !== 'boolean') fail('locked must be a boolean');
  checkDate(view.expiryDate, 'expiryDate');
  if (view.startDate > view.expiryDate) fail(`startDate ${view.startDate} is after expiryDate ${view.expiryDate}`);
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
  encodeIssuerFileInto(
    {
      issuerId: view.issuerId,
      appType: TUNION_APP_TYPE,
      appVersion: TUNION_APP_VERSION,
      cardNo: view.cardNo,
      startDate: view.startDate,
      expiryDate: view.expiryDate,
      issuerFci: '0000',
    },
    out,
    OFFSET_0X15,
  );
  encodeManagementFileInto(managementFileOf(view), out, OFFSET_0X17);
  const f = OFFSET_FIELDS;
  writeHex(out, f, view.issuerCode);
  out[f + 2] = view.generation;
  out[f + 3] = PROFILES.indexOf(view.profile);
  out[f + 4] = (view.transitOpened ? 1 : 0) | (view.suburbanOpened ? 2 : 0) | (view.locked ? 4 : 0);
  writeU32(out, f + 5, view.balanceFen);
  writeU24(out, f + 9, view.overdraftUsedFen);
  writeU24(out, f + 12, view.overdraftLimitFen);
  writeU16(out, f + 15, view.offlineAtc);
  writeU16(out, f + 17, view.onlineAtc);
  out[f + 19] = view.keyVersion;
  out[f + 20] = ALGORITHM_ID[view.algorithm];
  out[OFFSET_LOG - 1] = view.log.length;
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
  const file15 = parseIssuerFileAt(bytes, OFFSET_0X15);
  // What this project writes (the codec is canonical: anything else is not one of our cards).
  if (file15.appType !== TUNION_APP_TYPE || file15.appVersion !== TUNION_APP_VERSION || file15.issuerFci !== '0000') {
    fail(`file 0x15 app type ${file15.appType}, version ${file15.appVersion}, FCI ${file15.issuerFci} are not 02, 01, 0000`);
  }
  const file17 = parseManagementFileAt(bytes, OFFSET_0X17);
  const f = OFFSET_FIELDS;
  const generation = bytes[f + 2];
  if (generation < 1 || generation > 3) fail(`generation ${generation} is not 1, 2 or 3`);
  const profileCode = bytes[f + 3];
  if (profileCode >= PROFILES.length) fail(`profile code ${profileCode} is unknown`);
  const expected17 = managementFileOf({ cardNo: file15.cardNo, issuerId: file15.issuerId, profile: PROFILES[profileCode] });
  for (const key of Object.keys(expected17) as (keyof ManagementFile)[]) {
    if (file17[key] !== expected17[key]) fail(`file 0x17 ${key} ${String(file17[key])} does not match the card (expected ${String(expected17[key])})`);
  }
  const flags = bytes[f + 4];
  if ((flags & ~7) !== 0) fail(`reserved flag bits set in 0x${flags.toString(16)}`);
  const balanceFen = readU32(bytes, f + 5);
  const overdraftUsedFen = readU24(bytes, f + 9);
  const overdraftLimitFen = readU24(bytes, f + 12);
  checkPurse(balanceFen, overdraftUsedFen, overdraftLimitFen);
  let algorithm: CardView['algorithm'];
  try {
    algorithm = algorithmFromId(bytes[f + 20]);
  } catch {
    fail(`algorithm id 0x${bytes[f + 20].toString(16)} is unknown`);
  }
  const logCount = bytes[OFFSET_LOG - 1];
  if (logCount > MAX_LOG) fail(`log count ${logCount} is over ${MAX_LOG}`);
  const log: TransactionLogRecord[] = new Array(logCount);
  for (let i = 0; i < logCount; i++) log[i] = readLogRecordAt(bytes, OFFSET_LOG + i * LOG_RECORD_BYTES);
  for (let i = OFFSET_LOG + logCount * LOG_RECORD_BYTES; i < OFFSET_TRIP; i++) {
    if (bytes[i] !== 0) fail('an unused log slot is not empty');
  }
  return {
    cardNo: file15.cardNo,
    issuerCode: readHex(bytes, f, 2),
    issuerId: file15.issuerId,
    startDate: file15.startDate,
    generation: generation as CardView['generation'],
    profile: PROFILES[profileCode],
    transitOpened: (flags & 1) !== 0,
    suburbanOpened: (flags & 2) !== 0,
    expiryDate: file15.expiryDate,
    balanceFen,
    overdraftUsedFen,
    overdraftLimitFen,
    offlineAtc: readU16(bytes, f + 15),
    onlineAtc: readU16(bytes, f + 17),
    keyVersion: bytes[f + 19],
    algorithm,
    log,
    trip: readTripBody(bytes, OFFSET_TRIP),
    parkPasses: [readParkPassBody(bytes, OFFSET_PASS_PREVIOUS), readParkPassBody(bytes, OFFSET_PASS_CURRENT)],
    locked: (flags & 4) !== 0,
  };
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
    issuerId: image.issuerId,
    startDate: image.startDate,
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
