/**
 * Card numbers: 16 decimal digits. Their packed-BCD form (8 bytes) is the card's application
 * serial and the key diversifier (DOMAIN.md section 3, key diversification).
 */
import { CardFormatError } from './card-format-error.ts';

export const CARD_NO_DIGITS = 16;
export const CARD_SERIAL_BYTES = 8;

const CARD_NO_PATTERN = /^[0-9]{16}$/;

export function isCardNo(value: unknown): value is string {
  return typeof value === 'string' && CARD_NO_PATTERN.test(value);
}

/** Throws a CardFormatError unless `cardNo` is exactly 16 decimal digits. */
export function assertCardNo(cardNo: unknown): asserts cardNo is string {
  if (!isCardNo(cardNo)) {
    const shown = typeof cardNo === 'string' ? JSON.stringify(cardNo.slice(0, 24)) : typeof cardNo;
    throw new CardFormatError(`card number must be exactly 16 decimal digits, got ${shown}`);
  }
}

/** The 8-byte application serial (packed BCD of the 16 digits): the key diversifier. */
export function cardSerialFromCardNo(cardNo: string): Uint8Array {
  assertCardNo(cardNo);
  const out = new Uint8Array(CARD_SERIAL_BYTES);
  for (let i = 0; i < CARD_SERIAL_BYTES; i++) {
    out[i] = ((cardNo.charCodeAt(2 * i) - 48) << 4) | (cardNo.charCodeAt(2 * i + 1) - 48);
  }
  return out;
}

/** Inverse of cardSerialFromCardNo; throws a CardFormatError on a nibble above 9. */
export function cardNoFromCardSerial(serial: Uint8Array): string {
  if (!(serial instanceof Uint8Array) || serial.length !== CARD_SERIAL_BYTES) {
    throw new CardFormatError(`card serial must be ${CARD_SERIAL_BYTES} bytes`);
  }
  let out = '';
  for (let i = 0; i < CARD_SERIAL_BYTES; i++) {
    const high = serial[i] >>> 4;
    const low = serial[i] & 15;
    if (high > 9 || low > 9) throw new CardFormatError(`card serial byte ${i} is not BCD`);
    out += String.fromCharCode(48 + high, 48 + low);
  }
  return out;
}

/** Luhn (mod 10) check digit for the digits given (the check digit is appended after them). */
export function luhnCheckDigit(digits: string): number {
  if (!/^[0-9]+$/.test(digits)) throw new CardFormatError('Luhn input must be decimal digits');
  let sum = 0;
  // Double every second digit counting from the right of the payload (the check digit goes right of it).
  for (let i = digits.length - 1, double = true; i >= 0; i--, double = !double) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return (10 - (sum % 10)) % 10;
}

/** True when the last digit is the Luhn check digit of the first 15 (numbers made by makeCardNo). */
export function isLuhnValid(cardNo: string): boolean {
  if (!isCardNo(cardNo)) return false;
  return luhnCheckDigit(cardNo.slice(0, 15)) === cardNo.charCodeAt(15) - 48;
}

/**
 * Makes a valid card number: issuer prefix digits, the sequence zero-padded to fill 15 digits,
 * then the Luhn check digit. Real card numbers need not carry a Luhn digit, so the rest of the
 * system only requires 16 digits; generated ones carry it so typos are caught in tests and demos.
 */
export function makeCardNo(issuerPrefix: string, sequence: number): string {
  if (!/^[0-9]{1,14}$/.test(issuerPrefix)) {
    throw new CardFormatError(`issuer prefix must be 1..14 decimal digits, got ${JSON.stringify(issuerPrefix)}`);
  }
  const width = 15 - issuerPrefix.length;
  if (!Number.isSafeInteger(sequence) || sequence < 0 || sequence >= 10 ** width) {
    throw new CardFormatError(`sequence ${sequence} does not fit in ${width} digits after prefix ${issuerPrefix}`);
  }
  const payload = issuerPrefix + String(sequence).padStart(width, '0');
  return payload + String(luhnCheckDigit(payload));
}

/** Masks a card number for logs: first 4 and last 4 digits (1000****1234). */
export function maskCardNo(cardNo: string): string {
  if (typeof cardNo !== 'string' || cardNo.length < 8) return '****';
  return `${cardNo.slice(0, 4)}****${cardNo.slice(-4)}`;
}
