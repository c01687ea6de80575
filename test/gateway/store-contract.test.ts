/**
 * The storage port's contract, run against both adapters: the embedded SQLite file and the
 * real PostgreSQL server (a fresh schema per test). Services are written once against `Tx`,
 * so anything they rely on (commit/rollback, unique-constraint idempotency, no lost updates
 * under concurrency, idempotent and concurrent migrations, number shapes) is pinned here.
 *
 * "Twin" is a second handle on the same database: for PostgreSQL a second pool (what a second
 * gateway instance is); for SQLite the same store (one process owns an SQLite file; its
 * transactions are serialised by the store's mutex).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sortedMigrations, type Migration } from '#gateway/store/migrate';
import { MIGRATIONS } from '#gateway/store/migrations/index';
import { SqliteStore } from '#gateway/store/sqlite-store';
import { PostgresStore, migrationLockKey, parseDatabaseUrl, toPostgresPlaceholders } from '#gateway/store/postgres-store';
import type { BulkInsert, SqlValue, Store, Tx } from '#gateway/store/store-port';
import { createStore } from '#gateway/store/create-store';
import { withIdempotency } from '#gateway/services/loads';
import { serviceAvailable } from '../support/services.ts';
import { adminQuery, assertPostgresUp, dropSchema, freshSchemaName, newPgStore, PG_URL } from '../store/pg-test-db.ts';

interface Backend {
  /** A store on a fresh, empty database (not migrated). */
  open(options?: { migrations?: readonly Migration[] }): Store;
  /** Another handle on the database of the last `open` (another instance, for PostgreSQL). */
  twin(options?: { migrations?: readonly Migration[] }): Store;
  /** Whether twins may run transactions at the same time (SQLite: one store per file and process). */
  concurrentTwins: boolean;
  cleanup(): Promise<void>;
}

function sqliteBackend(): Backend {
  let dir: string | undefined;
  let path = '';
  let last: Store | undefined;
  const stores: Store[] = [];
  return {
    open(options) {
      dir = mkdtempSync(join(tmpdir(), 'store-contract-'));
      path = join(dir, 'gateway.db');
      last = new SqliteStore({ path, clock: () => 42, migrations: options?.migrations });
      stores.push(last);
      return last;
    },
    twin(options) {
      if (options === undefined) return last!;
      const store = new SqliteStore({ path, clock: () => 42, migrations: options.migrations });
      stores.push(store);
      return store;
    },
    concurrentTwins: false,
    async cleanup() {
      for (const s of stores.splice(0)) await s.close();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
      dir = undefined;
    },
  };
}

function postgresBackend(): Backend {
  let schema = '';
  const schemas: string[] = [];
  const stores: Store[] = [];
  return {
    open(options) {
      schema = freshSchemaName('contract');
      schemas.push(schema);
      const store = newPgStore(schema, { clock: () => 42, migrations: options?.migrations });
      stores.push(store);
      return store;
    },
    twin(options) {
      const store = newPgStore(schema, { clock: () => 42, migrations: options?.migrations });
      stores.push(store);
      return store;
    },
    concurrentTwins: true,
    async cleanup() {
      for (const s of stores.splice(0)) await s.close();
      for (const s of schemas.splice(0)) await dropSchema(s);
    },
  };
}

const POSTGRES_UP = serviceAvailable('postgres', 'storage contract on PostgreSQL, PostgreSQL adapter details');
const BACKENDS: Array<[string, () => Backend]> = [
  ['sqlite', sqliteBackend],
  ...(POSTGRES_UP ? [['postgres', postgresBackend] as [string, () => Backend]] : []),
];

beforeAll(async () => {
  if (POSTGRES_UP) await assertPostgresUp();
});

