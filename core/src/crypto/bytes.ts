/**
 * Byte helpers shared by the crypto, the card codecs and the shells. Every function accepts
 * any Uint8Array (a Node Buffer included) and returns a plain Uint8Array.
 */

const HEX_DIGITS = '0123456789ABCDEF';
/** '00' .. 'FF', by byte value. */
const HEX_PAIRS: readonly string[] = Array.from({ length: 256 }, (_, b) => HEX_DIGITS[b >>> 4] + HEX_DIGITS[b & 15]);

/** Value of one hex digit's char code, -1 for anything else. */
function hexNibble(code: number): number {
  if (code >= 48 && code <= 57) return code - 48; // 0-9
  if (code >= 65 && code <= 70) return code - 55; // A-F
  if (code >= 97 && code <= 102) return code - 87; // a-f
  return -1;
}

/** Parses hex text ("0A1b", whitespace allowed between digits) into bytes. */
export function hexToBytes(hex: string): Uint8Array {
  if (typeof hex !== 'string') throw new TypeError('hexToBytes: hex must be a string');
  // Fast path (card numbers, terminal ids, TACs on the sync path): an even run of hex digits
  // only. Anything else (whitespace, an odd count, a stray character) takes the path below.
  if (hex.length % 2 === 0) {
    const out = new Uint8Array(hex.length / 2);
    let i = 0;
    for (; i < out.length; i++) {
      const high = hexNibble(hex.charCodeAt(2 * i));
      const low = hexNibble(hex.charCodeAt(2 * i + 1));
      if (high < 0 || low < 0) break;
      out[i] = (high << 4) | low;
    }
    if (i === out.length) return out;
  }
  const clean = hex.replace(/\s+/g, '');
  if (clean.length % 2 !== 0) {
    throw new RangeError(`hexToBytes: hex must have an even number of digits, got ${clean.length}`);
  }
  if (!/^[0-9a-fA-F]*$/.test(clean)) throw new TypeError(`hexToBytes: not hex: ${JSON.stringify(hex)}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Upper-case hex without separators (the form card specs and test vectors use). */
export function bytesToHex(bytes: Uint8Array): string {
  // One concatenation per byte from a table of the 256 pairs (not two digit strings joined
  // and then appended): half the intermediate strings on the tap path (terminal id, TAC).
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += HEX_PAIRS[bytes[i]];
  return s;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Byte-wise XOR of two arrays of the same length. */
export function xorBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length !== b.length) {
    throw new RangeError(`xorBytes: lengths differ (${a.length} and ${b.length})`);
  }
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i];
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Compares MACs without an early exit, so the time taken does not tell an attacker how many
 * leading bytes of a forged MAC were right.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** A copy as a plain Uint8Array (detaches results from a caller's Buffer pool). */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return Uint8Array.prototype.slice.call(bytes) as Uint8Array;
}

/** Throws a RangeError naming the argument unless it is a Uint8Array of the expected length. */
export function assertBytes(value: unknown, name: string, expectedLength?: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(`${name} must be a Uint8Array (or Buffer)${expectedLength === undefined ? '' : ` of ${expectedLength} bytes`}`);
  }
  if (expectedLength !== undefined && value.length !== expectedLength) {
    throw new RangeError(`${name} must be ${expectedLength} bytes, got ${value.length}`);
  }
}

/** Throws unless value is an integer in [0, max]. */
export function assertUint(value: unknown, name: string, max: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`${name} must be an integer, got ${String(value)}`);
  }
  if (value < 0 || value > max) throw new RangeError(`${name} must be in 0..${max}, got ${value}`);
}
