/**
 * What the revenue split (清分, services/operator-revenue.ts) needs of an uploaded record: the
 * fare-table version the device priced it with (its network and line → operator table), and for
 * a subway exit the trip's entry station and the overtime inside the charge. Rows from before
 * this migration, and records of older firmware, have NULL (the split falls back, see there).
 */
import type { Migration } from '../migrate.ts';

const common = `ALTER TABLE journal_records ADD COLUMN fare_table_version BIGINT;
ALTER TABLE journal_records ADD COLUMN journey_entry_place BIGINT;
ALTER TABLE journal_records ADD COLUMN overtime_fen BIGINT;`;

export const migration120JournalFarePath: Migration = {
  id: 120,
  name: 'journal-fare-path',
  sqlite: common,
  postgres: common,
};
