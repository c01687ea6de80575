/**
 * Broken-card refunds. One open or paid refund per card (a card is refunded once): the
 * unique card_no makes a retried request find the first refund.
 */
import type { Migration } from '../migrate.ts';

const common = (id: string): string => `
CREATE TABLE refunds (
  ${id},
  card_no TEXT NOT NULL UNIQUE,
  destination_account TEXT NOT NULL,
  destination_name TEXT NOT NULL,
  blacklist_version BIGINT NOT NULL,
  requested_ms BIGINT NOT NULL,
  deadline_ms BIGINT NOT NULL,
  status TEXT NOT NULL,
  settled_by TEXT,
  paid_fen BIGINT,
  receivable_fen BIGINT,
  written_off_fen BIGINT NOT NULL,
  paid_ms BIGINT,
  caller_scope TEXT NOT NULL
);
CREATE INDEX refunds_status ON refunds (status, deadline_ms);
`;

export const migration103Refunds: Migration = {
  id: 103,
  name: 'refunds',
  sqlite: common('id INTEGER PRIMARY KEY AUTOINCREMENT'),
  postgres: common('id BIGSERIAL PRIMARY KEY'),
};
