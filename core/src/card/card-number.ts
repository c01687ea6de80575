/**
 * Card numbers (issue 18, DOMAIN.md section 8). Two ranges live side by side:
 * - T-Union numbers: 19 decimal digits starting `31`, the digits of the card's 10-byte BCD
 *   application serial (file 0x15) without its first digit [S TUM]. No check digit (the real
 *   Beijing sample 3105170010170907984 fails a Luhn check).
 * - The home issuer's legacy range: 16 decimal digits (the project's first numbers); their
 *   10-byte serial is four zero digits followed by the 16 [P].
 * The key diversifier is the serial's rightmost 8 bytes [P]: for a legacy number that is the
 * packed BCD of its 16 digits, exactly what it was before T-Union numbers existed, so every
 * card already in the field keeps its keys.
 */
import { CardFormatError } from './card-format-error.ts';

/** Digits of a legacy (home issuer, pre-T-Union) card number. */
export const CARD_NO_DIGITS = 16;
/** Digits of a T-Union card number. */
export const TUNION_CARD_NO_DIGITS = 19;
/** Bytes of the key diversifier (the serial's rightmost 8 bytes); also the legacy serial length. */
export const CARD_SERIAL_BYTES = 8;
/** Bytes of the T-Union application serial (file 0x15, offset 10), packed BCD. */
export const APPLICATION_SERIAL_BYTES = 10;

/** Both ranges, as a JSON-schema pattern (route schemas use the same text). */
export const CARD_NO_PATTERN_SOURCE = '^(?:[0-9]{16}|31[0-9]{17})$';
const CARD_NO_PATTERN = new RegExp(CARD_NO_PATTERN_SOURCE);
const TUNION_PATTERN = /^31[0-9]{17}$/;

export function isCardNo(value: unknown): value is string {
  return typeof value === 'string' && CARD_NO_PATTERN.test(value);
}

/** True for a 19-digit T-Union number (false for a legacy 16-digit one). */
export function isTUnionCardNo(value: unknown): boolean {
  return typeof value === 'string' && TUNION_PATTERN.test(value);
}

/** Throws a CardFormatError unless `cardNo` is 16 decimal digits or 19 starting 31. */
export function assertCardNo(cardNo: unknown): asserts cardNo is string {
  if (!isCardNo(cardNo)) {
    const shown = typeof cardNo === 'string' ? JSON.stringify(cardNo.slice(0, 24)) : typeof cardNo;
    throw new CardFormatError(`card number must be exactly 16 decimal digits or 19 starting 31 (T-Union), got ${shown}`);
  }
}

/** The 20 serial digits of a card number: '0' + 19 T-Union digits, or '0000' + 16 legacy digits. */
function serialDigits(cardNo: string): string {
  assertCardNo(cardNo);
  return cardNo.length === TUNION_CARD_NO_DIGITS ? `0${cardNo}` : `0000${cardNo}`;
}

/** The 10-byte application serial (packed BCD) of a card number (file 0x15, offset 10). */
export function applicationSerialFromCardNo(cardNo: string): Uint8Array {
  const digits = serialDigits(cardNo);
  const out = new Uint8Array(APPLICATION_SERIAL_BYTES);
  for (let i = 0; i < APPLICATION_SERIAL_BYTES; i++) {
    out[i] = ((digits.charCodeAt(2 * i) - 48) << 4) | (digits.charCodeAt(2 * i + 1) - 48);
  }
  return out;
}

/**
 * The card number of a 10-byte application serial: the digits without the first [S TUM], or
 * the 16 legacy digits when the serial starts with four zero digits. Throws a CardFormatError
 * on a nibble above 9, or a serial that is neither (a first digit other than 0 would be lost
 * by dropping it, so it is refused [P]).
 */
