/**
 * Field readers and writers shared by the card codecs: fixed-width big-endian integers and
 * packed-BCD dates/times read from or written into a byte array at an offset (no allocation,
 * the tap path runs them on every tap). Every reader validates and throws CardFormatError;
 * every `check*` is the matching validation run before a write (assertions in pairs).
 */
import { CardFormatError } from './card-format-error.ts';

export function fail(message: string): never {
  throw new CardFormatError(message);
}

export function checkUint(value: unknown, max: number, name: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    fail(`${name} must be an integer in 0..${max}, got ${String(value)}`);
  }
}

export function writeU16(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value >>> 8;
  out[offset + 1] = value & 0xff;
}

export function writeU24(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value >>> 16;
  out[offset + 1] = (value >>> 8) & 0xff;
  out[offset + 2] = value & 0xff;
}

export function writeU32(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value >>> 24;
  out[offset + 1] = (value >>> 16) & 0xff;
  out[offset + 2] = (value >>> 8) & 0xff;
  out[offset + 3] = value & 0xff;
}

export function readU16(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] << 8) | bytes[offset + 1];
}

export function readU24(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] << 16) | (bytes[offset + 1] << 8) | bytes[offset + 2];
}

export function readU32(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] * 0x1000000 + ((bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) | bytes[offset + 3])) >>> 0;
}

/** Signed 32-bit big-endian (the effective balance in INITIALIZE answers may be negative). */
export function writeI32(out: Uint8Array, offset: number, value: number): void {
  writeU32(out, offset, value >>> 0);
}

export function readI32(bytes: Uint8Array, offset: number): number {
  return readU32(bytes, offset) | 0;
}

/** Writes `value` as `byteLength` bytes of packed BCD (caller has validated the range). */
export function writeBcd(out: Uint8Array, offset: number, value: number, byteLength: number): void {
  let rest = value;
  for (let i = offset + byteLength - 1; i >= offset; i--) {
    const low = rest % 10;
    rest = (rest - low) / 10;
    const high = rest % 10;
    rest = (rest - high) / 10;
    out[i] = (high << 4) | low;
  }
}

export function readBcd(bytes: Uint8Array, offset: number, byteLength: number, name: string): number {
  let value = 0;
  for (let i = offset; i < offset + byteLength; i++) {
    const b = bytes[i];
    const high = b >>> 4;
    const low = b & 15;
    if (high > 9 || low > 9) fail(`${name}: byte 0x${b.toString(16).padStart(2, '0')} is not BCD`);
    value = value * 100 + high * 10 + low;
  }
  return value;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** A calendar date YYYYMMDD (years 1900..9999). */
export function isValidDate(value: number): boolean {
  if (!Number.isInteger(value) || value < 19000101 || value > 99991231) return false;
  const year = Math.floor(value / 10000);
  const month = Math.floor(value / 100) % 100;
  const day = value % 100;
  if (month < 1 || month > 12 || day < 1) return false;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const maxDay = month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1];
  return day <= maxDay;
}

/** A time of day hhmmss. */
export function isValidTime(value: number): boolean {
  if (!Number.isInteger(value) || value < 0 || value > 235959) return false;
  return Math.floor(value / 100) % 100 < 60 && value % 100 < 60;
}

/** A month YYYYMM (years 1900..9999). */
export function isValidMonth(value: number): boolean {
  if (!Number.isInteger(value) || value < 190001 || value > 999912) return false;
  const month = value % 100;
  return month >= 1 && month <= 12;
}

export function checkDate(value: unknown, name: string, allowZero = false): void {
  if (allowZero && value === 0) return;
  if (typeof value !== 'number' || !isValidDate(value)) fail(`${name} must be a date YYYYMMDD, got ${String(value)}`);
}

export function checkTime(value: unknown, name: string): void {
  if (typeof value !== 'number' || !isValidTime(value)) fail(`${name} must be a time hhmmss, got ${String(value)}`);
}

export function checkMonth(value: unknown, name: string, allowZero = false): void {
  if (allowZero && value === 0) return;
  if (typeof value !== 'number' || !isValidMonth(value)) fail(`${name} must be a month YYYYMM, got ${String(value)}`);
}

export function readDate(bytes: Uint8Array, offset: number, name: string, allowZero = false): number {
  const value = readBcd(bytes, offset, 4, name);
  checkDate(value, name, allowZero);
  return value;
}

export function readTime(bytes: Uint8Array, offset: number, name: string): number {
  const value = readBcd(bytes, offset, 3, name);
  checkTime(value, name);
  return value;
}

const HEX = '0123456789ABCDEF';

/** Writes hex text (validated by checkHex) as bytes. */
export function writeHex(out: Uint8Array, offset: number, hex: string): void {
  for (let i = 0; i < hex.length; i += 2) out[offset + i / 2] = parseInt(hex.slice(i, i + 2), 16);
}

/** Reads bytes as upper-case hex: the canonical form everywhere (matches bytesToHex). */
export function readHex(bytes: Uint8Array, offset: number, byteLength: number): string {
  let s = '';
  for (let i = offset; i < offset + byteLength; i++) s += HEX[bytes[i] >>> 4] + HEX[bytes[i] & 15];
  return s;
}

const HEX_PATTERNS = new Map<number, RegExp>();

export function checkHex(value: unknown, byteLength: number, name: string): void {
  let pattern = HEX_PATTERNS.get(byteLength);
  if (pattern === undefined) {
    pattern = new RegExp(`^[0-9A-Fa-f]{${byteLength * 2}}$`);
    HEX_PATTERNS.set(byteLength, pattern);
  }
  if (typeof value !== 'string' || !pattern.test(value)) {
    fail(`${name} must be ${byteLength * 2} hex digits, got ${typeof value === 'string' ? JSON.stringify(value.slice(0, 32)) : typeof value}`);
  }
}

export function checkLength(bytes: unknown, expected: number, name: string): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) fail(`${name} must be a Uint8Array`);
  if (bytes.length !== expected) fail(`${name} must be ${expected} bytes, got ${bytes.length}`);
}
