/**
 * The gateway's storage port on PostgreSQL (issue 6): several gateway instances share one
 * database behind a load balancer.
 *
 * Isolation: every transaction is SERIALIZABLE. The services were written for SQLite, where
 * writers are serialised, and they read-then-write freely (read a card's pending loads, then
 * insert a load; read the chain head, then upsert it). SERIALIZABLE gives exactly those
 * semantics across processes without auditing every statement for the right row lock: any
 * interleaving PostgreSQL cannot prove equivalent to a serial order aborts with 40001, and we
 * re-run the whole body (the port says `fn` must be re-runnable). Deadlocks (40P01) are retried
 * the same way. Retries are bounded with full-jitter exponential backoff so twins that collided
 * do not collide again in lock-step, and a retried write holds a per-schema session advisory
 * lock so retried writers go one at a time (no retry storms on a hot spot; PostgreSQL's
 * predicate locks are page- or relation-grained, so disjoint work can still collide).
 *
 * Shapes: services see what SQLite gives them. pg returns BIGINT (int8) and NUMERIC (what SUM
 * of a BIGINT becomes) as strings; this pool's type parsers turn them into JS numbers and throw
 * when a value is not a safe integer (money is integer fen, so that would be a bug, not data).
 * Booleans become 0/1 like SQLite. The parsers are set on this pool only, never globally.
 *
 * SQL: services use `?` placeholders; each statement is rewritten once to $1..$n (cached) and
 * a `?` inside a string literal, quoted identifier or comment is refused as a programmer error.
 *
 * Schema per instance (optional): `?schema=name` in the URL or the `schema` option sets the
 * search_path at connection start; the migration run creates the schema. Tests use a fresh
 * schema each, so runs never interfere.
 *
 * Migrations: one READ COMMITTED transaction holding pg_advisory_xact_lock (keyed by schema).
 * READ COMMITTED on purpose: a SERIALIZABLE snapshot would be taken before the lock wait ends
 * and would not see the tables the instance that held the lock just created.
 */
import pg from 'pg';
import { applyMigrations, type Migration, type MigrationDriver, type MigrationExec } from './migrate.ts';
import type { PoolStats, Row, SqlValue, Store, TransactionOptions, Tx } from './store-port.ts';

export interface PostgresStoreOptions {
  /** postgres://user@host:port/database[?schema=name] */
  connectionString: string;
  /** Schema to create and use (search_path); overrides `?schema=` in the URL. */
  schema?: string;
  /** Clock for `schema_migrations.applied_ms`. */
  clock?: () => number;
  /** Override the migration list (tests). */
  migrations?: readonly Migration[];
  /** Pool size (connections per gateway instance). Default 10. */
  poolSize?: number;
  /** Attempts per transaction on serialization failure or deadlock, first included. Default 30. */
  maxAttempts?: number;
  /** First backoff ceiling in ms; doubles per attempt up to `maxBackoffMs`. Default 2. */
  baseBackoffMs?: number;
  /** Default 250. */
  maxBackoffMs?: number;
  /** Randomness for the backoff jitter (injectable for tests). */
  random?: () => number;
}

/** Counters a test or a metrics endpoint can read. */
export interface PostgresStoreStats {
  transactions: number;
  retries: number;
  /** Transactions that ran out of attempts and surfaced the serialization error. */
  exhausted: number;
}

const OID = { bool: 16, int8: 20, numeric: 1700 } as const;
const RETRYABLE = new Set(['40001', '40P01']);
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

function toSafeInteger(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`integer ${text} from PostgreSQL is outside the safe JS range`);
  return value;
}

function numericToNumber(text: string): number {
  // SUM(bigint) is NUMERIC: integral and exact, so it must convert exactly. Non-integral
  // numerics (AVG) become doubles, as SQLite would give.
  if (/^-?\d+$/.test(text)) return toSafeInteger(text);
  return Number(text);
}

/** Per-pool type parsers: int8/numeric → number (safe-integer checked), bool → 0/1. */
const TYPES = {
  getTypeParser(oid: number, format?: string): (value: string) => unknown {
    if (format === undefined || format === 'text') {
      if (oid === OID.int8) return toSafeInteger;
      if (oid === OID.numeric) return numericToNumber;
      if (oid === OID.bool) return (value: string) => (value === 't' ? 1 : 0);
    }
    return pg.types.getTypeParser(oid, (format ?? 'text') as 'text');
  },
};

/**
 * Rewrites `?` placeholders to $1..$n. Refuses `?` inside a '…' literal, "…" identifier, or
 * comment, and refuses `$` placeholders or dollar quoting: service SQL is portable by contract.
 */
