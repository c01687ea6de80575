/**
 * Per-person staff accounts of the console (issue 15). An organisation (bank branch, service
 * point, 一卡通 outlet) owns its tellers and supervisors; operations staff belong to none.
 * Passwords: scrypt (auth/passwords.ts). Lockout: after `maxFailures` consecutive failures the
 * account refuses even the right password for `lockoutMs`. A disabled account cannot sign in and
 * its sessions are revoked at once (sessions.ts). System integrations keep bearer tokens.
 */
import { hashPassword, type KdfParams, verifyPassword } from '../auth/passwords.ts';
import type { Principal } from '../auth/principal.ts';
import { ApiError } from '../http/problem.ts';
import { findOrganisation, type OrganisationRow } from '../services/organisations.ts';
import type { Store, Tx } from '../store/store-port.ts';

/** A person's console role: counter staff (the counter credentials' staff roles) or operations. */
export const CONSOLE_ROLES = ['teller', 'supervisor', 'ops-viewer', 'ops-admin'] as const;
export type ConsoleRole = (typeof CONSOLE_ROLES)[number];

export function isConsoleRole(value: string): value is ConsoleRole {
  return (CONSOLE_ROLES as readonly string[]).includes(value);
}

/** Counter staff act for their organisation; operations staff for the operator. */
export function isCounterRole(role: ConsoleRole): role is 'teller' | 'supervisor' {
  return role === 'teller' || role === 'supervisor';
}

export const USERNAME_PATTERN = /^[a-z0-9][a-z0-9._-]{2,39}$/;
export const MIN_PASSWORD_LENGTH = 8;

export interface StaffAccount {
  username: string;
  displayName: string;
  organisationId: string | null;
  role: ConsoleRole;
  mustChange: boolean;
  lockedUntilMs: number;
  disabledMs: number | null;
  createdMs: number;
}

export interface StaffLoginPolicy {
  maxFailures: number;
  lockoutMs: number;
  kdf: KdfParams;
}

type StaffRow = {
  username: string;
  display_name: string;
  organisation_id: string | null;
  role: string;
  password_hash: string;
  must_change: number;
  failed_count: number;
  locked_until_ms: number;
  disabled_ms: number | null;
  created_ms: number;
};

function toAccount(row: StaffRow): StaffAccount {
  return {
    username: row.username,
    displayName: row.display_name,
    organisationId: row.organisation_id,
    role: row.role as ConsoleRole,
    mustChange: Number(row.must_change) === 1,
    lockedUntilMs: Number(row.locked_until_ms),
    disabledMs: row.disabled_ms === null ? null : Number(row.disabled_ms),
    createdMs: Number(row.created_ms),
  };
}

/**
 * The principal the JSON API sees for this person: counter staff act for their organisation
 * (its channel kind decides what the routes allow, services/channel-rules.ts) with their staff
 * role; operations staff are operators without a channel (no counter money operations).
 */
export function staffPrincipal(account: StaffAccount, organisation: OrganisationRow | null): Principal {
  if (isCounterRole(account.role)) {
    return {
      role: 'counter',
      subject: account.username,
      branchId: organisation?.branchId ?? account.organisationId,
      mustChangePassword: false,
      organisation: organisation
        ? { id: organisation.id, channelKind: organisation.channelKind, bankId: organisation.bankId, branchId: organisation.branchId }
        : null,
      staffRole: account.role,
    };
  }
  return { role: 'operator', subject: account.username, branchId: null, mustChangePassword: false, organisation: null, staffRole: null };
}

export interface NewStaff {
  username: string;
  displayName: string;
  organisationId: string | null;
  role: ConsoleRole;
  password: string;
}

/** Field errors of a new account (empty: valid). Keys are the form's field names. */
export function newStaffProblems(input: NewStaff): Record<string, string> {
  const problems: Record<string, string> = {};
  if (!USERNAME_PATTERN.test(input.username)) problems.username = 'staff.username-invalid';
  if (input.displayName.trim().length === 0 || input.displayName.length > 64) problems.displayName = 'staff.name-invalid';
  if (!isConsoleRole(input.role)) problems.role = 'staff.role-invalid';
  else if (isCounterRole(input.role) && !input.organisationId) problems.organisationId = 'staff.organisation-required';
  if (input.organisationId !== null && !/^[A-Za-z0-9._-]{1,64}$/.test(input.organisationId)) problems.organisationId = 'staff.organisation-invalid';
  if (input.password.length < MIN_PASSWORD_LENGTH || input.password.length > 128) problems.password = 'staff.password-short';
  return problems;
}

