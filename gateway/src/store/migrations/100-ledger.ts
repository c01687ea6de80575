/**
 * Double-entry ledger (issue 5, clearing and ledger). A posting is a set of entries whose
 * amounts sum to zero; debit is positive, credit negative. `UNIQUE (kind, reference)` makes
 * every business event post at most once, whatever retries or concurrent requests do.
 */
import type { Migration } from '../migrate.ts';

const common = (id: string): string => `
CREATE TABLE ledger_postings (
  ${id},
  kind TEXT NOT NULL,
  reference TEXT NOT NULL,
  at_ms BIGINT NOT NULL,
  UNIQUE (kind, reference)
);
CREATE TABLE ledger_entries (
  posting_id BIGINT NOT NULL REFERENCES ledger_postings(id),
  account TEXT NOT NULL,
  amount_fen BIGINT NOT NULL
);
CREATE INDEX ledger_entries_account ON ledger_entries (account);
CREATE INDEX ledger_entries_posting ON ledger_entries (posting_id);
CREATE INDEX ledger_postings_at ON ledger_postings (at_ms);
`;

export const migration100Ledger: Migration = {
  id: 100,
  name: 'ledger',
  sqlite: common('id INTEGER PRIMARY KEY AUTOINCREMENT'),
  postgres: common('id BIGSERIAL PRIMARY KEY'),
};
