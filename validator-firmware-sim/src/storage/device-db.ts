/**
 * Opens the device's one SQLite file: WAL with synchronous=FULL (better-sqlite3 leaves WAL
 * at NORMAL, where a power cut can lose the last committed transaction, i.e. an
 * acknowledged tap), a bounded page cache (the 10M-card blacklist must stay under the RSS
 * budget), and the numbered migrations.
 */
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.ts';

export type DeviceDatabase = Database.Database;

export interface OpenDeviceDbOptions {
  /** Page cache in MiB. Small on purpose: interior B-tree pages fit; leaves come from the OS cache. */
  cacheMiB?: number;
  readonly?: boolean;
  /**
   * Hold the file lock for the life of the connection (default true). The device process
   * owns its database; without this, every autocommit read in WAL mode takes and drops
   * shared-memory locks (~1.5 us of syscalls per blacklist lookup, measured).
   */
  exclusive?: boolean;
  /**
   * SQLite's automatic WAL checkpoint (default false). A checkpoint copies the WAL into the
   * database and fsyncs it, inside whichever commit crosses the threshold: tens of ms on a
   * busy disk, which would land in a tap or a blacklist batch. The device checkpoints itself
   * when idle instead (`checkpointDeviceDb`).
   */
  autoCheckpoint?: boolean;
}

export const DEFAULT_CACHE_MIB = 16;

export function openDeviceDb(path: string, options: OpenDeviceDbOptions = {}): DeviceDatabase {
  const db = new Database(path, { readonly: options.readonly ?? false });
  db.pragma('busy_timeout = 5000');
  if (options.exclusive ?? !options.readonly) db.pragma('locking_mode = EXCLUSIVE');
  if (!options.readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    if (!(options.autoCheckpoint ?? false)) db.pragma('wal_autocheckpoint = 0');
  }
  db.pragma(`cache_size = -${(options.cacheMiB ?? DEFAULT_CACHE_MIB) * 1024}`);
  db.pragma('foreign_keys = ON');
  if (!options.readonly) migrate(db);
  assertDurable(db, options.readonly ?? false);
  return db;
}

/** Applies every migration above the stored user_version, each in its own transaction. */
export function migrate(db: DeviceDatabase): number {
  let current = db.pragma('user_version', { simple: true }) as number;
  const latest = MIGRATIONS[MIGRATIONS.length - 1].version;
  if (current > latest) {
    throw new Error(`device database schema ${current} is newer than this firmware (${latest})`);
  }
  for (const migration of MIGRATIONS) {
    if (migration.version <= current) continue;
    if (migration.version !== current + 1) throw new Error(`migration ${migration.version} is out of order`);
    db.transaction(() => {
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    }).immediate();
    current = migration.version;
  }
  return current;
}

function assertDurable(db: DeviceDatabase, readonly: boolean): void {
  if (readonly) return;
  const mode = String(db.pragma('journal_mode', { simple: true }));
  const sync = Number(db.pragma('synchronous', { simple: true }));
  // synchronous: 2 = FULL, 3 = EXTRA.
  if (mode !== 'wal' || sync < 2) throw new Error(`device database is not durable (journal_mode=${mode}, synchronous=${sync})`);
}

export interface CheckpointResult {
  /** Frames in the WAL before, and frames copied into the database. */
  walFrames: number;
  checkpointedFrames: number;
  ms: number;
}

/** Copies the WAL into the database (PASSIVE: never waits on anyone). Call when the device is idle. */
export function checkpointDeviceDb(db: DeviceDatabase, mode: 'PASSIVE' | 'TRUNCATE' = 'PASSIVE'): CheckpointResult {
  const t0 = performance.now();
  const [row] = db.pragma(`wal_checkpoint(${mode})`) as { busy: number; log: number; checkpointed: number }[];
  return { walFrames: row?.log ?? 0, checkpointedFrames: row?.checkpointed ?? 0, ms: performance.now() - t0 };
}
