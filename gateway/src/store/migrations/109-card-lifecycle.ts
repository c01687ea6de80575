/**
 * The card's life at the counter (issue 16, DOMAIN.md sections 5 and 7): applications and the
 * simulated card factory, exchanges, bank changes, debts of overdrawn cards, lost-card balances
 * moved to the forfeited account, park passes moved to a new card, and the social-security-only
 * cancellation a service point makes.
 *
 * - card_applications: one row per application (a first card, an exchange, the new bank's card
 *   after a bank change). At most one open application per holder and one exchange per old card
 *   (unique partial indexes, not only code).
 * - bank_changes: per holder; completed_ms is the new card's issue (the 6-month rule counts from it).
 * - card_debts: a negative shadow balance settled before an exchange, cancellation or refund:
 *   paid in at the counter or written off by a supervisor; one row per settlement.
 * - lost_card_forfeits: the balance of a lost card moved from card liability to
 *   liability:lost-card-forfeited, once per card.
 * - park_pass_transfers: the pass of `pass_year` moved from `from_card_no` to `to_card_no`.
 */
import type { Migration } from '../migrate.ts';

const common = (id: string): string => `
CREATE TABLE card_applications (
  ${id},
  holder_id BIGINT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('application', 'exchange')),
  reason TEXT NOT NULL,
  old_card_no TEXT,
  bank_change_id BIGINT,
  issuing_bank TEXT NOT NULL,
  branch_id TEXT,
  collection TEXT NOT NULL CHECK (collection IN ('instant', 'branch', 'mail')),
  state TEXT NOT NULL CHECK (state IN ('applied', 'making', 'ready', 'mailed', 'collected')),
  holder_name TEXT NOT NULL,
  profile TEXT NOT NULL,
  algorithm TEXT NOT NULL,
  overdraft_limit_fen BIGINT NOT NULL,
  transit_opened INTEGER NOT NULL,
  suburban_opened INTEGER NOT NULL,
  password_hash TEXT NOT NULL,
  password_must_change INTEGER NOT NULL,
  applied_ms BIGINT NOT NULL,
  due_ms BIGINT NOT NULL,
  making_ms BIGINT,
  made_ms BIGINT,
  collected_ms BIGINT,
  new_card_no TEXT,
  created_by TEXT NOT NULL
);
CREATE UNIQUE INDEX card_applications_one_open ON card_applications (holder_id) WHERE state <> 'collected';
CREATE UNIQUE INDEX card_applications_old_card ON card_applications (old_card_no) WHERE old_card_no IS NOT NULL;
CREATE INDEX card_applications_due ON card_applications (state, due_ms);

CREATE TABLE bank_changes (
  ${id},
  holder_id BIGINT NOT NULL,
  old_card_no TEXT NOT NULL UNIQUE,
  from_bank TEXT NOT NULL,
  to_bank TEXT NOT NULL,
  cancelled_ms BIGINT NOT NULL,
  new_card_no TEXT,
  completed_ms BIGINT,
  created_by TEXT NOT NULL
);
CREATE INDEX bank_changes_holder ON bank_changes (holder_id, cancelled_ms);

CREATE TABLE card_debts (
  ${id},
  card_no TEXT NOT NULL,
  debt_fen BIGINT NOT NULL CHECK (debt_fen > 0),
  settlement TEXT NOT NULL CHECK (settlement IN ('paid', 'written-off')),
  account TEXT NOT NULL,
  operation TEXT NOT NULL,
  actor TEXT NOT NULL,
  at_ms BIGINT NOT NULL
);
CREATE INDEX card_debts_card ON card_debts (card_no);

CREATE TABLE lost_card_forfeits (
  card_no TEXT PRIMARY KEY,
  amount_fen BIGINT NOT NULL,
  cause TEXT NOT NULL CHECK (cause IN ('replacement', 'time')),
  late_taps_fen BIGINT NOT NULL DEFAULT 0,
  at_ms BIGINT NOT NULL
);

CREATE TABLE park_pass_transfers (
  to_card_no TEXT NOT NULL,
  pass_year INTEGER NOT NULL,
  from_card_no TEXT NOT NULL,
  visits_at_transfer INTEGER NOT NULL,
  at_ms BIGINT NOT NULL,
  PRIMARY KEY (to_card_no, pass_year),
  UNIQUE (from_card_no, pass_year)
);

ALTER TABLE cards ADD COLUMN social_security_cancelled_ms BIGINT;
`;

export const migration109CardLifecycle: Migration = {
  id: 109,
  name: 'card-lifecycle',
  sqlite: common('id INTEGER PRIMARY KEY AUTOINCREMENT'),
  postgres: common('id BIGSERIAL PRIMARY KEY'),
};
