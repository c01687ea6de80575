/**
 * Console sessions, server-side in the store (so every PostgreSQL instance sees them and a
 * sign-out or a disabled account ends them at once). The cookie carries 32 random bytes; the
 * table keeps only their SHA-256 (a database leak hands out no session). A session ends when
 * revoked, when idle longer than `idleMs`, or at its absolute `expires_ms`.
 *
 * The cookie is not an API credential: the console acts on the JSON API in process
 * (console/api.ts) with the principal the session resolves to, so a person's cookie never
 * carries more power than the console gives their role.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Store } from '../store/store-port.ts';

export type SessionKind = 'staff' | 'cardholder';

export interface ConsoleSession {
  hash: string;
  kind: SessionKind;
  subject: string;
  createdMs: number;
  lastSeenMs: number;
}

export interface SessionPolicy {
  idleMs: number;
  maxMs: number;
}

export const DEFAULT_SESSION_POLICY: SessionPolicy = { idleMs: 30 * 60_000, maxMs: 12 * 60 * 60_000 };

export function sessionHash(id: string): string {
  return createHash('sha256').update(id, 'utf8').digest('hex');
}

/** Opens a session; returns the cookie value (never stored). */
export async function openSession(store: Store, kind: SessionKind, subject: string, nowMs: number, policy: SessionPolicy): Promise<string> {
  const id = randomBytes(32).toString('base64url');
  await store.transaction((tx) =>
    tx.run('INSERT INTO console_sessions (session_hash, kind, subject, created_ms, last_seen_ms, expires_ms, revoked_ms) VALUES (?, ?, ?, ?, ?, ?, NULL)', [
      sessionHash(id),
      kind,
      subject,
      nowMs,
      nowMs,
      nowMs + policy.maxMs,
    ]),
  );
  return id;
}

/**
 * The live session for a cookie value, touched (last seen = now), or null (unknown, revoked,
 * idle too long, past its end). The touch is written only when a minute has passed since the
 * last one, so browsing does not write on every page.
 */
export async function resumeSession(store: Store, id: string, nowMs: number, policy: SessionPolicy): Promise<ConsoleSession | null> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(id)) return null;
  const hash = sessionHash(id);
  const row = await store.transaction(
    (tx) =>
      tx.get<{ kind: string; subject: string; created_ms: number; last_seen_ms: number; expires_ms: number; revoked_ms: number | null }>(
        'SELECT kind, subject, created_ms, last_seen_ms, expires_ms, revoked_ms FROM console_sessions WHERE session_hash = ?',
        [hash],
      ),
    { readOnly: true },
  );
  if (!row || row.revoked_ms !== null) return null;
  const lastSeenMs = Number(row.last_seen_ms);
  if (Number(row.expires_ms) <= nowMs || lastSeenMs + policy.idleMs <= nowMs) {
    await revokeSession(store, id, nowMs);
    return null;
  }
  if (nowMs - lastSeenMs >= 60_000) {
    await store.transaction((tx) => tx.run('UPDATE console_sessions SET last_seen_ms = ? WHERE session_hash = ? AND last_seen_ms < ?', [nowMs, hash, nowMs]), {
      retryable: true,
    });
  }
  return { hash, kind: row.kind as SessionKind, subject: row.subject, createdMs: Number(row.created_ms), lastSeenMs: nowMs };
}

export async function revokeSession(store: Store, id: string, nowMs: number): Promise<void> {
  await store.transaction((tx) => tx.run('UPDATE console_sessions SET revoked_ms = ? WHERE session_hash = ? AND revoked_ms IS NULL', [nowMs, sessionHash(id)]));
}

/** Ends every other session of the subject (after a password change). */
export async function revokeOtherSessions(store: Store, kind: SessionKind, subject: string, keepHash: string, nowMs: number): Promise<number> {
  return store.transaction((tx) =>
    tx.run('UPDATE console_sessions SET revoked_ms = ? WHERE kind = ? AND subject = ? AND session_hash <> ? AND revoked_ms IS NULL', [
      nowMs,
      kind,
      subject,
      keepHash,
    ]),
  );
}
