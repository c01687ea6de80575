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
 * the group. Consecutive transactions declared `retryable` (bodies with no effect outside the
 * transaction, as PostgreSQL requires anyway) share one savepoint instead: when one of them
 * throws, the run is rolled back, that one refused, and the run's earlier members go back to the
 * head of the queue and run again from the state they first saw (the same outcome as one
 * savepoint each, at a fraction of the journal work on the hot paths: loads and audit entries).
 * Logical transactions still run one after the other (serialisable, same as the old
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
 * CHECKPOINTS run on a worker thread with its own connection (`PRAGMA wal_checkpoint(PASSIVE)`
 * every `checkpointEveryMs`), never inside a COMMIT: SQLite's automatic checkpoint copies the
 * WAL into the database and fsyncs it inside whichever COMMIT crosses 1,000 pages, which held
 * the event loop (and every request waiting on it) for 5-13 ms every few hundred loads (COMMIT
 * p99 6.2 ms, max 12.7 ms with it; 2.2 / 4.8 ms without, 10,000 loads at 50 clients). A passive
 * checkpoint never blocks the writer, and the writer restarts the WAL from the top once a
 * checkpoint has copied all of it, so the WAL stays bounded. ':memory:' has no WAL.
 *
 * BEGIN IMMEDIATE takes the database write lock up front (no SQLITE_BUSY upgrade deadlocks with
 * another process on the same file). Prepared statements are cached by SQL text per connection:
 * the sync ingest runs the same few statements tens of thousands of times a second.
 */
import Database from 'better-sqlite3';
import { mkdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { AsyncMutex } from './async-mutex.ts';
import { applyMigrations, type Migration, type MigrationDriver, type MigrationExec } from './migrate.ts';
import { LockOrder, bulkRowCount, checkIdTable, type BulkInsert, type Row, type SqlValue, type Store, type TransactionOptions, type Tx } from './store-port.ts';

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
  /**
   * Interval of the background checkpoint thread, ms (default 250). 0: no thread, SQLite's own
   * automatic checkpoint inside COMMIT (the old behaviour).
   */
  checkpointEveryMs?: number;
  /**
   * The thread starts once the WAL file has grown to this many bytes (default 4 MiB, SQLite's own
   * automatic threshold of 1,000 pages): a store that writes little (tests, a quiet branch
   * gateway) never pays the thread's ~30 ms start.
   */
  checkpointStartWalBytes?: number;
}

/**
 * The checkpoint thread's code (plain CommonJS, evaluated: the store may run under a TypeScript
 * loader the worker would not have). It opens its own connection and runs a passive checkpoint
 * every interval until told to stop; a failed checkpoint is reported and retried next time.
 */
const CHECKPOINT_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 1000');
db.pragma('synchronous = FULL');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
let stopped = false;
const tick = () => {
  if (stopped) return;
  try {
    const row = checkpoint.get();
    parentPort.postMessage({ kind: 'checkpoint', walFrames: row.log, copied: row.checkpointed });
  } catch (error) {
    parentPort.postMessage({ kind: 'error', message: String(error && error.message || error) });
  }
  timer = setTimeout(tick, workerData.everyMs);
};
let timer = setTimeout(tick, workerData.everyMs);
parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  stopped = true;
  clearTimeout(timer);
  db.close();
  parentPort.postMessage({ kind: 'stopped' });
  parentPort.close();
});
`;

const BETTER_SQLITE3 = createRequire(import.meta.url).resolve('better-sqlite3');

/** The background checkpoint thread of one store. */
class Checkpointer {
  private readonly worker: Worker;
  /** Checkpoints run, the last WAL size seen (frames) and the last error (for tests and ops). */
  readonly stats = { checkpoints: 0, lastWalFrames: 0, errors: 0, lastError: null as string | null };

  /** The thread has exited (stopped, or died); `stop` then has nothing to wait for. */
  private exited = false;
  private stopping = false;

  /** `onLost` is called if the thread exits without being asked to stop. */
  constructor(path: string, everyMs: number, onLost: (reason: string) => void) {
    this.worker = new Worker(CHECKPOINT_WORKER, { eval: true, workerData: { driver: BETTER_SQLITE3, path: resolve(path), everyMs } });
    this.worker.once('exit', (code) => {
      this.exited = true;
      if (this.stopping) return;
      this.stats.errors++;
      this.stats.lastError = `checkpoint thread exited (code ${code})`;
      onLost(this.stats.lastError);
    });
    this.worker.on('message', (message: { kind: string; walFrames?: number; message?: string }) => {
      if (message.kind === 'checkpoint') {
        this.stats.checkpoints++;
        this.stats.lastWalFrames = message.walFrames ?? 0;
      } else if (message.kind === 'error') {
        this.stats.errors++;
        this.stats.lastError = message.message ?? 'unknown';
      }
    });
    this.worker.on('error', (error) => {
      this.stats.errors++;
      this.stats.lastError = String(error);
    });
    // The thread must not keep a process alive that is otherwise done.
    this.worker.unref();
  }

  async stop(): Promise<void> {
    // A thread that already exited emits no second 'exit': waiting for one would hang close.
    if (this.exited) return;
    this.stopping = true;
    const exited = new Promise<void>((done) => this.worker.once('exit', () => done()));
    this.worker.postMessage('stop');
    const timer = setTimeout(() => void this.worker.terminate(), 2_000);
    await exited;
    clearTimeout(timer);
  }
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
  /** The body may run again (TransactionOptions.retryable): it shares its group's savepoint. */
  retryable: boolean;
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
  /** The background checkpoint thread, once started (never for ':memory:' or checkpointEveryMs 0). */
  private checkpointer: Checkpointer | null = null;
  /** Waiting to start the thread: the WAL path, interval, start size, and groups until the next size check. */
  private pendingCheckpointer: { walPath: string; path: string; everyMs: number; startBytes: number; groupsToCheck: number } | null;
  /** Counters for benches and tests: groups committed and logical transactions in them. */
  readonly stats = { groups: 0, transactions: 0, largestGroup: 0 };

  constructor(options: SqliteStoreOptions) {
    const memory = options.path === ':memory:';
    if (!memory) mkdirSync(dirname(options.path), { recursive: true });
    const busyTimeoutMs = options.busyTimeoutMs ?? 5_000;
    const cacheSize = options.statementCacheSize ?? 1_000;
    this.db = openConnection(options.path, busyTimeoutMs);
    // Savepoint journals in memory: a group transaction keeps savepoints open over many
    // statements, and SQLite spills a savepoint's journal (a copy of every page it first
    // touches) to a temporary FILE past 64 KiB by default, i.e. write() calls inside every
    // group: 35-45 of the 95-130 us of SQL in a load (10,000 loads at 50 clients). The writer runs
    // short transactions only; big sorts (reports) run on the reader, which keeps its default.
    this.db.pragma('temp_store = MEMORY');
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
    const checkpointEveryMs = options.checkpointEveryMs ?? 250;
    if (!memory && checkpointEveryMs > 0) {
      // The writer never checkpoints inside a COMMIT; the thread does it beside it.
      this.db.pragma('wal_autocheckpoint = 0');
      this.pendingCheckpointer = {
        walPath: `${options.path}-wal`,
        path: options.path,
        everyMs: checkpointEveryMs,
        startBytes: options.checkpointStartWalBytes ?? 4 * 1024 * 1024,
        groupsToCheck: 0,
      };
      this.maybeStartCheckpointer();
    } else {
      this.pendingCheckpointer = null;
    }
    this.groupMaxTransactions = Math.max(1, Math.trunc(options.groupMaxTransactions ?? 200));
    this.groupMaxMs = options.groupMaxMs ?? 5;
    this.clock = options.clock ?? Date.now;
    this.migrationList = options.migrations;
  }

  /** Starts the checkpoint thread once the WAL is big enough (checked every 32 groups). */
  private maybeStartCheckpointer(): void {
    const pending = this.pendingCheckpointer;
    if (pending === null || this.checkpointer !== null || this.closed) return;
    if (pending.groupsToCheck-- > 0) return;
    pending.groupsToCheck = 32;
    let walBytes = 0;
    try {
      walBytes = statSync(pending.walPath).size;
    } catch {
      // No WAL file yet: nothing to checkpoint.
    }
    if (walBytes < pending.startBytes) return;
    try {
      this.checkpointer = new Checkpointer(pending.path, pending.everyMs, (reason) => this.checkpointThreadLost(reason));
    } catch (error) {
      // No thread to be had (Node throws ERR_WORKER_INIT_FAILED when it cannot start one).
      this.pendingCheckpointer = null;
      this.checkpointThreadLost(String(error));
    }
  }

  /**
   * The checkpoint thread is gone (it could not start, or died): the writer checkpoints inside
   * COMMIT again (SQLite's default, the old behaviour), else nothing would bound the WAL.
   */
  private checkpointThreadLost(reason: string): void {
    if (this.closed || !this.db.open) return;
    this.db.pragma('wal_autocheckpoint = 1000');
    process.emitWarning(`sqlite store: ${reason}; the writer checkpoints inside COMMIT again`);
  }

  /** The checkpoint thread's counters, or null when there is none (yet). */
  get checkpointStats(): Checkpointer['stats'] | null {
    return this.checkpointer?.stats ?? null;
  }

  /** Prepared statement for `sql` on the writer connection, cached by its text. */
  prepare(sql: string): Statement {
    return this.writer.get(sql);
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>, options?: TransactionOptions): Promise<T> {
    if (this.closed) throw new Error('store is closed');
    if (options?.readOnly && this.reader !== null) return this.readTransaction(this.reader, fn);
    return new Promise<T>((resolve, reject) => {
      this.enqueue({ kind: 'tx', fn, resolve: resolve as (value: unknown) => void, reject, retryable: options?.retryable === true });
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
      const runSavepoint = this.writer.get('SAVEPOINT retryable_run');
      const runRelease = this.writer.get('RELEASE retryable_run');
      // Retryable members that ran since the open run savepoint (their results not yet final).
      let run: Array<{ job: GroupedJob; value: unknown }> | null = null;
      const closeRun = () => {
        if (run === null) return;
        runRelease.run();
        run = null;
      };
      while (count < this.groupMaxTransactions && (count === 0 || performance.now() - started < this.groupMaxMs)) {
        current = this.takeGrouped();
        if (current === undefined) break;
        count++;
        if (current.retryable) {
          if (run === null) {
            runSavepoint.run();
            run = [];
          }
          const outcome = await this.runBody(current);
          if (!outcome.ok) {
            const error = outcome.error;
            // Undo the whole run (this member's partial work and the run's earlier members);
            // refuse this member, and put the earlier ones back at the head of the queue to run
            // again from the same state they first saw (their bodies are declared re-runnable).
            this.rollbackTo('retryable_run');
            const undone: Array<{ job: GroupedJob; value: unknown }> = run ?? [];
            run = null;
            const failed = current;
            current = undefined;
            failed.reject(error);
            if (!db.inTransaction) {
              for (const again of undone) again.job.reject(new GroupCommitError('the group transaction was rolled back by SQLite', { cause: error }));
              throw new GroupCommitError('the group transaction was rolled back by SQLite', { cause: error });
            }
            for (const again of undone) succeeded.splice(succeeded.indexOf(again), 1);
            this.queue.unshift(...undone.map((again) => again.job));
            count -= undone.length;
            continue;
          }
          const done = { job: current, value: outcome.value };
          run?.push(done);
          succeeded.push(done);
          current = undefined;
          continue;
        }
        closeRun();
        savepoint.run();
        const outcome = await this.runBody(current);
        if (!outcome.ok) {
          const error = outcome.error;
          // Undo this member only; the group's outer transaction goes on.
          this.rollbackTo('group_tx');
          const failed = current;
          current = undefined;
          failed.reject(error);
          // SQLite rolled back the whole transaction (e.g. SQLITE_FULL, an I/O error): the
          // earlier members' work is gone with it, so none of them may be acknowledged.
          if (!db.inTransaction) throw new GroupCommitError('the group transaction was rolled back by SQLite', { cause: error });
          continue;
        }
        release.run();
        succeeded.push({ job: current, value: outcome.value });
        current = undefined;
      }
      closeRun();
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
    // After the answers: nothing here may keep a committed transaction from settling.
    this.maybeStartCheckpointer();
  }

  /** Runs one member's body on the writer connection; its Tx is finished either way. */
  private async runBody(job: GroupedJob): Promise<{ ok: true; value: unknown } | { ok: false; error: unknown }> {
    const tx = new SqliteTx(this.writer);
    try {
      return { ok: true, value: await job.fn(tx) };
    } catch (error) {
      return { ok: false, error };
    } finally {
      tx.finish();
    }
  }

  /** Undoes everything since savepoint `name` and closes it (unless SQLite already ended the transaction). */
  private rollbackTo(name: 'group_tx' | 'retryable_run'): void {
    if (!this.db.inTransaction) return;
    this.db.exec(`ROLLBACK TO ${name}`);
    this.db.exec(`RELEASE ${name}`);
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
            appliedIds: async () => (this.db.prepare('SELECT id FROM schema_migrations ORDER BY id').all() as { id: number }[]).map((r) => Number(r.id)),
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
      // The thread's connection goes first: the writer's close, the last one, then checkpoints
      // the whole WAL and removes it.
      await this.checkpointer?.stop();
      this.writer.clear();
      this.db.close();
    });
  }
}

class SqliteTx implements Tx {
  private done = false;
  /** Writers are serialised, so locks are only checked for their order (a bug shows on SQLite too). */
  private readonly locks = new LockOrder();

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

  async write(sql: string, params: readonly SqlValue[] = []): Promise<void> {
    this.statement(sql).run(...params);
  }

  async insertRows(into: BulkInsert, columns: readonly (readonly SqlValue[])[]): Promise<number> {
    const rows = bulkRowCount(into, columns);
    const width = into.columns.length;
    // A few hundred rows per statement (at most ~7,000 values): one statement per chunk size, cached.
    const perStatement = Math.max(1, Math.min(500, Math.floor(7_000 / width)));
    const head = `INSERT INTO ${into.table} (${into.columns.map(([name]) => name).join(', ')}) VALUES `;
    const row = `(${new Array(width).fill('?').join(', ')})`;
    let changed = 0;
    for (let from = 0; from < rows; from += perStatement) {
      const to = Math.min(rows, from + perStatement);
      const params: SqlValue[] = new Array((to - from) * width);
      let k = 0;
      for (let r = from; r < to; r++) for (let c = 0; c < width; c++) params[k++] = columns[c][r];
      const sql = `${head}${new Array(to - from).fill(row).join(', ')}${into.onConflict === undefined ? '' : ` ${into.onConflict}`}`;
      changed += this.statement(sql).run(...params).changes;
    }
    return changed;
  }

  async writeRows(into: BulkInsert, columns: readonly (readonly SqlValue[])[]): Promise<void> {
    await this.insertRows(into, columns);
  }

  /** Ids this transaction reserved and has perhaps not inserted yet, per table. */
  private readonly reserved = new Map<string, number>();

  async reserveId(table: string): Promise<number> {
    checkIdTable(table);
    const row = this.statement(
      `SELECT MAX(COALESCE((SELECT MAX(id) FROM ${table}), 0), COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?), 0)) AS id`,
    ).get(table) as { id: number | bigint };
    const id = Math.max(Number(row.id), this.reserved.get(table) ?? 0) + 1;
    this.reserved.set(table, id);
    return id;
  }

  async lockDevice(deviceId: string): Promise<void> {
    if (this.done) throw new Error('transaction already finished');
    this.locks.takeDevice(deviceId);
  }

  async lockCards(cardNos: readonly string[]): Promise<void> {
    if (this.done) throw new Error('transaction already finished');
    this.locks.takeCards(cardNos);
  }
}

export function createSqliteStore(options: SqliteStoreOptions): SqliteStore {
  return new SqliteStore(options);
}
