/**
 * The online channel's holder account (issue 16; seed q8, q16, q31, q36): an account per holder,
 * signed into with the ID number and a password of the holder's own (scrypt, auth/passwords.ts),
 * usable once the phone is verified with a one-time code. It serves what happens before or
 * without a card: status and progress (q36), the reset of a card's service password (q16:
 * back to the last 6 characters of the ID number, a change forced at the next sign-in, a locked
 * login unlocked), and the non-key personal data (address, job, phone; q31). A card's own
 * operations stay with the app session (card + service password).
 *
 * Phone codes: 6 digits, stored only as an HMAC under the holder key, valid 10 minutes, 5 tries.
 * Sending is simulated: the `PhoneOutbox` keeps the messages in memory (never logged) so the
 * sandbox and the tests can read the code; a deployment plugs in a real SMS sender.
 *
 * Non-key personal data changes are logged field by field (personal_data_changes), with who
 * acted, the organisation and the agent act if any; phones are shown masked in every listing.
 */
import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import { ApiError, registerErrorCodes } from '../http/problem.ts';
import type { Tx } from '../store/store-port.ts';
import { findHolderByHmac, findOrCreateHolder, type HolderRow } from './holders.ts';

registerErrorCodes({
  'holder-account-exists': { status: 409, title: 'This holder already has an online account' },
  'phone-not-verified': { status: 403, title: 'The account’s phone is not verified yet' },
  'phone-code-invalid': { status: 403, title: 'The phone code is wrong, used or expired' },
  'phone-mismatch': { status: 403, title: 'The phone is not the one the holder gave before' },
  'phone-code-too-soon': { status: 429, title: 'A phone code was sent moments ago, or too many this hour' },
  'no-phone-change-pending': { status: 409, title: 'No new phone waits for its code' },
});

export const PHONE_PATTERN = '^1[3-9][0-9]{9}$';
export const PHONE_CODE_TTL_MS = 10 * 60_000;
const PHONE_CODE_TRIES = 5;
/** A new code for the same purpose at most once a minute, and at most 5 an hour (SMS cost, and no flooding a phone). */
export const PHONE_CODE_COOLDOWN_MS = 60_000;
export const PHONE_CODES_PER_HOUR = 5;
const HOUR_MS = 3_600_000;

/** '13812345678' → '138****5678' (listings, logs, answers). */
export function maskPhone(phone: string | null): string | null {
  if (phone === null) return null;
  if (phone.length < 7) return '*'.repeat(phone.length);
  return `${phone.slice(0, 3)}${'*'.repeat(phone.length - 7)}${phone.slice(-4)}`;
}

export interface PhoneMessage {
  phone: string;
  purpose: string;
  code: string;
  atMs: number;
}

/** The simulated SMS gateway: the last messages, in memory only (never logged, never stored in clear). */
export class PhoneOutbox {
  readonly messages: PhoneMessage[] = [];
  constructor(private readonly keep = 200) {}
  send(message: PhoneMessage): void {
    this.messages.push(message);
    if (this.messages.length > this.keep) this.messages.splice(0, this.messages.length - this.keep);
  }
  /** The newest code sent to `phone` (for `purpose`, when given). */
  lastCode(phone: string, purpose?: string): string | null {
    for (let i = this.messages.length - 1; i >= 0; i--) {
      const m = this.messages[i];
      if (m.phone === phone && (purpose === undefined || m.purpose === purpose)) return m.code;
    }
    return null;
  }
}

function codeHash(key: Uint8Array, holderId: number, purpose: string, code: string): string {
  return createHmac('sha256', key).update(`transit-phone-code/1\n${holderId}\n${purpose}\n${code}`).digest('hex');
}

