/** Cipher suite of a card: 3DES (PBOC) or the project's SM4 profile (DOMAIN.md section 3). */
export type CipherAlgorithm = '3des' | 'sm4';

/** Algorithm id byte in INITIALIZE FOR PURCHASE/LOAD answers. */
export const ALGORITHM_ID: Readonly<Record<CipherAlgorithm, number>> = { '3des': 0x00, sm4: 0x04 };

export function algorithmFromId(id: number): CipherAlgorithm {
  if (id === 0x00) return '3des';
  if (id === 0x04) return 'sm4';
  throw new RangeError(`unknown algorithm id 0x${id.toString(16).padStart(2, '0')}`);
}
