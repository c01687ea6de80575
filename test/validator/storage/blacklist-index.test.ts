import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { BlacklistDeltaEntry, BlacklistReason } from '#core';
import { BlacklistIndexBuilder, INDEX_BUCKETS } from '#validator/storage/blacklist-index';
import { BlacklistStore } from '#validator/storage/blacklist-store';
import { openDeviceDb, type DeviceDatabase } from '#validator/storage/device-db';
import { DeviceStateStore } from '#validator/storage/device-state-store';
import { tempDir } from '../temp-db.ts';

const card = (n: number | bigint): string => String(n).padStart(16, '0');
const halves = (cardNo: string): [number, number] => [Number(cardNo.slice(0, 8)), Number(cardNo.slice(8))];
const REASONS: readonly BlacklistReason[] = ['temporary-loss', 'formal-loss', 'replaced', 'refunded', 'cloned', 'cancelled'];
const add = (version: number, cardNo: string, reason: BlacklistReason = 'formal-loss'): BlacklistDeltaEntry => ({ version, cardNo, op: 'add', reason });
const remove = (version: number, cardNo: string): BlacklistDeltaEntry => ({ version, cardNo, op: 'remove', reason: 'formal-loss' });

/** Cards at the index's edges: first/last card and bucket, hi % 1000 at 999/000, remainders across 2^32, both sides of 2^53. */
function edgeCards(): string[] {
  return [
    '0000000000000000',
    '0000000000000001',
    '0000000099999999',
    '0000000100000000',
    '0000099999999999', // hi = 999: last remainder of bucket 0
    '0000100000000000', // hi = 1000: first card of bucket 1
    '0000104294967295', // remainder 2^32 - 1
    '0000104294967296', // remainder 2^32
    '1234599999999999',
    '1234600000000000',
    '9007199254740991',
    '9007199254740992',
    '9007199254740993',
    '9999900000000000', // first card of the last bucket
    '9999999999999998',
    '9999999999999999',
  ];
}

/** Every card next to the given ones (card - 1, card + 1), inside the 16-digit range. */
function neighbours(cards: readonly string[]): string[] {
  const out: string[] = [];
  for (const c of cards) {
    const n = BigInt(c);
    if (n > 0n) out.push(card(n - 1n));
    if (n < 9_999_999_999_999_999n) out.push(card(n + 1n));
  }
  return out;
}

