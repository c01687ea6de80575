/**
 * Alternative DES/3DES on node-forge (no SM4 there), kept to cross-check our own DES and to
 * measure against it. forge works on binary strings, so every call converts bytes both ways.
 */
import forge from 'node-forge';
import { assertBytes } from '../bytes.ts';

function toBinary(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

function fromBinary(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function run(algorithm: 'DES-ECB' | '3DES-ECB' | 'DES-CBC', key: Uint8Array, data: Uint8Array, decrypt: boolean, iv?: Uint8Array): Uint8Array {
  const keyBuffer = forge.util.createBuffer(toBinary(key));
  const cipher = decrypt ? forge.cipher.createDecipher(algorithm, keyBuffer) : forge.cipher.createCipher(algorithm, keyBuffer);
  cipher.start(iv ? { iv: toBinary(iv) } : {});
  cipher.update(forge.util.createBuffer(toBinary(data)));
  // A pad function that returns true tells forge the input needs no padding (whole blocks).
  (cipher.finish as (pad?: () => boolean) => boolean).call(cipher, () => true);
  return fromBinary(cipher.output.getBytes());
}

export function forgeDesEncryptBlock(key8: Uint8Array, block8: Uint8Array): Uint8Array {
  assertBytes(key8, 'key8', 8);
  assertBytes(block8, 'block8', 8);
  return run('DES-ECB', key8, block8, false);
}

/** 3DES EDE; forge wants 24 bytes, so a two-key 16-byte key is extended to K1 K2 K1. */
export function forgeTripleDesEncryptBlock(key: Uint8Array, block8: Uint8Array): Uint8Array {
  assertBytes(block8, 'block8', 8);
  let key24 = key;
  if (key.length === 16) {
    key24 = new Uint8Array(24);
    key24.set(key, 0);
    key24.set(key.subarray(0, 8), 16);
  }
  assertBytes(key24, 'key', 24);
  return run('3DES-ECB', key24, block8, false);
}

/** DES-CBC over whole blocks; returns all cipher blocks. */
export function forgeDesCbcEncrypt(key8: Uint8Array, iv8: Uint8Array, data: Uint8Array): Uint8Array {
  assertBytes(key8, 'key8', 8);
  assertBytes(iv8, 'iv8', 8);
  if (data.length % 8 !== 0) throw new RangeError('forgeDesCbcEncrypt: data must be whole 8-byte blocks');
  return run('DES-CBC', key8, data, false, iv8);
}
