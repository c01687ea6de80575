/**
 * The web console (issue 15): per-person staff accounts, server-side console sessions and the
 * results of console forms keyed by the idempotency key each form carries.
 *
 * - staff_accounts: one row per person. `organisation_id` is the bank branch, service point or
 *   outlet the person works for (NULL for operations staff); `role` one of teller, supervisor,
 *   ops-viewer, ops-admin. scrypt password (auth/passwords.ts), lockout after failures, disable.
 * - console_sessions: the cookie carries a random id; only its SHA-256 is stored. Revocable
 *   (sign-out, disabled account), idle expiry by `last_seen_ms`, absolute expiry `expires_ms`.
 * - console_form_results: a form's idempotency key claimed before the action runs (state
 *   'running'), then its outcome (state 'done'), so a second submit of the same form shows the
 *   first outcome instead of acting again, on any instance.
 */
import type { Migration } from '../migrate.ts';

const SQL = `
CREATE TABLE staff_accounts (
  username TEXT PRIMARY KEY,
  display_name TEXT NOT NULL,
  organisation_id TEXT,
  role TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  must_change BIGINT NOT NULL,
  failed_count BIGINT NOT NULL,
  locked_until_ms BIGINT NOT NULL,
  disabled_ms BIGINT,
  created_by TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL
);
CREATE TABLE console_sessions (
  session_hash TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  subject TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  last_seen_ms BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL,
  revoked_ms BIGINT
);
CREATE INDEX console_sessions_subject ON console_sessions (kind, subject);
CREATE TABLE console_form_results (
  scope TEXT NOT NULL,
  form_key TEXT NOT NULL,
  state TEXT NOT NULL,
  result_json TEXT,
  created_ms BIGINT NOT NULL,
  PRIMARY KEY (scope, form_key)
);
`;

export const migration008Console: Migration = { id: 8, name: 'console', sqlite: SQL, postgres: SQL };
