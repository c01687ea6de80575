/**
 * The gateway's storage port on PostgreSQL (issue 6, reworked in issue 19): several gateway
 * instances share one database behind a load balancer. The design and its proof are in
 * docs/postgres.md; in short:
 *
 * Isolation, per transaction (TransactionOptions):
 * - money writers (`isolation: 'read-committed'`): READ COMMITTED. The body locks what it
 *   read-modify-writes first, in one global order: the device row (sync), then the cards'
 *   `card_accounts` rows by card number ascending (`Tx.lockDevice`, `Tx.lockCards`, `SELECT …
 *   FOR NO KEY UPDATE`). Every later statement of READ COMMITTED takes a fresh snapshot, so after
 *   the lock the body sees everything the previous holder committed. Unique constraints are the
 *   exactly-once guard; ledger postings are insert-only rows (no balance row to contend on).
 *   No serialization failures exist at this level; a deadlock (40P01) cannot arise from the
 *   lock order and is counted (stats.deadlocks) and retried if it ever does.
 * - everything else that writes: SERIALIZABLE, retried on 40001/40P01 with full-jitter
 *   exponential backoff (no global lock: retried writers run in parallel like first attempts).
 * - read-only: one REPEATABLE READ READ ONLY snapshot (reports, reconciliation, day close).
 *
 * Round trips: statements are NAMED prepared statements (name = hash of the SQL text), parsed
 * and planned once per connection; the connections pipeline, so BEGIN goes out with the body's
 * first statement instead of costing a round trip of its own.
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
import { createHash } from 'node:crypto';
import pg from 'pg';
import { applyMigrations, type Migration, type MigrationDriver, type MigrationExec } from './migrate.ts';
import {
  LockOrder,
  bulkRowCount,
  checkIdTable,
  type BulkInsert,
  type Isolation,
  type PoolStats,
  type Row,
  type SqlValue,
  type Store,
  type TransactionOptions,
  type Tx,
} from './store-port.ts';

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
  /** Serialization failures (40001) seen, each followed by a retry or by exhaustion. */
  serializationFailures: number;
  /** Deadlocks (40P01) seen: the lock order should make this 0 (the race tests assert it). */
  deadlocks: number;
  /** Transactions per isolation: READ COMMITTED money writers, SERIALIZABLE others, snapshots. */
  readCommitted: number;
  serializable: number;
  snapshots: number;
}

const BEGIN: Record<Isolation | 'snapshot', string> = {
  'read-committed': 'BEGIN ISOLATION LEVEL READ COMMITTED',
  serializable: 'BEGIN ISOLATION LEVEL SERIALIZABLE',
  snapshot: 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
};

/** Compiled statement: $n text, placeholder count, prepared-statement name. */
interface Compiled {
  text: string;
  count: number;
  name: string;
}

/** Prepared statements per connection stay bounded: texts beyond this many run unnamed. */
const MAX_NAMED_STATEMENTS = 1_500;

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

