/**
 * The issuing partner bank of every card (issue 16), fixed at issue. Cards issued before this
 * migration get the default bank, 'icbc' (the first of the manual's 15; docs/gateway-api.md,
 * "Issuing bank"); new cards always name theirs.
 */
import type { Migration } from '../migrate.ts';

const common = `ALTER TABLE cards ADD COLUMN issuing_bank TEXT NOT NULL DEFAULT 'icbc';`;

export const migration006IssuingBank: Migration = {
  id: 6,
  name: 'issuing-bank',
  sqlite: common,
  postgres: common,
};
