/**
 * Drops ledger_postings_at: no query reads postings by time (reconciliation sums entries by
 * account and by posting), while every posting paid one more B-tree insert for it (~2.5 us of a
 * load's SQL at 50 clients; bench/gateway-loads.bench.ts). The postings keep their primary key
 * and the (kind, reference) uniqueness that makes each posting exactly-once.
 */
import type { Migration } from '../migrate.ts';

const common = `DROP INDEX IF EXISTS ledger_postings_at;`;

export const migration106DropPostingTimeIndex: Migration = {
  id: 106,
  name: 'drop-posting-time-index',
  sqlite: common,
  postgres: common,
};
