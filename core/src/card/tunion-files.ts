/**
 * The two T-Union identification files of a card's transit application (JT/T 978; DOMAIN.md
 * section 8; research/interop-settlement-calendars.md 1.2), as codec pairs (habit 6).
 *
 * File 0x15, 30 bytes (the FCI 9F0C answer to SELECT A000000632010105) [S TUR, TUM, C2]:
 *    0 issuer id (8)   8 app type (1)   9 app version (1)   10 application serial (10, BCD)
 *   20 start date (4, BCD YYYYMMDD)    24 expiry date (4, BCD)   28 issuer FCI (2)
 * File 0x17, 15 bytes, the fields C2 reads (`00 B0 97 00 00`) [S C2 cpucard.h]:
 *    0 country code (4, BCD)  4 province code (2, BCD)  6 city code (2, BCD)
 *    8 interconnection kind (2: 0001 T-Union, 0000 not)  10 card type (1)
 *   11 settlement unit number (4)
 * Issuer id bytes 2-3 are the issuing city code (BCD, GB/T 13497: 1000 Beijing, 2900 Shanghai);
 * the allow-list key of real terminals is the issuer id's first 4 bytes [S C2].
 */
import { APPLICATION_SERIAL_BYTES, applicationSerialFromCardNo, cardNoFromApplicationSerial } from './card-number.ts';
import { checkDate, checkHex, checkLength, fail, readDate, readHex, writeBcd, writeHex } from './card-fields.ts';

export const ISSUER_FILE_BYTES = 30;
export const MANAGEMENT_FILE_BYTES = 15;
/** The T-Union application identifier. */
export const TUNION_AID = 'A000000632010105';
/** App type 02 (EP only) as on the real Beijing sample [S HCE]; app version 01. */
export const TUNION_APP_TYPE = 0x02;
export const TUNION_APP_VERSION = 0x01;
/** Country code of China (ISO 3166 numeric 156) as 4 BCD bytes. */
export const CHINA_COUNTRY_CODE = '00000156';
/** Interconnection kind in file 0x17: T-Union card, or a card of one city only. */
export const INTEROP_KIND = { tunion: '0001', none: '0000' } as const;

/** File 0x15. Issuer id as 16 upper-case hex digits; dates YYYYMMDD. */
export interface IssuerFile {
  issuerId: string;
  appType: number;
  appVersion: number;
  /** The 19-digit (or legacy 16-digit) card number the 10-byte serial carries. */
  cardNo: string;
  startDate: number;
  expiryDate: number;
  /** Issuer FCI (2 bytes) as 4 hex digits. */
  issuerFci: string;
}

/** File 0x17. Codes as BCD digit strings. */
export interface ManagementFile {
  countryCode: string;
  provinceCode: string;
  cityCode: string;
  interopKind: string;
  cardType: number;
  /** Settlement unit number (4 bytes) as 8 hex digits. */
  settlementUnit: string;
}

function checkDigits(value: unknown, digits: number, name: string): asserts value is string {
  if (typeof value !== 'string' || !new RegExp(`^[0-9]{${digits}}$`).test(value))
    fail(`${name} must be ${digits} decimal digits, got ${JSON.stringify(value)}`);
}

function checkByte(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xff) fail(`${name} must be a byte, got ${String(value)}`);
}

/** The issuing city code (4 BCD digits) of an issuer id: its bytes 2-3. */
export function cityCodeOfIssuerId(issuerId: string): string {
  checkHex(issuerId, 8, 'issuerId');
  const city = issuerId.slice(4, 8);
  if (!/^[0-9]{4}$/.test(city)) fail(`issuer id ${issuerId}: bytes 2-3 (city code) are not BCD`);
  return city;
}

/** The allow-list key of an issuer id: its first 4 bytes as an unsigned 32-bit number [S C2]. */
export function allowKeyOfIssuerId(issuerId: string): number {
  checkHex(issuerId, 8, 'issuerId');
  return Number.parseInt(issuerId.slice(0, 8), 16) >>> 0;
}

/**
 * The same key straight from the hex text without allocating (the tap's hot path): the caller
 * has validated the id (the card codec did). -1 when a character is not hex.
 */
export function allowKeyOfIssuerIdText(issuerId: string): number {
  let key = 0;
  for (let i = 0; i < 8; i++) {
    const c = issuerId.charCodeAt(i);
    const nibble = c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1;
    if (nibble < 0) return -1;
    key = key * 16 + nibble;
  }
  return key;
}