describe.each(BACKENDS)('storage contract: %s', (name, makeBackend) => {
  let backend: Backend;
  afterEach(async () => {
    await backend.cleanup();
  });

  async function migrated(): Promise<Store> {
    backend = makeBackend();
    const store = backend.open();
    await store.migrate();
    return store;
  }

  it('names its dialect', async () => {
    const store = await migrated();
    expect(store.dialect).toBe(name);
  });

  it('commits a transaction and rolls back one that throws, whole', async () => {
    const store = await migrated();
    await store.transaction(async (tx) => {
      await tx.run('INSERT INTO counters (name, value) VALUES (?, ?)', ['committed', 7]);
    });
    await expect(
      store.transaction(async (tx) => {
        await tx.run('INSERT INTO counters (name, value) VALUES (?, ?)', ['rolled-back', 1]);
        await tx.run('UPDATE counters SET value = value + 100 WHERE name = ?', ['committed']);
        throw new Error('business failure');
      }),
    ).rejects.toThrow('business failure');
    const rows = await store.transaction((tx) =>
      tx.all<{ name: string; value: number }>('SELECT name, value FROM counters WHERE name IN (?, ?) ORDER BY name', ['committed', 'rolled-back']),
    );
    expect(rows).toEqual([{ name: 'committed', value: 7 }]);
  });

  it('a failing statement aborts the transaction and leaves nothing behind', async () => {
    const store = await migrated();
    await expect(
      store.transaction(async (tx) => {
        await tx.run('INSERT INTO counters (name, value) VALUES (?, ?)', ['x', 1]);
        await tx.run('INSERT INTO counters (name, value) VALUES (?, ?)', ['x', 2]); // primary key violation
      }),
    ).rejects.toThrow();
    expect(await store.transaction((tx) => tx.get("SELECT value FROM counters WHERE name = 'x'"))).toBeUndefined();
  });

  it('write() commits with the transaction; a failing write fails the next read or the commit and leaves nothing behind', async () => {
    const store = await migrated();
    await store.transaction(async (tx) => {
      await tx.write('INSERT INTO counters (name, value) VALUES (?, ?)', ['w1', 1]);
      // The next statement runs after the write (same transaction, in order).
      expect(await tx.get<{ value: number }>('SELECT value FROM counters WHERE name = ?', ['w1'])).toEqual({ value: 1 });
      await tx.write('UPDATE counters SET value = value + 1 WHERE name = ?', ['w1']);
    });
    expect(await store.transaction((tx) => tx.get("SELECT value FROM counters WHERE name = 'w1'"))).toEqual({ value: 2 });
    // A failing write (primary key violation) as the last statement: the commit throws, nothing stays.
    await expect(
      store.transaction(async (tx) => {
        await tx.run('INSERT INTO counters (name, value) VALUES (?, ?)', ['w2', 1]);
        await tx.write('INSERT INTO counters (name, value) VALUES (?, ?)', ['w1', 9]);
      }),
    ).rejects.toThrow(/unique|UNIQUE|duplicate/);
    // A failing write followed by a read: the read throws the write's own error, not a generic one.
    await expect(
      store.transaction(async (tx) => {
        await tx.write('INSERT INTO counters (name, value) VALUES (?, ?)', ['w1', 9]);
        await tx.get('SELECT 1 AS one');
      }),
    ).rejects.toThrow(/unique|UNIQUE|duplicate/);
    expect(await store.transaction((tx) => tx.all("SELECT name, value FROM counters WHERE name LIKE 'w%' ORDER BY name"))).toEqual([{ name: 'w1', value: 2 }]);
  });

  const PROBE: BulkInsert = {
    table: 'bulk_probe',
    columns: [
      ['k', 'text'],
      ['n', 'bigint'],
      ['t', 'text'],
    ],
    onConflict: 'ON CONFLICT DO NOTHING',
  };
  const PROBE_UPSERT: BulkInsert = { ...PROBE, onConflict: 'ON CONFLICT (k) DO UPDATE SET n = bulk_probe.n + excluded.n, t = excluded.t' };
  const bulkMigrations: Migration[] = [
    ...MIGRATIONS,
    {
      id: 9_001,
      name: 'bulk probe',
      sqlite: 'CREATE TABLE bulk_probe (k TEXT PRIMARY KEY, n BIGINT, t TEXT)',
      postgres: 'CREATE TABLE bulk_probe (k TEXT PRIMARY KEY, n BIGINT, t TEXT)',
    },
  ];
  async function bulkStore(): Promise<Store> {
    backend = makeBackend();
    const store = backend.open({ migrations: bulkMigrations });
    await store.migrate();
    return store;
  }

  it('insertRows stores column arrays as rows, counts what it inserted, skips conflicts, and upserts', async () => {
    const store = await bulkStore();
    const n = 1_235; // more rows than SQLite puts in one statement
    const keys = Array.from({ length: n }, (_, i) => `k${String(i).padStart(5, '0')}`);
    const inserted = await store.transaction((tx) =>
      tx.insertRows(PROBE, [keys, keys.map((_, i) => i * 1_000_000_007), keys.map((_, i) => (i % 3 === 0 ? null : `t${i}`))]),
    );
    expect(inserted).toBe(n);
    // Half of these exist: ON CONFLICT DO NOTHING skips them and the count says so.
    const again = await store.transaction((tx) =>
      tx.insertRows(PROBE, [
        ['k00000', 'new-1', 'k00001', 'new-2'],
        [1, 2, 3, 4],
        ['a', 'b', 'c', 'd'],
      ]),
    );
    expect(again).toBe(2);
    const upserted = await store.transaction((tx) =>
      tx.insertRows(PROBE_UPSERT, [
        ['k00002', 'new-3'],
        [5, 6],
        ['u', 'v'],
      ]),
    );
    expect(upserted).toBe(2);
    expect(await store.transaction((tx) => tx.insertRows(PROBE, [[], [], []]))).toBe(0);
    const rows = await store.transaction((tx) => tx.all<{ k: string; n: number; t: string | null }>('SELECT k, n, t FROM bulk_probe ORDER BY k'));
    expect(rows).toHaveLength(n + 3);
    expect(rows[0]).toEqual({ k: 'k00000', n: 0, t: null });
    expect(rows[1]).toEqual({ k: 'k00001', n: 1_000_000_007, t: 't1' });
    expect(rows[2]).toEqual({ k: 'k00002', n: 2_000_000_014 + 5, t: 'u' });
    expect(rows[n - 1]).toEqual({ k: `k0${n - 1}`, n: (n - 1) * 1_000_000_007, t: `t${n - 1}` });
    expect(rows.slice(n)).toEqual([
      { k: 'new-1', n: 2, t: 'b' },
      { k: 'new-2', n: 4, t: 'd' },
      { k: 'new-3', n: 6, t: 'v' },
    ]);
  });

  it('insertRows refuses column arrays that do not match the shape, and placeholders in the conflict clause', async () => {
    const store = await bulkStore();
    await expect(store.transaction((tx) => tx.insertRows(PROBE, [['a'], [1]]))).rejects.toThrow(/2 column arrays for 3 columns/);
    await expect(store.transaction((tx) => tx.insertRows(PROBE, [['a', 'b'], [1], ['x', 'y']]))).rejects.toThrow(/column n has 1 values, not 2/);
    await expect(
      store.transaction((tx) => tx.insertRows({ ...PROBE, onConflict: 'ON CONFLICT (k) DO UPDATE SET n = ?' }, [['a'], [1], ['x']])),
    ).rejects.toThrow(/no placeholders/);
    expect(await store.transaction((tx) => tx.all('SELECT k FROM bulk_probe'))).toEqual([]);
  });

  it('writeRows commits with the transaction; a failing one fails the commit and leaves nothing behind', async () => {
    const store = await bulkStore();
    const strict: BulkInsert = { table: PROBE.table, columns: PROBE.columns };
    await store.transaction(async (tx) => {
      await tx.writeRows(strict, [
        ['w1', 'w2'],
        [1, 2],
        ['x', 'y'],
      ]);
      expect(await tx.get<{ c: number }>('SELECT COUNT(*) AS c FROM bulk_probe')).toEqual({ c: 2 });
    });
    await expect(
      store.transaction(async (tx) => {
        await tx.run('INSERT INTO bulk_probe (k, n, t) VALUES (?, ?, ?)', ['w3', 3, 'z']);
        await tx.writeRows(strict, [
          ['w4', 'w1'],
          [4, 1],
          ['a', 'b'],
        ]); // w1 exists: primary key violation
      }),
    ).rejects.toThrow(/unique|UNIQUE|duplicate/);
    expect(await store.transaction((tx) => tx.all('SELECT k FROM bulk_probe ORDER BY k'))).toEqual([{ k: 'w1' }, { k: 'w2' }]);
  });

  it('insertRows carries any text and any safe integer exactly (array literals escape quotes, braces, commas, backslashes, NULL)', async () => {
    const store = await bulkStore();
    let round = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.option(fc.string({ unit: 'grapheme', maxLength: 12 }), { nil: null }), fc.option(fc.maxSafeInteger(), { nil: null })), {
          minLength: 1,
          maxLength: 20,
        }),
        async (values) => {
          round++;
          // Text that looks like array syntax or NULL must come back as itself.
          const texts: (string | null)[] = values.map(([t], i) => (i % 4 === 1 ? `{"a\\b",NULL}${t ?? ''}` : i % 4 === 2 ? 'NULL' : t));
          const keys = values.map((_, i) => `r${round}-${i}`);
          const columns: SqlValue[][] = [keys, values.map(([, n]) => n), texts];
          expect(await store.transaction((tx) => tx.insertRows(PROBE, columns))).toBe(values.length);
          const rows = await store.transaction((tx) =>
            tx.all<{ k: string; n: number | null; t: string | null }>('SELECT k, n, t FROM bulk_probe WHERE k LIKE ? ORDER BY k', [`r${round}-%`]),
          );
          const byKey = new Map(rows.map((r) => [r.k, r]));
          expect(keys.map((k) => byKey.get(k))).toEqual(keys.map((k, i) => ({ k, n: values[i][1], t: texts[i] })));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('reserveId hands out ids above every row inserted, distinct within a transaction, and inserts after it continue above', async () => {
    const store = await migrated();
    const row = (id: number | null, key: string) => [
      id,
      'card-1',
      100,
      'cash',
      'scope',
      'branch',
      'T',
      1,
      0,
      1,
      '3des',
      20260310,
      100000,
      'M',
      'pending',
      1,
      key,
    ];
    const insert = (tx: Tx, id: number | null, key: string) =>
      tx.run(
        `INSERT INTO loads (id, card_no, amount_fen, payment_source, caller_scope, branch, terminal_id, online_atc, balance_before_fen,
           key_version, algorithm, load_date, load_time, mac2, status, created_ms, card_random) VALUES (COALESCE(?, ${name === 'postgres' ? "nextval(pg_get_serial_sequence('loads', 'id'))" : 'NULL'}), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        row(id, key),
      );
    const [a, b] = await store.transaction(async (tx) => {
      await insert(tx, null, 'r0');
      const first = await tx.reserveId('loads');
      const second = await tx.reserveId('loads');
      await insert(tx, second, 'r2');
      await insert(tx, first, 'r1');
      return [first, second];
    });
    expect(b).toBeGreaterThan(a);
    const third = await store.transaction(async (tx) => {
      await insert(tx, null, 'r3');
      const id = await tx.reserveId('loads');
      await insert(tx, id, 'r4');
      return id;
    });
    const rows = await store.transaction((tx) => tx.all<{ id: number; card_random: string }>('SELECT id, card_random FROM loads ORDER BY id'));
    expect(rows.map((r) => r.card_random)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
    expect(rows[1].id).toBe(a);
    expect(rows[4].id).toBe(third);
    await expect(store.transaction((tx) => tx.reserveId('loads; DROP TABLE loads'))).rejects.toThrow(/not a table name/);
  });

  it('a Tx used after its transaction ended is refused', async () => {
    const store = await migrated();
    let leaked: { get: (sql: string) => Promise<unknown> } | undefined;
    await store.transaction(async (tx) => {
      leaked = tx;
    });
    await expect(leaked!.get('SELECT 1 AS one')).rejects.toThrow(/finished/);
  });

  it('unique constraints make inserts idempotent: ON CONFLICT DO NOTHING changes 0 rows and RETURNING yields nothing', async () => {
    const store = await migrated();
    const insert = 'INSERT INTO ledger_postings (kind, reference, at_ms) VALUES (?, ?, ?) ON CONFLICT (kind, reference) DO NOTHING RETURNING id';
    const first = await store.transaction((tx) => tx.get<{ id: number }>(insert, ['k', 'ref-1', 1]));
    const second = await store.transaction((tx) => tx.get<{ id: number }>(insert, ['k', 'ref-1', 2]));
    expect(typeof first!.id).toBe('number');
    expect(second).toBeUndefined();
    const changed = await store.transaction((tx) => tx.run("INSERT INTO counters (name, value) VALUES ('c', 0) ON CONFLICT (name) DO NOTHING"));
    const again = await store.transaction((tx) => tx.run("INSERT INTO counters (name, value) VALUES ('c', 0) ON CONFLICT (name) DO NOTHING"));
    expect([changed, again]).toEqual([1, 0]);
    // UPDATE ... RETURNING and run() counts.
    expect(await store.transaction((tx) => tx.run('UPDATE counters SET value = value + 1 WHERE name IN (?, ?)', ['c', 'blacklist_version']))).toBe(2);
    expect(await store.transaction((tx) => tx.get<{ value: number }>("UPDATE counters SET value = value + 1 WHERE name = 'c' RETURNING value"))).toEqual({
      value: 2,
    });
  });

  it('numbers come back as JS numbers (BIGINT, SUM, COUNT, identity ids), texts as strings, NULL as null', async () => {
    const store = await migrated();
    const max = Number.MAX_SAFE_INTEGER;
    await store.transaction(async (tx) => {
      await tx.run('INSERT INTO counters (name, value) VALUES (?, ?), (?, ?), (?, ?)', ['big', max, 'neg', -max, 'small', -1]);
      const posting = await tx.get<{ id: number }>('INSERT INTO ledger_postings (kind, reference, at_ms) VALUES (?, ?, ?) RETURNING id', [
        'k',
        'r',
        1_700_000_000_000,
      ]);
      await tx.run('INSERT INTO ledger_entries (posting_id, account, amount_fen) VALUES (?, ?, ?), (?, ?, ?)', [
        posting!.id,
        'a',
        123_456_789_012,
        posting!.id,
        'b',
        -123_456_789_012,
      ]);
    });
    const row = await store.transaction((tx) =>
      tx.get(
        'SELECT (SELECT value FROM counters WHERE name = ?) AS big, (SELECT value FROM counters WHERE name = ?) AS neg, (SELECT COUNT(*) FROM counters) AS n',
        ['big', 'neg'],
      ),
    );
    expect(row).toEqual({ big: max, neg: -max, n: 4 });
    const sums = await store.transaction((tx) => tx.all('SELECT account, SUM(amount_fen) AS balance FROM ledger_entries GROUP BY account ORDER BY account'));
    expect(sums).toEqual([
      { account: 'a', balance: 123_456_789_012 },
      { account: 'b', balance: -123_456_789_012 },
    ]);
    const empty = await store.transaction((tx) => tx.get("SELECT SUM(amount_fen) AS total, MAX(account) AS top FROM ledger_entries WHERE account = 'none'"));
    expect(empty).toEqual({ total: null, top: null });
    const posting = await store.transaction((tx) => tx.get('SELECT * FROM ledger_postings'));
    expect(posting).toEqual({ id: expect.any(Number), kind: 'k', reference: 'r', at_ms: 1_700_000_000_000, closed_day: null });
    // A bigint parameter binds like a number.
    expect(await store.transaction((tx) => tx.get('SELECT name FROM counters WHERE value = ?', [BigInt(max)]))).toEqual({ name: 'big' });
  });

  it('read-only transactions read', async () => {
    const store = await migrated();
    expect(await store.transaction((tx) => tx.get<{ one: number }>('SELECT 1 AS one'), { readOnly: true })).toEqual({ one: 1 });
  });

  it('concurrent read-modify-write transactions from two instances lose no update', async () => {
    const store = await migrated();
    const twin = backend.twin();
    await store.transaction((tx) => tx.run("INSERT INTO counters (name, value) VALUES ('hits', 0)"));
    const n = 24;
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        (i % 2 === 0 ? store : twin).transaction(async (tx) => {
          // Read, yield, write: the classic lost update if isolation were weaker.
          const row = await tx.get<{ value: number }>("SELECT value FROM counters WHERE name = 'hits'");
          await new Promise((resolve) => setTimeout(resolve, 1));
          await tx.run("UPDATE counters SET value = ? WHERE name = 'hits'", [row!.value + 1]);
        }),
      ),
    );
    expect(await store.transaction((tx) => tx.get("SELECT value FROM counters WHERE name = 'hits'"))).toEqual({ value: n });
    if (store instanceof PostgresStore) expect(store.stats.retries + (twin as PostgresStore).stats.retries).toBeGreaterThan(0);
  });

  it('one idempotency key claimed concurrently from two instances runs the work once; every caller gets the first answer', async () => {
    const store = await migrated();
    const twin = backend.twin();
    let runs = 0;
    const outcomes = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        (i % 2 === 0 ? store : twin).transaction(async (tx) =>
          withIdempotency(tx, 'counter:b1', 'key-1', 'hash-1', 1_000, async () => {
            // Inside the transaction: a retried body may run this again, but only one commits.
            await tx.run("INSERT INTO counters (name, value) VALUES ('work', 1) ON CONFLICT (name) DO UPDATE SET value = counters.value + 1");
            runs++;
            return { statusCode: 201, body: { id: 'load-1' } };
          }),
        ),
      ),
    );
    expect(outcomes.filter((o) => o.kind === 'fresh')).toHaveLength(1);
    expect(outcomes.filter((o) => o.kind === 'replay')).toHaveLength(11);
    for (const o of outcomes) if (o.kind !== 'conflict') expect(o.body).toEqual({ id: 'load-1' });
    expect(runs).toBeGreaterThanOrEqual(1);
    expect(await store.transaction((tx) => tx.get("SELECT value FROM counters WHERE name = 'work'"))).toEqual({ value: 1 });
    const conflict = await twin.transaction((tx) =>
      withIdempotency(tx, 'counter:b1', 'key-1', 'other-hash', 2_000, async () => ({ statusCode: 201, body: {} })),
    );
    expect(conflict.kind).toBe('conflict');
  });

  it('migrations are idempotent and record every id once', async () => {
    const store = await migrated();
    await store.migrate();
    const ids = await store.transaction((tx) => tx.all<{ id: number; applied_ms: number }>('SELECT id, applied_ms FROM schema_migrations ORDER BY id'));
    expect(ids.map((r) => r.id)).toEqual(sortedMigrations(MIGRATIONS).map((m) => m.id));
    expect(ids.every((r) => r.applied_ms === 42)).toBe(true);
  });

  it('several instances migrating at once apply each migration exactly once', async () => {
    backend = makeBackend();
    const counted: Migration[] = [
      ...MIGRATIONS,
      // A migration that would fail if it ran twice (the table exists) and counts its runs.
      {
        id: 900,
        name: 'probe',
        sqlite: 'CREATE TABLE probe (x BIGINT); INSERT INTO probe (x) VALUES (1);',
        postgres: 'CREATE TABLE probe (x BIGINT); INSERT INTO probe (x) VALUES (1);',
      },
    ];
    const first = backend.open({ migrations: counted });
    const stores = backend.concurrentTwins ? [first, backend.twin({ migrations: counted }), backend.twin({ migrations: counted })] : [first, first, first];
    await Promise.all(stores.map((s) => s.migrate()));
    expect(await first.transaction((tx) => tx.get('SELECT COUNT(*) AS n FROM probe'))).toEqual({ n: 1 });
    expect(await first.transaction((tx) => tx.get('SELECT COUNT(*) AS n FROM schema_migrations'))).toEqual({ n: counted.length });
  });

  it('a failing migration leaves nothing applied (DDL is transactional)', async () => {
    backend = makeBackend();
    const bad: Migration[] = [
      { id: 1, name: 'ok', sqlite: 'CREATE TABLE t1 (x BIGINT)', postgres: 'CREATE TABLE t1 (x BIGINT)' },
      { id: 2, name: 'broken', sqlite: 'CREATE TABLE t2 (x BIGINT); THIS IS NOT SQL', postgres: 'CREATE TABLE t2 (x BIGINT); THIS IS NOT SQL' },
    ];
    const store = backend.open({ migrations: bad });
    await expect(store.migrate()).rejects.toThrow();
    const good = backend.twin({ migrations: bad.slice(0, 1) });
    await good.migrate();
    expect(await good.transaction((tx) => tx.all('SELECT id FROM schema_migrations'))).toEqual([{ id: 1 }]);
  });
});

describe.skipIf(!POSTGRES_UP)('PostgreSQL adapter details', () => {
  it('rewrites ? to $n outside literals and refuses ? inside literals, identifiers and comments', () => {
    expect(toPostgresPlaceholders("SELECT * FROM t WHERE a = ? AND b = 'x''y' AND c IN (?, ?)")).toEqual({
      text: "SELECT * FROM t WHERE a = $1 AND b = 'x''y' AND c IN ($2, $3)",
      count: 3,
    });
    expect(() => toPostgresPlaceholders("SELECT '?' AS q")).toThrow(/quoted/);
    expect(() => toPostgresPlaceholders('SELECT 1 AS "a?"')).toThrow(/quoted/);
    expect(() => toPostgresPlaceholders('SELECT 1 -- why?\n')).toThrow(/comment/);
    expect(() => toPostgresPlaceholders('SELECT $1')).toThrow(/\$/);
    expect(() => toPostgresPlaceholders("SELECT 'open")).toThrow(/unterminated/);
  });

  it('checks the parameter count against the placeholders', async () => {
    const schema = freshSchemaName('shape');
    const store = newPgStore(schema);
    try {
      await expect(store.transaction((tx) => tx.get('SELECT ? AS a', []))).rejects.toThrow(/1 placeholders but 0/);
    } finally {
      await store.close();
    }
  });

  it('refuses a BIGINT outside the safe integer range instead of rounding it', async () => {
    const schema = freshSchemaName('shape');
    const store = newPgStore(schema);
    try {
      await store.migrate();
      await store.transaction((tx) => tx.run("INSERT INTO counters (name, value) VALUES ('huge', 9007199254740993)"));
      await expect(store.transaction((tx) => tx.get("SELECT value FROM counters WHERE name = 'huge'"))).rejects.toThrow(/safe/);
      await expect(store.transaction((tx) => tx.get("SELECT SUM(value) AS s FROM counters WHERE name = 'huge'"))).rejects.toThrow(/safe/);
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  });

  it('gives up after maxAttempts on a serialization failure that never clears, and rethrows it', async () => {
    const schema = freshSchemaName('retry');
    const store = newPgStore(schema, { maxAttempts: 3, baseBackoffMs: 1 });
    let runs = 0;
    try {
      const error = await store
        .transaction(async () => {
          runs++;
          throw Object.assign(new Error('could not serialize access'), { code: '40001' });
        })
        .catch((e: unknown) => e);
      expect((error as { code: string }).code).toBe('40001');
      expect(runs).toBe(3);
      expect(store.stats).toMatchObject({ retries: 2, exhausted: 1 });
    } finally {
      await store.close();
    }
  });

  it('keeps ?schema= out of the connection string, and keys the migration lock by schema', () => {
    expect(parseDatabaseUrl('postgres://u@h:5432/db?schema=gw_a&sslmode=disable')).toEqual({
      connectionString: 'postgres://u@h:5432/db?sslmode=disable',
      schema: 'gw_a',
    });
    expect(() => parseDatabaseUrl('mysql://h/db')).toThrow(/postgres/);
    expect(migrationLockKey('a')).not.toBe(migrationLockKey('b'));
    expect(migrationLockKey('a')).toBeLessThanOrEqual(0x7fffffffffffffffn);
    expect(() => newPgStore('Bad-Name')).toThrow(/schema name/);
  });

  it('createStore takes the schema from GATEWAY_DATABASE_SCHEMA when the URL has none', async () => {
    const schema = freshSchemaName('envschema');
    const saved = process.env.GATEWAY_DATABASE_SCHEMA;
    process.env.GATEWAY_DATABASE_SCHEMA = schema;
    const store = await createStore({ sqlitePath: join(tmpdir(), 'never-opened.db'), databaseUrl: PG_URL });
    try {
      expect((store as PostgresStore).schema).toBe(schema);
      await store.migrate();
      const n = await adminQuery(`SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = '${schema}' AND table_name = 'schema_migrations'`);
      expect(Number(n.rows[0].n)).toBe(1);
    } finally {
      if (saved === undefined) delete process.env.GATEWAY_DATABASE_SCHEMA;
      else process.env.GATEWAY_DATABASE_SCHEMA = saved;
      await store.close();
      await dropSchema(schema);
    }
  });

  it('createStore picks PostgreSQL when a database URL is set (it wins over the SQLite path) and creates the schema on migrate', async () => {
    const schema = freshSchemaName('create');
    const dir = mkdtempSync(join(tmpdir(), 'create-store-'));
    const store = await createStore({ sqlitePath: join(dir, 'never.db'), databaseUrl: `${PG_URL}?schema=${schema}` });
    try {
      expect(store.dialect).toBe('postgres');
      await store.migrate();
      const tables = await adminQuery(`SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = '${schema}' AND table_name = 'loads'`);
      expect(Number(tables.rows[0].n)).toBe(1);
      const sqlite = await createStore({ sqlitePath: join(dir, 'gw.db') });
      expect(sqlite.dialect).toBe('sqlite');
      await sqlite.close();
    } finally {
      await store.close();
      await dropSchema(schema);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
