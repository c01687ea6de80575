/**
 * An exact, compact in-memory index of the listed cards and their reason codes, built from the
 * SQLite blacklist (which stays the durable source of truth) when the device starts.
 *
 * Layout, 5 bytes per card plus a fixed 0.4 MB directory (~50 MB at 10M cards):
 * - a card number is hi * 10^8 + lo (hi, lo its two 8-digit halves, exact small integers);
 * - bucket b = floor(hi / 1000): the first 5 digits, 100,000 buckets; `dir[b]..dir[b + 1]`
 *   is the bucket's slice of the entry arrays (Uint32Array(100,001));
 * - remainder r = (hi % 1000) * 10^8 + lo < 10^11 < 2^37 (an exact double);
 * - per entry: `low` = r mod 2^32 (Uint32Array) and `tag` = (floor(r / 2^32) << 3) | code
 *   (Uint8Array: the 5 high bits of r and a 3-bit reason code 1..7);
 * - entries sorted by (b, r), i.e. by card number: the table scan returns rowid (card) order,
 *   so the build only appends and counts buckets.
 * A lookup parses the 16 digits from char codes (no allocation), guesses the card's place in
 * its bucket as if the bucket's cards were spread evenly, gallops out from there and finishes
 * with a binary search. Any distribution of 16-digit numbers is answered exactly; a skewed one
 * (every card in a few buckets, or crowded at one end of a bucket) only makes the search longer
 * (about twice log2 of the bucket size: 10M cards in one bucket took ~0.7 us a lookup,
 * spread evenly ~0.25 us, timer included).
 *
 * The arrays are immutable once built: changes after the build start live in the store's
 * overlay (blacklist-store.ts).
 */

/** Buckets: the first 5 of the 16 digits. */
export const INDEX_BUCKETS = 100_000;
const TWO_POW_32 = 4_294_967_296;
/** Code stored for a reason code this firmware does not know (still a listed card). */
export const UNKNOWN_REASON_CODE = 7;

/** Reason code as stored in the index: 1..6 as is, anything else (still listed) as 7. */
export function indexCode(reason: unknown): number {
  return typeof reason === 'number' && reason >= 1 && reason <= 6 && Number.isInteger(reason) ? reason : UNKNOWN_REASON_CODE;
}

/** Entry arrays that can be handed to the next build (a rebuild reuses them: no second copy in memory). */
export interface IndexBuffers {
  low: Uint32Array;
  tag: Uint8Array;
}

export class BlacklistIndex {
  constructor(
    private readonly dir: Uint32Array,
    private readonly low: Uint32Array,
    private readonly tag: Uint8Array,
    /** Entries in use (the arrays may be longer). */
    readonly size: number,
  ) {}

  /**
   * The reason code (1..7) of a listed card, 0 if the card is not in the index. `cardNo` must
   * be 16 decimal digits (the caller checked it).
   */
  find(cardNo: string): number {
    let hi = 0;
    let lo = 0;
    for (let i = 0; i < 8; i++) hi = hi * 10 + (cardNo.charCodeAt(i) - 48);
    for (let i = 8; i < 16; i++) lo = lo * 10 + (cardNo.charCodeAt(i) - 48);
    const b = (hi / 1000) | 0;
    const r = (hi - b * 1000) * 100_000_000 + lo;
    const low = this.low;
    const tag = this.tag;
    let a = this.dir[b];
    let z = this.dir[b + 1];
    if (z - a > 16) {
      // Start where the card would sit if the bucket's cards were spread evenly over its
      // remainders (they are for random card numbers), then gallop outwards to bracket it:
      // the binary search below then runs within a few cache lines instead of across the
      // bucket. Skewed buckets only cost more steps (at most twice log2 of the bucket size).
      let g = a + Math.floor((r / 1e11) * (z - a));
      if (g >= z) g = z - 1;
      const tg = tag[g];
      const kg = (tg >>> 3) * TWO_POW_32 + low[g];
      if (kg === r) return tg & 7;
      if (kg < r) {
        let step = 1;
        let at = g + 1;
        while (at < z) {
          const t = tag[at];
          const k = (t >>> 3) * TWO_POW_32 + low[at];
          if (k === r) return t & 7;
          if (k > r) {
            z = at;
            break;
          }
          a = at + 1;
          at += step;
          step *= 2;
        }
        if (a < g + 1) a = g + 1;
      } else {
        let step = 1;
        let at = g - 1;
        z = g;
        while (at >= a) {
          const t = tag[at];
          const k = (t >>> 3) * TWO_POW_32 + low[at];
          if (k === r) return t & 7;
          if (k < r) {
            a = at + 1;
            break;
          }
          z = at;
          at -= step;
          step *= 2;
        }
      }
    }
    while (a < z) {
      const m = (a + z) >>> 1;
      const t = tag[m];
      const k = (t >>> 3) * TWO_POW_32 + low[m];
      if (k < r) a = m + 1;
      else if (k > r) z = m;
      else return t & 7;
    }
    return 0;
  }

