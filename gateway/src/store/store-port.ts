/**
 * The gateway's storage port. Business logic (services) is written once against `Tx` in a
 * portable SQL subset; SQLite (embedded default) and PostgreSQL (several instances) are two
 * adapters. Idempotency and exactly-once are enforced by unique constraints in the schema,
 * not only in code (ARCHITECTURE habit 9).
 *
 * SQL conventions every service follows so both adapters run it unchanged:
 * - placeholders are `?` (the PostgreSQL adapter rewrites them to $1..$n);
 * - integers are 64-bit (`BIGINT` in DDL); money is integer fen; times are epoch ms (BIGINT);
 * - booleans are stored as 0/1 integers; text is TEXT; bytes are hex TEXT;
 * - `INSERT ... ON CONFLICT (...) DO NOTHING` and `RETURNING` are used (both engines have them);
 * - no engine-specific functions in service SQL (no datetime(), no now()): the clock is injected.
 */
export type SqlValue = string | number | bigint | null;
export type Row = Record<string, SqlValue>;

export interface Tx {
  /** Runs a statement returning rows. */
  all<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** First row or undefined. */
  get<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  /** Runs a statement; returns the number of rows changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
}

export interface TransactionOptions {
  /** Read-only transactions may run concurrently; writes are serialised (SQLite) or serializable (PostgreSQL). */
  readOnly?: boolean;
  /**
   * The body may run more than once and has no effect outside the transaction (as every body
   * must on PostgreSQL, which retries on serialization failures). SQLite's group commit then
   * runs consecutive retryable bodies under one shared savepoint instead of one each (SQLite
   * copies every page a savepoint first touches into its journal: ~20 us of a ~140 us load);
   * when one of them throws, the run is undone, that one refused, and the others run again.
   */
  retryable?: boolean;
}

export interface PoolStats {
  /** Connections open (busy + idle). */
  total: number;
  /** Connections open and not checked out. */
  idle: number;
  /** Callers waiting for a connection (the pool is exhausted). */
  waiting: number;
  /** The pool's size limit. */
  max: number;
}

export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  /**
   * Runs `fn` in one transaction. PostgreSQL: SERIALIZABLE, retried on serialization
   * failure (40001) and deadlock (40P01), so `fn` must be safe to re-run (no side effects
   * outside the transaction). SQLite: BEGIN IMMEDIATE on one connection, serialised.
   */
  transaction<T>(fn: (tx: Tx) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** Applies numbered schema migrations (safe when several instances start at once). */
  migrate(): Promise<void>;
  /**
   * Connection pool occupancy, read from memory (no round trip), for the metrics endpoint.
   * Only stores with a pool have it (PostgreSQL); SQLite has one connection and none.
   */
  poolStats?(): PoolStats;
  close(): Promise<void>;
}
