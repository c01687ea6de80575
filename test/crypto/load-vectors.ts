import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** test/vectors/crypto-vectors.json, parsed. */
export const VECTORS = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'vectors', 'crypto-vectors.json'), 'utf8')) as {
  des: { cases: Array<{ key: string; plaintext: string; ciphertext: string }> };
  tdes: { cases: Array<{ key: string; plaintext: string; ciphertext: string }> };
  sm4: {
    cases: Array<{ key: string; plaintext: string; ciphertext: string }>;
    iterated: { key: string; plaintext: string; iterations: number; ciphertext: string };
  };
  transactionMac3des: { cases: Array<{ key: string; data: string; mac: string }> };
  transactionMacSm4: { cases: Array<{ key: string; data: string; mac: string }> };
  retailMac3des: { cases: Array<{ key: string; iv: string; data: string; mac: string }> };
  retailMacSm4: { cases: Array<{ key: string; iv: string; data: string; mac: string }> };
  diversify: { cases: Array<{ algorithm: '3des' | 'sm4'; masterKey: string; diversifier: string; cardKey: string }> };
};
