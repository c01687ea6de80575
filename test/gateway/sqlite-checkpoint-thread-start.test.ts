/**
 * The SQLite store starts its checkpoint thread from inside the group commit, once the WAL has
 * grown. Starting a thread can fail (no resources for another thread: Node throws
 * ERR_WORKER_INIT_FAILED from the constructor). The thread is an optimisation: a group that has
 * committed must still answer every one of its transactions, and the writer must go back to
 * checkpointing by itself so the WAL stays bounded.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

vi.mock('node:worker_threads', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:worker_threads')>();
  class UnstartableWorker {
    constructor() {
      throw Object.assign(new Error('Worker initialization failure: EAGAIN'), { code: 'ERR_WORKER_INIT_FAILED' });
    }
  }
  return { ...actual, Worker: UnstartableWorker };
});

const { SqliteStore } = await import('#gateway/store/sqlite-store');
type Migration = import('#gateway/store/migrate').Migration;

const MIGRATIONS: Migration[] = [{ id: 1, name: 'rows', sqlite: 'CREATE TABLE rows (n INTEGER PRIMARY KEY)', postgres: 'SELECT 1' }];

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gateway-ckpt-start-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('SQLite store: a checkpoint thread that cannot start', () => {
  it('at open: the store opens and the writer checkpoints by itself', async () => {
    const store = new SqliteStore({ path: join(dir, 'open.db'), migrations: MIGRATIONS, checkpointStartWalBytes: 0 });
    await store.migrate();
    expect(store.checkpointStats).toBeNull();
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    await store.close();
  });

  it('after a group committed: every transaction of the group still settles', async () => {
    // 1 byte: the first size check (at the 33rd group) finds the WAL big enough and starts the thread.
    const store = new SqliteStore({ path: join(dir, 'group.db'), migrations: MIGRATIONS, checkpointStartWalBytes: 1 });
    await store.migrate();
    const settled: string[] = [];
    for (let n = 0; n < 40; n++) {
      const outcome = await Promise.race([
        store
          .transaction((tx) => tx.run('INSERT INTO rows (n) VALUES (?)', [n]))
          .then(
            () => 'committed',
            (error: unknown) => `refused: ${String(error)}`,
          ),
        new Promise<string>((done) => setTimeout(() => done('never answered'), 3_000)),
      ]);
      settled.push(outcome);
      if (outcome === 'never answered') break;
    }
    expect(settled.filter((s) => s !== 'committed')).toEqual([]);
    expect(settled).toHaveLength(40);
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    const count = await store.transaction((tx) => tx.get<{ n: number }>('SELECT count(*) AS n FROM rows'));
    expect(count?.n).toBe(40);
    await store.close();
  });
});
