/**
 * Codecs of the records a terminal or the issuer writes onto the card: the trip record of the
 * composite application (UPDATE CAPP DATA CACHE), a park-pass record (CAPP cache at a park gate,
 * or the issuer's authorised write at sale), and the functions record (transit/suburban opened).
 *
 * Standalone encoding: tag(1) || format version(1) || body. The tag tells the card which record
 * a CAPP cache payload holds; the version lets the layout evolve. Inside the card view the bodies
 * are embedded without tag and version (the view carries its own version byte).
 *
 * Trip body (48 bytes): journey(1: 0 none, 1 subway, 2 bus, 3 suburban) place(u32) line(u32)
 * journeyTime(u32) markFen(u32) fareVersion(u32) parkingLot(u32) parkingEntryTime(u32)
 * parkingDay(4 BCD YYYYMMDD or 0) parkingDayChargedFen(u32) lastTransitTime(u32)
 * monthKey(3 BCD YYYYMM or 0) monthRailSpendFen(u32).
 * Park-pass body (14 bytes): year(u16, 0 = empty) visits(u32) lastParkId(u32) lastEntryTime(u32).
 * Functions body (1 byte): bit 0 transit opened, bit 1 suburban opened, other bits zero.
 */
import type { JourneyKind, ParkPassRecord, TripRecord } from './card-image.ts';
import { checkDate, checkLength, checkMonth, checkUint, fail, readBcd, readDate, readU16, readU32, writeBcd, writeU16, writeU32 } from './card-fields.ts';

export const RECORD_TAG = { trip: 0x01, parkPass: 0x02, functions: 0x03 } as const;
export type RecordTag = (typeof RECORD_TAG)[keyof typeof RECORD_TAG];
export const RECORD_FORMAT_VERSION = 1;

export const TRIP_BODY_BYTES = 48;
export const PARK_PASS_BODY_BYTES = 14;
export const FUNCTIONS_BODY_BYTES = 1;
export const TRIP_RECORD_BYTES = 2 + TRIP_BODY_BYTES;
export const PARK_PASS_RECORD_BYTES = 2 + PARK_PASS_BODY_BYTES;
export const FUNCTIONS_RECORD_BYTES = 2 + FUNCTIONS_BODY_BYTES;

const JOURNEY_CODES: readonly JourneyKind[] = ['none', 'subway', 'bus', 'suburban'];
const U32 = 0xffffffff;

export interface CardFunctions {
  transitOpened: boolean;
  suburbanOpened: boolean;
}

// ---- trip record ------------------------------------------------------------------------

export function validateTripRecord(trip: TripRecord): void {
  if (trip === null || typeof trip !== 'object') fail('trip record must be an object');
  if (JOURNEY_CODES.indexOf(trip.journey) < 0) fail(`trip journey must be one of ${JOURNEY_CODES.join(', ')}, got ${String(trip.journey)}`);
  checkUint(trip.journeyPlace, U32, 'trip journeyPlace');
  checkUint(trip.journeyLine, U32, 'trip journeyLine');
  checkUint(trip.journeyTime, U32, 'trip journeyTime');
  checkUint(trip.journeyMarkFen, U32, 'trip journeyMarkFen');
  checkUint(trip.journeyFareVersion, U32, 'trip journeyFareVersion');
  checkUint(trip.parkingLot, U32, 'trip parkingLot');
  checkUint(trip.parkingEntryTime, U32, 'trip parkingEntryTime');
  checkDate(trip.parkingDay, 'trip parkingDay', true);
  checkUint(trip.parkingDayChargedFen, U32, 'trip parkingDayChargedFen');
  checkUint(trip.lastTransitTime, U32, 'trip lastTransitTime');
  checkMonth(trip.monthKey, 'trip monthKey', true);
  checkUint(trip.monthRailSpendFen, U32, 'trip monthRailSpendFen');
}

export function writeTripBody(out: Uint8Array, o: number, trip: TripRecord): void {
  out[o] = JOURNEY_CODES.indexOf(trip.journey);
  writeU32(out, o + 1, trip.journeyPlace);
  writeU32(out, o + 5, trip.journeyLine);
  writeU32(out, o + 9, trip.journeyTime);
  writeU32(out, o + 13, trip.journeyMarkFen);
  writeU32(out, o + 17, trip.journeyFareVersion);
  writeU32(out, o + 21, trip.parkingLot);
  writeU32(out, o + 25, trip.parkingEntryTime);
  writeBcd(out, o + 29, trip.parkingDay, 4);
  writeU32(out, o + 33, trip.parkingDayChargedFen);
  writeU32(out, o + 37, trip.lastTransitTime);
  writeBcd(out, o + 41, trip.monthKey, 3);
  writeU32(out, o + 44, trip.monthRailSpendFen);
}

