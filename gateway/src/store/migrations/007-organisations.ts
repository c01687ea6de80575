/**
 * Organisations and channels (issue 16; DOMAIN.md section 7, services/channel-rules.ts): every
 * counter credential belongs to an organisation with a channel kind (partner-bank branch with its
 * bank and branch id, district/street service point, 一卡通 self-operated outlet, 一卡通 top-up
 * outlet, the 96066 hotline, the online channel) and carries a staff role (teller, supervisor).
 *
 * Existing counter tokens: each distinct branch id becomes an organisation of that id, a
 * partner-bank branch of 'icbc' (the bank migration 006 gave every card issued before the bank
 * was recorded, so those counters keep serving the cards they served), and its tokens become
 * tellers of it. The online channel has its own row ('online'): app and holder sessions act for it.
 *
 * auth_tokens gains organisation_id and staff_role and accepts the 'holder' role (holder account
 * sessions). SQLite cannot alter a CHECK constraint: the table is rebuilt (same rows, same index).
 *
 * Holders gain the non-key personal data (address, job, phone; q31), holder accounts for the
 * online channel (ID number + password + phone verification), their one-time phone codes (hashes
 * only), the log of personal data changes and the record of agents and guardians (q37): the
 * agent's ID number only as its keyed HMAC.
 */
import type { Migration } from '../migrate.ts';

const CHANNEL_KINDS = `'bank-branch', 'service-point', 'ykt-outlet', 'ykt-top-up-outlet', 'online', 'hotline'`;

/** A legacy counter's organisation id: its branch id ('online' is taken by the online channel). */
const LEGACY_ORG = `CASE WHEN COALESCE(branch_id, subject) = 'online' THEN 'branch-online' ELSE COALESCE(branch_id, subject) END`;

const ORGANISATIONS = `
CREATE TABLE organisations (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  channel_kind TEXT NOT NULL CHECK (channel_kind IN (${CHANNEL_KINDS})),
  bank_id TEXT,
  branch_id TEXT,
  created_by TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  CHECK ((channel_kind = 'bank-branch') = (bank_id IS NOT NULL))
);
INSERT INTO organisations (id, name, channel_kind, bank_id, branch_id, created_by, created_ms)
VALUES ('online', 'online channel (app, mini-program)', 'online', NULL, NULL, 'migration-007', 0);
INSERT INTO organisations (id, name, channel_kind, bank_id, branch_id, created_by, created_ms)
SELECT DISTINCT ${LEGACY_ORG}, 'branch ' || COALESCE(branch_id, subject), 'bank-branch', 'icbc', COALESCE(branch_id, subject), 'migration-007', 0
  FROM auth_tokens WHERE role = 'counter';
`;

const HOLDER_TABLES = (idColumn: string): string => `
ALTER TABLE holders ADD COLUMN address TEXT;
ALTER TABLE holders ADD COLUMN job TEXT;
ALTER TABLE holders ADD COLUMN phone TEXT;

CREATE TABLE holder_accounts (
  holder_id BIGINT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  phone TEXT NOT NULL,
  phone_verified_ms BIGINT,
  failed_count INTEGER NOT NULL DEFAULT 0,
  locked_until_ms BIGINT NOT NULL DEFAULT 0,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL
);

CREATE TABLE phone_codes (
  id ${idColumn},
  holder_id BIGINT NOT NULL,
  purpose TEXT NOT NULL,
  target TEXT,
  code_hash TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  used_ms BIGINT
);
CREATE INDEX phone_codes_holder ON phone_codes (holder_id, purpose);

CREATE TABLE personal_data_changes (
  id ${idColumn},
  holder_id BIGINT NOT NULL,
  field TEXT NOT NULL,
  old_value TEXT,
  new_value TEXT,
  changed_by TEXT NOT NULL,
  organisation_id TEXT,
  agent_act_id BIGINT,
  at_ms BIGINT NOT NULL
);
CREATE INDEX personal_data_changes_holder ON personal_data_changes (holder_id, at_ms);

CREATE TABLE agent_acts (
  id ${idColumn},
  holder_id BIGINT,
  card_no TEXT,
  operation TEXT NOT NULL,
  acting_as TEXT NOT NULL CHECK (acting_as IN ('agent', 'guardian')),
  agent_id_hmac TEXT NOT NULL,
  agent_name TEXT NOT NULL,
  document_kind TEXT NOT NULL,
  document_ref TEXT NOT NULL,
  acted_by TEXT NOT NULL,
  organisation_id TEXT,
  at_ms BIGINT NOT NULL
);
CREATE INDEX agent_acts_card ON agent_acts (card_no, at_ms);
CREATE INDEX agent_acts_holder ON agent_acts (holder_id, at_ms);
`;

const SQLITE = `
${ORGANISATIONS}
CREATE TABLE auth_tokens_007 (
  token_hash TEXT PRIMARY KEY,
  role TEXT NOT NULL CHECK (role IN ('operator', 'counter', 'app', 'holder', 'device')),
  subject TEXT NOT NULL,
  branch_id TEXT,
  label TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  expires_ms BIGINT,
  revoked_ms BIGINT,
  organisation_id TEXT,
  staff_role TEXT CHECK (staff_role IN ('teller', 'supervisor'))
);
INSERT INTO auth_tokens_007 (token_hash, role, subject, branch_id, label, created_by, created_ms, expires_ms, revoked_ms, organisation_id, staff_role)
SELECT token_hash, role, subject, branch_id, label, created_by, created_ms, expires_ms, revoked_ms,
       CASE WHEN role = 'counter' THEN ${LEGACY_ORG} END,
       CASE WHEN role = 'counter' THEN 'teller' END
  FROM auth_tokens;
DROP TABLE auth_tokens;
ALTER TABLE auth_tokens_007 RENAME TO auth_tokens;
CREATE INDEX auth_tokens_subject ON auth_tokens (role, subject);
CREATE INDEX auth_tokens_organisation ON auth_tokens (organisation_id);
${HOLDER_TABLES('INTEGER PRIMARY KEY AUTOINCREMENT')}
`;

const POSTGRES = `
${ORGANISATIONS}
ALTER TABLE auth_tokens DROP CONSTRAINT IF EXISTS auth_tokens_role_check;
ALTER TABLE auth_tokens ADD CONSTRAINT auth_tokens_role_check CHECK (role IN ('operator', 'counter', 'app', 'holder', 'device'));
ALTER TABLE auth_tokens ADD COLUMN organisation_id TEXT;
ALTER TABLE auth_tokens ADD COLUMN staff_role TEXT CHECK (staff_role IN ('teller', 'supervisor'));
UPDATE auth_tokens SET organisation_id = ${LEGACY_ORG}, staff_role = 'teller' WHERE role = 'counter';
CREATE INDEX auth_tokens_organisation ON auth_tokens (organisation_id);
${HOLDER_TABLES('BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY')}
`;

export const migration007Organisations: Migration = {
  id: 7,
  name: 'organisations',
  sqlite: SQLITE,
  postgres: POSTGRES,
};