/** Issues a code for `purpose` (its target: the phone or card it is for) and sends it; older open codes of that purpose end. */
export async function issuePhoneCode(
  tx: Tx,
  key: Uint8Array,
  outbox: PhoneOutbox,
  input: { holderId: number; purpose: string; target: string | null; phone: string },
  nowMs: number,
): Promise<{ expiresMs: number }> {
  // Rate limit per holder and purpose: a cooldown after each code and a cap per hour (429, nothing sent).
  const recent = await tx.all<{ created_ms: number | bigint }>(
    'SELECT created_ms FROM phone_codes WHERE holder_id = ? AND purpose = ? AND created_ms > ? ORDER BY created_ms DESC',
    [input.holderId, input.purpose, nowMs - HOUR_MS],
  );
  if (recent.length > 0) {
    const newest = Number(recent[0].created_ms);
    if (nowMs - newest < PHONE_CODE_COOLDOWN_MS) {
      const retryAfterSeconds = Math.ceil((newest + PHONE_CODE_COOLDOWN_MS - nowMs) / 1000);
      throw new ApiError('phone-code-too-soon', `a code was sent less than a minute ago: ask again in ${retryAfterSeconds} s`, { retryAfterSeconds });
    }
    if (recent.length >= PHONE_CODES_PER_HOUR) {
      const oldest = Number(recent[recent.length - 1].created_ms);
      const retryAfterSeconds = Math.ceil((oldest + HOUR_MS - nowMs) / 1000);
      throw new ApiError('phone-code-too-soon', `${PHONE_CODES_PER_HOUR} codes were sent this hour: ask again in ${retryAfterSeconds} s`, {
        retryAfterSeconds,
      });
    }
  }
  const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
  await tx.run('UPDATE phone_codes SET used_ms = ? WHERE holder_id = ? AND purpose = ? AND used_ms IS NULL', [nowMs, input.holderId, input.purpose]);
  await tx.run('INSERT INTO phone_codes (holder_id, purpose, target, code_hash, created_ms, expires_ms, attempts) VALUES (?, ?, ?, ?, ?, ?, 0)', [
    input.holderId,
    input.purpose,
    input.target,
    codeHash(key, input.holderId, input.purpose, code),
    nowMs,
    nowMs + PHONE_CODE_TTL_MS,
  ]);
  outbox.send({ phone: input.phone, purpose: input.purpose, code, atMs: nowMs });
  return { expiresMs: nowMs + PHONE_CODE_TTL_MS };
}

/**
 * The new phone an online change waits to verify (q31): the target of the newest open
 * 'change-phone' code, unexpired and with tries left; null when none waits.
 */
export async function pendingPhoneChange(tx: Tx, holderId: number, nowMs: number, options: { evenExpired?: boolean } = {}): Promise<string | null> {
  const row = await tx.get<{ target: string | null; expires_ms: number | bigint; attempts: number | bigint }>(
    "SELECT target, expires_ms, attempts FROM phone_codes WHERE holder_id = ? AND purpose = 'change-phone' AND used_ms IS NULL ORDER BY id DESC LIMIT 1",
    [holderId],
  );
  if (!row || row.target === null) return null;
  if (options.evenExpired !== true && (Number(row.expires_ms) <= nowMs || Number(row.attempts) >= PHONE_CODE_TRIES)) return null;
  return String(row.target);
}

/**
 * Uses a code: the newest open code of the purpose, unexpired, for this target, with tries left.
 * A wrong code counts a try (committed: the caller returns rather than throws, see below).
 */
export async function consumePhoneCode(
  tx: Tx,
  key: Uint8Array,
  input: { holderId: number; purpose: string; target: string | null; code: string },
  nowMs: number,
): Promise<boolean> {
  const row = await tx.get<{ id: number; code_hash: string; expires_ms: number; attempts: number; target: string | null }>(
    'SELECT id, code_hash, expires_ms, attempts, target FROM phone_codes WHERE holder_id = ? AND purpose = ? AND used_ms IS NULL ORDER BY id DESC LIMIT 1',
    [input.holderId, input.purpose],
  );
  if (!row || Number(row.expires_ms) <= nowMs || Number(row.attempts) >= PHONE_CODE_TRIES) return false;
  if ((row.target ?? null) !== input.target) return false;
  const a = Buffer.from(String(row.code_hash), 'hex');
  const b = Buffer.from(codeHash(key, input.holderId, input.purpose, input.code), 'hex');
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    await tx.run('UPDATE phone_codes SET attempts = attempts + 1 WHERE id = ?', [row.id]);
    return false;
  }
  await tx.run('UPDATE phone_codes SET used_ms = ? WHERE id = ?', [nowMs, row.id]);
  return true;
}

export interface HolderAccountRow {
  holderId: number;
  passwordHash: string;
  phone: string;
  phoneVerifiedMs: number | null;
  failedCount: number;
  lockedUntilMs: number;
}

export async function findHolderAccount(tx: Tx, holderId: number): Promise<HolderAccountRow | null> {
  const r = await tx.get<Record<string, string | number | null>>(
    'SELECT holder_id, password_hash, phone, phone_verified_ms, failed_count, locked_until_ms FROM holder_accounts WHERE holder_id = ?',
    [holderId],
  );
  if (!r) return null;
  return {
    holderId: Number(r.holder_id),
    passwordHash: String(r.password_hash),
    phone: String(r.phone),
    phoneVerifiedMs: r.phone_verified_ms === null ? null : Number(r.phone_verified_ms),
    failedCount: Number(r.failed_count),
    lockedUntilMs: Number(r.locked_until_ms),
  };
}

