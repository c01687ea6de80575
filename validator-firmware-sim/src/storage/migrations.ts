/**
 * Numbered schema migrations of the device database. Each entry runs once, in order, inside
 * one transaction, and `PRAGMA user_version` records the highest applied number. Never edit
 * an applied migration: add the next number.
 */
export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'blacklist, journal, device state, fare tables, config, pending torn purchases',
    sql: `
      -- Card number (16 decimal digits, up to 10^16 - 1 > 2^53) as the 64-bit rowid: the
      -- fastest point lookup SQLite has (bench/blacklist-lookup.bench.ts measured it against
      -- an 8-byte BCD BLOB key WITHOUT ROWID). Bound as a BigInt, never as a JS number.
      CREATE TABLE blacklist (
        card INTEGER PRIMARY KEY,
        reason INTEGER NOT NULL,
        version INTEGER NOT NULL
      );

      -- Every transaction the device made. The record is the msgpack-encoded JournalRecord;
      -- acked = 1 once the gateway acknowledged it (stored or quarantined).
      CREATE TABLE journal (
        device_seq INTEGER PRIMARY KEY,
        card_no TEXT NOT NULL,
        result_code INTEGER NOT NULL,
        amount_fen INTEGER NOT NULL,
        occurred_at_ms INTEGER NOT NULL,
        record BLOB NOT NULL,
        acked INTEGER NOT NULL DEFAULT 0 CHECK (acked IN (0, 1)),
        quarantined INTEGER NOT NULL DEFAULT 0 CHECK (quarantined IN (0, 1))
      );
      CREATE INDEX journal_unacked ON journal (device_seq) WHERE acked = 0;

      -- One row: the device's counters. tsn_reserved_until is persisted before any TSN below
      -- it is used, so a restart starts above every TSN that may have reached a card.
      CREATE TABLE device_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        device_id TEXT NOT NULL,
        next_device_seq INTEGER NOT NULL CHECK (next_device_seq >= 1),
        tsn_reserved_until INTEGER NOT NULL CHECK (tsn_reserved_until >= 1),
        fare_table_version INTEGER NOT NULL,
        blacklist_version INTEGER NOT NULL,
        blacklist_count INTEGER NOT NULL CHECK (blacklist_count >= 0),
        unacked_count INTEGER NOT NULL CHECK (unacked_count >= 0),
        watermark INTEGER NOT NULL,
        last_sync_at_ms INTEGER NOT NULL
      );

      CREATE TABLE fare_tables (
        version INTEGER PRIMARY KEY,
        json TEXT NOT NULL,
        installed_at_ms INTEGER NOT NULL
      );

      CREATE TABLE config (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) WITHOUT ROWID;

      -- A purchase whose DEBIT was sent to the card but whose journal row is not committed
      -- (card pulled away, or the process died). Written before the DEBIT reaches the card
      -- (write-ahead intent) and cleared in the same transaction as the journal row. Keyed by
      -- (card, offline ATC): a card can hold an unsettled torn purchase while a newer one is
      -- in flight, and neither may be forgotten.
      CREATE TABLE pending_purchase (
        card_no TEXT NOT NULL,
        offline_atc INTEGER NOT NULL,
        pending BLOB NOT NULL,
        created_at_ms INTEGER NOT NULL,
        PRIMARY KEY (card_no, offline_atc)
      ) WITHOUT ROWID;
    `,
  },
];