export function cardNoFromApplicationSerial(serial: Uint8Array): string {
  if (!(serial instanceof Uint8Array) || serial.length !== APPLICATION_SERIAL_BYTES) {
    throw new CardFormatError(`application serial must be ${APPLICATION_SERIAL_BYTES} bytes`);
  }
  let digits = '';
  for (let i = 0; i < APPLICATION_SERIAL_BYTES; i++) {
    const high = serial[i] >>> 4;
    const low = serial[i] & 15;
    if (high > 9 || low > 9) throw new CardFormatError(`application serial byte ${i} is not BCD`);
    digits += String.fromCharCode(48 + high, 48 + low);
  }
  const cardNo = digits.startsWith('0000') ? digits.slice(4) : digits.slice(1);
  if (digits[0] !== '0' || !isCardNo(cardNo)) throw new CardFormatError(`application serial ${digits} is not a T-Union (0 31...) or legacy (0000...) serial`);
  return cardNo;
}

/** The key diversifier: the application serial's rightmost 8 bytes (packed BCD of the last 16 digits) [P]. */
export function keyDiversifierFromCardNo(cardNo: string): Uint8Array {
  assertCardNo(cardNo);
  const from = cardNo.length - CARD_NO_DIGITS;
  const out = new Uint8Array(CARD_SERIAL_BYTES);
  for (let i = 0; i < CARD_SERIAL_BYTES; i++) {
    out[i] = ((cardNo.charCodeAt(from + 2 * i) - 48) << 4) | (cardNo.charCodeAt(from + 2 * i + 1) - 48);
  }
  return out;
}

/**
 * The 8-byte key diversifier of a card (the name predates T-Union numbers: for a legacy card
 * it is its whole serial). Same as keyDiversifierFromCardNo.
 */
export const cardSerialFromCardNo = keyDiversifierFromCardNo;

/**
 * Inverse of cardSerialFromCardNo for the legacy range only (8 bytes give 16 digits; a T-Union
 * number cannot be rebuilt from its diversifier). Throws a CardFormatError on a nibble above 9.
 */
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

/** True when a card number's key diversifier is `diversifier` (no allocation). */
export function cardNoHasDiversifier(cardNo: string, diversifier: Uint8Array): boolean {
  if (diversifier.length !== CARD_SERIAL_BYTES || cardNo.length < CARD_NO_DIGITS) return false;
  const from = cardNo.length - CARD_NO_DIGITS;
  for (let i = 0; i < CARD_SERIAL_BYTES; i++) {
    const byte = ((cardNo.charCodeAt(from + 2 * i) - 48) << 4) | (cardNo.charCodeAt(from + 2 * i + 1) - 48);
    if (byte !== diversifier[i]) return false;
  }
  return true;
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

/** True when a legacy number's last digit is the Luhn check digit of the first 15 (numbers made by makeCardNo). */
export function isLuhnValid(cardNo: string): boolean {
  if (!isCardNo(cardNo) || cardNo.length !== CARD_NO_DIGITS) return false;
  return luhnCheckDigit(cardNo.slice(0, 15)) === cardNo.charCodeAt(15) - 48;
}

/**
 * Makes a valid legacy card number: issuer prefix digits, the sequence zero-padded to fill 15
 * digits, then the Luhn check digit. Real card numbers need not carry a Luhn digit, so the rest
 * of the system only requires 16 digits; generated ones carry it so typos are caught in tests and demos.
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

/**
 * Makes a T-Union card number: the issuer's 8-digit product prefix (31051700 Beijing, ...) and
 * the sequence zero-padded to 11 digits. No check digit (T-Union numbers carry none).
 */
export function makeTUnionCardNo(productPrefix: string, sequence: number): string {
  if (!/^31[0-9]{6}$/.test(productPrefix)) {
    throw new CardFormatError(`T-Union product prefix must be 8 digits starting 31, got ${JSON.stringify(productPrefix)}`);
  }
  if (!Number.isSafeInteger(sequence) || sequence < 0 || sequence >= 1e11) {
    throw new CardFormatError(`sequence ${sequence} does not fit in 11 digits after prefix ${productPrefix}`);
  }
  return productPrefix + String(sequence).padStart(11, '0');
}

/** Masks a card number for logs: first 4 and last 4 digits (1000****1234). */
export function maskCardNo(cardNo: string): string {
  if (typeof cardNo !== 'string' || cardNo.length < 8) return '****';
  return `${cardNo.slice(0, 4)}****${cardNo.slice(-4)}`;
}
