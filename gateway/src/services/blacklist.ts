/**
 * The blacklist: a current table (what is listed now) and a strictly versioned change log
 * (`blacklist_log`) that validators follow by version (DOMAIN.md section 6). Every change takes
 * the next version from the `counters` row inside the same transaction, so versions are dense,
 * commit in order, and a reader that asks `since=v` never misses a change.
 *
 * Card status follows the blacklist reason (cards.status), so the refund, clone and
 * cancellation paths only need `addBlacklistEntry`.
 */
import { FINAL_BLACKLIST_REASONS, LIMITS, type BlacklistDeltaEntry, type BlacklistReason } from '#core';
import type { Tx } from '../store/store-port.ts';

/** cards.status values. 'active' is the only status in which a card may be used. */
export type CardStatus = 'active' | 'temporary-loss' | 'formal-loss' | 'replaced' | 'refunded' | 'cloned' | 'cancelled' | 'exchanged';

const STATUS_FOR_REASON: Record<BlacklistReason, CardStatus> = {
  'temporary-loss': 'temporary-loss',
  'formal-loss': 'formal-loss',
  replaced: 'replaced',
  refunded: 'refunded',
  cloned: 'cloned',
  cancelled: 'cancelled',
  exchanged: 'exchanged',
};

/** Precedence when a listed card gets another reason: a final reason is never downgraded. */
const REASON_RANK: Record<BlacklistReason, number> = {
  'temporary-loss': 0,
  'formal-loss': 1,
  cancelled: 2,
  refunded: 2,
  exchanged: 2,
  cloned: 3,
  replaced: 4,
};

export interface BlacklistListing {
  cardNo: string;
  reason: BlacklistReason;
  version: number;
  sinceMs: number;
}

export async function currentBlacklistVersion(tx: Tx): Promise<number> {
  const row = await tx.get<{ value: number }>("SELECT value FROM counters WHERE name = 'blacklist_version'");
  return Number(row?.value ?? 0);
}

async function nextBlacklistVersion(tx: Tx): Promise<number> {
  const row = await tx.get<{ value: number }>("UPDATE counters SET value = value + 1 WHERE name = 'blacklist_version' RETURNING value");
  if (!row) throw new Error('counters row blacklist_version is missing (migration 001 not applied?)');
  return Number(row.value);
}

/**
 * Takes the blacklist's version row (a no-op write) before any loss report, card status or
 * listing row is written: the lock order after the cards (docs/postgres.md). Every blacklist
 * change takes this row anyway; a transaction that writes such rows before it would otherwise
 * hold them while waiting for the row another transaction holds while it waits for them.
 */
export async function lockBlacklist(tx: Tx): Promise<void> {
  await tx.run("UPDATE counters SET value = value WHERE name = 'blacklist_version'");
}

export async function blacklistListing(tx: Tx, cardNo: string): Promise<BlacklistListing | null> {
  const row = await tx.get<{ reason: string; version: number; since_ms: number }>('SELECT reason, version, since_ms FROM blacklist_current WHERE card_no = ?', [
    cardNo,
  ]);
  if (!row) return null;
  return { cardNo, reason: row.reason as BlacklistReason, version: Number(row.version), sinceMs: Number(row.since_ms) };
}

/**
 * Lists a card (or raises its reason). Returns the new version, or null when nothing changed
 * (already listed with this or a stronger reason). Updates cards.status to match.
 */
export async function addBlacklistEntry(tx: Tx, cardNo: string, reason: BlacklistReason, nowMs: number): Promise<number | null> {
  const existing = await blacklistListing(tx, cardNo);
  if (existing && REASON_RANK[existing.reason] >= REASON_RANK[reason]) return null;
  const version = await nextBlacklistVersion(tx);
  await tx.run('INSERT INTO blacklist_log (version, card_no, op, reason, at_ms) VALUES (?, ?, ?, ?, ?)', [version, cardNo, 'add', reason, nowMs]);
  if (existing) {
    await tx.run('UPDATE blacklist_current SET reason = ?, version = ?, since_ms = ? WHERE card_no = ?', [reason, version, nowMs, cardNo]);
  } else {
    await tx.run('INSERT INTO blacklist_current (card_no, reason, version, since_ms) VALUES (?, ?, ?, ?)', [cardNo, reason, version, nowMs]);
  }
  await tx.run('UPDATE cards SET status = ?, updated_ms = ? WHERE card_no = ?', [STATUS_FOR_REASON[reason], nowMs, cardNo]);
  return version;
}

