/**
 * Numbered schema migrations with one SQL text per dialect. Each store adapter applies them
 * through `applyMigrations` with its own `MigrationDriver`; the driver decides how to keep
 * concurrent starts safe (SQLite: BEGIN IMMEDIATE takes the write lock; PostgreSQL: an advisory
 * lock held around the whole run, `pg_advisory_xact_lock`).
 *
 * Numbering: 001-099 platform (auth, cards, blacklist, devices, park passes, audit),
 * 100-199 money (loads, sync, ledger, refunds). Append new ones to `migrations/index.ts`;
 * never edit an applied migration.
 */
import { MIGRATIONS } from './migrations/index.ts';

export interface Migration {
  id: number;
  name: string;
  sqlite: string;
  postgres: string;
}

export interface MigrationDriver {
  readonly dialect: 'sqlite' | 'postgres';
  /**
   * Runs `fn` holding the migration lock, inside one transaction: the applied set is read and
   * the pending migrations are applied under the same lock, so two instances starting at
   * once apply each migration exactly once.
   */
  withMigrationLock<T>(fn: (exec: MigrationExec) => Promise<T>): Promise<T>;
}

export interface MigrationExec {
  /** Executes one or more DDL statements (no parameters). */
  execScript(sql: string): Promise<void>;
  appliedIds(): Promise<number[]>;
  recordApplied(id: number, name: string, appliedAtMs: number): Promise<void>;
}

export const SCHEMA_MIGRATIONS_DDL = `CREATE TABLE IF NOT EXISTS schema_migrations (
  id BIGINT PRIMARY KEY,
  name TEXT NOT NULL,
  applied_ms BIGINT NOT NULL
)`;

/** Checks ids are unique and ascending; a programmer error otherwise. */
export function sortedMigrations(list: readonly Migration[] = MIGRATIONS): Migration[] {
  const sorted = [...list].sort((a, b) => a.id - b.id);
  for (let i = 0; i < sorted.length; i++) {
    const m = sorted[i];
    if (!Number.isInteger(m.id) || m.id <= 0) throw new Error(`migration id must be a positive integer: ${m.id}`);
    if (i > 0 && sorted[i - 1].id === m.id) throw new Error(`duplicate migration id ${m.id}`);
    if (!m.sqlite.trim() || !m.postgres.trim()) throw new Error(`migration ${m.id} needs SQL for both dialects`);
  }
  return sorted;
}

/** Applies every pending migration; returns the ids applied by this call. */
export async function applyMigrations(driver: MigrationDriver, nowMs: number, list: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  const migrations = sortedMigrations(list);
  return driver.withMigrationLock(async (exec) => {
    await exec.execScript(SCHEMA_MIGRATIONS_DDL);
    const applied = new Set(await exec.appliedIds());
    const done: number[] = [];
    for (const m of migrations) {
      if (applied.has(m.id)) continue;
      await exec.execScript(driver.dialect === 'sqlite' ? m.sqlite : m.postgres);
      await exec.recordApplied(m.id, m.name, nowMs);
      done.push(m.id);
    }
    return done;
  });
}
