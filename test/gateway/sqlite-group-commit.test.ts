/**
 * Group commit in the SQLite store: many logical transactions share one BEGIN IMMEDIATE ..
 * COMMIT, each in its own savepoint, acknowledged only after the shared COMMIT.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Migration } from '../../gateway/src/store/migrate.ts';
import { GroupCommitError, SqliteStore } from '../../gateway/src/store/sqlite-store.ts';

const MIGRATIONS: Migration[] = [
  {
    id: 1,
    name: 'group-commit-test',
    sqlite: `CREATE TABLE items (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
             CREATE TABLE parents (id BIGINT PRIMARY KEY);
             CREATE TABLE children (id BIGINT PRIMARY KEY, parent_id BIGINT NOT NULL REFERENCES parents(id) DEFERRABLE INITIALLY DEFERRED);`,
    postgres: 'SELECT 1',
  },
];

let dir: string;
const open: SqliteStore[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gateway-group-commit-'));
});
afterEach(async () => {
  for (const store of open.splice(0)) await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function newStore(name: string, options: { groupMaxTransactions?: number } = {}): Promise<SqliteStore> {
  const store = new SqliteStore({ path: join(dir, name), migrations: MIGRATIONS, ...options });
  open.push(store);
  await store.migrate();
  return store;
}

/** Another connection to the file: sees only what was committed. */
function committedNames(path: string): string[] {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare('SELECT name FROM items ORDER BY name').all() as { name: string }[]).map((r) => r.name);
  } finally {
    db.close();
  }
}

