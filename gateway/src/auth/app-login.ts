/**
 * Cardholder app sessions (seed q. 16): card number + service password. Lockout after N
 * consecutive failures for a while (policy: 5 and 30 minutes); while locked even the right
 * password is refused, so guessing cannot continue. Unknown cards cost the same KDF time as
 * known ones, so a caller cannot probe which card numbers exist.
 */
import type { Store } from '../store/store-port.ts';
import { ApiError } from '../http/problem.ts';
import { hashPassword, verifyPassword, type KdfParams } from './passwords.ts';
import { issueToken, revokeTokensOf } from './tokens.ts';

const UNUSABLE_STATUSES = new Set(['replaced', 'cancelled', 'refunded', 'cloned', 'exchanged']);
let dummyHash: Promise<string> | null = null;

export interface AppLoginPolicy {
  maxFailures: number;
  lockoutMs: number;
  sessionTtlMs: number;
  kdf: KdfParams;
}

type CredentialRow = { password_hash: string; must_change: number; failed_count: number; locked_until_ms: number; status: string | null };

export async function openAppSession(
  store: Store,
  cardNo: string,
  password: string,
  clock: () => number,
  policy: AppLoginPolicy,
): Promise<{ token: string; expiresMs: number; mustChangePassword: boolean }> {
  const row = await store.transaction(
    (tx) =>
      tx.get<CredentialRow>(
        `SELECT c.password_hash, c.must_change, c.failed_count, c.locked_until_ms, k.status
           FROM app_credentials c LEFT JOIN cards k ON k.card_no = c.card_no WHERE c.card_no = ?`,
        [cardNo],
      ),
    { readOnly: true },
  );
  if (!row || UNUSABLE_STATUSES.has(String(row.status))) {
    dummyHash ??= hashPassword('not-a-password', policy.kdf);
    await verifyPassword(password, await dummyHash);
    throw new ApiError('invalid-credentials');
  }
  if (Number(row.locked_until_ms) > clock()) throw new ApiError('account-locked', 'too many failed attempts; the account is locked for a while');
  const ok = await verifyPassword(password, row.password_hash);
  const nowMs = clock();
  return store
    .transaction(async (tx) => {
      // Re-read under the write lock: concurrent failures must all count.
      const current = await tx.get<{ failed_count: number; locked_until_ms: number; must_change: number }>(
        'SELECT failed_count, locked_until_ms, must_change FROM app_credentials WHERE card_no = ?',
        [cardNo],
      );
      if (!current) throw new ApiError('invalid-credentials');
      if (Number(current.locked_until_ms) > nowMs) throw new ApiError('account-locked', 'too many failed attempts; the account is locked for a while');
      if (!ok) {
        const failures = Number(current.failed_count) + 1;
        if (failures >= policy.maxFailures) {
          await tx.run('UPDATE app_credentials SET failed_count = 0, locked_until_ms = ?, updated_ms = ? WHERE card_no = ?', [
            nowMs + policy.lockoutMs,
            nowMs,
            cardNo,
          ]);
        } else {
          await tx.run('UPDATE app_credentials SET failed_count = ?, updated_ms = ? WHERE card_no = ?', [failures, nowMs, cardNo]);
        }
        // Returning (not throwing) keeps the counter update committed; the route answers 401.
        return null;
      }
      if (Number(current.failed_count) !== 0) await tx.run('UPDATE app_credentials SET failed_count = 0, updated_ms = ? WHERE card_no = ?', [nowMs, cardNo]);
      const expiresMs = nowMs + policy.sessionTtlMs;
      const token = await issueToken(tx, { role: 'app', subject: cardNo, label: 'app session', createdBy: `app:${cardNo}`, nowMs, expiresMs });
      return { token, expiresMs, mustChangePassword: Number(current.must_change) === 1 };
    })
    .then((session) => {
      if (!session) throw new ApiError('invalid-credentials');
      return session;
    });
}

/** Changes the service password; other sessions of the card are revoked, the current one stays. */
export async function changeAppPassword(
  store: Store,
  cardNo: string,
  currentPassword: string,
  newPassword: string,
  currentTokenHash: string,
  clock: () => number,
  kdf: KdfParams,
): Promise<void> {
  const row = await store.transaction((tx) => tx.get<{ password_hash: string }>('SELECT password_hash FROM app_credentials WHERE card_no = ?', [cardNo]), {
    readOnly: true,
  });
  if (!row || !(await verifyPassword(currentPassword, row.password_hash))) throw new ApiError('invalid-credentials', 'the current service password is wrong');
  if (newPassword === currentPassword) throw new ApiError('invalid-request', 'the new password must differ from the current one');
  const hash = await hashPassword(newPassword, kdf);
  const nowMs = clock();
  await store.transaction(async (tx) => {
    await tx.run('UPDATE app_credentials SET password_hash = ?, must_change = 0, failed_count = 0, updated_ms = ? WHERE card_no = ?', [hash, nowMs, cardNo]);
    await revokeTokensOf(tx, 'app', cardNo, nowMs);
    await tx.run('UPDATE auth_tokens SET revoked_ms = NULL WHERE token_hash = ?', [currentTokenHash]);
  });
}
