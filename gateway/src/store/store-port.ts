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

/** A bulk insert's column type: what PostgreSQL casts the column's array to (`$n::text[]`, `$n::bigint[]`). */
export type BulkColumnType = 'text' | 'bigint';

/**
 * The fixed shape of a bulk insert (Tx.insertRows / Tx.writeRows): a constant of the service's
 * code, never built from input, so its statement text is the same on every call.
 */
export interface BulkInsert {
  table: string;
  /** Column names and types, in the order the column arrays are given. */
  columns: readonly (readonly [name: string, type: BulkColumnType])[];
  /**
   * Portable tail after the rows, e.g. `ON CONFLICT DO NOTHING` or `ON CONFLICT (card_no) DO
   * UPDATE SET x = excluded.x`; no placeholders.
   */
  onConflict?: string;
}

export interface Tx {
  /** Runs a statement returning rows. */
  all<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** First row or undefined. */
  get<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  /** Runs a statement; returns the number of rows changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /**
   * A write whose result the body does not need (no row count, no RETURNING), e.g. a ledger
   * posting's entries, an idempotency answer, an audit row. PostgreSQL pipelines it: it goes
   * out at once and the body goes on without waiting for its answer (the next statement, or
   * the COMMIT, follows it on the wire and runs after it); if it fails, the next statement the
   * body awaits, or the commit, throws its error and the transaction rolls back. SQLite runs it
   * at once (and throws at once).
   */
  write(sql: string, params?: readonly SqlValue[]): Promise<void>;
  /**
   * Inserts many rows into one table, given column by column (`columns[c][r]` is row r's value
   * of `into.columns[c]`; every column array as long), in the order given; returns how many rows
   * the statement inserted or updated (fewer than given when `ON CONFLICT DO NOTHING` skipped
   * some). Each adapter sends it the way it does best: PostgreSQL as ONE statement whatever the
   * row count, `INSERT … SELECT * FROM unnest($1::text[], $2::bigint[], …)` (a fixed text, so
   * one named prepared statement; the server parses one array per column instead of a
   * placeholder per value); SQLite as multi-row `VALUES` statements of a few hundred rows.
   * Zero rows send nothing.
   */
  insertRows(into: BulkInsert, columns: readonly (readonly SqlValue[])[]): Promise<number>;
  /** insertRows whose count nobody needs: pipelined on PostgreSQL like `write`. */
  writeRows(into: BulkInsert, columns: readonly (readonly SqlValue[])[]): Promise<void>;
  /**
   * Reserves the id of a row this transaction is about to insert into `table` (its `id` column:
   * BIGSERIAL on PostgreSQL, INTEGER PRIMARY KEY AUTOINCREMENT on SQLite), so the insert can name
   * it and the statements that need it (the answer, the posting) go out with the insert instead
   * of one round trip after it. A read: PostgreSQL pipelines it like any other. PostgreSQL:
   * `nextval` of the column's sequence (an id reserved by a transaction that then inserts
   * nothing, or rolls back, is a gap, as a rolled-back insert's always was); SQLite: one more
   * than the highest id the table (or its AUTOINCREMENT sequence, or this transaction) has used.
   * Ids taken after a card's lock grow with the card's commits, like inserted ones.
   */
  reserveId(table: string): Promise<number>;
  /**
   * Locks the device's row (`devices`) until the transaction ends: concurrent batches of one
   * device go one after the other. Taken before any card lock (the global order is: the device,
   * then cards by number ascending), at most one device per transaction. PostgreSQL: `SELECT …
   * FOR NO KEY UPDATE`; SQLite: nothing (its writers are serialised anyway), only the order check.
   * Call it before reading anything the transaction then writes.
   */
  lockDevice(deviceId: string): Promise<void>;
  /**
   * Locks the cards' account rows (`card_accounts`) until the transaction ends, in card-number
   * order (byte order; the adapter sorts and de-duplicates). A later call in the same
   * transaction may only add cards above every card already locked: any other order could
   * deadlock against a transaction that took them the other way round, so it is refused as a
   * programmer error. A card without an account row is not locked (it has nothing to protect:
   * the caller finds it missing). PostgreSQL: `SELECT … FOR NO KEY UPDATE`, required by
   * `isolation: 'read-committed'` transactions before they read card state they then write;
   * SQLite: nothing but the order check (writers are serialised).
   */
  lockCards(cardNos: readonly string[]): Promise<void>;
}

