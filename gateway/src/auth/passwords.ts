/**
 * Service passwords (seed question 16): hashed with scrypt and a per-user random salt; the
 * stored text carries its parameters so the cost can be raised later without a migration.
 * Format: scrypt$N$r$p$saltB64$hashB64.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export interface KdfParams {
  N: number;
  r: number;
  p: number;
}

/** Production cost (~50 ms on a laptop core); tests pass a cheaper one through the policies. */
export const DEFAULT_KDF: KdfParams = { N: 16_384, r: 8, p: 1 };
const KEY_BYTES = 32;

function scryptAsync(password: string, salt: Buffer, params: KdfParams): Promise<Buffer> {
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, KEY_BYTES, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

export async function hashPassword(password: string, params: KdfParams = DEFAULT_KDF): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, params);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64'), key.toString('base64')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const params = { N: Number(parts[1]), r: Number(parts[2]), p: Number(parts[3]) };
  const expected = Buffer.from(parts[5], 'base64');
  const key = await scryptAsync(password, Buffer.from(parts[4], 'base64'), params);
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** Initial service password: the last 6 characters of the social security number (q. 16). */
export function initialServicePassword(socialSecurityNo: string): string {
  return socialSecurityNo.slice(-6);
}
