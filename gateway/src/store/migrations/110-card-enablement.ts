/**
 * Enabling a card (issue 16; seed q14, q37): enabling (启用) concerns the card's social-security
 * functions; the transit purse follows the transit function and never waits for it. enabled_ms
 * is when the holder (or an agent with the holder's written authorisation, or a minor's
 * guardian) enabled the card; null until then.
 */
import type { Migration } from '../migrate.ts';

const SQL = 'ALTER TABLE cards ADD COLUMN enabled_ms BIGINT;';

export const migration110CardEnablement: Migration = {
  id: 110,
  name: 'card-enablement',
  sqlite: SQL,
  postgres: SQL,
};
