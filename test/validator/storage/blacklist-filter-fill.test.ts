import { afterEach, describe, expect, it } from 'vitest';
import { BlacklistStore } from '../../../validator-firmware-sim/src/storage/blacklist-store.ts';
import { BlacklistFilter } from '../../../validator-firmware-sim/src/storage/blacklist-filter.ts';
import { openDeviceDb, type DeviceDatabase } from '../../../validator-firmware-sim/src/storage/device-db.ts';
import { DeviceStateStore } from '../../../validator-firmware-sim/src/storage/device-state-store.ts';
import { tempDir } from '../temp-db.ts';

const card = (n: number | bigint): string => String(n).padStart(16, '0');

/** Cards on both sides of 2^53 (bound as BigInt) and at the extremes of the 16-digit range. */
function cards(): string[] {
  const out: string[] = [card(1), card(99_999_999), card(100_000_000), '9999999999999999', '9007199254740991', '9007199254740992', '9007199254740993'];
  for (let i = 0; i < 2_500; i++) out.push(card(1_000_000_000_000_000n + BigInt(i) * 3_600_000_000_007n));
  return out;
}

let db: DeviceDatabase | undefined;
let tmp: ReturnType<typeof tempDir> | undefined;
afterEach(() => {
  if (db?.open) db.close();
  tmp?.cleanup();
  db = undefined;
  tmp = undefined;
});

function seeded(list: string[]): DeviceDatabase {
  tmp = tempDir();
  db = openDeviceDb(tmp.file('device.db'));
  new DeviceStateStore(db).initialise('dev-1');
  new BlacklistStore(db, { filter: false }).bulkLoad(list.map((cardNo) => ({ cardNo, reason: 'cloned' as const, version: 1 })));
  return db;
}

describe('filter fill at start (rows scanned inside SQLite, no row objects)', () => {
  it('the filled filter holds exactly the bits of a filter built card by card, whatever the chunk size', async () => {
    const list = cards();
    const database = seeded(list);
    const reference = new BlacklistFilter();
    for (const no of list) reference.add(no);
    for (const chunk of [1, 7, 1_000, 100_000]) {
      const store = new BlacklistStore(database);
      await store.warmFilter(chunk);
      expect(store.filterIsReady).toBe(true);
      const filter = (store as unknown as { filter: BlacklistFilter }).filter;
      const words = (filter as unknown as { words: Uint32Array }).words;
      expect(Buffer.from(words.buffer).equals(Buffer.from((reference as unknown as { words: Uint32Array }).words.buffer))).toBe(true);
      for (const no of list) expect(store.lookup(no)).toEqual({ listed: true, reason: 'cloned' });
    }
    const sync = new BlacklistStore(database, { filter: 'sync' });
    expect(sync.filterIsReady).toBe(true);
    const syncWords = (sync as unknown as { filter: { words: Uint32Array } }).filter.words;
    expect(Buffer.from(syncWords.buffer).equals(Buffer.from((reference as unknown as { words: Uint32Array }).words.buffer))).toBe(true);
  });

  it('two stores on one connection fill their own filters; a store without a filter is untouched', async () => {
    const list = cards();
    const database = seeded(list);
    const a = new BlacklistStore(database);
    const b = new BlacklistStore(database);
    const plain = new BlacklistStore(database, { filter: false });
    await Promise.all([a.warmFilter(100), b.warmFilter(333), plain.warmFilter()]);
    for (const store of [a, b, plain]) for (const no of list) expect(store.lookup(no).listed).toBe(true);
    expect(a.lookup(card(2)).listed).toBe(false);
  });

  it('an empty list fills an empty filter and is ready', () => {
    const database = seeded([]);
    const store = new BlacklistStore(database, { filter: 'sync' });
    expect(store.filterIsReady).toBe(true);
    const words = (store as unknown as { filter: { words: Uint32Array } }).filter.words;
    expect(words.every((w) => w === 0)).toBe(true);
  });
});
