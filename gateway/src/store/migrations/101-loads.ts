/**
 * Loads (top-ups) and the idempotency table that makes a retried POST /v1/loads return its
 * first answer. The unique (scope, idem_key) row is inserted in the same transaction as the
 * load, so two concurrent requests with one key produce one load (ARCHITECTURE habit 9).
 */
import type { Migration } from '../migrate.ts';

const common = (id: string): string => `
CREATE TABLE idempotency_keys (
  scope TEXT NOT NULL,
  idem_key TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  status_code BIGINT NOT NULL,
  response_json TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  PRIMARY KEY (scope, idem_key)
);
CREATE TABLE loads (
  ${id},
  card_no TEXT NOT NULL,
  amount_fen BIGINT NOT NULL,
  payment_source TEXT NOT NULL,
  caller_scope TEXT NOT NULL,
  branch TEXT NOT NULL,
  terminal_id TEXT NOT NULL,
  online_atc BIGINT NOT NULL,
  balance_before_fen BIGINT NOT NULL,
  key_version BIGINT NOT NULL,
  algorithm TEXT NOT NULL,
  load_date BIGINT NOT NULL,
  load_time BIGINT NOT NULL,
  mac2 TEXT NOT NULL,
  status TEXT NOT NULL,
  resolution TEXT,
  tac TEXT,
  created_ms BIGINT NOT NULL,
  resolved_ms BIGINT
);
CREATE INDEX loads_card_status ON loads (card_no, status);
CREATE INDEX loads_created ON loads (created_ms);
`;

export const migration101Loads: Migration = {
  id: 101,
  name: 'loads-and-idempotency',
  sqlite: common('id INTEGER PRIMARY KEY AUTOINCREMENT'),
  postgres: common('id BIGSERIAL PRIMARY KEY'),
};
