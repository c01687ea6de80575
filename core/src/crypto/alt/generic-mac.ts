/**
 * ISO 9797-1 MACs written directly from the standard's description on top of any block
 * function, byte by byte. Slow and obvious on purpose: tests run it over node:crypto and
 * node-forge blocks to check the optimised word-level MAC code in ../mac.ts.
 */
export type BlockEncrypt = (key: Uint8Array, block: Uint8Array) => Uint8Array;

export function padMethod2(data: Uint8Array, blockSize: number): Uint8Array {
  const out = new Uint8Array((Math.floor(data.length / blockSize) + 1) * blockSize);
  out.set(data);
  out[data.length] = 0x80;
  return out;
}

/** CBC over padded data; returns the last cipher block (H_q of ISO 9797-1). */
export function cbcLastBlock(encrypt: BlockEncrypt, key: Uint8Array, iv: Uint8Array, data: Uint8Array, blockSize: number): Uint8Array {
  const padded = padMethod2(data, blockSize);
  let h: Uint8Array = Uint8Array.from(iv);
  for (let off = 0; off < padded.length; off += blockSize) {
    const x = new Uint8Array(blockSize);
    for (let i = 0; i < blockSize; i++) x[i] = h[i] ^ padded[off + i];
    h = encrypt(key, x);
  }
  return h;
}

/** MAC algorithm 1: leftmost 4 bytes of the CBC-MAC. */
export function genericMacAlgorithm1(encrypt: BlockEncrypt, key: Uint8Array, iv: Uint8Array, data: Uint8Array, blockSize: number): Uint8Array {
  return cbcLastBlock(encrypt, key, iv, data, blockSize).slice(0, 4);
}

/** MAC algorithm 3 (retail MAC) with DES: H_q under K_left, then D_K_right, then E_K_left. */
export function genericMacAlgorithm3(desEncrypt: BlockEncrypt, desDecrypt: BlockEncrypt, key16: Uint8Array, iv8: Uint8Array, data: Uint8Array): Uint8Array {
  const left = key16.slice(0, 8);
  const right = key16.slice(8, 16);
  const h = cbcLastBlock(desEncrypt, left, iv8, data, 8);
  return desEncrypt(left, desDecrypt(right, h)).slice(0, 4);
}
