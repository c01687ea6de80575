/**
 * Day close (issue 18, docs/settlement.md). `business_days` holds one row per closed business
 * day: its signed summary (per-operator revenue, per-issuer positions, per-bank collections,
 * refunds paid, the ledger of the day, the reconciliation), never updated nor deleted (a trigger
 * refuses both on either store). Journal records and ledger postings gain `closed_day`: the
 * business day whose close took them in, set once by that close (a record that arrives after
 * its own day closed is taken in by the next close, as an adjustment referencing its own day).
 * Partial indexes find the rows no close has taken yet.
 */
import type { Migration } from '../migrate.ts';

const common = `
ALTER TABLE journal_records ADD COLUMN closed_day TEXT;
ALTER TABLE ledger_postings ADD COLUMN closed_day TEXT;
CREATE INDEX journal_records_unclosed ON journal_records (occurred_at_ms) WHERE closed_day IS NULL;
CREATE INDEX journal_records_closed_day ON journal_records (closed_day);
CREATE INDEX ledger_postings_unclosed ON ledger_postings (at_ms) WHERE closed_day IS NULL;
CREATE INDEX ledger_postings_closed_day ON ledger_postings (closed_day);
CREATE TABLE business_days (
  day TEXT PRIMARY KEY,
  starts_ms BIGINT NOT NULL,
  ends_ms BIGINT NOT NULL,
  closed_ms BIGINT NOT NULL,
  closed_by TEXT NOT NULL,
  trigger_kind TEXT NOT NULL CHECK (trigger_kind IN ('operator', 'watermarks', 'grace')),
  summary_json TEXT NOT NULL,
  digest TEXT NOT NULL,
  signature TEXT NOT NULL,
  certificate_fingerprint TEXT NOT NULL
);
`;

export const migration121DayClose: Migration = {
  id: 121,
  name: 'day-close',
  sqlite: `${common}
CREATE TRIGGER business_days_no_update BEFORE UPDATE ON business_days BEGIN SELECT RAISE(ABORT, 'a closed business day is immutable'); END;
CREATE TRIGGER business_days_no_delete BEFORE DELETE ON business_days BEGIN SELECT RAISE(ABORT, 'a closed business day is immutable'); END;
`,
  postgres: `${common}
CREATE FUNCTION business_days_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'a closed business day is immutable';
END;
$$;
CREATE TRIGGER business_days_no_change BEFORE UPDATE OR DELETE ON business_days FOR EACH ROW EXECUTE FUNCTION business_days_immutable();
`,
};
