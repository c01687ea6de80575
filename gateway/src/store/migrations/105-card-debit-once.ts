/**
 * One debit per genuine tap: the purchase TAC does not cover the card's offline ATC, so the
 * same record (same digest: amount, type, terminal, TSN, date, time, TAC) claimed under a second
 * ATC would verify and be charged twice. The database refuses a card's digest twice; sync
 * ingest quarantines the copy as 'tac-replayed' (services/sync-ingest.ts).
 */
import type { Migration } from '../migrate.ts';

const common = `
CREATE UNIQUE INDEX card_debits_once ON card_debits (card_no, digest);
`;

export const migration105CardDebitOnce: Migration = {
  id: 105,
  name: 'card-debit-once',
  sqlite: common,
  postgres: common,
};
