/**
 * Clearing between issuers (issue 18, docs/settlement.md): `clearing_files` records every inbound
 * file imported (claimed first, so the same file twice is answered from here and changes nothing)
 * and every outbound file made; `clearing_inbound` every accepted record of our cards used
 * elsewhere (one row per card and offline ATC, like card_debits, which also holds them).
 */
import type { Migration } from '../migrate.ts';

const common = `
CREATE TABLE clearing_files (
  direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
  sender TEXT NOT NULL,
  receiver TEXT NOT NULL,
  day TEXT NOT NULL,
  sequence BIGINT NOT NULL,
  hash TEXT NOT NULL,
  records BIGINT NOT NULL,
  sum_fen BIGINT NOT NULL,
  result_json TEXT NOT NULL,
  at_ms BIGINT NOT NULL,
  PRIMARY KEY (direction, sender, receiver, day, sequence)
);
CREATE TABLE clearing_inbound (
  card_no TEXT NOT NULL,
  offline_atc BIGINT NOT NULL,
  sender TEXT NOT NULL,
  day TEXT NOT NULL,
  sequence BIGINT NOT NULL,
  amount_fen BIGINT NOT NULL,
  written_off INTEGER NOT NULL,
  at_ms BIGINT NOT NULL,
  PRIMARY KEY (card_no, offline_atc)
);
CREATE INDEX clearing_inbound_sender_day ON clearing_inbound (sender, day);
`;

export const migration122InterissuerClearing: Migration = {
  id: 122,
  name: 'interissuer-clearing',
  sqlite: common,
  postgres: common,
};
