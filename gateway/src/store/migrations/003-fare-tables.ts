/**
 * Fare tables published by operators (POST /v1/fare-tables): one row per version, the bundle as
 * the JSON text devices receive (core's encodeFareTablesJson of the decoded spec), when it is in
 * force, its SHA-256 and who published it. Version 1 is built into the gateway (the configured
 * network CSV and core's default policies) and is never stored; published versions start at 2.
 * The primary key makes a version exist once, even when two operators publish at the same time.
 */
import type { Migration } from '../migrate.ts';

const common = `
CREATE TABLE fare_tables (
  version BIGINT PRIMARY KEY,
  effective_from_ms BIGINT NOT NULL,
  json TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  bytes BIGINT NOT NULL,
  published_by TEXT NOT NULL,
  published_ms BIGINT NOT NULL
);
`;

export const migration003FareTables: Migration = {
  id: 3,
  name: 'fare-tables',
  sqlite: common,
  postgres: common,
};