describe('BlacklistIndex (built directly)', () => {
  it('answers exactly at bucket and remainder edges, with the reason, and nothing for the neighbours', () => {
    const listed = edgeCards();
    const builder = new BlacklistIndexBuilder(listed.length);
    for (const [i, c] of listed.entries()) builder.add(...halves(c), 1 + (i % 6));
    const index = builder.finish();
    expect(index.size).toBe(listed.length);
    for (const [i, c] of listed.entries()) expect(index.find(c), c).toBe(1 + (i % 6));
    const set = new Set(listed);
    for (const c of neighbours(listed)) if (!set.has(c)) expect(index.find(c), c).toBe(0);
  });

  it('crowded buckets (evenly spread, packed at either end, consecutive) answer exactly on both sides of the first guess', () => {
    const cards: string[] = [];
    for (let i = 0; i < 3_000; i++) cards.push(card(1_000_000_000_000_000n + BigInt(i) * 33_333_331n)); // bucket 10000, spread
    for (let i = 0; i < 3_000; i++) cards.push(card(2_000_000_000_000_000n + BigInt(i) * 7n)); // bucket 20000, packed low
    for (let i = 0; i < 3_000; i++) cards.push(card(3_000_099_999_999_999n - BigInt(2_999 - i) * 11n)); // bucket 30000, packed high
    for (let i = 0; i < 40; i++) cards.push(card(4_000_050_000_000_000n + BigInt(i))); // bucket 40000, consecutive mid-bucket
    const builder = new BlacklistIndexBuilder(cards.length);
    for (const [i, c] of cards.entries()) builder.add(...halves(c), 1 + (i % 6));
    const index = builder.finish();
    for (const [i, c] of cards.entries()) expect(index.find(c), c).toBe(1 + (i % 6));
    const listed = new Set(cards);
    for (const c of neighbours(cards)) if (!listed.has(c)) expect(index.find(c), c).toBe(0);
    // Cards before, between and after the crowds of each bucket.
    for (const c of ['1000000000000001', '2000099999999999', '3000000000000000', '3000099999999998', '4000000000000000', '4000099999999999'])
      expect(index.find(c), c).toBe(0);
  });

  it('an empty index lists nothing, in the first, a middle and the last bucket', () => {
    const index = new BlacklistIndexBuilder(0).finish();
    expect(index.size).toBe(0);
    for (const c of [...edgeCards(), '5000050000000000']) expect(index.find(c)).toBe(0);
  });

  it('one card alone in the last bucket, and one in the first, leave every other bucket empty', () => {
    const builder = new BlacklistIndexBuilder(2);
    builder.add(0, 5, 2);
    builder.add(99_999_999, 99_999_999, 6);
    const index = builder.finish();
    expect(index.find('0000000000000005')).toBe(2);
    expect(index.find('9999999999999999')).toBe(6);
    expect(index.find('9999999999999998')).toBe(0);
    expect(index.find('0000000000000004')).toBe(0);
    expect(index.find('0000100000000005')).toBe(0);
    expect(INDEX_BUCKETS).toBe(100_000);
  });

  it('grows past a short capacity instead of dropping writes, and keeps every entry', () => {
    const builder = new BlacklistIndexBuilder(1);
    const cards: string[] = [];
    for (let i = 0; i < 10_000; i++) cards.push(card(BigInt(i) * 999_999_999_937n));
    for (const c of cards) builder.add(...halves(c), 3);
    expect(builder.grows).toBeGreaterThan(0);
    const index = builder.finish();
    expect(index.size).toBe(10_000);
    expect(index.capacity).toBeGreaterThanOrEqual(10_000);
    for (const c of cards) expect(index.find(c)).toBe(3);
    for (const c of neighbours(cards)) expect(index.find(c)).toBe(0);
  });

  it('refuses cards out of order or out of range rather than building a wrong index', () => {
    const builder = new BlacklistIndexBuilder(4);
    builder.add(5, 5, 1);
    expect(() => builder.add(5, 5, 1)).toThrow(/not above/);
    expect(() => builder.add(5, 4, 1)).toThrow(/not above/);
    expect(() => builder.add(4, 99_999_999, 1)).toThrow(/not above/);
    expect(() => builder.add(100_000_000, 0, 1)).toThrow(RangeError);
    expect(() => builder.add(0, -1, 1)).toThrow(RangeError);
  });

  it('reuses the arrays of a dropped index when they are long enough', () => {
    const first = new BlacklistIndexBuilder(100);
    first.add(1, 1, 1);
    const buffers = first.finish().buffers();
    const second = new BlacklistIndexBuilder(50, buffers);
    second.add(2, 2, 2);
    const index = second.finish();
    expect(index.buffers().low).toBe(buffers.low);
    expect(index.find(card(200_000_002))).toBe(2);
    expect(index.find(card(100_000_001))).toBe(0);
  });
});

let db: DeviceDatabase | undefined;
let tmp: ReturnType<typeof tempDir> | undefined;
afterEach(() => {
  if (db?.open) db.close();
  tmp?.cleanup();
  db = undefined;
  tmp = undefined;
});

function freshDb(): DeviceDatabase {
  tmp = tempDir();
  db = openDeviceDb(tmp.file('device.db'));
  new DeviceStateStore(db).initialise('dev-1');
  return db;
}

function seeded(list: readonly { cardNo: string; reason: BlacklistReason }[]): DeviceDatabase {
  const database = freshDb();
  new BlacklistStore(database, { index: false }).bulkLoad(list.map((e) => ({ ...e, version: 1 })));
  return database;
}

