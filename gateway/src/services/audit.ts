/**
 * Audit log of operator and counter actions (issue 5, operations). Written by an onResponse
 * hook in app.ts for every state-changing request of those roles, whatever its outcome. Holds
 * the route template and path parameters, never bodies (which may carry a social security number).
 */
import type { Tx } from '../store/store-port.ts';

export interface AuditEntry {
  atMs: number;
  role: string;
  subject: string;
  branchId: string | null;
  method: string;
  route: string;
  target: string | null;
  statusCode: number;
  requestId: string;
}

export async function recordAudit(tx: Tx, entry: AuditEntry): Promise<void> {
  await tx.run(
    `INSERT INTO audit_log (at_ms, role, subject, branch_id, method, route, target, status_code, request_id)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [entry.atMs, entry.role, entry.subject, entry.branchId, entry.method, entry.route, entry.target, entry.statusCode, entry.requestId],
  );
}

export interface AuditRow extends AuditEntry {
  id: number;
}

export async function listAudit(tx: Tx, afterId: number, limit: number): Promise<AuditRow[]> {
  const rows = await tx.all<Record<string, string | number | null>>(
    'SELECT id, at_ms, role, subject, branch_id, method, route, target, status_code, request_id FROM audit_log WHERE id > ? ORDER BY id LIMIT ?',
    [afterId, limit],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    atMs: Number(r.at_ms),
    role: String(r.role),
    subject: String(r.subject),
    branchId: r.branch_id === null ? null : String(r.branch_id),
    method: String(r.method),
    route: String(r.route),
    target: r.target === null ? null : String(r.target),
    statusCode: Number(r.status_code),
    requestId: String(r.request_id),
  }));
}