export async function createStaff(store: Store, input: NewStaff, createdBy: string, nowMs: number, kdf: KdfParams): Promise<StaffAccount> {
  const problems = newStaffProblems(input);
  const first = Object.values(problems)[0];
  if (first !== undefined) throw new ApiError('invalid-request', first);
  const hash = await hashPassword(input.password, kdf);
  return store.transaction(async (tx) => {
    if (isCounterRole(input.role) && !(await findOrganisation(tx, String(input.organisationId))))
      throw new ApiError('invalid-request', 'staff.organisation-unknown');
    const inserted = await tx.run(
      `INSERT INTO staff_accounts (username, display_name, organisation_id, role, password_hash, must_change, failed_count, locked_until_ms, disabled_ms, created_by, created_ms, updated_ms)
       VALUES (?, ?, ?, ?, ?, 1, 0, 0, NULL, ?, ?, ?) ON CONFLICT (username) DO NOTHING`,
      [input.username, input.displayName.trim(), isCounterRole(input.role) ? input.organisationId : null, input.role, hash, createdBy, nowMs, nowMs],
    );
    if (inserted === 0) throw new ApiError('conflict', 'staff.username-taken');
    return (await findStaff(tx, input.username))!;
  });
}

export async function findStaff(tx: Tx, username: string): Promise<StaffAccount | null> {
  const row = await tx.get<StaffRow>('SELECT * FROM staff_accounts WHERE username = ?', [username]);
  return row ? toAccount(row) : null;
}

export async function listStaff(tx: Tx): Promise<StaffAccount[]> {
  const rows = await tx.all<StaffRow>('SELECT * FROM staff_accounts ORDER BY username LIMIT 500');
  return rows.map(toAccount);
}

let dummyHash: Promise<string> | null = null;

/**
 * Checks a sign-in. Unknown and disabled accounts cost the same KDF time and give the same
 * answer as a wrong password; a locked account refuses even the right password.
 */
export async function verifyStaffLogin(
  store: Store,
  username: string,
  password: string,
  clock: () => number,
  policy: StaffLoginPolicy,
): Promise<{ ok: true; account: StaffAccount } | { ok: false; code: 'invalid-credentials' | 'account-locked' }> {
  const row = await store.transaction((tx) => tx.get<StaffRow>('SELECT * FROM staff_accounts WHERE username = ?', [username]), { readOnly: true });
  if (!row || row.disabled_ms !== null) {
    dummyHash ??= hashPassword('not-a-password', policy.kdf);
    await verifyPassword(password, await dummyHash);
    return { ok: false, code: 'invalid-credentials' };
  }
  if (Number(row.locked_until_ms) > clock()) return { ok: false, code: 'account-locked' };
  const ok = await verifyPassword(password, row.password_hash);
  const nowMs = clock();
  return store.transaction(async (tx) => {
    // Re-read under the write lock: concurrent failures must all count.
    const current = await tx.get<StaffRow>('SELECT * FROM staff_accounts WHERE username = ?', [username]);
    if (!current || current.disabled_ms !== null) return { ok: false as const, code: 'invalid-credentials' as const };
    if (Number(current.locked_until_ms) > nowMs) return { ok: false as const, code: 'account-locked' as const };
    if (!ok) {
      const failures = Number(current.failed_count) + 1;
      if (failures >= policy.maxFailures) {
        await tx.run('UPDATE staff_accounts SET failed_count = 0, locked_until_ms = ?, updated_ms = ? WHERE username = ?', [
          nowMs + policy.lockoutMs,
          nowMs,
          username,
        ]);
        return { ok: false as const, code: 'account-locked' as const };
      }
      await tx.run('UPDATE staff_accounts SET failed_count = ?, updated_ms = ? WHERE username = ?', [failures, nowMs, username]);
      return { ok: false as const, code: 'invalid-credentials' as const };
    }
    if (Number(current.failed_count) !== 0) await tx.run('UPDATE staff_accounts SET failed_count = 0, updated_ms = ? WHERE username = ?', [nowMs, username]);
    return { ok: true as const, account: toAccount(current) };
  });
}

/** Sets a new password (the person's own change, clearing must-change). */
export async function changeStaffPassword(store: Store, username: string, newPassword: string, nowMs: number, kdf: KdfParams): Promise<void> {
  if (newPassword.length < MIN_PASSWORD_LENGTH || newPassword.length > 128) throw new ApiError('invalid-request', 'staff.password-short');
  const hash = await hashPassword(newPassword, kdf);
  await store.transaction((tx) =>
    tx.run('UPDATE staff_accounts SET password_hash = ?, must_change = 0, failed_count = 0, updated_ms = ? WHERE username = ?', [hash, nowMs, username]),
  );
}

/** Disables (or re-enables) an account; disabling revokes its sessions in the same transaction. */
export async function setStaffDisabled(store: Store, username: string, disabled: boolean, nowMs: number): Promise<boolean> {
  return store.transaction(async (tx) => {
    const changed = await tx.run(
      disabled
        ? 'UPDATE staff_accounts SET disabled_ms = ?, updated_ms = ? WHERE username = ? AND disabled_ms IS NULL'
        : 'UPDATE staff_accounts SET disabled_ms = NULL, failed_count = 0, locked_until_ms = 0, updated_ms = ? WHERE username = ? AND disabled_ms IS NOT NULL',
      disabled ? [nowMs, nowMs, username] : [nowMs, username],
    );
    if (disabled && changed > 0) {
      await tx.run("UPDATE console_sessions SET revoked_ms = ? WHERE kind = 'staff' AND subject = ? AND revoked_ms IS NULL", [nowMs, username]);
    }
    return changed > 0;
  });
}
