/**
 * Alternative primitives on node:crypto (OpenSSL), kept to cross-check our own DES/SM4 and to
 * measure against them (bench/crypto-primitives.bench.ts). Not on the hot path: each call
 * creates a cipher object, which costs more than our whole table-driven block.
 * OpenSSL 3 refuses plain 'des-ecb' (legacy provider), so single DES is 'des-ede-ecb' with
 * K || K, which is E_K(D_K(E_K(x))) = E_K(x).
 */
import { createCipheriv, createDecipheriv, type Cipher } from 'node:crypto';
import { assertBytes } from '../bytes.ts';

function ecb(name: string, key: Uint8Array, block: Uint8Array, decrypt: boolean): Uint8Array {
  const cipher = decrypt ? createDecipheriv(name, key, null) : createCipheriv(name, key, null);
  cipher.setAutoPadding(false);
  return new Uint8Array(cipher.update(block));
}

function doubled(key8: Uint8Array): Uint8Array {
  const k = new Uint8Array(16);
  k.set(key8, 0);
  k.set(key8, 8);
  return k;
}

export function nodeDesEncryptBlock(key8: Uint8Array, block8: Uint8Array): Uint8Array {
  assertBytes(key8, 'key8', 8);
  assertBytes(block8, 'block8', 8);
  return ecb('des-ede-ecb', doubled(key8), block8, false);
}

export function nodeDesDecryptBlock(key8: Uint8Array, block8: Uint8Array): Uint8Array {
  assertBytes(key8, 'key8', 8);
  assertBytes(block8, 'block8', 8);
  return ecb('des-ede-ecb', doubled(key8), block8, true);
}

export function nodeTripleDesEncryptBlock(key: Uint8Array, block8: Uint8Array): Uint8Array {
  assertBytes(block8, 'block8', 8);
  if (key.length === 16) return ecb('des-ede-ecb', key, block8, false);
  assertBytes(key, 'key', 24);
  return ecb('des-ede3-ecb', key, block8, false);
}

export function nodeTripleDesDecryptBlock(key: Uint8Array, block8: Uint8Array): Uint8Array {
  assertBytes(block8, 'block8', 8);
  if (key.length === 16) return ecb('des-ede-ecb', key, block8, true);
  assertBytes(key, 'key', 24);
  return ecb('des-ede3-ecb', key, block8, true);
}

export function nodeSm4EncryptBlock(key16: Uint8Array, block16: Uint8Array): Uint8Array {
  assertBytes(key16, 'key16', 16);
  assertBytes(block16, 'block16', 16);
  return ecb('sm4-ecb', key16, block16, false);
}

export function nodeSm4DecryptBlock(key16: Uint8Array, block16: Uint8Array): Uint8Array {
  assertBytes(key16, 'key16', 16);
  assertBytes(block16, 'block16', 16);
  return ecb('sm4-ecb', key16, block16, true);
}

/**
 * CBC-MAC in one native call: encrypts the already padded data in CBC mode and returns the
 * last block. cipherName 'des-ede-cbc' (key K||K for single DES) or 'sm4-cbc'.
 */
export function nodeCbcMacLastBlock(cipherName: string, key: Uint8Array, iv: Uint8Array, padded: Uint8Array): Uint8Array {
  const cipher: Cipher = createCipheriv(cipherName, key, iv);
  cipher.setAutoPadding(false);
  const out = cipher.update(padded);
  const blockSize = iv.length;
  return new Uint8Array(out.subarray(out.length - blockSize));
}

/** ISO 9797-1 MAC algorithm 1 via node:crypto CBC (independent of our own DES/SM4 and MAC code). */
export function nodeTransactionMac(sessionKey: Uint8Array, data: Uint8Array, algorithm: '3des' | 'sm4' = '3des'): Uint8Array {
  const blockSize = algorithm === 'sm4' ? 16 : 8;
  const padded = new Uint8Array((Math.floor(data.length / blockSize) + 1) * blockSize);
  padded.set(data);
  padded[data.length] = 0x80;
  const last =
    algorithm === 'sm4'
      ? nodeCbcMacLastBlock('sm4-cbc', sessionKey, new Uint8Array(16), padded)
      : nodeCbcMacLastBlock('des-ede-cbc', doubled(sessionKey), new Uint8Array(8), padded);
  return last.slice(0, 4);
}
