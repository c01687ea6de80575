/**
 * Packed BCD (two decimal digits per byte, high nibble first), as the card uses for dates
 * (YYYYMMDD in 4 bytes) and times (hhmmss in 3 bytes) (DOMAIN.md sections 2 and 3).
 */

/** Encodes a non-negative integer as `byteLength` bytes of BCD, zero-padded on the left. */
export function encodeBcd(value: number, byteLength: number): Uint8Array {
  if (!Number.isSafeInteger(byteLength) || byteLength < 1 || byteLength > 7) {
    throw new RangeError(`encodeBcd: byteLength must be 1..7, got ${byteLength}`);
  }
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`encodeBcd: value must be a non-negative integer, got ${value}`);
  }
  const out = new Uint8Array(byteLength);
  let rest = value;
  for (let i = byteLength - 1; i >= 0; i--) {
    const low = rest % 10;
    rest = Math.floor(rest / 10);
    const high = rest % 10;
    rest = Math.floor(rest / 10);
    out[i] = (high << 4) | low;
  }
  if (rest !== 0) {
    throw new RangeError(`encodeBcd: ${value} does not fit in ${byteLength * 2} BCD digits`);
  }
  return out;
}

/** Decodes packed BCD; a nibble above 9 is a corrupt field and throws a RangeError. */
export function decodeBcd(bytes: Uint8Array): number {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('decodeBcd: bytes must be a Uint8Array');
  if (bytes.length > 7) throw new RangeError(`decodeBcd: at most 7 bytes, got ${bytes.length}`);
  let value = 0;
  for (let i = 0; i < bytes.length; i++) {
    const high = bytes[i] >>> 4;
    const low = bytes[i] & 15;
    if (high > 9 || low > 9) {
      throw new RangeError(`decodeBcd: byte ${i} (0x${bytes[i].toString(16).padStart(2, '0')}) is not BCD`);
    }
    value = value * 100 + high * 10 + low;
  }
  return value;
}