export function validateIssuerFile(file: IssuerFile): void {
  if (file === null || typeof file !== 'object') fail('file 0x15 must be an object');
  checkHex(file.issuerId, 8, 'issuerId');
  cityCodeOfIssuerId(file.issuerId);
  checkByte(file.appType, 'appType');
  checkByte(file.appVersion, 'appVersion');
  applicationSerialFromCardNo(file.cardNo); // throws a CardFormatError on a bad number
  checkDate(file.startDate, 'startDate');
  checkDate(file.expiryDate, 'expiryDate');
  if (file.startDate > file.expiryDate) fail(`start date ${file.startDate} is after the expiry date ${file.expiryDate}`);
  checkHex(file.issuerFci, 2, 'issuerFci');
}

export function encodeIssuerFileInto(file: IssuerFile, out: Uint8Array, offset: number): void {
  validateIssuerFile(file);
  writeHex(out, offset, file.issuerId);
  out[offset + 8] = file.appType;
  out[offset + 9] = file.appVersion;
  out.set(applicationSerialFromCardNo(file.cardNo), offset + 10);
  writeBcd(out, offset + 20, file.startDate, 4);
  writeBcd(out, offset + 24, file.expiryDate, 4);
  writeHex(out, offset + 28, file.issuerFci);
}

export function encodeIssuerFile(file: IssuerFile): Uint8Array {
  const out = new Uint8Array(ISSUER_FILE_BYTES);
  encodeIssuerFileInto(file, out, 0);
  return out;
}

export function parseIssuerFileAt(bytes: Uint8Array, offset: number): IssuerFile {
  if (!(bytes instanceof Uint8Array) || bytes.length < offset + ISSUER_FILE_BYTES) fail('file 0x15 is too short');
  const issuerId = readHex(bytes, offset, 8);
  cityCodeOfIssuerId(issuerId);
  const file: IssuerFile = {
    issuerId,
    appType: bytes[offset + 8],
    appVersion: bytes[offset + 9],
    cardNo: cardNoFromApplicationSerial(bytes.subarray(offset + 10, offset + 10 + APPLICATION_SERIAL_BYTES)),
    startDate: readDate(bytes, offset + 20, 'startDate'),
    expiryDate: readDate(bytes, offset + 24, 'expiryDate'),
    issuerFci: readHex(bytes, offset + 28, 2),
  };
  if (file.startDate > file.expiryDate) fail(`start date ${file.startDate} is after the expiry date ${file.expiryDate}`);
  return file;
}

export function parseIssuerFile(bytes: Uint8Array): IssuerFile {
  checkLength(bytes, ISSUER_FILE_BYTES, 'file 0x15');
  return parseIssuerFileAt(bytes, 0);
}

export function validateManagementFile(file: ManagementFile): void {
  if (file === null || typeof file !== 'object') fail('file 0x17 must be an object');
  checkDigits(file.countryCode, 8, 'countryCode');
  checkDigits(file.provinceCode, 4, 'provinceCode');
  checkDigits(file.cityCode, 4, 'cityCode');
  if (file.interopKind !== INTEROP_KIND.tunion && file.interopKind !== INTEROP_KIND.none)
    fail(`interopKind must be 0001 or 0000, got ${JSON.stringify(file.interopKind)}`);
  checkByte(file.cardType, 'cardType');
  checkHex(file.settlementUnit, 4, 'settlementUnit');
}

export function encodeManagementFileInto(file: ManagementFile, out: Uint8Array, offset: number): void {
  validateManagementFile(file);
  writeHex(out, offset, file.countryCode);
  writeHex(out, offset + 4, file.provinceCode);
  writeHex(out, offset + 6, file.cityCode);
  writeHex(out, offset + 8, file.interopKind);
  out[offset + 10] = file.cardType;
  writeHex(out, offset + 11, file.settlementUnit);
}

export function encodeManagementFile(file: ManagementFile): Uint8Array {
  const out = new Uint8Array(MANAGEMENT_FILE_BYTES);
  encodeManagementFileInto(file, out, 0);
  return out;
}

export function parseManagementFileAt(bytes: Uint8Array, offset: number): ManagementFile {
  if (!(bytes instanceof Uint8Array) || bytes.length < offset + MANAGEMENT_FILE_BYTES) fail('file 0x17 is too short');
  const file: ManagementFile = {
    countryCode: readHex(bytes, offset, 4),
    provinceCode: readHex(bytes, offset + 4, 2),
    cityCode: readHex(bytes, offset + 6, 2),
    interopKind: readHex(bytes, offset + 8, 2),
    cardType: bytes[offset + 10],
    settlementUnit: readHex(bytes, offset + 11, 4),
  };
  validateManagementFile(file);
  return file;
}

export function parseManagementFile(bytes: Uint8Array): ManagementFile {
  checkLength(bytes, MANAGEMENT_FILE_BYTES, 'file 0x17');
  return parseManagementFileAt(bytes, 0);
}
