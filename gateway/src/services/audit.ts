/**
 * Audit log of operator and counter actions (issue 5, operations): every state-changing
 * request of those roles, whatever its outcome. Holds the route template and path parameters,
 * never bodies (which may carry a social security number).
 *
 * Where it is written: an onSend hook in app.ts awaits the entry's durable commit before the
 * answer leaves (so no answered action lacks its entry). A hot route may instead write the
 * entry inside its own transaction (`auditInTransaction`) and mark the request
 * (`markAudited`): one durable commit instead of two. The hook then skips the request, unless
 * the status finally sent differs from the one audited (e.g. a 500 after the commit), in which
 * case it records that too.
 */
import type { Principal } from '../auth/principal.ts';
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
  // Pipelined on PostgreSQL (Tx.write): it commits with the transaction, nothing waits for it.
  await tx.write(
    `INSERT INTO audit_log (at_ms, role, subject, branch_id, method, route, target, status_code, request_id)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [entry.atMs, entry.role, entry.subject, entry.branchId, entry.method, entry.route, entry.target, entry.statusCode, entry.requestId],
  );
}

/** The parts of a Fastify request the audit needs (kept structural: services do not import Fastify). */
export interface AuditableRequest {
  principal: Principal | null;
  method: string;
  url: string;
  id: unknown;
  params: unknown;
  routeOptions: { url?: string };
}

/** The entry for `request` answered with `statusCode`, or null when the request is not audited. */
export function auditEntryFor(request: AuditableRequest, statusCode: number, atMs: number): AuditEntry | null {
  const principal = request.principal;
  if (!principal || (principal.role !== 'operator' && principal.role !== 'counter')) return null;
  if (request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS') return null;
  const params = (request.params ?? {}) as Record<string, unknown>;
  const targetValue = params.cardNo ?? params.deviceId ?? params.id ?? null;
  return {
    atMs,
    role: principal.role,
    subject: principal.subject,
    branchId: principal.branchId,
    method: request.method,
    route: request.routeOptions.url ?? request.url.split('?')[0],
    target: targetValue === null ? null : String(targetValue).slice(0, 128),
    statusCode,
    requestId: String(request.id),
  };
}

const audited = new WeakMap<object, number>();

/**
 * Writes the request's audit entry inside the caller's transaction (it commits or rolls back
 * with the work). Call `markAudited(request, statusCode)` once that transaction committed.
 */
export async function auditInTransaction(tx: Tx, request: AuditableRequest, statusCode: number, atMs: number): Promise<void> {
  const entry = auditEntryFor(request, statusCode, atMs);
  if (entry !== null) await recordAudit(tx, entry);
}

/** The request's entry with this status is committed: the onSend hook need not write it. */
export function markAudited(request: AuditableRequest, statusCode: number): void {
  audited.set(request, statusCode);
}

/** True when the request's entry with this final status was already committed by its route. */
export function isAudited(request: AuditableRequest, statusCode: number): boolean {
  return audited.get(request) === statusCode;
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
