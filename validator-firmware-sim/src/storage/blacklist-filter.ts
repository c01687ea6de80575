/**
 * An in-memory Bloom filter in front of the SQLite blacklist. Nearly every card that taps
 * is not listed; the filter answers "certainly not listed" from 16 MiB of memory without a
 * SQLite statement, and only a possible hit (a listed card, or ~0.3% false positives at 10M
 * entries) goes to the table, which stays the source of truth.
 *
 * Bits are only ever set: a removed card stays a (harmless) false positive until the filter
 * is rebuilt from the table at the next start.
 */

/** 2^27 bits = 16 MiB: 13.4 bits per entry at 10M cards (k = 6: ~0.3% false positives). */
export const FILTER_BITS_LOG2 = 27;
const HASHES = 6;

/** Splits a 16-digit card number into two exact 32-bit halves (8 digits each < 2^32). */
function halves(cardNo: string): [number, number] {
  let hi = 0;
  let lo = 0;
  for (let i = 0; i < 8; i++) hi = hi * 10 + (cardNo.charCodeAt(i) - 48);
  for (let i = 8; i < 16; i++) lo = lo * 10 + (cardNo.charCodeAt(i) - 48);
  return [hi, lo];
}

/** murmur3 finaliser: good avalanche for 32-bit words. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class BlacklistFilter {
  private readonly words: Uint32Array;
  private readonly mask: number;

  constructor(bitsLog2 = FILTER_BITS_LOG2) {
    this.words = new Uint32Array(2 ** (bitsLog2 - 5));
    this.mask = 2 ** bitsLog2 - 1;
  }

  add(cardNo: string): void {
    const [hi, lo] = halves(cardNo);
    this.addHalves(hi, lo);
  }

  /** Adds a card given as its two 8-digit halves (the table scan at start reads them so). */
  addHalves(hi: number, lo: number): void {
    const h1 = fmix(hi ^ fmix(lo));
    const h2 = fmix(lo + 0x9e3779b9) | 1;
    for (let i = 0; i < HASHES; i++) {
      const bit = (h1 + Math.imul(i, h2)) & this.mask;
      this.words[bit >>> 5] |= 1 << (bit & 31);
    }
  }

  /** False: certainly not listed. True: maybe listed (ask the table). */
  mayContain(cardNo: string): boolean {
    const [hi, lo] = halves(cardNo);
    const h1 = fmix(hi ^ fmix(lo));
    const h2 = fmix(lo + 0x9e3779b9) | 1;
    for (let i = 0; i < HASHES; i++) {
      const bit = (h1 + Math.imul(i, h2)) & this.mask;
      if ((this.words[bit >>> 5] & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }

  get bytes(): number {
    return this.words.byteLength;
  }
}