export function readTripBody(bytes: Uint8Array, o: number): TripRecord {
  const code = bytes[o];
  if (code >= JOURNEY_CODES.length) fail(`trip journey code ${code} is unknown`);
  const monthKey = readBcd(bytes, o + 41, 3, 'trip monthKey');
  checkMonth(monthKey, 'trip monthKey', true);
  return {
    journey: JOURNEY_CODES[code],
    journeyPlace: readU32(bytes, o + 1),
    journeyLine: readU32(bytes, o + 5),
    journeyTime: readU32(bytes, o + 9),
    journeyMarkFen: readU32(bytes, o + 13),
    journeyFareVersion: readU32(bytes, o + 17),
    parkingLot: readU32(bytes, o + 21),
    parkingEntryTime: readU32(bytes, o + 25),
    parkingDay: readDate(bytes, o + 29, 'trip parkingDay', true),
    parkingDayChargedFen: readU32(bytes, o + 33),
    lastTransitTime: readU32(bytes, o + 37),
    monthKey,
    monthRailSpendFen: readU32(bytes, o + 44),
  };
}

function checkHeader(bytes: Uint8Array, tag: RecordTag, length: number, name: string): void {
  checkLength(bytes, length, name);
  if (bytes[0] !== tag) fail(`${name}: tag 0x${bytes[0].toString(16).padStart(2, '0')} is not 0x0${tag}`);
  if (bytes[1] !== RECORD_FORMAT_VERSION) fail(`${name}: format version ${bytes[1]} is not supported (expected ${RECORD_FORMAT_VERSION})`);
}

export function encodeTripRecord(trip: TripRecord): Uint8Array {
  validateTripRecord(trip);
  const out = new Uint8Array(TRIP_RECORD_BYTES);
  out[0] = RECORD_TAG.trip;
  out[1] = RECORD_FORMAT_VERSION;
  writeTripBody(out, 2, trip);
  return out;
}

export function parseTripRecord(bytes: Uint8Array): TripRecord {
  checkHeader(bytes, RECORD_TAG.trip, TRIP_RECORD_BYTES, 'trip record');
  return readTripBody(bytes, 2);
}

// ---- park pass --------------------------------------------------------------------------

export function validateParkPass(pass: ParkPassRecord): void {
  if (pass === null || typeof pass !== 'object') fail('park pass must be an object');
  checkUint(pass.year, 9999, 'park pass year');
  checkUint(pass.visits, U32, 'park pass visits');
  checkUint(pass.lastParkId, U32, 'park pass lastParkId');
  checkUint(pass.lastEntryTime, U32, 'park pass lastEntryTime');
  if (pass.year === 0 && (pass.visits !== 0 || pass.lastParkId !== 0 || pass.lastEntryTime !== 0)) {
    fail('an empty park pass slot (year 0) must have no visits');
  }
}

export function writeParkPassBody(out: Uint8Array, o: number, pass: ParkPassRecord): void {
  writeU16(out, o, pass.year);
  writeU32(out, o + 2, pass.visits);
  writeU32(out, o + 6, pass.lastParkId);
  writeU32(out, o + 10, pass.lastEntryTime);
}

export function readParkPassBody(bytes: Uint8Array, o: number): ParkPassRecord {
  const pass: ParkPassRecord = {
    year: readU16(bytes, o),
    visits: readU32(bytes, o + 2),
    lastParkId: readU32(bytes, o + 6),
    lastEntryTime: readU32(bytes, o + 10),
  };
  validateParkPass(pass);
  return pass;
}

export function encodeParkPass(pass: ParkPassRecord): Uint8Array {
  validateParkPass(pass);
  const out = new Uint8Array(PARK_PASS_RECORD_BYTES);
  out[0] = RECORD_TAG.parkPass;
  out[1] = RECORD_FORMAT_VERSION;
  writeParkPassBody(out, 2, pass);
  return out;
}

export function parseParkPass(bytes: Uint8Array): ParkPassRecord {
  checkHeader(bytes, RECORD_TAG.parkPass, PARK_PASS_RECORD_BYTES, 'park pass record');
  return readParkPassBody(bytes, 2);
}

// ---- functions --------------------------------------------------------------------------

export function validateFunctions(functions: CardFunctions): void {
  if (functions === null || typeof functions !== 'object') fail('functions record must be an object');
  if (typeof functions.transitOpened !== 'boolean') fail('functions transitOpened must be a boolean');
  if (typeof functions.suburbanOpened !== 'boolean') fail('functions suburbanOpened must be a boolean');
}

export function encodeFunctions(functions: CardFunctions): Uint8Array {
  validateFunctions(functions);
  const out = new Uint8Array(FUNCTIONS_RECORD_BYTES);
  out[0] = RECORD_TAG.functions;
  out[1] = RECORD_FORMAT_VERSION;
  out[2] = (functions.transitOpened ? 1 : 0) | (functions.suburbanOpened ? 2 : 0);
  return out;
}

export function parseFunctions(bytes: Uint8Array): CardFunctions {
  checkHeader(bytes, RECORD_TAG.functions, FUNCTIONS_RECORD_BYTES, 'functions record');
  const flags = bytes[2];
  if ((flags & ~3) !== 0) fail(`functions record: reserved bits set in 0x${flags.toString(16).padStart(2, '0')}`);
  return { transitOpened: (flags & 1) !== 0, suburbanOpened: (flags & 2) !== 0 };
}

/** Which record a CAPP DATA CACHE payload (or any tagged record) holds, by its tag; null if none. */
export function recordTagOf(bytes: Uint8Array): RecordTag | null {
  if (!(bytes instanceof Uint8Array) || bytes.length < 2) return null;
  const tag = bytes[0];
  return tag === RECORD_TAG.trip || tag === RECORD_TAG.parkPass || tag === RECORD_TAG.functions ? tag : null;
}