/** Edge cards, a spread grid (some above 2^53) and a dense run, with varied reasons. */
function listedSet(): { cardNo: string; reason: BlacklistReason }[] {
  const cards = new Set(edgeCards());
  for (let i = 0; i < 2_500; i++) cards.add(card(1_000_000_000_000_000n + BigInt(i) * 3_600_000_000_007n));
  for (let i = 0; i < 300; i++) cards.add(card(4_200_000_000_000_000n + BigInt(i)));
  return [...cards].sort().map((cardNo, i) => ({ cardNo, reason: REASONS[i % REASONS.length] }));
}

function expectSameAnswers(store: BlacklistStore, table: BlacklistStore, cards: Iterable<string>): void {
  for (const c of cards) expect(store.lookup(c), c).toEqual(table.lookup(c));
}

describe('BlacklistStore index build (rows scanned inside SQLite, no row objects)', () => {
  it('answers exactly like the table, reasons included, whatever the chunk size', async () => {
    const list = listedSet();
    const database = seeded(list);
    const table = new BlacklistStore(database, { index: false });
    const probes = [...list.map((e) => e.cardNo), ...neighbours(list.map((e) => e.cardNo))];
    for (const chunk of [1, 7, 1_000, 100_000]) {
      const store = new BlacklistStore(database);
      expect(store.indexIsReady).toBe(false);
      await store.warmIndex(chunk);
      expect(store.indexIsReady).toBe(true);
      expect(store.indexInfo).toMatchObject({ ready: true, entries: list.length, grows: 0, overlay: 0 });
      for (const e of list) expect(store.lookup(e.cardNo)).toEqual({ listed: true, reason: e.reason });
      expectSameAnswers(store, table, probes);
    }
    const sync = new BlacklistStore(database, { index: 'sync' });
    expect(sync.indexIsReady).toBe(true);
    expectSameAnswers(sync, table, probes);
  });

  it('two stores on one connection build their own indexes; a table-only store is untouched', async () => {
    const list = listedSet();
    const database = seeded(list);
    const a = new BlacklistStore(database);
    const b = new BlacklistStore(database);
    const plain = new BlacklistStore(database, { index: false });
    await Promise.all([a.warmIndex(100), b.warmIndex(333), plain.warmIndex()]);
    expect(plain.indexInfo.ready).toBe(false);
    for (const store of [a, b, plain]) for (const e of list) expect(store.lookup(e.cardNo)).toEqual({ listed: true, reason: e.reason });
    expect(a.lookup(card(2)).listed).toBe(false);
  });

  it('the scan runs under a small page cache; the owner cache size comes back when the last build ends', async () => {
    const database = seeded(listedSet());
    const owner = database.pragma('cache_size', { simple: true }) as number;
    expect(owner).toBeLessThan(-1_024);
    const a = new BlacklistStore(database);
    const b = new BlacklistStore(database);
    const warmA = a.warmIndex(100);
    const warmB = b.warmIndex(700);
    expect(database.pragma('cache_size', { simple: true })).toBe(-1_024);
    await warmB;
    expect(b.indexIsReady).toBe(true);
    // A is still scanning: the small cache stays until it ends too.
    expect(a.indexIsReady).toBe(false);
    expect(database.pragma('cache_size', { simple: true })).toBe(-1_024);
    await warmA;
    expect(database.pragma('cache_size', { simple: true })).toBe(owner);
    new BlacklistStore(database, { index: 'sync' });
    expect(database.pragma('cache_size', { simple: true })).toBe(owner);
    database.prepare('INSERT INTO blacklist (card, reason, version) VALUES (10000000000000000, 2, 1)').run();
    expect(() => new BlacklistStore(database, { index: 'sync' })).toThrow(RangeError);
    expect(database.pragma('cache_size', { simple: true })).toBe(owner);
  });

  it('an empty list builds an empty index that is ready and lists nothing', () => {
    const database = seeded([]);
    const store = new BlacklistStore(database, { index: 'sync' });
    expect(store.indexInfo).toMatchObject({ ready: true, entries: 0 });
    for (const c of edgeCards()) expect(store.lookup(c)).toEqual({ listed: false });
  });

  it('a row count in device_state below the table grows the arrays during the build, answers stay exact', () => {
    const list = listedSet();
    const database = seeded(list);
    database.prepare('UPDATE device_state SET blacklist_count = 0 WHERE id = 1').run();
    const store = new BlacklistStore(database, { index: 'sync' });
    const info = store.indexInfo;
    expect(info.grows).toBeGreaterThan(0);
    expect(info.entries).toBe(list.length);
    expect(info.capacity).toBeGreaterThanOrEqual(list.length);
    const table = new BlacklistStore(database, { index: false });
    expectSameAnswers(store, table, [...list.map((e) => e.cardNo), ...neighbours(list.map((e) => e.cardNo))]);
  });

  it('a reason code this firmware does not know reads as a listed card, as from the table', () => {
    const database = seeded([{ cardNo: card(7), reason: 'cloned' }]);
    database.prepare('UPDATE blacklist SET reason = 42 WHERE card = 7').run();
    const store = new BlacklistStore(database, { index: 'sync' });
    const table = new BlacklistStore(database, { index: false });
    expect(store.lookup(card(7))).toEqual({ listed: true, reason: 'temporary-loss' });
    expect(store.lookup(card(7))).toEqual(table.lookup(card(7)));
  });

  it('a row the index cannot hold fails the build; the store keeps answering from the table', async () => {
    const database = seeded([{ cardNo: card(7), reason: 'cloned' }]);
    // 17 digits: no card number, but a sync build must refuse it rather than index something else.
    database.prepare('INSERT INTO blacklist (card, reason, version) VALUES (10000000000000000, 2, 1)').run();
    expect(() => new BlacklistStore(database, { index: 'sync' })).toThrow(RangeError);
    const store = new BlacklistStore(database);
    await store.warmIndex(1);
    expect(store.indexInfo).toMatchObject({ ready: false, building: false });
    expect(store.indexInfo.lastError).toMatch(/out of range/);
    expect(store.lookup(card(7))).toEqual({ listed: true, reason: 'cloned' });
    expect(store.lookup(card(8))).toEqual({ listed: false });
  });

  it('a background build asked for after the database closed resolves without an error (the device starts it with void)', async () => {
    const database = seeded([{ cardNo: card(7), reason: 'cloned' }]);
    const store = new BlacklistStore(database);
    database.close();
    await expect(store.warmIndex()).resolves.toBeUndefined();
    expect(store.indexInfo).toMatchObject({ ready: false, building: false });
    expect(store.indexInfo.lastError).toMatch(/not open/);
  });

  it('bulkLoad keeps the index right: rebuilt at once in sync mode, in the background otherwise', async () => {
    const database = seeded([{ cardNo: card(1), reason: 'cloned' }]);
    const sync = new BlacklistStore(database, { index: 'sync' });
    const background = new BlacklistStore(database);
    await background.warmIndex();
    expect(background.lookup(card(5))).toEqual({ listed: false });
    sync.bulkLoad([
      { cardNo: card(5), reason: 'refunded', version: 2 },
      { cardNo: card(1), reason: 'replaced', version: 2 },
    ]);
    expect(sync.indexIsReady).toBe(true);
    expect(sync.lookup(card(5))).toEqual({ listed: true, reason: 'refunded' });
    expect(sync.lookup(card(1))).toEqual({ listed: true, reason: 'replaced' });
    // The other store's index does not know about the load (a second store on the file is
    // not how the device works), so the load goes through it as well.
    background.bulkLoad([{ cardNo: card(9), reason: 'cloned', version: 3 }]);
    expect(background.indexIsReady).toBe(false);
    expect(background.lookup(card(9))).toEqual({ listed: true, reason: 'cloned' });
    await background.warmIndex();
    expect(background.indexIsReady).toBe(true);
    expect(background.lookup(card(9))).toEqual({ listed: true, reason: 'cloned' });
    expect(background.lookup(card(1))).toEqual({ listed: true, reason: 'replaced' });
  });
});

