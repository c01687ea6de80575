/**
 * Loss reports (seed q. 17-21, DOMAIN.md section 5). A temporary report blacklists the card at
 * once and expires by itself after 15 days (`expireTemporaryLosses` in blacklist.ts emits the
 * 'remove' delta when the time has passed); a formal report blacklists it for good and opens
 * the way to a replacement. Lifting a temporary report early needs the card and ID at a
 * counter; a replaced card can never be unblocked (q. 21).
 *
 * At most one open report per card: a unique partial index, not only this code.
 */
import type { Tx } from '../store/store-port.ts';
import { ApiError } from '../http/problem.ts';
import { addBlacklistEntry, removeBlacklistEntry } from './blacklist.ts';
import { requireCard } from './cards.ts';

export type LossKind = 'temporary' | 'formal';

export interface LossReport {
  id: number;
  cardNo: string;
  kind: LossKind;
  reportedMs: number;
  expiresMs: number | null;
  endedMs: number | null;
  endReason: string | null;
}

type Raw = Record<string, string | number | bigint | null>;

function reportFromRow(r: Raw): LossReport {
  return {
    id: Number(r.id),
    cardNo: String(r.card_no),
    kind: String(r.kind) as LossKind,
    reportedMs: Number(r.reported_ms),
    expiresMs: r.expires_ms === null ? null : Number(r.expires_ms),
    endedMs: r.ended_ms === null ? null : Number(r.ended_ms),
    endReason: r.end_reason === null ? null : String(r.end_reason),
  };
}

export async function currentLossReport(tx: Tx, cardNo: string): Promise<LossReport | null> {
  const row = await tx.get<Raw>('SELECT * FROM loss_reports WHERE card_no = ? AND ended_ms IS NULL', [cardNo]);
  return row ? reportFromRow(row) : null;
}

export interface ReportLossResult {
  report: LossReport;
  blacklistVersion: number | null;
}

/**
 * Files a loss report. A formal report on a card under a temporary one upgrades it (the
 * temporary report ends as 'upgraded'); anything else on a reported card is a 409.
 */
export async function reportLoss(tx: Tx, cardNo: string, kind: LossKind, actor: string, nowMs: number, temporaryLossMs: number): Promise<ReportLossResult> {
  const card = await requireCard(tx, cardNo, nowMs);
  if (card.status === 'replaced') throw new ApiError('card-replaced', `card ${cardNo} was replaced by ${card.replacedBy}`);
  const open = await currentLossReport(tx, cardNo);
  if (open) {
    if (!(open.kind === 'temporary' && kind === 'formal')) {
      throw new ApiError('loss-report-exists', `card ${cardNo} already has a ${open.kind} loss report`);
    }
    await tx.run("UPDATE loss_reports SET ended_ms = ?, end_reason = 'upgraded' WHERE id = ?", [nowMs, open.id]);
  } else if (card.status !== 'active') {
    throw new ApiError('card-not-active', `card ${cardNo} is ${card.status}`);
  }
  const expiresMs = kind === 'temporary' ? nowMs + temporaryLossMs : null;
  const inserted = await tx.get<{ id: number }>(
    'INSERT INTO loss_reports (card_no, kind, reported_ms, expires_ms, ended_ms, end_reason, reported_by) VALUES (?, ?, ?, ?, NULL, NULL, ?) RETURNING id',
    [cardNo, kind, nowMs, expiresMs, actor],
  );
  const version = await addBlacklistEntry(tx, cardNo, kind === 'temporary' ? 'temporary-loss' : 'formal-loss', nowMs);
  const report = reportFromRow((await tx.get<Raw>('SELECT * FROM loss_reports WHERE id = ?', [inserted!.id]))!);
  return { report, blacklistVersion: version };
}

/**
 * Lifts the current temporary loss report (DELETE .../loss-reports/current). Refused once the
 * card is replaced (q. 21) and for a formal report (the card is blacklisted for good).
 */
export async function liftLossReport(tx: Tx, cardNo: string, nowMs: number): Promise<{ report: LossReport; blacklistVersion: number | null }> {
  const card = await requireCard(tx, cardNo, nowMs);
  if (card.status === 'replaced') {
    throw new ApiError('card-replaced', `card ${cardNo} was replaced by another card and can never be unblocked`); // seed q. 21
  }
  const open = await currentLossReport(tx, cardNo);
  if (!open) throw new ApiError('loss-report-not-found', `card ${cardNo} has no current loss report`);
  if (open.kind === 'formal') throw new ApiError('unblock-refused', 'a formal loss report is permanent; the card can only be replaced');
  await tx.run("UPDATE loss_reports SET ended_ms = ?, end_reason = 'unblocked' WHERE id = ?", [nowMs, open.id]);
  const removed = await removeBlacklistEntry(tx, cardNo, nowMs);
  const report = reportFromRow((await tx.get<Raw>('SELECT * FROM loss_reports WHERE id = ?', [open.id]))!);
  return { report, blacklistVersion: removed.removed ? removed.version : null };
}
