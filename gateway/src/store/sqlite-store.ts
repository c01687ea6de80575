/**
 * The embedded default store: better-sqlite3, WAL, synchronous=FULL (a committed load or sync
 * batch survives power loss), foreign keys on.
 *
 * Writes use GROUP COMMIT on one writer connection. Write transactions queue; the queue is
 * drained in groups: one outer `BEGIN IMMEDIATE … COMMIT` (one fsync) holding many logical
 * transactions, each run alone and in order inside its own `SAVEPOINT` (RELEASE on success,
 * ROLLBACK TO + RELEASE when its body throws, so a failing transaction leaves the others of its
 * group untouched). A transaction's promise resolves only after the shared COMMIT returned, so
 * an acknowledged write is as durable as before; a failed COMMIT rejects every transaction of
 * the group. Logical transactions still run one after the other (serialisable, same as the old
 * mutex): only the fsync is shared. A group closes at `groupMaxTransactions` or after
 * `groupMaxMs` of work, so the latency a group adds stays bounded. A group starts from
 * `setImmediate`, i.e. after the event loop took in every request that arrived meanwhile
 * (while the previous COMMIT's fsync blocked it), which is what makes groups form under load.
 *
 * Read-only transactions run on a second connection (WAL: readers see the last commit and never
 * wait for the writer), `query_only` so a mislabelled write fails loudly. They are serialised
 * among themselves (bodies await between statements), not behind writes. ':memory:' has no
 * second connection: its reads join the write queue.
 *
 * BEGIN IMMEDIATE takes the database write lock up front (no SQLITE_BUSY upgrade deadlocks with
 * another process on the same file). Prepared statements are cached by SQL text per connection:
 * the sync ingest runs the same few statements tens of thousands of times a second.
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
  /** Largest number of cached prepared statements (per connection) before the cache is cleared. */
  statementCacheSize?: number;
  /** Most logical write transactions sharing one COMMIT (default 200; 1 disables group commit). */
  groupMaxTransactions?: number;
  /** A group takes no further transaction once it has worked this long (default 5 ms). */
  groupMaxMs?: number;
}

type Statement = Database.Statement<unknown[], unknown>;

/** Prepared statements of one connection, cached by SQL text. */
class StatementCache {
  private readonly statements = new Map<string, Statement>();

  constructor(
    readonly db: Database.Database,
    private readonly size: number,
  ) {}

  get(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      if (this.statements.size >= this.size) this.statements.clear();
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  clear(): void {
    this.statements.clear();
  }
}

interface GroupedJob {
  kind: 'tx';
  fn: (tx: Tx) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** Work that needs the writer connection to itself (migrations, close). */
interface ExclusiveJob {
  kind: 'exclusive';
  run: () => Promise<void>;
}

type WriteJob = GroupedJob | ExclusiveJob;

/** Thrown to every transaction of a group whose shared work was lost (COMMIT or the outer transaction failed). */
export class GroupCommitError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GroupCommitError';
  }
}

function openConnection(path: string, busyTimeoutMs: number): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
  db.pragma('foreign_keys = ON');
  return db;
}

export class SqliteStore implements Store {
  readonly dialect = 'sqlite' as const;
  /** The writer connection (every write, migrations). */
  readonly db: Database.Database;
  /** The reader connection for read-only transactions; null for ':memory:'. */
  readonly readerDb: Database.Database | null;
  private readonly writer: StatementCache;
  private readonly reader: StatementCache | null;
  private readonly readMutex = new AsyncMutex();
  private readonly queue: WriteJob[] = [];
  private draining = false;
  private scheduled = false;
  private readonly groupMaxTransactions: number;
  private readonly groupMaxMs: number;
  private readonly clock: () => number;
  private readonly migrationList: readonly Migration[] | undefined;
  private closed = false;
  /** Counters for benches and tests: groups committed and logical transactions in them. */
  readonly stats = { groups: 0, transactions: 0, largestGroup: 0 };

  constructor(options: SqliteStoreOptions) {
    const memory = options.path === ':memory:';
    if (!memory) mkdirSync(dirname(options.path), { recursive: true });
    const busyTimeoutMs = options.busyTimeoutMs ?? 5_000;
    const cacheSize = options.statementCacheSize ?? 1_000;
    this.db = openConnection(options.path, busyTimeoutMs);
    this.writer = new StatementCache(this.db, cacheSize);
    if (memory) {
      this.readerDb = null;
      this.reader = null;
    } else {
      // Opened after the writer switched the file to WAL, so this connection never blocks on it.
      this.readerDb = openConnection(options.path, busyTimeoutMs);
      this.readerDb.pragma('query_only = ON');
      this.reader = new StatementCache(this.readerDb, cacheSize);
    }
    this.groupMaxTransactions = Math.max(1, Math.trunc(options.groupMaxTransactions ?? 200));
    this.groupMaxMs = options.groupMaxMs ?? 5;
    this.clock = options.clock ?? Date.now;
    this.migrationList = options.migrations;
  }

  /** Prepared statement for `sql` on the writer connection, cached by its text. */
  prepare(sql: string): Statement {
    return this.writer.get(sql);
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>, options?: TransactionOptions): Promise<T> {
    if (this.closed) throw new Error('store is closed');
    if (options?.readOnly && this.reader !== null) return this.readTransaction(this.reader, fn);
    return new Promise<T>((resolve, reject) => {
      this.enqueue({ kind: 'tx', fn, resolve: resolve as (value: unknown) => void, reject });
    });
  }

