/**
 * A small bounded cache of key schedules, keyed by the key bytes.
 *
 * Why: a tap MACs several times with the same session key (MAC1, MAC2) and derives session
 * keys from the same purchase key all day; recomputing a schedule costs more than the cipher.
 * The last key hit is checked byte by byte first (the common case, no string built); otherwise
 * a Map keyed by the key's bytes as a latin1 string. When full, the least recently used entry is
 * dropped (a hit re-inserts the key; Map keeps insertion order), so memory stays bounded whatever keys callers pass.
 */
export class ScheduleCache<T> {
  private readonly map = new Map<string, T>();
  private lastKey: Uint8Array = new Uint8Array(0);
  private lastValue: T | undefined;
  hits = 0;
  misses = 0;

  constructor(
    private readonly capacity: number,
    private readonly build: (key: Uint8Array) => T,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('ScheduleCache: capacity must be >= 1');
  }

  get(key: Uint8Array): T {
    const last = this.lastKey;
    if (last.length === key.length && this.lastValue !== undefined) {
      let same = true;
      for (let i = 0; i < key.length; i++) {
        if (last[i] !== key[i]) {
          same = false;
          break;
        }
      }
      if (same) {
        this.hits++;
        return this.lastValue;
      }
    }
    const id = keyId(key);
    let value = this.map.get(id);
    if (value === undefined) {
      this.misses++;
      value = this.build(key);
      if (this.map.size >= this.capacity) {
        const oldest = this.map.keys().next().value;
        if (oldest !== undefined) this.map.delete(oldest);
      }
      this.map.set(id, value);
    } else {
      this.hits++;
      // Least-recently-used order: a key in steady use (a purchase key, an SM4 DPK) must not be
      // evicted by a stream of one-shot session keys that share this cache.
      this.map.delete(id);
      this.map.set(id, value);
    }
    // Copy: the caller may reuse or mutate its key buffer after this call.
    if (this.lastKey.length === key.length) this.lastKey.set(key);
    else this.lastKey = Uint8Array.prototype.slice.call(key) as Uint8Array;
    this.lastValue = value;
    return value;
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
    this.lastKey = new Uint8Array(0);
    this.lastValue = undefined;
  }
}

function keyId(key: Uint8Array): string {
  let s = '';
  for (let i = 0; i < key.length; i++) s += String.fromCharCode(key[i]);
  return s;
}
