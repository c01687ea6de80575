/**
 * When a recovered torn debit was recovered: occurred_at_ms stays the original transaction's
 * time (services/sync-ingest.ts), recovered_at_ms the later tap that proved it (null for every
 * other record). The card's history shows both.
 */
import type { Migration } from '../migrate.ts';

const common = `ALTER TABLE journal_records ADD COLUMN recovered_at_ms BIGINT;`;

export const migration108JournalRecoveredAt: Migration = {
  id: 108,
  name: 'journal-recovered-at',
  sqlite: common,
  postgres: common,
};
