/**
 * One load per INITIALIZE FOR LOAD answer: the card draws a fresh random for every INIT, so
 * (card, online ATC, card random) identifies one card session. A replayed INIT (same random,
 * another Idempotency-Key) must not authorise a second load: card evidence could then count
 * one credit twice. NULL for rows from before this column (NULLs never collide).
 */
import type { Migration } from '../migrate.ts';

const common = `
ALTER TABLE loads ADD COLUMN card_random TEXT;
CREATE UNIQUE INDEX loads_init_once ON loads (card_no, online_atc, card_random);
`;

export const migration104LoadInitOnce: Migration = {
  id: 104,
  name: 'load-init-once',
  sqlite: common,
  postgres: common,
};