/**
 * How a write transaction is isolated on PostgreSQL (SQLite serialises every writer and ignores it).
 * - 'serializable' (default): SERIALIZABLE, retried on 40001/40P01 with jittered backoff. For
 *   low-rate writes that read-then-write shared rows (devices, fare tables, credentials, PKI).
 * - 'read-committed': READ COMMITTED. The body takes its locks itself (lockDevice, then
 *   lockCards) before it reads the state it writes; unique constraints are its exactly-once
 *   guard. Every transaction that writes a card's money state (card_accounts, loads, card_chains,
 *   card_debits, refunds, the card's postings) is one of these: see docs/postgres.md.
 */
export type Isolation = 'serializable' | 'read-committed';

export interface TransactionOptions {
  /**
   * Read-only transactions may run concurrently. PostgreSQL: one REPEATABLE READ snapshot for
   * the whole body (reports, day close and reconciliation read consistent totals).
   */
  readOnly?: boolean;
  /** Write isolation on PostgreSQL (default 'serializable'); see `Isolation`. */
  isolation?: Isolation;
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
   * Runs `fn` in one transaction. PostgreSQL: as `options.isolation` says (SERIALIZABLE by
   * default), retried on serialization failure (40001) and deadlock (40P01), so `fn` must be
   * safe to re-run (no side effects outside the transaction). SQLite: BEGIN IMMEDIATE on one
   * connection, serialised.
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

/**
 * The lock-order check both adapters run (so SQLite tests catch a wrong order too): the device
 * first, at most one; then cards, each call only above the cards already locked. Returns the
 * cards this call must lock, sorted and without the ones already held.
 */
export class LockOrder {
  private device: string | undefined;
  private highestCard: string | undefined;
  private readonly held = new Set<string>();

  takeDevice(deviceId: string): boolean {
    if (this.highestCard !== undefined) throw new Error(`lock order: device ${deviceId} locked after a card (the device comes first)`);
    if (this.device === deviceId) return false;
    if (this.device !== undefined) throw new Error(`lock order: a second device ${deviceId} in one transaction (already ${this.device})`);
    this.device = deviceId;
    return true;
  }

  takeCards(cardNos: readonly string[]): string[] {
    const fresh = [...new Set(cardNos)].filter((cardNo) => !this.held.has(cardNo)).sort(byteOrder);
    if (fresh.length === 0) return fresh;
    if (this.highestCard !== undefined && byteOrder(fresh[0], this.highestCard) < 0) {
      throw new Error(`lock order: card ${fresh[0]} locked after card ${this.highestCard} (cards go in ascending order)`);
    }
    for (const cardNo of fresh) this.held.add(cardNo);
    this.highestCard = fresh[fresh.length - 1];
    return fresh;
  }
}

/** Byte order of ASCII card numbers (PostgreSQL's COLLATE "C"), not the locale's. */
export function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The number of rows of a bulk insert's column arrays; throws when the shape does not match `into`. */
export function bulkRowCount(into: BulkInsert, columns: readonly (readonly SqlValue[])[]): number {
  if (columns.length !== into.columns.length)
    throw new Error(`bulk insert into ${into.table}: ${columns.length} column arrays for ${into.columns.length} columns`);
  const rows = columns.length === 0 ? 0 : columns[0].length;
  for (let c = 1; c < columns.length; c++) {
    if (columns[c].length !== rows)
      throw new Error(`bulk insert into ${into.table}: column ${into.columns[c][0]} has ${columns[c].length} values, not ${rows}`);
  }
  if (/[?$;]/.test(into.onConflict ?? '')) throw new Error(`bulk insert into ${into.table}: no placeholders, dollars or semicolons in onConflict`);
  return rows;
}

/** Tables whose ids may be reserved (Tx.reserveId): a plain identifier, never input. */
export function checkIdTable(table: string): void {
  if (!/^[a-z_][a-z0-9_]*$/.test(table)) throw new Error(`reserveId: not a table name: ${JSON.stringify(table)}`);
}