export function toPostgresPlaceholders(sql: string): { text: string; count: number } {
  let out = '';
  let count = 0;
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i];
    if (c === "'" || c === '"') {
      let j = i + 1;
      for (;;) {
        if (j >= n) throw new Error(`unterminated ${c === "'" ? 'string literal' : 'quoted identifier'} in SQL: ${sql}`);
        if (sql[j] === c) {
          if (sql[j + 1] === c) {
            j += 2;
            continue;
          }
          break;
        }
        j++;
      }
      const quoted = sql.slice(i, j + 1);
      if (quoted.includes('?')) throw new Error(`'?' inside a quoted string in SQL (portable SQL passes values as parameters): ${sql}`);
      out += quoted;
      i = j + 1;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      const comment = end === -1 ? sql.slice(i) : sql.slice(i, end);
      if (comment.includes('?')) throw new Error(`'?' inside an SQL comment: ${sql}`);
      out += comment;
      i += comment.length;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      if (end === -1) throw new Error(`unterminated comment in SQL: ${sql}`);
      const comment = sql.slice(i, end + 2);
      if (comment.includes('?')) throw new Error(`'?' inside an SQL comment: ${sql}`);
      out += comment;
      i = end + 2;
    } else if (c === '?') {
      count++;
      out += `$${count}`;
      i++;
    } else if (c === '$') {
      throw new Error(`'$' in portable SQL (use ? placeholders, no dollar quoting): ${sql}`);
    } else {
      out += c;
      i++;
    }
  }
  return { text: out, count };
}

/** Splits `?schema=` out of the URL (pg would otherwise pass it on as an unknown setting). */
export function parseDatabaseUrl(url: string): { connectionString: string; schema: string | undefined } {
  const parsed = new URL(url);
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:')
    throw new Error('GATEWAY_DATABASE_URL must start with postgres:// or postgresql://');
  const schema = parsed.searchParams.get('schema') ?? undefined;
  parsed.searchParams.delete('schema');
  return { connectionString: parsed.toString(), schema: schema === '' ? undefined : schema };
}

/** A 63-bit advisory lock key for the migration run of one schema (FNV-1a, deterministic). */
export function migrationLockKey(schema: string): bigint {
  let hash = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(`transit-gateway-migrations:${schema}`, 'utf8')) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash & 0x7fffffffffffffffn;
}

