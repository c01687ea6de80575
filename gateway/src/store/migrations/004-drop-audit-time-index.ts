/**
 * Drops audit_log_at: no query reads the audit log by time (GET /v1/audit pages by id, and ids
 * grow with time), while every audited request paid one more B-tree insert for it inside its
 * transaction (~4 us of a load's SQL, measured at 50 clients; bench/gateway-loads.bench.ts).
 */
import type { Migration } from '../migrate.ts';

const common = `DROP INDEX IF EXISTS audit_log_at;`;

export const migration004DropAuditTimeIndex: Migration = {
  id: 4,
  name: 'drop-audit-time-index',
  sqlite: common,
  postgres: common,
};