/**
 * Opens an account for the holder with this ID number (the holder is recorded when new). A
 * holder who gave a phone before (at a counter) must sign up with that phone; one account per
 * holder (`409 holder-account-exists`). The phone code goes out at once.
 */
export async function openHolderAccount(
  tx: Tx,
  key: Uint8Array,
  outbox: PhoneOutbox,
  input: { idHmac: string; name: string; birthDate: number | null; phone: string; passwordHash: string },
  nowMs: number,
): Promise<HolderRow> {
  const holder = await findOrCreateHolder(tx, { idHmac: input.idHmac, name: input.name, birthDate: input.birthDate }, 'holder:sign-up', nowMs);
  const recorded = await tx.get<{ phone: string | null }>('SELECT phone FROM holders WHERE id = ?', [holder.id]);
  if (recorded?.phone && recorded.phone !== input.phone) {
    throw new ApiError('phone-mismatch', `sign up with the phone the holder gave before (${maskPhone(recorded.phone)}) or change it at a counter`);
  }
  const inserted = await tx.run(
    `INSERT INTO holder_accounts (holder_id, password_hash, phone, phone_verified_ms, failed_count, locked_until_ms, created_ms, updated_ms)
     VALUES (?, ?, ?, NULL, 0, 0, ?, ?) ON CONFLICT (holder_id) DO NOTHING`,
    [holder.id, input.passwordHash, input.phone, nowMs, nowMs],
  );
  if (inserted === 0) throw new ApiError('holder-account-exists', 'this holder already has an online account: sign in, or reset its password at a counter');
  await issuePhoneCode(tx, key, outbox, { holderId: holder.id, purpose: 'verify-phone', target: input.phone, phone: input.phone }, nowMs);
  return holder;
}

/** The account of the holder with this ID number's HMAC, or null (unknown holder or no account). */
export async function accountByIdHmac(tx: Tx, idHmac: string): Promise<{ holder: HolderRow; account: HolderAccountRow } | null> {
  const holder = await findHolderByHmac(tx, idHmac);
  if (!holder) return null;
  const account = await findHolderAccount(tx, holder.id);
  return account ? { holder, account } : null;
}

/** The phone is verified: the account may sign in; the holder's contact phone is this one. */
export async function markPhoneVerified(tx: Tx, holderId: number, phone: string, nowMs: number): Promise<void> {
  await tx.run('UPDATE holder_accounts SET phone_verified_ms = ?, updated_ms = ? WHERE holder_id = ?', [nowMs, nowMs, holderId]);
  await tx.run('UPDATE holders SET phone = ?, updated_ms = ? WHERE id = ?', [phone, nowMs, holderId]);
}

export const PERSONAL_FIELDS = ['address', 'job', 'phone'] as const;
export type PersonalField = (typeof PERSONAL_FIELDS)[number];

export interface PersonalData {
  address: string | null;
  job: string | null;
  phone: string | null;
}

export async function personalData(tx: Tx, holderId: number): Promise<PersonalData> {
  const r = await tx.get<{ address: string | null; job: string | null; phone: string | null }>('SELECT address, job, phone FROM holders WHERE id = ?', [
    holderId,
  ]);
  return { address: r?.address ?? null, job: r?.job ?? null, phone: r?.phone ?? null };
}

/**
 * Changes the non-key personal data (q31): only the fields given; each change is logged with its
 * old and new value (phones masked in the log), who acted, the organisation and the agent act.
 */
export async function changePersonalData(
  tx: Tx,
  holderId: number,
  change: Partial<PersonalData>,
  by: { actor: string; organisationId: string | null; agentActId: number | null },
  nowMs: number,
): Promise<{ data: PersonalData; changed: PersonalField[] }> {
  const before = await personalData(tx, holderId);
  const changed: PersonalField[] = [];
  for (const field of PERSONAL_FIELDS) {
    const value = change[field];
    if (value === undefined || value === before[field]) continue;
    changed.push(field);
    await tx.run(`UPDATE holders SET ${field} = ?, updated_ms = ? WHERE id = ?`, [value, nowMs, holderId]);
    // The online account's phone is the holder's phone: it follows.
    if (field === 'phone' && value !== null) await tx.run('UPDATE holder_accounts SET phone = ?, updated_ms = ? WHERE holder_id = ?', [value, nowMs, holderId]);
    const shown = (v: string | null) => (field === 'phone' ? maskPhone(v) : v);
    await tx.run(
      'INSERT INTO personal_data_changes (holder_id, field, old_value, new_value, changed_by, organisation_id, agent_act_id, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      [holderId, field, shown(before[field]), shown(value), by.actor, by.organisationId, by.agentActId, nowMs],
    );
  }
  return { data: await personalData(tx, holderId), changed };
}
