/**
 * Bearer tokens: 32 random bytes (base64url), stored only as SHA-256 hashes, so a database
 * leak does not hand out credentials. SHA-256 (not a slow KDF) is right here because the
 * token has 256 bits of entropy; the slow KDF is for human-chosen service passwords.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Tx } from '../store/store-port.ts';
import { CHANNEL_KINDS, type ChannelKind, type StaffRole } from '../services/channel-rules.ts';
import { ONLINE_ORGANISATION, type Principal, type Role } from './principal.ts';

export const TOKEN_BYTES = 32;

export function newToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export interface IssueTokenInput {
  role: Role;
  subject: string;
  branchId?: string | null;
  /** Counter tokens: the organisation (organisations.id) and the staff role. */
  organisationId?: string | null;
  staffRole?: StaffRole | null;
  label: string;
  createdBy: string;
  nowMs: number;
  expiresMs?: number | null;
}

/** Creates a token and stores its hash; the clear token is returned once and never stored. */
export async function issueToken(tx: Tx, input: IssueTokenInput): Promise<string> {
  const token = newToken();
  await tx.run(
    `INSERT INTO auth_tokens (token_hash, role, subject, branch_id, label, created_by, created_ms, expires_ms, revoked_ms, organisation_id, staff_role)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)`,
    [
      hashToken(token),
      input.role,
      input.subject,
      input.branchId ?? null,
      input.label,
      input.createdBy,
      input.nowMs,
      input.expiresMs ?? null,
      input.organisationId ?? null,
      input.staffRole ?? null,
    ],
  );
  return token;
}

/** Revokes every live token of a subject (e.g. app sessions after a password change). */
export async function revokeTokensOf(tx: Tx, role: Role, subject: string, nowMs: number): Promise<number> {
  return tx.run('UPDATE auth_tokens SET revoked_ms = ? WHERE role = ? AND subject = ? AND revoked_ms IS NULL', [nowMs, role, subject]);
}

type TokenRow = {
  role: string;
  subject: string;
  branch_id: string | null;
  expires_ms: number | null;
  revoked_ms: number | null;
  must_change: number | null;
  staff_role: string | null;
  organisation_id: string | null;
  channel_kind: string | null;
  bank_id: string | null;
  org_branch_id: string | null;
};

/** Resolves a presented token to its principal, or null (unknown, revoked, expired). */
export async function principalForToken(tx: Tx, token: string, nowMs: number): Promise<Principal | null> {
  const row = await tx.get<TokenRow>(
    `SELECT t.role, t.subject, t.branch_id, t.expires_ms, t.revoked_ms, c.must_change, t.staff_role,
            o.id AS organisation_id, o.channel_kind, o.bank_id, o.branch_id AS org_branch_id
       FROM auth_tokens t
       LEFT JOIN app_credentials c ON t.role = 'app' AND c.card_no = t.subject
       LEFT JOIN organisations o ON o.id = t.organisation_id
      WHERE t.token_hash = ?`,
    [hashToken(token)],
  );
  if (!row || row.revoked_ms !== null) return null;
  if (row.expires_ms !== null && Number(row.expires_ms) <= nowMs) return null;
  const role = row.role as Role;
  let organisation: Principal['organisation'] = null;
  if (role === 'app' || role === 'holder') organisation = ONLINE_ORGANISATION;
  else if (role === 'counter' && row.organisation_id !== null && CHANNEL_KINDS.includes(row.channel_kind as ChannelKind)) {
    organisation = { id: row.organisation_id, channelKind: row.channel_kind as ChannelKind, bankId: row.bank_id, branchId: row.org_branch_id };
  }
  return {
    role,
    subject: row.subject,
    branchId: row.branch_id,
    mustChangePassword: role === 'app' && Number(row.must_change ?? 0) === 1,
    organisation,
    staffRole: role === 'counter' ? ((row.staff_role as StaffRole | null) ?? 'teller') : null,
  };
}

/** A system integration's token (operator or counter) as the console lists it: never the token itself. */
export interface IntegrationToken {
  tokenHash: string;
  role: string;
  subject: string;
  label: string;
  organisationId: string | null;
  staffRole: string | null;
  createdBy: string;
  createdMs: number;
  expiresMs: number | null;
  revokedMs: number | null;
}

/** The operator and counter tokens (system integrations), newest first; app, holder and device credentials are not listed here. */
export async function listIntegrationTokens(tx: Tx, limit = 200): Promise<IntegrationToken[]> {
  const rows = await tx.all<Record<string, string | number | null>>(
    `SELECT token_hash, role, subject, label, organisation_id, staff_role, created_by, created_ms, expires_ms, revoked_ms
       FROM auth_tokens WHERE role IN ('operator', 'counter') ORDER BY created_ms DESC, token_hash LIMIT ?`,
    [limit],
  );
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return rows.map((r) => ({
    tokenHash: String(r.token_hash),
    role: String(r.role),
    subject: String(r.subject),
    label: String(r.label),
    organisationId: r.organisation_id === null ? null : String(r.organisation_id),
    staffRole: r.staff_role === null ? null : String(r.staff_role),
    createdBy: String(r.created_by),
    createdMs: Number(r.created_ms),
    expiresMs: num(r.expires_ms),
    revokedMs: num(r.revoked_ms),
  }));
}

/** Revokes one operator or counter token by its hash; 1 when it was live, 0 otherwise. */
export async function revokeIntegrationToken(tx: Tx, tokenHash: string, nowMs: number): Promise<number> {
  return tx.run("UPDATE auth_tokens SET revoked_ms = ? WHERE token_hash = ? AND role IN ('operator', 'counter') AND revoked_ms IS NULL", [nowMs, tokenHash]);
}
