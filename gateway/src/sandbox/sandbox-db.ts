/**
 * The sandbox's own SQLite file (GATEWAY_SANDBOX=1): marked at creation by a row in the
 * `sandbox_meta` table, so a sandbox never runs on a database it did not create and a gateway
 * without the sandbox never runs on one it did. The table also holds the sandbox clock's offset
 * (sandbox-clock.ts); the virtual cards live in `sandbox_cards` (virtual-cards.ts).
 */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Store, Tx } from '../store/store-port.ts';

/** The marker row's key in sandbox_meta; its value is the creation time (ISO-8601). */
export const SANDBOX_MARKER_KEY = 'created-as-sandbox';

export type SqliteFileKind = 'missing' | 'sandbox' | 'not-sandbox';

/**
 * What kind of database file `path` is, without changing it: opened (no pragma, no write) and
 * closed again, so SQLite removes the -wal/-shm files it made. A file that is not a SQLite
 * database throws with SQLite's message.
 */
export function inspectSqliteFile(path: string): SqliteFileKind {
  if (!existsSync(path)) return 'missing';
  const db = new Database(path, { fileMustExist: true });
  try {
    const table = db.prepare("SELECT 1 AS ok FROM sqlite_master WHERE type = 'table' AND name = 'sandbox_meta'").get();
    if (table === undefined) return 'not-sandbox';
    const marker = db.prepare('SELECT value FROM sandbox_meta WHERE key = ?').get(SANDBOX_MARKER_KEY);
    return marker === undefined ? 'not-sandbox' : 'sandbox';
  } finally {
    db.close();
  }
}

async function createMetaTable(tx: Tx): Promise<void> {
  await tx.run('CREATE TABLE IF NOT EXISTS sandbox_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
}

/** Marks a database the sandbox has just created (first start on a missing file). */
export async function markSandboxDatabase(store: Store, nowMs: number): Promise<void> {
  await store.transaction(async (tx) => {
    await createMetaTable(tx);
    await tx.run('INSERT INTO sandbox_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING', [SANDBOX_MARKER_KEY, new Date(nowMs).toISOString()]);
  });
}

/** True when the store carries the sandbox marker. */
export async function isSandboxStore(store: Store): Promise<boolean> {
  if (store.dialect !== 'sqlite') return false;
  return store.transaction(
    async (tx) => {
      const table = await tx.get("SELECT 1 AS ok FROM sqlite_master WHERE type = 'table' AND name = 'sandbox_meta'");
      if (table === undefined) return false;
      return (await tx.get('SELECT value FROM sandbox_meta WHERE key = ?', [SANDBOX_MARKER_KEY])) !== undefined;
    },
    { readOnly: true },
  );
}

export async function readMeta(store: Store, key: string): Promise<string | undefined> {
  const row = await store.transaction((tx) => tx.get<{ value: string }>('SELECT value FROM sandbox_meta WHERE key = ?', [key]), { readOnly: true });
  return row?.value;
}

export async function writeMeta(tx: Tx, key: string, value: string): Promise<void> {
  await tx.run('INSERT INTO sandbox_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]);
}