function errorCode(error: unknown): string {
  return typeof error === 'object' && error !== null ? String((error as { code?: unknown }).code) : '';
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class PostgresStore implements Store {
  readonly dialect = 'postgres' as const;
  readonly pool: pg.Pool;
  /** The schema this store lives in, or undefined for the server's default search_path. */
  readonly schema: string | undefined;
  readonly stats: PostgresStoreStats = {
    transactions: 0,
    retries: 0,
    exhausted: 0,
    serializationFailures: 0,
    deadlocks: 0,
    readCommitted: 0,
    serializable: 0,
    snapshots: 0,
  };
  private readonly sqlCache = new Map<string, Compiled>();
  /** Names handed out so far (never more than MAX_NAMED_STATEMENTS, so per-connection caches stay bounded). */
  private readonly named = new Set<string>();
  private readonly clock: () => number;
  private readonly migrationList: readonly Migration[] | undefined;
  private readonly maxAttempts: number;
  private readonly baseBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly random: () => number;
  private closed = false;
  private readonly poolMax: number;

  constructor(options: PostgresStoreOptions) {
    const url = parseDatabaseUrl(options.connectionString);
    const schema = options.schema ?? url.schema;
    if (schema !== undefined && !SCHEMA_NAME.test(schema)) throw new Error(`database schema name must match ${SCHEMA_NAME}: ${JSON.stringify(schema)}`);
    this.schema = schema;
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
      // Queries are written to the socket at once instead of one round trip after another:
      // BEGIN travels with the body's first statement (node-postgres pipeline mode).
      pipeline: true,
    } as pg.PoolConfig);
    // An idle connection dropped by the server must not crash the process; the pool replaces it.
    this.pool.on('error', () => undefined);
  }

  /** `?` SQL → `$n` SQL and a prepared-statement name, cached by text (services repeat a few hundred statements). */
  compile(sql: string, params: readonly SqlValue[]): Compiled {
    let compiled = this.sqlCache.get(sql);
    if (compiled === undefined) {
      const { text, count } = toPostgresPlaceholders(sql);
      let name = '';
      if (this.named.size < MAX_NAMED_STATEMENTS) {
        // Same text, same name, in every instance and on every connection.
        name = `gw_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
        this.named.add(name);
      }
      compiled = { text, count, name };
      if (this.sqlCache.size >= 2_000) this.sqlCache.clear();
      this.sqlCache.set(sql, compiled);
    }
    if (compiled.count !== params.length) throw new Error(`SQL has ${compiled.count} placeholders but ${params.length} parameters: ${sql}`);
    return compiled;
  }

  /**
   * A bulk insert's statement: `INSERT INTO t (a, b) SELECT * FROM unnest($1::text[], $2::bigint[])
   * [tail]`, one per shape (fixed text), always named: a store has a few of them, not thousands.
   */
  compileBulk(into: BulkInsert): { text: string; name: string } {
    const key = `\u0000bulk ${into.table} ${into.columns.map(([name, type]) => `${name}:${type}`).join(',')} ${into.onConflict ?? ''}`;
    let compiled = this.bulkCache.get(key);
    if (compiled === undefined) {
      const names = into.columns.map(([name]) => name).join(', ');
      const arrays = into.columns.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ');
      const text = `INSERT INTO ${into.table} (${names}) SELECT * FROM unnest(${arrays})${into.onConflict === undefined ? '' : ` ${into.onConflict}`}`;
      compiled = { text, name: `gw_${createHash('sha1').update(text).digest('hex').slice(0, 24)}` };
      if (this.bulkCache.size >= 200) this.bulkCache.clear();
      this.bulkCache.set(key, compiled);
    }
    return compiled;
  }

  private readonly bulkCache = new Map<string, { text: string; name: string }>();

  async transaction<T>(fn: (tx: Tx) => Promise<T>, options?: TransactionOptions): Promise<T> {
    const isolation: Isolation | 'snapshot' = options?.readOnly ? 'snapshot' : (options?.isolation ?? 'serializable');
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw new Error('store is closed');
      const client = await this.pool.connect();
      let broken: Error | undefined;
      const tx = new PostgresTx(this, client, isolation);
      try {
        // Pipelined: not awaited here, the body's first statement follows it on the wire. A
        // failed BEGIN fails that statement too (and is rethrown below).
        tx.cork();
        const begun = client.query(BEGIN[isolation]);
        begun.catch(() => undefined);
        const result = await fn(tx);
        tx.finish();
        // COMMIT goes out behind the pipelined writes; if one of them failed, the server turns
        // the COMMIT into a ROLLBACK and settle() throws that write's error.
        tx.cork();
        const committed = client.query('COMMIT');
        committed.catch(() => undefined);
        await begun;
        await tx.settle();
        await committed;
        this.stats.transactions++;
        if (isolation === 'read-committed') this.stats.readCommitted++;
        else if (isolation === 'serializable') this.stats.serializable++;
        else this.stats.snapshots++;
        return result;
      } catch (error) {
        tx.finish();
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          // The connection is unusable: destroy it rather than return it to the pool.
          broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
        }
        const code = errorCode(error);
        if (code === '40P01') this.stats.deadlocks++;
        if (code === '40001') this.stats.serializationFailures++;
        if (!RETRYABLE.has(code)) throw error;
        if (attempt >= this.maxAttempts) {
          this.stats.exhausted++;
          throw error;
        }
        this.stats.retries++;
      } finally {
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
  private readonly locks = new LockOrder();
  /** Pipelined statements not awaited by the body (write, locks); settled before COMMIT answers. */
  private readonly inFlight: Promise<unknown>[] = [];
  /** The first error of one of them: every later await and the commit throw it. */
  private pipelineError: unknown;

  constructor(
    private readonly store: PostgresStore,
    private readonly client: pg.PoolClient,
    private readonly isolation: Isolation | 'snapshot',
  ) {}

  finish(): void {
    this.done = true;
  }

  /**
   * Holds the socket's writes until the current run of synchronous code and promise callbacks
   * is over (process.nextTick runs after the microtasks), so the statements a body sends
   * without waiting (BEGIN, locks, writes, reads in Promise.all, COMMIT) leave in ONE write:
   * one system call and one wake-up of the server instead of one per statement.
   */
  cork(): void {
    if (this.corked) return;
    const stream = (this.client as unknown as { connection?: { stream?: { cork?: () => void; uncork?: () => void } } }).connection?.stream;
    if (stream?.cork === undefined || stream.uncork === undefined) return;
    stream.cork();
    this.corked = true;
    process.nextTick(() => {
      this.corked = false;
      stream.uncork?.();
    });
  }

  private corked = false;

  private send(sql: string, params: readonly SqlValue[]): Promise<pg.QueryResult> {
    // A Tx used after its transaction ended would run outside any transaction: a bug.
    if (this.done) throw new Error('transaction already finished');
    const { text, name } = this.store.compile(sql, params);
    this.cork();
    return this.client.query(name === '' ? { text, values: params as SqlValue[] } : { name, text, values: params as SqlValue[] });
  }

  private async query(sql: string, params: readonly SqlValue[]): Promise<pg.QueryResult> {
    try {
      const result = await this.send(sql, params);
      if (this.pipelineError !== undefined) throw this.pipelineError;
      return result;
    } catch (error) {
      // After a failed pipelined write every statement fails with 25P02: report the cause.
      throw this.pipelineError ?? error;
    }
  }

  /** Sends without waiting for the answer; the first failure is kept for `settle` and later awaits. */
  private pipeline(sent: Promise<unknown>): void {
    this.inFlight.push(
      sent.catch((error: unknown) => {
        if (this.pipelineError === undefined) this.pipelineError = error;
      }),
    );
  }

  /** Waits for every pipelined statement (already on the wire before COMMIT); throws the first failure. */
  async settle(): Promise<void> {
    if (this.inFlight.length > 0) await Promise.all(this.inFlight);
    if (this.pipelineError !== undefined) throw this.pipelineError;
  }

  async write(sql: string, params: readonly SqlValue[] = []): Promise<void> {
    this.pipeline(this.send(sql, params));
  }

  private sendRows(into: BulkInsert, columns: readonly (readonly SqlValue[])[]): Promise<pg.QueryResult> | undefined {
    if (this.done) throw new Error('transaction already finished');
    if (bulkRowCount(into, columns) === 0) return undefined;
    const { text, name } = this.store.compileBulk(into);
    // One array literal per column, one parameter each (the statement casts it: $n::bigint[]).
    const values = columns.map((column) => arrayLiteral(column));
    this.cork();
    return this.client.query({ name, text, values });
  }

  async insertRows(into: BulkInsert, columns: readonly (readonly SqlValue[])[]): Promise<number> {
    const sent = this.sendRows(into, columns);
    if (sent === undefined) return 0;
    try {
      const result = await sent;
      if (this.pipelineError !== undefined) throw this.pipelineError;
      return result.rowCount ?? 0;
    } catch (error) {
      throw this.pipelineError ?? error;
    }
  }

  async writeRows(into: BulkInsert, columns: readonly (readonly SqlValue[])[]): Promise<void> {
    const sent = this.sendRows(into, columns);
    if (sent !== undefined) this.pipeline(sent);
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

  async reserveId(table: string): Promise<number> {
    checkIdTable(table);
    // One named statement for every table: the sequence is found by the column it feeds.
    const row = (await this.query("SELECT nextval(pg_get_serial_sequence(?, 'id')) AS id", [table])).rows[0] as { id: number } | undefined;
    if (row?.id === undefined || row.id === null) throw new Error(`reserveId: ${table}.id has no sequence`);
    return Number(row.id);
  }

  /**
   * Row locks only mean something at READ COMMITTED, where the statements after the lock see
   * what the previous holder committed. In a SERIALIZABLE or snapshot transaction the snapshot
   * may predate the holder's commit: a programmer error, refused.
   */
  private requireReadCommitted(what: string): void {
    if (this.done) throw new Error('transaction already finished');
    if (this.isolation !== 'read-committed') throw new Error(`${what} needs a transaction with isolation 'read-committed' (this one is ${this.isolation})`);
  }

  async lockDevice(deviceId: string): Promise<void> {
    this.requireReadCommitted('lockDevice');
    if (!this.locks.takeDevice(deviceId)) return;
    // Pipelined: the body's next statement follows on the wire and runs once the lock is held.
    this.pipeline(this.send('SELECT 1 AS locked FROM devices WHERE device_id = ? FOR NO KEY UPDATE', [deviceId]));
  }

  async lockCards(cardNos: readonly string[]): Promise<void> {
    this.requireReadCommitted('lockCards');
    const fresh = this.locks.takeCards(cardNos);
    if (fresh.length === 0) return;
    // Pipelined like lockDevice: nothing the body reads goes ahead of the lock on the wire.
    if (fresh.length === 1) {
      this.pipeline(this.send('SELECT 1 AS locked FROM card_accounts WHERE card_no = ? FOR NO KEY UPDATE', [fresh[0]]));
      return;
    }
    // One statement: rows are locked in the order the sort hands them to the lock step, which
    // is byte order (COLLATE "C"), the same order LockOrder checked in JavaScript.
    const text = 'SELECT 1 AS locked FROM card_accounts WHERE card_no = ANY($1::text[]) ORDER BY card_no COLLATE "C" FOR NO KEY UPDATE';
    this.cork();
    this.pipeline(this.client.query({ name: 'gw_lock_cards', text, values: [fresh] }));
  }
}

/**
 * A PostgreSQL array literal of one bulk-insert column, `{1,NULL,"a\\"b"}`: what node-postgres
 * would send for a JS array, written in one pass (it costs ~2× more through the driver's
 * generic per-element conversion, and a 5,000-record batch has 140,000 values). Numbers bare,
 * text double-quoted with `\` and `"` escaped (so commas, braces, spaces and the word NULL
 * stay text), NULL for null.
 */
export function arrayLiteral(column: readonly SqlValue[]): string {
  let out = '{';
  for (let i = 0; i < column.length; i++) {
    if (i > 0) out += ',';
    const value = column[i];
    if (value === null || value === undefined) out += 'NULL';
    else if (typeof value === 'number' || typeof value === 'bigint') out += String(value);
    else out += `"${value.replace(ARRAY_ESCAPE, '\\$&')}"`;
  }
  return `${out}}`;
}

const ARRAY_ESCAPE = /[\\"]/g;

/** The factory `createStore` loads lazily (so SQLite deployments never load pg). */
export function createPostgresStore(options: PostgresStoreOptions): PostgresStore {
  return new PostgresStore(options);
}