function isRetryable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && RETRYABLE.has(String((error as { code?: unknown }).code));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class PostgresStore implements Store {
  readonly dialect = 'postgres' as const;
  readonly pool: pg.Pool;
  /** The schema this store lives in, or undefined for the server's default search_path. */
  readonly schema: string | undefined;
  readonly stats: PostgresStoreStats = { transactions: 0, retries: 0, exhausted: 0 };
  private readonly sqlCache = new Map<string, { text: string; count: number }>();
  private readonly clock: () => number;
  private readonly migrationList: readonly Migration[] | undefined;
  private readonly maxAttempts: number;
  private readonly baseBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly random: () => number;
  /** Session advisory lock serialising retried write transactions of this schema (see `transaction`). */
  private readonly retryLockKey: string;
  private closed = false;
  private readonly poolMax: number;

  constructor(options: PostgresStoreOptions) {
    const url = parseDatabaseUrl(options.connectionString);
    const schema = options.schema ?? url.schema;
    if (schema !== undefined && !SCHEMA_NAME.test(schema)) throw new Error(`database schema name must match ${SCHEMA_NAME}: ${JSON.stringify(schema)}`);
    this.schema = schema;
    this.retryLockKey = migrationLockKey(`retried-writers:${schema ?? ''}`).toString();
    this.clock = options.clock ?? Date.now;
    this.migrationList = options.migrations;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 30);
    this.baseBackoffMs = options.baseBackoffMs ?? 2;
    this.maxBackoffMs = options.maxBackoffMs ?? 250;
    this.random = options.random ?? Math.random;
    this.poolMax = options.poolSize ?? 10;
    this.pool = new pg.Pool({
      connectionString: url.connectionString,
      max: this.poolMax,
      types: TYPES,
      // search_path as a startup parameter: no extra round trip per connection.
      options: schema === undefined ? undefined : `-c search_path=${schema}`,
      application_name: 'transit-gateway',
    });
    // An idle connection dropped by the server must not crash the process; the pool replaces it.
    this.pool.on('error', () => undefined);
  }

  /** `?` SQL → `$n` SQL, cached by text (services repeat a few hundred statements). */
  compile(sql: string, params: readonly SqlValue[]): string {
    let compiled = this.sqlCache.get(sql);
    if (compiled === undefined) {
      compiled = toPostgresPlaceholders(sql);
      if (this.sqlCache.size >= 2_000) this.sqlCache.clear();
      this.sqlCache.set(sql, compiled);
    }
    if (compiled.count !== params.length) throw new Error(`SQL has ${compiled.count} placeholders but ${params.length} parameters: ${sql}`);
    return compiled.text;
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>, options?: TransactionOptions): Promise<T> {
    const begin = options?.readOnly ? 'BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY' : 'BEGIN ISOLATION LEVEL SERIALIZABLE';
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw new Error('store is closed');
      const client = await this.pool.connect();
      let broken: Error | undefined;
      let retryLock = false;
      const tx = new PostgresTx(this, client);
      try {
        if (attempt > 1 && !options?.readOnly) {
          // A write that already lost a serialization race re-runs holding a database-wide
          // session lock: retried writers (of every instance) go one at a time, so a hot spot
          // cannot livelock them; first attempts still run fully in parallel. Taken before
          // BEGIN, so the snapshot is taken after the wait. Only throughput, never
          // correctness, depends on it: SERIALIZABLE still checks everything.
          await client.query('SELECT pg_advisory_lock($1::bigint)', [this.retryLockKey]);
          retryLock = true;
        }
        await client.query(begin);
        const result = await fn(tx);
        tx.finish();
        await client.query('COMMIT');
        this.stats.transactions++;
        return result;
      } catch (error) {
        tx.finish();
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          // The connection is unusable: destroy it rather than return it to the pool.
          broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
        }
        if (!isRetryable(error)) throw error;
        if (attempt >= this.maxAttempts) {
          this.stats.exhausted++;
          throw error;
        }
        this.stats.retries++;
      } finally {
        if (retryLock && broken === undefined) {
          try {
            await client.query('SELECT pg_advisory_unlock($1::bigint)', [this.retryLockKey]);
          } catch (unlockError) {
            // Closing the connection releases the session lock.
            broken = unlockError instanceof Error ? unlockError : new Error(String(unlockError));
          }
        }
        client.release(broken);
      }
      const ceilingMs = Math.min(this.maxBackoffMs, this.baseBackoffMs * 2 ** (attempt - 1));
      await sleep(this.random() * ceilingMs);
    }
  }

  async migrate(): Promise<void> {
    const driver: MigrationDriver = {
      dialect: 'postgres',
      withMigrationLock: async (fn) => {
        const client = await this.pool.connect();
        let broken: Error | undefined;
        try {
          await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
          // Held to the end of this transaction: a second instance waits here, then sees
          // every migration recorded and applies nothing.
          await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [migrationLockKey(this.schema ?? '').toString()]);
          if (this.schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
          const exec: MigrationExec = {
            execScript: async (sql) => {
              // Simple-query protocol: several DDL statements in one text.
              await client.query(sql);
            },
            appliedIds: async () => (await client.query<{ id: number }>('SELECT id FROM schema_migrations ORDER BY id')).rows.map((r) => Number(r.id)),
            recordApplied: async (id, name, appliedAtMs) => {
              await client.query('INSERT INTO schema_migrations (id, name, applied_ms) VALUES ($1, $2, $3)', [id, name, appliedAtMs]);
            },
          };
          const result = await fn(exec);
          await client.query('COMMIT');
          return result;
        } catch (error) {
          try {
            await client.query('ROLLBACK');
          } catch (rollbackError) {
            broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
          }
          throw error;
        } finally {
          client.release(broken);
        }
      },
    };
    await applyMigrations(driver, this.clock(), this.migrationList);
  }

  /** pg.Pool's own counters: in use = total - idle; waiting = callers queued for a connection. */
  poolStats(): PoolStats {
    return { total: this.pool.totalCount, idle: this.pool.idleCount, waiting: this.pool.waitingCount, max: this.poolMax };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}

class PostgresTx implements Tx {
  private done = false;

  constructor(
    private readonly store: PostgresStore,
    private readonly client: pg.PoolClient,
  ) {}

  finish(): void {
    this.done = true;
  }

  private async query(sql: string, params: readonly SqlValue[]): Promise<pg.QueryResult> {
    // A Tx used after its transaction ended would run outside any transaction: a bug.
    if (this.done) throw new Error('transaction already finished');
    const text = this.store.compile(sql, params);
    return this.client.query(text, params as SqlValue[]);
  }

  async all<T extends Row = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return (await this.query(sql, params)).rows as T[];
  }

  async get<T extends Row = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return (await this.query(sql, params)).rows[0] as T | undefined;
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return (await this.query(sql, params)).rowCount ?? 0;
  }
}

/** The factory `createStore` loads lazily (so SQLite deployments never load pg). */
export function createPostgresStore(options: PostgresStoreOptions): PostgresStore {
  return new PostgresStore(options);
}
