/**
 * Marks the uploaded debits that were written off: taps of a card whose refund was already paid
 * (services/sync-ingest.ts books them to writeoff:late-taps, not to the purse). The card's
 * history shows them as written off (services/card-history.ts); existing rows were cleared.
 */
import type { Migration } from '../migrate.ts';

const common = `ALTER TABLE journal_records ADD COLUMN written_off BIGINT NOT NULL DEFAULT 0;`;

export const migration107JournalWrittenOff: Migration = {
  id: 107,
  name: 'journal-written-off',
  sqlite: common,
  postgres: common,
};
