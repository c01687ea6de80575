/**
 * A small bounded cache of key schedules (or anything built from key bytes), keyed by the key
 * bytes, least recently used out.
 *
 * Why: a tap MACs several times with the same session key (MAC1, MAC2) and derives session
 * keys from the same purchase key all day; recomputing a schedule costs more than the cipher.
 *
 * Why it is shaped like this: it sits on the validator's tap path, whose p99 is sensitive to
 * garbage, and a tap brings fresh keys (a new card's DPK, a new session key) that miss. So a
 * lookup allocates nothing: the last key hit is checked byte by byte first (MAC2 after MAC1);
 * otherwise the key bytes hash to a small integer (FNV-1a, 30 bits, a Smi) for a Map of entries
 * that keep their own copy of the key, so every hit is confirmed byte by byte and a hash
 * collision is only a miss. Recency is a linked list through the entries (a hit moves pointers,
 * no Map churn). When full, the least recently used entry is recycled for the new key: its key
 * buffer is overwritten and, given `rebuild`, its value is rebuilt in place (schedules are
 * typed arrays of a fixed size), so a miss in the steady state allocates nothing either.
 *
 * Consequence for callers: a value may be rebuilt in place for another key once it is the least
 * recently used, so use it at once (as the ciphers and MACs here do) and never keep it.
 */
interface Entry<T> {
  hash: number;
  key: Uint8Array;
  value: T;
  /** Towards the least recently used end. */
  older: Entry<T> | null;
  /** Towards the most recently used end. */
  newer: Entry<T> | null;
}

export class ScheduleCache<T> {
  private readonly map = new Map<number, Entry<T>>();
  /** Least recently used: the next to be recycled. */
  private oldest: Entry<T> | null = null;
  /** Most recently used. */
  private newest: Entry<T> | null = null;
  hits = 0;
  misses = 0;

  /**
   * @param build  the value for a key (a fresh object)
   * @param rebuild  optional: the value for a key built into a recycled value (returns it)
   */
  constructor(
    private readonly capacity: number,
    private readonly build: (key: Uint8Array) => T,
    private readonly rebuild?: (key: Uint8Array, recycled: T) => T,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('ScheduleCache: capacity must be >= 1');
  }

  get(key: Uint8Array): T {
    const newest = this.newest;
    if (newest !== null && sameBytes(newest.key, key)) {
      this.hits++;
      return newest.value;
    }
    const hash = hashBytes(key);
    const found = this.map.get(hash);
    if (found !== undefined && sameBytes(found.key, key)) {
      this.hits++;
      this.unlink(found);
      this.append(found);
      return found.value;
    }
    this.misses++;
    // A different key with the same hash gives up its slot; else, when full, the least
    // recently used entry is recycled.
    let recycled: Entry<T> | null = null;
    if (found !== undefined) recycled = found;
    else if (this.map.size >= this.capacity) recycled = this.oldest;
    if (recycled !== null) {
      this.map.delete(recycled.hash);
      this.unlink(recycled);
    }
    // Built before the entry is touched: if build throws, the cache stays consistent.
    const value = recycled !== null && this.rebuild !== undefined ? this.rebuild(key, recycled.value) : this.build(key);
    let entry: Entry<T>;
    if (recycled !== null) {
      entry = recycled;
      entry.hash = hash;
      // Copy: the caller may reuse or mutate its key buffer after this call.
      if (entry.key.length === key.length) entry.key.set(key);
      else entry.key = Uint8Array.prototype.slice.call(key) as Uint8Array;
      entry.value = value;
    } else {
      entry = { hash, key: Uint8Array.prototype.slice.call(key) as Uint8Array, value, older: null, newer: null };
    }
    this.map.set(hash, entry);
    this.append(entry);
    return value;
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
    this.oldest = null;
    this.newest = null;
  }

  private unlink(entry: Entry<T>): void {
    if (entry.older !== null) entry.older.newer = entry.newer;
    else this.oldest = entry.newer;
    if (entry.newer !== null) entry.newer.older = entry.older;
    else this.newest = entry.older;
    entry.older = null;
    entry.newer = null;
  }

  private append(entry: Entry<T>): void {
    entry.older = this.newest;
    entry.newer = null;
    if (this.newest !== null) this.newest.newer = entry;
    else this.oldest = entry;
    this.newest = entry;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** FNV-1a over the bytes, folded to 30 bits so the Map key stays a small integer (no boxing). */
function hashBytes(key: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key[i], 0x01000193);
  return (h ^ (h >>> 30)) & 0x3fffffff;
}