  /** Entries allocated (>= size). */
  get capacity(): number {
    return this.low.length;
  }

  /** Memory held: directory + entry arrays as allocated. */
  get bytes(): number {
    return this.dir.byteLength + this.low.byteLength + this.tag.byteLength;
  }

  /** Hands the entry arrays over to a rebuild; this index must not be used afterwards. */
  buffers(): IndexBuffers {
    return { low: this.low, tag: this.tag };
  }
}

/**
 * Builds an index from cards given in strictly ascending order. Fed by the table scan (a
 * registered SQL function receives each row's two halves and reason), so no row objects, no
 * strings and no BigInts are made per card.
 */
export class BlacklistIndexBuilder {
  private dir = new Uint32Array(INDEX_BUCKETS + 1);
  private low: Uint32Array;
  private tag: Uint8Array;
  private n = 0;
  /** The next bucket whose start offset is not written yet. */
  private nextBucket = 0;
  private lastB = -1;
  private lastR = -1;
  /** Times the entry arrays had to grow (the capacity estimate was short). */
  grows = 0;

  /** `capacity`: expected entries; `reuse`: the arrays of a dropped index, used if long enough. */
  constructor(capacity: number, reuse: IndexBuffers | null = null) {
    const want = Math.max(1, Math.ceil(capacity));
    if (reuse !== null && reuse.low.length >= want && reuse.tag.length === reuse.low.length) {
      this.low = reuse.low;
      this.tag = reuse.tag;
    } else {
      this.low = new Uint32Array(want);
      this.tag = new Uint8Array(want);
    }
  }

  get size(): number {
    return this.n;
  }

  get capacity(): number {
    return this.low.length;
  }

  /** Appends a card (its two 8-digit halves) with its reason code; cards must come in ascending order. */
  add(hi: number, lo: number, code: number): void {
    if (!(hi >= 0 && hi < 100_000_000 && lo >= 0 && lo < 100_000_000 && Number.isInteger(hi) && Number.isInteger(lo))) {
      throw new RangeError(`blacklist index: card halves ${hi}/${lo} out of range`);
    }
    const b = (hi / 1000) | 0;
    const r = (hi - b * 1000) * 100_000_000 + lo;
    // A binary search needs sorted entries: refuse anything else rather than build a wrong index.
    if (b < this.lastB || (b === this.lastB && r <= this.lastR)) {
      throw new Error(`blacklist index: card ${hi}/${lo} is not above the previous one`);
    }
    if (this.n === this.low.length) this.grow();
    for (; this.nextBucket <= b; this.nextBucket++) this.dir[this.nextBucket] = this.n;
    const high = Math.floor(r / TWO_POW_32);
    this.low[this.n] = r >>> 0;
    this.tag[this.n] = (high << 3) | (code & 7);
    this.n++;
    this.lastB = b;
    this.lastR = r;
  }

  /**
   * The estimate was short (device_state.blacklist_count wrong, or cards added behind a
   * background build's cursor): copy into arrays half as large again. A typed array silently
   * drops writes past its end, so the builder never writes without checking.
   */
  private grow(): void {
    const next = Math.max(Math.ceil(this.low.length * 1.5), this.low.length + 4_096);
    const low = new Uint32Array(next);
    const tag = new Uint8Array(next);
    low.set(this.low.subarray(0, this.n));
    tag.set(this.tag.subarray(0, this.n));
    this.low = low;
    this.tag = tag;
    this.grows++;
  }

  /** Closes the directory and returns the index; the builder must not be used afterwards. */
  finish(): BlacklistIndex {
    for (; this.nextBucket <= INDEX_BUCKETS; this.nextBucket++) this.dir[this.nextBucket] = this.n;
    return new BlacklistIndex(this.dir, this.low, this.tag, this.n);
  }

  /** Hands the entry arrays over (an abandoned build); the builder must not be used afterwards. */
  buffers(): IndexBuffers {
    return { low: this.low, tag: this.tag };
  }
}
