/**
 * The embedded default store: one better-sqlite3 connection, WAL, synchronous=FULL (a
 * committed load or sync batch survives power loss), foreign keys on. Transactions are
 * serialised by an async mutex and run as BEGIN IMMEDIATE so the write lock is taken up
 * front (no SQLITE_BUSY upgrade deadlocks with another process on the same file).
 * Prepared statements are cached by SQL text: the sync ingest runs the same few statements
 * tens of thousands of times a second.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { AsyncMutex } from './async-mutex.ts';
import { applyMigrations, type Migration, type MigrationDriver, type MigrationExec } from './migrate.ts';
import type { Row, SqlValue, Store, TransactionOptions, Tx } from './store-port.ts';

export interface SqliteStoreOptions {
  /** File path, or ':memory:' (tests of pure logic only; durability tests use files). */
  path: string;
  busyTimeoutMs?: number;
  /** Clock for `schema_migrations.applied_ms`. */
  clock?: () => number;
  /** Override the migration list (tests). */
  migrations?: readonly Migration[];
  /** Largest number of cached prepared statements before the cache is cleared. */
  statementCacheSize?: number;
}

type Statement = Database.Statement<unknown[], unknown>;

export class SqliteStore implements Store {
  readonly dialect = 'sqlite' as const;
  readonly db: Database.Database;
  private readonly mutex = new AsyncMutex();
  private readonly statements = new Map<string, Statement>();
  private readonly statementCacheSize: number;
  private readonly clock: () => number;
  private readonly migrationList: readonly Migration[] | undefined;
  private closed = false;

  constructor(options: SqliteStoreOptions) {
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    this.db = new Database(options.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5_000)}`);
    this.db.pragma('foreign_keys = ON');
    this.statementCacheSize = options.statementCacheSize ?? 1_000;
    this.clock = options.clock ?? Date.now;
    this.migrationList = options.migrations;
  }

  /** Prepared statement for `sql`, cached by its text. */
  prepare(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      if (this.statements.size >= this.statementCacheSize) this.statements.clear();
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>, options?: TransactionOptions): Promise<T> {
    return this.mutex.run(async () => {
      if (this.closed) throw new Error('store is closed');
      this.db.exec(options?.readOnly ? 'BEGIN DEFERRED' : 'BEGIN IMMEDIATE');
      const tx = new SqliteTx(this);
      try {
        const result = await fn(tx);
        tx.finish();
        this.db.exec('COMMIT');
        return result;
      } catch (error) {
        tx.finish();
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw error;
      }
    });
  }

  async migrate(): Promise<void> {
    const driver: MigrationDriver = {
      dialect: 'sqlite',
      withMigrationLock: (fn) =>
        this.mutex.run(async () => {
          // BEGIN IMMEDIATE holds the database write lock: another process starting on the
          // same file waits (busy_timeout) and then sees the migrations as applied.
          this.db.exec('BEGIN IMMEDIATE');
          const exec: MigrationExec = {
            execScript: async (sql) => {
              this.db.exec(sql);
            },
            appliedIds: async () =>
              (this.db.prepare('SELECT id FROM schema_migrations ORDER BY id').all() as { id: number }[]).map((r) => Number(r.id)),
            recordApplied: async (id, name, appliedAtMs) => {
              this.db.prepare('INSERT INTO schema_migrations (id, name, applied_ms) VALUES (?, ?, ?)').run(id, name, appliedAtMs);
            },
          };
          try {
            const result = await fn(exec);
            this.db.exec('COMMIT');
            return result;
          } catch (error) {
            if (this.db.inTransaction) this.db.exec('ROLLBACK');
            throw error;
          }
        }),
    };
    await applyMigrations(driver, this.clock(), this.migrationList);
  }

  async close(): Promise<void> {
    await this.mutex.run(async () => {
      if (this.closed) return;
      this.closed = true;
      this.statements.clear();
      this.db.close();
    });
  }
}

class SqliteTx implements Tx {
  private done = false;

  constructor(private readonly store: SqliteStore) {}

  finish(): void {
    this.done = true;
  }

  private statement(sql: string): Statement {
    // A Tx used after its transaction ended would run outside any transaction: a bug.
    if (this.done) throw new Error('transaction already finished');
    return this.store.prepare(sql);
  }

  async all<T extends Row = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return this.statement(sql).all(...params) as T[];
  }

  async get<T extends Row = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return this.statement(sql).get(...params) as T | undefined;
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    const statement = this.statement(sql);
    // RETURNING statements are readers in better-sqlite3; run() still executes them.
    return statement.run(...params).changes;
  }
}

export function createSqliteStore(options: SqliteStoreOptions): SqliteStore {
  return new SqliteStore(options);
}