export type RemoveBlacklistResult = { removed: true; version: number } | { removed: false; reason: 'not-listed' | 'final'; listedReason?: BlacklistReason };

/**
 * Lifts a listing. Only a temporary loss can be lifted (expiry or unblock at a counter); a final
 * reason stays forever (DOMAIN.md section 5). Sets cards.status back to 'active'.
 */
export async function removeBlacklistEntry(tx: Tx, cardNo: string, nowMs: number): Promise<RemoveBlacklistResult> {
  const existing = await blacklistListing(tx, cardNo);
  if (!existing) return { removed: false, reason: 'not-listed' };
  if (FINAL_BLACKLIST_REASONS.has(existing.reason)) return { removed: false, reason: 'final', listedReason: existing.reason };
  const version = await nextBlacklistVersion(tx);
  await tx.run('INSERT INTO blacklist_log (version, card_no, op, reason, at_ms) VALUES (?, ?, ?, ?, ?)', [version, cardNo, 'remove', existing.reason, nowMs]);
  await tx.run('DELETE FROM blacklist_current WHERE card_no = ?', [cardNo]);
  await tx.run("UPDATE cards SET status = 'active', updated_ms = ? WHERE card_no = ? AND status = 'temporary-loss'", [nowMs, cardNo]);
  return { removed: true, version };
}

export interface BlacklistDelta {
  entries: BlacklistDeltaEntry[];
  /** Version reached after applying `entries` (the current version when there are none). */
  version: number;
  more: boolean;
}

/**
 * Changes after `sinceVersion`, ascending, at most `limit`. Call `expireTemporaryLosses` in the
 * same transaction first (or use `readBlacklistFeed`) so expired temporary losses are emitted.
 */
export async function blacklistDeltaSince(tx: Tx, sinceVersion: number, limit: number = LIMITS.blacklistDeltaPage): Promise<BlacklistDelta> {
  const pageSize = Math.max(1, Math.min(limit, LIMITS.blacklistDeltaPage));
  const rows = await tx.all<{ version: number; card_no: string; op: string; reason: string }>(
    'SELECT version, card_no, op, reason FROM blacklist_log WHERE version > ? ORDER BY version LIMIT ?',
    [sinceVersion, pageSize + 1],
  );
  const more = rows.length > pageSize;
  const page = more ? rows.slice(0, pageSize) : rows;
  const entries: BlacklistDeltaEntry[] = page.map((r) => ({
    version: Number(r.version),
    cardNo: r.card_no,
    op: r.op as 'add' | 'remove',
    reason: r.reason as BlacklistReason,
  }));
  const version = entries.length > 0 ? entries[entries.length - 1].version : await currentBlacklistVersion(tx);
  return { entries, version, more };
}

/**
 * Ends temporary loss reports whose 15 days have passed and emits their 'remove' deltas.
 * Idempotent; run on every blacklist read, sync and card read, and on a timer, so the derived
 * state ("expired by now") and the log agree whenever anyone looks.
 */
export async function expireTemporaryLosses(tx: Tx, nowMs: number): Promise<number> {
  const due = await tx.all<{ id: number; card_no: string; expires_ms: number }>(
    "SELECT id, card_no, expires_ms FROM loss_reports WHERE ended_ms IS NULL AND kind = 'temporary' AND expires_ms <= ? ORDER BY expires_ms, id",
    [nowMs],
  );
  // The version row first, then the reports' rows (see lockBlacklist).
  if (due.length > 0) await lockBlacklist(tx);
  for (const report of due) {
    await tx.run("UPDATE loss_reports SET ended_ms = ?, end_reason = 'expired' WHERE id = ? AND ended_ms IS NULL", [Number(report.expires_ms), report.id]);
    await removeBlacklistEntry(tx, report.card_no, nowMs);
  }
  return due.length;
}

/** Expiry, then one page of the feed: what the blacklist route and the sync route return. */
export async function readBlacklistFeed(tx: Tx, sinceVersion: number, nowMs: number, limit?: number): Promise<BlacklistDelta> {
  await expireTemporaryLosses(tx, nowMs);
  return blacklistDeltaSince(tx, sinceVersion, limit);
}