  private async readTransaction<T>(reader: StatementCache, fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.readMutex.run(async () => {
      if (this.closed) throw new Error('store is closed');
      reader.get('BEGIN DEFERRED').run();
      const tx = new SqliteTx(reader);
      try {
        const result = await fn(tx);
        tx.finish();
        reader.get('COMMIT').run();
        return result;
      } catch (error) {
        tx.finish();
        if (reader.db.inTransaction) reader.db.exec('ROLLBACK');
        throw error;
      }
    });
  }

  private enqueue(job: WriteJob): void {
    this.queue.push(job);
    this.schedule();
  }

  private schedule(): void {
    if (this.draining || this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    // setImmediate, not a microtask: requests whose bytes are already here join this group.
    setImmediate(() => {
      this.scheduled = false;
      void this.drainOnce();
    });
  }

  /** Runs the job at the head of the queue: one exclusive job, or one group. */
  private async drainOnce(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      const head = this.queue[0];
      if (head === undefined) return;
      if (head.kind === 'exclusive') {
        this.queue.shift();
        await head.run();
      } else {
        await this.runGroup();
      }
    } catch (error) {
      // runGroup and exclusive jobs settle their own promises; reaching here is a store bug.
      process.emitWarning(`sqlite store drain failed: ${String(error)}`);
    } finally {
      this.draining = false;
      this.schedule();
    }
  }

  /** Takes the grouped jobs at the head of the queue, up to the bounds. */
  private takeGrouped(): GroupedJob | undefined {
    const head = this.queue[0];
    if (head === undefined || head.kind !== 'tx') return undefined;
    this.queue.shift();
    return head;
  }

  private async runGroup(): Promise<void> {
    const db = this.db;
    if (this.closed) {
      for (let job = this.takeGrouped(); job !== undefined; job = this.takeGrouped()) job.reject(new Error('store is closed'));
      return;
    }
    try {
      this.writer.get('BEGIN IMMEDIATE').run();
    } catch (error) {
      // The write lock is not ours (another process held it past busy_timeout): this group's
      // transactions fail as each would have alone; the rest of the queue tries again.
      for (let n = 0; n < this.groupMaxTransactions; n++) {
        const job = this.takeGrouped();
        if (job === undefined) break;
        job.reject(error);
      }
      return;
    }
    const started = performance.now();
    const succeeded: Array<{ job: GroupedJob; value: unknown }> = [];
    let current: GroupedJob | undefined;
    let count = 0;
    try {
      const savepoint = this.writer.get('SAVEPOINT group_tx');
      const release = this.writer.get('RELEASE group_tx');
      while (count < this.groupMaxTransactions && (count === 0 || performance.now() - started < this.groupMaxMs)) {
        current = this.takeGrouped();
        if (current === undefined) break;
        count++;
        savepoint.run();
        const tx = new SqliteTx(this.writer);
        let value: unknown;
        try {
          value = await current.fn(tx);
        } catch (error) {
          tx.finish();
          // Undo this member only; the group's outer transaction goes on.
          if (db.inTransaction) {
            db.exec('ROLLBACK TO group_tx');
            db.exec('RELEASE group_tx');
          }
          const failed = current;
          current = undefined;
          failed.reject(error);
          // SQLite rolled back the whole transaction (e.g. SQLITE_FULL, an I/O error): the
          // earlier members' work is gone with it, so none of them may be acknowledged.
          if (!db.inTransaction) throw new GroupCommitError('the group transaction was rolled back by SQLite', { cause: error });
          continue;
        }
        tx.finish();
        release.run();
        succeeded.push({ job: current, value });
        current = undefined;
      }
      this.writer.get('COMMIT').run();
    } catch (error) {
      // Whatever broke (COMMIT, a savepoint statement, a whole-transaction rollback), nothing of
      // this group is known to be committed: every member still waiting is refused.
      try {
        if (db.inTransaction) db.exec('ROLLBACK');
      } catch {
        // The connection is unusable; the next BEGIN will say so to the next group.
      }
      const lost = error instanceof GroupCommitError ? error : new GroupCommitError('the group COMMIT failed', { cause: error });
      current?.reject(lost);
      for (const done of succeeded) done.job.reject(lost);
      return;
    }
    this.stats.groups++;
    this.stats.transactions += count;
    if (count > this.stats.largestGroup) this.stats.largestGroup = count;
    for (const done of succeeded) done.job.resolve(done.value);
  }

  /** Runs `fn` with the writer connection to itself, in queue order. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.enqueue({
        kind: 'exclusive',
        run: async () => {
          try {
            resolve(await fn());
          } catch (error) {
            reject(error);
          }
        },
      });
    });
  }

  async migrate(): Promise<void> {
    const driver: MigrationDriver = {
      dialect: 'sqlite',
      withMigrationLock: (fn) =>
        this.exclusive(async () => {
          if (this.closed) throw new Error('store is closed');
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
    if (this.closed) return;
    // Queued writes ahead of the close still run (and commit); later ones are refused.
    await this.exclusive(async () => {
      if (this.closed) return;
      this.closed = true;
      // Wait for an in-flight read transaction to end before closing its connection.
      await this.readMutex.run(async () => {
        this.reader?.clear();
        this.readerDb?.close();
      });
      this.writer.clear();
      this.db.close();
    });
  }
}

class SqliteTx implements Tx {
  private done = false;

  constructor(private readonly statements: StatementCache) {}

  finish(): void {
    this.done = true;
  }

  private statement(sql: string): Statement {
    // A Tx used after its transaction ended would run outside any transaction: a bug.
    if (this.done) throw new Error('transaction already finished');
    return this.statements.get(sql);
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