describe('SQLite group commit', () => {
  it('concurrent transactions share commits, and each is committed when its promise resolves', async () => {
    const path = join(dir, 'a.db');
    const store = await newStore('a.db');
    const groupsBefore = store.stats.groups;
    const names = Array.from({ length: 120 }, (_, i) => `item-${String(i).padStart(3, '0')}`);
    const seenAtResolve = await Promise.all(
      names.map((name, i) =>
        store
          .transaction(async (tx) => {
            await tx.run('INSERT INTO items (name, value) VALUES (?, ?)', [name, i]);
            return name;
          })
          // At the moment the promise resolves, a separate connection must already see the row.
          .then((resolved) => committedNames(path).includes(resolved)),
      ),
    );
    expect(seenAtResolve.every(Boolean)).toBe(true);
    const groups = store.stats.groups - groupsBefore;
    expect(groups).toBeGreaterThanOrEqual(1);
    expect(groups).toBeLessThan(names.length / 10);
    // Reopen the file: everything acknowledged is there.
    await store.close();
    open.splice(open.indexOf(store), 1);
    expect(committedNames(path)).toEqual(names);
    const reopened = await newStore('a.db');
    expect((await reopened.transaction((tx) => tx.get<{ n: number }>('SELECT COUNT(*) AS n FROM items')))!.n).toBe(names.length);
  });

  it('a transaction that fails in a group rolls back only itself', async () => {
    const path = join(dir, 'b.db');
    const store = await newStore('b.db');
    await store.transaction((tx) => tx.run("INSERT INTO items (name, value) VALUES ('taken', 0)"));
    const groupsBefore = store.stats.groups;
    const results = await Promise.allSettled([
      store.transaction((tx) => tx.run("INSERT INTO items (name, value) VALUES ('a', 1)")),
      store.transaction(async (tx) => {
        await tx.run("INSERT INTO items (name, value) VALUES ('b', 2)");
        throw new Error('business refusal');
      }),
      store.transaction(async (tx) => {
        // Its first statement succeeds, the second violates the primary key: both are undone.
        await tx.run("INSERT INTO items (name, value) VALUES ('c', 3)");
        await tx.run("INSERT INTO items (name, value) VALUES ('taken', 3)");
      }),
      store.transaction(async (tx) => {
        // Sees the earlier members' committed-to-be work, not the failed ones'.
        const rows = await tx.all<{ name: string }>('SELECT name FROM items ORDER BY name');
        await tx.run("INSERT INTO items (name, value) VALUES ('d', 4)");
        return rows.map((r) => r.name).join(',');
      }),
    ]);
    expect(store.stats.groups - groupsBefore).toBe(1);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason.message).toBe('business refusal');
    expect((results[2] as PromiseRejectedResult).reason.message).toMatch(/UNIQUE/);
    expect((results[3] as PromiseFulfilledResult<string>).value).toBe('a,taken');
    expect(committedNames(path)).toEqual(['a', 'd', 'taken']);
  });

  it('a failed COMMIT rejects every transaction of the group and keeps none; the next group works', async () => {
    const path = join(dir, 'c.db');
    const store = await newStore('c.db');
    const results = await Promise.allSettled([
      store.transaction((tx) => tx.run("INSERT INTO items (name, value) VALUES ('x', 1)")),
      // A deferred foreign key is checked only at the outer COMMIT: the whole group's COMMIT fails.
      store.transaction((tx) => tx.run('INSERT INTO children (id, parent_id) VALUES (1, 999)')),
      store.transaction((tx) => tx.run("INSERT INTO items (name, value) VALUES ('y', 2)")),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    for (const r of results) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(GroupCommitError);
    expect(committedNames(path)).toEqual([]);
    await store.transaction((tx) => tx.run("INSERT INTO items (name, value) VALUES ('z', 3)"));
    expect(committedNames(path)).toEqual(['z']);
  });

  it('bounds a group by its transaction count', async () => {
    const store = await newStore('d.db', { groupMaxTransactions: 10 });
    const groupsBefore = store.stats.groups;
    await Promise.all(Array.from({ length: 35 }, (_, i) => store.transaction((tx) => tx.run('INSERT INTO items (name, value) VALUES (?, ?)', [`n${i}`, i]))));
    expect(store.stats.groups - groupsBefore).toBe(4);
    expect(store.stats.largestGroup).toBe(10);
  });

  it('read-only transactions do not wait for a write group and see only committed data', async () => {
    const store = await newStore('e.db');
    await store.transaction((tx) => tx.run("INSERT INTO items (name, value) VALUES ('before', 1)"));
    let releaseWriter!: () => void;
    const writerHeld = new Promise<void>((resolve) => (releaseWriter = resolve));
    let writerStarted!: () => void;
    const started = new Promise<void>((resolve) => (writerStarted = resolve));
    const write = store.transaction(async (tx) => {
      await tx.run("INSERT INTO items (name, value) VALUES ('during', 2)");
      writerStarted();
      await writerHeld;
    });
    await started;
    const names = await store.transaction((tx) => tx.all<{ name: string }>('SELECT name FROM items ORDER BY name'), { readOnly: true });
    expect(names.map((r) => r.name)).toEqual(['before']);
    releaseWriter();
    await write;
    const after = await store.transaction((tx) => tx.all<{ name: string }>('SELECT name FROM items ORDER BY name'), { readOnly: true });
    expect(after.map((r) => r.name)).toEqual(['before', 'during']);
    // The reader connection refuses writes: a mislabelled transaction fails instead of writing unqueued.
    await expect(store.transaction((tx) => tx.run("INSERT INTO items (name, value) VALUES ('w', 0)"), { readOnly: true })).rejects.toThrow(/readonly|read-only|query_only/i);
  });

  it('a process killed (SIGKILL) during group commits loses only unacknowledged transactions', async () => {
    const path = join(dir, 'crash.db');
    const worker = fileURLToPath(new URL('./support/group-commit-worker.ts', import.meta.url));
    const tsx = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));
    const child = spawn(tsx, [worker, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acked = new Set<number>();
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout! });
      lines.on('line', (line) => {
        if (line.startsWith('ack ')) acked.add(Number(line.slice(4)));
        // Killed in full flight: ~40 transactions queued or inside an open group right now.
        if (acked.size === 400) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`worker exited early with ${code}`)));
    });
    await exited;
    const db = new Database(path);
    const rows = db.prepare('SELECT n, COUNT(*) AS parts FROM items GROUP BY n').all() as { n: number; parts: number }[];
    db.close();
    const stored = new Map(rows.map((r) => [r.n, r.parts]));
    // Every acknowledged transaction survived, whole; nothing is half-applied.
    for (const n of acked) expect(stored.get(n)).toBe(2);
    expect(rows.every((r) => r.parts === 2)).toBe(true);
    expect(acked.size).toBeGreaterThanOrEqual(400);
  }, 30_000);
});
