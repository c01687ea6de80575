import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyMigrations, sortedMigrations, type Migration } from '#gateway/store/migrate';
import { MIGRATIONS } from '#gateway/store/migrations/index';
import { SqliteStore } from '#gateway/store/sqlite-store';
import { addBlacklistEntry, blacklistDeltaSince } from '#gateway/services/blacklist';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gateway-store-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('SQLite store', () => {
  it('runs WAL with synchronous=FULL and foreign keys on', async () => {
    const store = new SqliteStore({ path: join(dir, 'a.db') });
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('synchronous', { simple: true })).toBe(2);
    expect(store.db.pragma('foreign_keys', { simple: true })).toBe(1);
    // Savepoint journals of the group transactions stay in memory (2 = MEMORY), never a temp file.
    expect(store.db.pragma('temp_store', { simple: true })).toBe(2);
    await store.close();
  });

  it('checkpoints on its own thread, never inside a COMMIT, and keeps the WAL bounded', async () => {
    const path = join(dir, 'ckpt.db');
    const migrations: Migration[] = [{ id: 1, name: 'rows', sqlite: 'CREATE TABLE rows (n INTEGER PRIMARY KEY, pad TEXT NOT NULL)', postgres: 'SELECT 1' }];
    const store = new SqliteStore({ path, migrations, checkpointEveryMs: 20, checkpointStartWalBytes: 1024 * 1024 });
    await store.migrate();
    // The writer itself never checkpoints (SQLite's automatic checkpoint is off on it), and the
    // thread waits for the WAL to reach its start size.
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    expect(store.checkpointStats).toBeNull();
    const pad = 'x'.repeat(2_000);
    let largestWal = 0;
    // ~40 MB of rows in 400 commits: without checkpoints the WAL would hold all of it.
    for (let round = 0; round < 400; round++) {
      await store.transaction(async (tx) => {
        for (let i = 0; i < 50; i++) await tx.run('INSERT INTO rows (n, pad) VALUES (?, ?)', [round * 50 + i, pad]);
      });
      largestWal = Math.max(largestWal, statSync(`${path}-wal`).size);
      if (round % 20 === 0) await new Promise((done) => setTimeout(done, 25));
    }
    await new Promise((done) => setTimeout(done, 100));
    const stats = store.checkpointStats;
    expect(stats).not.toBeNull();
    expect(stats!.checkpoints).toBeGreaterThan(0);
    expect(stats!.errors).toBe(0);
    expect(largestWal).toBeLessThan(20 * 1024 * 1024);
    const count = await store.transaction((tx) => tx.get<{ n: number }>('SELECT count(*) AS n FROM rows'), { readOnly: true });
    expect(count?.n).toBe(20_000);
    await store.close();
    // The thread is gone and the last connection folded the WAL into the file.
    expect(existsSync(`${path}-wal`)).toBe(false);
    const reopened = new SqliteStore({ path, migrations, checkpointEveryMs: 0 });
    expect(reopened.checkpointStats).toBeNull();
    expect(reopened.db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    expect((await reopened.transaction((tx) => tx.get<{ n: number }>('SELECT count(*) AS n FROM rows')))?.n).toBe(20_000);
    await reopened.close();
  });

  it('a checkpoint thread that died does not hang close, and the writer checkpoints by itself again', async () => {
    const path = join(dir, 'dead-ckpt.db');
    const migrations: Migration[] = [{ id: 1, name: 'rows', sqlite: 'CREATE TABLE rows (n INTEGER PRIMARY KEY)', postgres: 'SELECT 1' }];
    // Start size 0: the thread starts with the store.
    const store = new SqliteStore({ path, migrations, checkpointEveryMs: 20, checkpointStartWalBytes: 0 });
    await store.migrate();
    expect(store.checkpointStats).not.toBeNull();
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    // The thread dies (a crash, its isolate killed): simulated by terminating it.
    await (store as unknown as { checkpointer: { worker: Worker } }).checkpointer.worker.terminate();
    await new Promise((done) => setImmediate(done));
    // Nothing checkpoints the WAL any more unless the writer does it inside COMMIT again.
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    expect(store.checkpointStats!.lastError).toMatch(/exited/);
    await store.transaction((tx) => tx.run('INSERT INTO rows (n) VALUES (1)'));
    const closed = store.close().then(() => 'closed');
    const outcome = await Promise.race([closed, new Promise((done) => setTimeout(() => done('still closing after 5 s'), 5_000))]);
    expect(outcome).toBe('closed');
    const reopened = new SqliteStore({ path, migrations, checkpointEveryMs: 0 });
    expect((await reopened.transaction((tx) => tx.get<{ n: number }>('SELECT count(*) AS n FROM rows')))?.n).toBe(1);
    await reopened.close();
  });

  it('applies migrations once, idempotently, and survives a restart', async () => {
    const path = join(dir, 'b.db');
    const store = new SqliteStore({ path, clock: () => 42 });
    await store.migrate();
    await store.migrate();
    const applied = await store.transaction((tx) => tx.all<{ id: number; applied_ms: number }>('SELECT id, applied_ms FROM schema_migrations ORDER BY id'));
    expect(applied.map((r) => r.id)).toEqual(sortedMigrations(MIGRATIONS).map((m) => m.id));
    expect(applied.every((r) => r.applied_ms === 42)).toBe(true);
    await store.close();
    const reopened = new SqliteStore({ path });
    await reopened.migrate();
    expect((await reopened.transaction((tx) => tx.get<{ n: number }>('SELECT COUNT(*) AS n FROM schema_migrations')))!.n).toBe(applied.length);
    await reopened.close();
  });

  it('three processes starting at once on one file apply each migration exactly once', async () => {
    const path = join(dir, 'c.db');
    const worker = fileURLToPath(new URL('./support/migrate-worker.ts', import.meta.url));
    const tsx = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));
    const outputs = await Promise.all(
      [1, 2, 3].map(
        () =>
          new Promise<string>((resolve, reject) => {
            execFile(tsx, [worker, path], { timeout: 30_000 }, (error, stdout, stderr) =>
              error ? reject(new Error(stderr || error.message)) : resolve(stdout),
            );
          }),
      ),
    );
    expect(outputs).toEqual(['migrated\n', 'migrated\n', 'migrated\n']);
    const a = new SqliteStore({ path });
    const ids = await a.transaction((tx) => tx.all<{ id: number }>('SELECT id FROM schema_migrations'));
    expect(ids).toHaveLength(MIGRATIONS.length);
    await a.close();
  });

  it('a failing migration leaves nothing applied', async () => {
    const bad: Migration[] = [
      { id: 1, name: 'ok', sqlite: 'CREATE TABLE t1 (x BIGINT)', postgres: 'CREATE TABLE t1 (x BIGINT)' },
      { id: 2, name: 'broken', sqlite: 'CREATE TABLE t2 (x BIGINT); THIS IS NOT SQL', postgres: 'x' },
    ];
    const store = new SqliteStore({ path: join(dir, 'd.db'), migrations: bad });
    await expect(store.migrate()).rejects.toThrow();
    const tables = store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('t1', 't2', 'schema_migrations')").all();
    expect(tables).toEqual([]);
    await store.close();
  });

  it('refuses duplicate migration ids', () => {
    const m: Migration = { id: 5, name: 'a', sqlite: 'SELECT 1', postgres: 'SELECT 1' };
    expect(() => sortedMigrations([m, { ...m, name: 'b' }])).toThrow(/duplicate/);
  });

  it('rolls back a transaction that throws', async () => {
    const store = new SqliteStore({ path: join(dir, 'e.db') });
    await store.migrate();
    await expect(
      store.transaction(async (tx) => {
        await tx.run("INSERT INTO counters (name, value) VALUES ('x', 1)");
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await store.transaction((tx) => tx.get("SELECT * FROM counters WHERE name = 'x'"))).toBeUndefined();
    await store.close();
  });

  it('serialises concurrent transactions that await between statements (no lost update)', async () => {
    const store = new SqliteStore({ path: join(dir, 'f.db') });
    await store.migrate();
    await store.transaction((tx) => tx.run("INSERT INTO counters (name, value) VALUES ('n', 0)"));
    await Promise.all(
      Array.from({ length: 50 }, () =>
        store.transaction(async (tx) => {
          const row = await tx.get<{ value: number }>("SELECT value FROM counters WHERE name = 'n'");
          await new Promise((resolve) => setImmediate(resolve));
          await tx.run("UPDATE counters SET value = ? WHERE name = 'n'", [row!.value + 1]);
        }),
      ),
    );
    expect((await store.transaction((tx) => tx.get<{ value: number }>("SELECT value FROM counters WHERE name = 'n'")))!.value).toBe(50);
    await store.close();
  });

  it('a Tx used after its transaction ended throws', async () => {
    const store = new SqliteStore({ path: join(dir, 'g.db') });
    await store.migrate();
    let leaked: { get(sql: string): Promise<unknown> } | null = null;
    await store.transaction(async (tx) => {
      leaked = tx;
    });
    await expect(leaked!.get('SELECT 1')).rejects.toThrow(/finished/);
    await store.close();
  });

  it('concurrent blacklist changes get dense, strictly increasing versions', async () => {
    const store = new SqliteStore({ path: join(dir, 'h.db') });
    await store.migrate();
    await Promise.all(Array.from({ length: 40 }, (_, i) => store.transaction((tx) => addBlacklistEntry(tx, String(1000000000000000 + i), 'cloned', i))));
    const delta = await store.transaction((tx) => blacklistDeltaSince(tx, 0, 100));
    expect(delta.entries.map((e) => e.version)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(new Set(delta.entries.map((e) => e.cardNo)).size).toBe(40);
    // A card already listed with a final reason is not listed again with a weaker one.
    expect(await store.transaction((tx) => addBlacklistEntry(tx, '1000000000000000', 'temporary-loss', 99))).toBeNull();
    await store.close();
  });

  it('applyMigrations is driver-agnostic (PostgreSQL adapter uses the same runner)', async () => {
    const log: string[] = [];
    const applied = new Set<number>([1]);
    const ran = await applyMigrations(
      {
        dialect: 'postgres',
        withMigrationLock: async (fn) => {
          log.push('lock');
          const result = await fn({
            execScript: async (sql) => void log.push(sql.slice(0, 12)),
            appliedIds: async () => [...applied],
            recordApplied: async (id) => void applied.add(id),
          });
          log.push('unlock');
          return result;
        },
      },
      7,
      [
        { id: 1, name: 'one', sqlite: 'S1', postgres: 'P1' },
        { id: 2, name: 'two', sqlite: 'S2', postgres: 'P2 postgres' },
      ],
    );
    expect(ran).toEqual([2]);
    expect(log[0]).toBe('lock');
    expect(log).toContain('P2 postgres');
    expect(log.at(-1)).toBe('unlock');
  });
});
