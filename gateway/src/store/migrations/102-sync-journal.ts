/**
 * Uploaded journal records, exactly once by (device_id, device_seq); the per-card offline ATC
 * chain (unique (card_no, offline_atc): a second, different record at one ATC is a cloned
 * card); per-device sync state (watermark, drained blacklist version, quarantine flag); and
 * anomalies found on the way (ATC gaps, ATC conflicts, bad TACs).
 */
import type { Migration } from '../migrate.ts';

const common = (id: string): string => `
CREATE TABLE journal_records (
  device_id TEXT NOT NULL,
  device_seq BIGINT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT,
  card_no TEXT NOT NULL,
  card_action TEXT NOT NULL,
  operator TEXT NOT NULL,
  device_kind TEXT NOT NULL,
  result_code BIGINT NOT NULL,
  transaction_type BIGINT NOT NULL,
  amount_fen BIGINT NOT NULL,
  balance_before_fen BIGINT NOT NULL,
  balance_after_fen BIGINT NOT NULL,
  offline_atc BIGINT NOT NULL,
  online_atc BIGINT NOT NULL,
  terminal_id TEXT NOT NULL,
  tsn BIGINT NOT NULL,
  tx_date BIGINT NOT NULL,
  tx_time BIGINT NOT NULL,
  tac TEXT NOT NULL,
  place BIGINT NOT NULL,
  line BIGINT NOT NULL,
  occurred_at_ms BIGINT NOT NULL,
  received_ms BIGINT NOT NULL,
  PRIMARY KEY (device_id, device_seq)
);
CREATE INDEX journal_records_card ON journal_records (card_no, offline_atc);
CREATE INDEX journal_records_day ON journal_records (tx_date, operator);
CREATE TABLE card_debits (
  card_no TEXT NOT NULL,
  offline_atc BIGINT NOT NULL,
  digest TEXT NOT NULL,
  device_id TEXT NOT NULL,
  device_seq BIGINT NOT NULL,
  PRIMARY KEY (card_no, offline_atc)
);
CREATE TABLE card_chains (
  card_no TEXT PRIMARY KEY,
  next_atc BIGINT NOT NULL,
  max_atc BIGINT NOT NULL
);
CREATE TABLE device_sync_state (
  device_id TEXT PRIMARY KEY,
  watermark BIGINT NOT NULL,
  max_seq BIGINT NOT NULL,
  drained_blacklist_version BIGINT NOT NULL,
  drained_ms BIGINT NOT NULL,
  last_sync_ms BIGINT NOT NULL,
  quarantined_count BIGINT NOT NULL,
  flagged BIGINT NOT NULL
);
CREATE TABLE money_anomalies (
  ${id},
  kind TEXT NOT NULL,
  card_no TEXT NOT NULL,
  atc BIGINT NOT NULL,
  device_id TEXT NOT NULL,
  device_seq BIGINT NOT NULL,
  detail TEXT NOT NULL,
  at_ms BIGINT NOT NULL,
  UNIQUE (kind, card_no, atc, device_id, device_seq)
);
`;

export const migration102SyncJournal: Migration = {
  id: 102,
  name: 'sync-journal',
  sqlite: common('id INTEGER PRIMARY KEY AUTOINCREMENT'),
  postgres: common('id BIGSERIAL PRIMARY KEY'),
};