describe('BlacklistStore index and deltas (overlay)', () => {
  it('a rolled-back batch changes no answer: the overlay only learns committed batches', async () => {
    const database = seeded([
      { cardNo: card(10), reason: 'cloned' },
      { cardNo: card(20), reason: 'cloned' },
      { cardNo: card(30), reason: 'cloned' },
    ]);
    const store = new BlacklistStore(database, { index: 'sync' });
    const table = new BlacklistStore(database, { index: false });
    // An injected failure: inserting card 99 aborts its batch transaction.
    database.exec(`CREATE TEMP TRIGGER fail_99 BEFORE INSERT ON main.blacklist WHEN NEW.card = 99 BEGIN SELECT RAISE(ABORT, 'injected failure'); END;`);
    // A delta that commits, then one whose single batch rolls back: an add, a remove and a
    // reason change ahead of the failing entry (the first batch of a delta is batchSize entries).
    await store.applyDelta({ entries: [add(2, card(40), 'refunded'), remove(3, card(10))], toVersion: 3 });
    const entries = [add(4, card(50), 'replaced'), remove(5, card(20)), add(6, card(30), 'formal-loss'), add(7, card(99))];
    await expect(store.applyDelta({ entries, toVersion: 7 }, { batchSize: 4 })).rejects.toThrow(/injected failure/);
    expect(store.indexIsReady).toBe(true);
    expectSameAnswers(store, table, [10, 20, 30, 40, 50, 99].map(card));
    expect(store.lookup(card(40))).toEqual({ listed: true, reason: 'refunded' });
    expect(store.lookup(card(10))).toEqual({ listed: false });
    expect(store.lookup(card(50))).toEqual({ listed: false });
    expect(store.lookup(card(20))).toEqual({ listed: true, reason: 'cloned' });
    expect(store.lookup(card(30))).toEqual({ listed: true, reason: 'cloned' });
    expect(store.version).toBe(3);
    // Once the failure is gone the same delta goes through, and the answers follow it.
    database.exec('DROP TRIGGER temp.fail_99');
    await expect(store.applyDelta({ entries, toVersion: 7 }, { batchSize: 4 })).resolves.toMatchObject({ status: 'applied', version: 7 });
    expectSameAnswers(store, table, [10, 20, 30, 40, 50, 99].map(card));
    expect(store.lookup(card(30))).toEqual({ listed: true, reason: 'formal-loss' });
    expect(store.lookup(card(20))).toEqual({ listed: false });
  });

  it('an overflowing overlay drops the index (the table answers) and a rebuild folds the delta in', async () => {
    const base = Array.from({ length: 500 }, (_, i) => ({ cardNo: card(1_000_000_000_000n * BigInt(i + 1)), reason: 'cloned' as const }));
    const database = seeded(base);
    const store = new BlacklistStore(database, { index: 'sync', overlayLimit: 16 });
    const table = new BlacklistStore(database, { index: false });
    const entries: BlacklistDeltaEntry[] = [];
    for (let i = 0; i < 100; i++) {
      const version = 2 + i;
      if (i % 3 === 0) entries.push(remove(version, base[i].cardNo));
      else if (i % 3 === 1) entries.push(add(version, base[i].cardNo, 'refunded'));
      else entries.push(add(version, card(1_000_000_000_000n * BigInt(i + 1) + 1n), 'temporary-loss'));
    }
    const touched = entries.map((e) => e.cardNo);
    const readyBetweenBatches: boolean[] = [];
    const result = await store.applyDelta(
      { entries, toVersion: 101 },
      {
        batchSize: 8,
        yieldBetweenBatches: async () => {
          readyBetweenBatches.push(store.indexIsReady);
          expect(store.indexInfo.overlay).toBeLessThanOrEqual(16);
          expectSameAnswers(store, table, touched);
        },
      },
    );
    expect(result).toMatchObject({ status: 'applied', applied: 100 });
    expect(readyBetweenBatches).toContain(true);
    expect(readyBetweenBatches).toContain(false);
    expectSameAnswers(store, table, touched);
    await store.warmIndex();
    expect(store.indexInfo).toMatchObject({ ready: true, overlay: 0, builds: 2 });
    expect(store.indexInfo.drops).toBeGreaterThanOrEqual(1);
    expectSameAnswers(store, table, [...touched, ...base.map((e) => e.cardNo), ...neighbours(touched)]);
  });

  it('deltas applied during a background build, before and after its cursor, are answered right at the end', async () => {
    const base = Array.from({ length: 4_000 }, (_, i) => ({ cardNo: card(2_000_000_000_000n * BigInt(i + 1)), reason: 'cloned' as const }));
    const database = seeded(base);
    const store = new BlacklistStore(database);
    const table = new BlacklistStore(database, { index: false });
    const warm = store.warmIndex(100);
    const touched: string[] = [];
    let version = 2;
    for (let round = 0; round < 8; round++) {
      const entries: BlacklistDeltaEntry[] = [];
      for (let k = 0; k < 10; k++) {
        const i = (round * 487 + k * 401) % base.length;
        const c = base[i].cardNo;
        touched.push(c, card(BigInt(c) + 1n));
        entries.push(k % 2 === 0 ? remove(version++, c) : add(version++, c, 'replaced'));
        entries.push(add(version++, card(BigInt(c) + 1n), 'refunded'));
      }
      await store.applyDelta({ entries, toVersion: version - 1 }, { batchSize: 4 });
      // The first deltas land while the scan is still under way.
      if (round === 0) expect(store.indexInfo).toMatchObject({ ready: false, building: true });
      expectSameAnswers(store, table, touched);
    }
    await warm;
    expect(store.indexIsReady).toBe(true);
    expect(store.indexInfo.overlay).toBeGreaterThan(0);
    expectSameAnswers(store, table, [...touched, ...base.map((e) => e.cardNo)]);
  });

  it('property: after a bulk load and any small-batch deltas, the index answers exactly as the table', async () => {
    // Cards from a small pool, so adds, removes, re-adds and reason changes hit the same cards;
    // the pool straddles bucket edges (hi % 1000 = 999 / 000) and 2^53.
    const pool = [...edgeCards(), ...neighbours(edgeCards())].filter((c, i, all) => all.indexOf(c) === i);
    const op = fc.record({ at: fc.nat({ max: pool.length - 1 }), add: fc.boolean(), reason: fc.constantFrom(...REASONS) });
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.record({ at: fc.nat({ max: pool.length - 1 }), reason: fc.constantFrom(...REASONS) }), { selector: (e) => e.at, maxLength: 30 }),
        fc.array(fc.array(op, { minLength: 1, maxLength: 12 }), { maxLength: 6 }),
        fc.integer({ min: 1, max: 5 }),
        fc.constantFrom<'sync' | 'background'>('sync', 'background'),
        fc.constantFrom(1_000_000, 3),
        fc.array(fc.bigInt({ min: 0n, max: 9_999_999_999_999_999n }), { maxLength: 20 }),
        async (loaded, deltas, batchSize, mode, overlayLimit, others) => {
          const database = freshDb();
          try {
            new BlacklistStore(database, { index: false }).bulkLoad(loaded.map((e) => ({ cardNo: pool[e.at], reason: e.reason, version: 1 })));
            const store = new BlacklistStore(database, { index: mode, overlayLimit });
            const table = new BlacklistStore(database, { index: false });
            const warm = store.warmIndex(3);
            const probes = [...pool, ...others.map(card)];
            let version = 1;
            for (const delta of deltas) {
              const entries = delta.map((d) => (d.add ? add(++version, pool[d.at], d.reason) : remove(++version, pool[d.at])));
              await store.applyDelta({ entries, toVersion: version }, { batchSize });
              expectSameAnswers(store, table, probes);
            }
            await warm;
            await store.warmIndex();
            expect(store.indexIsReady).toBe(true);
            expectSameAnswers(store, table, probes);
          } finally {
            database.close();
            tmp?.cleanup();
            db = undefined;
            tmp = undefined;
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
