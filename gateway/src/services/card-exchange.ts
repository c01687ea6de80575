/**
 * The money-moving workflows of the card's life at the issuing bank (issue 16; DOMAIN.md sections
 * 5 and 7; seed q. 22-26, 33-35, 46):
 *
 * - Exchange (换领) of a broken card, or after a change of name or ID number (q. 22-23): the old
 *   card is collected and blacklisted `exchanged` for good; its transit balance is refunded to the
 *   account given, within 2 natural days, by the refund machinery (services/refunds.ts:
 *   watermarks, deadline, late taps written off); a new card is applied for (card-applications.ts:
 *   up to 4 working days, or at once at an instant branch) with the old card's functions
 *   (transit, suburban rail) and, at collection, its current park pass (park-pass-transfer.ts).
 * - Change of partner bank (q. 25-26): at the old issuing bank the card is cancelled and
 *   collected, its balance refunded as for a broken card; the holder then applies at the new
 *   bank (an application, card-applications.ts), whose card's issue completes the change. A
 *   second change is refused until 6 calendar months after the previous change completed
 *   (409 bank-change-too-soon with the date it becomes possible); one change at a time per holder.
 * - Cancellation (q. 33-35): at a bank branch the card is cancelled and its transit balance
 *   refunded like a broken card's; a service point cancels only the social-security function
 *   (the card, its transit purse and functions stay as they are).
 *
 * An overdrawn card's debt is settled first in every one of them (card-debts.ts). Everything of
 * one request is one transaction: a refusal changes nothing.
 */
import { ApiError, registerErrorCodes } from '../http/problem.ts';
import type { Tx } from '../store/store-port.ts';
import { addBlacklistEntry } from './blacklist.ts';
import { applyForCard, type ApplyOptions, type CardApplication, type Collection, getApplication } from './card-applications.ts';
import { type DebtSettlement, settleCardDebt } from './card-debts.ts';
import { cancelCard, type CardRow, findCard, requireCard } from './cards.ts';
import { BEIJING_OFFSET_MS, beijingDateTime } from './money-time.ts';
import { getRefund, requestRefund, type RefundView } from './refunds.ts';

registerErrorCodes({
  'card-exchanged': { status: 409, title: 'The card was already exchanged' },
  'id-number-in-use': { status: 409, title: 'The new ID number belongs to another holder' },
  'bank-change-too-soon': { status: 409, title: 'The partner bank was changed less than 6 months ago' },
  'bank-change-in-progress': { status: 409, title: "The holder's previous bank change is not complete" },
  'same-bank': { status: 409, title: 'The card is already issued by this bank' },
});

export type ExchangeReason = 'broken' | 'name-change' | 'id-change';

export interface LifecycleActor {
  /** "role:subject", recorded with every change. */
  name: string;
  branchId: string | null;
  /** May write off an overdrawn card's debt. */
  supervisor: boolean;
}

export interface RefundDestination {
  account: string;
  name: string;
}

function refundOrThrow(outcome: Awaited<ReturnType<typeof requestRefund>>): RefundView {
  if (!outcome.ok) throw new ApiError(outcome.code, outcome.detail);
  return outcome.refund;
}

function requireHolderId(card: CardRow): number {
  if (card.holderId === null) {
    throw new ApiError('holder-not-recorded', `card ${card.cardNo} was issued before holders were recorded: record its holder by a new application`);
  }
  return card.holderId;
}

async function copiedCredential(tx: Tx, cardNo: string): Promise<{ hash: string; mustChange: boolean }> {
  const row = await tx.get<{ password_hash: string; must_change: number | bigint }>(
    'SELECT password_hash, must_change FROM app_credentials WHERE card_no = ?',
    [cardNo],
  );
  if (row === undefined) throw new Error(`card ${cardNo} has no service password`);
  return { hash: row.password_hash, mustChange: Number(row.must_change) === 1 };
}

export interface ExchangeRequest {
  cardNo: string;
  reason: ExchangeReason;
  refundTo: RefundDestination;
  collection: Collection;
  /** name-change: the holder's new name (on the new card and the holder record). */
  newHolderName?: string;
  /** id-change: the keyed hash of the holder's new ID number (services/holders.ts). */
  newIdHmac?: string;
  debt?: DebtSettlement;
}

export interface ExchangeResult {
  oldCard: CardRow;
  refund: RefundView;
  application: CardApplication;
  /** False for a retried request: the first exchange is answered, nothing happens twice. */
  created: boolean;
}

/** Exchange at the issuing bank (q. 22-23, q. 46). A retry answers the first exchange. */
export async function exchangeCard(tx: Tx, request: ExchangeRequest, options: ApplyOptions, actor: LifecycleActor, nowMs: number): Promise<ExchangeResult> {
  const card = await requireCard(tx, request.cardNo, nowMs);
  if (card.status === 'exchanged') {
    const row = await tx.get<{ id: number | bigint }>('SELECT id FROM card_applications WHERE old_card_no = ?', [card.cardNo]);
    const refund = await tx.get<{ id: number | bigint }>('SELECT id FROM refunds WHERE card_no = ?', [card.cardNo]);
    if (row === undefined || refund === undefined) throw new ApiError('card-exchanged', `card ${card.cardNo} was exchanged`);
    return {
      oldCard: card,
      refund: (await getRefund(tx, String(refund.id)))!,
      application: (await getApplication(tx, String(row.id), nowMs))!,
      created: false,
    };
  }
  if (card.status === 'replaced') throw new ApiError('card-replaced', `card ${card.cardNo} was replaced by ${card.replacedBy}`);
  if (card.status !== 'active') throw new ApiError('card-not-active', `card ${card.cardNo} is ${card.status}; only a card in use is exchanged`);
  const holderId = requireHolderId(card);
  let holderName = card.holderName;
  if (request.reason === 'name-change') {
    if (request.newHolderName === undefined) throw new ApiError('invalid-request', 'a change of name needs newHolderName', { field: 'newHolderName' });
    holderName = request.newHolderName;
    await tx.run('UPDATE holders SET name = ?, updated_ms = ? WHERE id = ?', [holderName, nowMs, holderId]);
  } else if (request.reason === 'id-change') {
    if (request.newIdHmac === undefined)
      throw new ApiError('invalid-request', 'a change of ID number needs newSocialSecurityNo', { field: 'newSocialSecurityNo' });
    const other = await tx.get<{ id: number | bigint }>('SELECT id FROM holders WHERE id_hmac = ? AND id <> ?', [request.newIdHmac, holderId]);
    if (other !== undefined) throw new ApiError('id-number-in-use', 'the new ID number is already the ID number of another holder');
    await tx.run('UPDATE holders SET id_hmac = ?, updated_ms = ? WHERE id = ?', [request.newIdHmac, nowMs, holderId]);
  }
  const credential = await copiedCredential(tx, card.cardNo);
  // The old card is collected: blocked for good, its app sessions end, its balance refunded.
  await addBlacklistEntry(tx, card.cardNo, 'exchanged', nowMs);
  await tx.run("UPDATE auth_tokens SET revoked_ms = ? WHERE role = 'app' AND subject = ? AND revoked_ms IS NULL", [nowMs, card.cardNo]);
  const refund = refundOrThrow(
    await requestRefund(tx, card.cardNo, request.refundTo, actor.name, nowMs, {
      settlement: request.debt,
      actor: { name: actor.name, supervisor: actor.supervisor },
    }),
  );
  const application = await applyForCard(
    tx,
    {
      holderId,
      kind: 'exchange',
      reason: request.reason,
      oldCardNo: card.cardNo,
      issuingBank: card.issuingBank,
      branchId: actor.branchId,
      collection: request.collection,
      holderName,
      profile: card.profile,
      algorithm: card.algorithm,
      overdraftLimitFen: card.overdraftLimitFen,
      // The functions opened follow the holder to the new card [P], suburban rail included (q. 44).
      transitOpened: card.transitOpened,
      suburbanOpened: card.suburbanOpened,
      passwordHash: credential.hash,
      passwordMustChange: credential.mustChange,
    },
    options,
    actor.name,
    nowMs,
  );
  return { oldCard: (await findCard(tx, card.cardNo))!, refund, application, created: true };
}

/** Months added to a Beijing date, the day clamped to the month's end (31 August + 6 months = 28/29 February). */
export function addMonthsBeijing(epochMs: number, months: number): { ymd: number; startMs: number } {
  const { date } = beijingDateTime(epochMs);
  const year = Math.floor(date / 10_000);
  const month = Math.floor(date / 100) % 100;
  const day = date % 100;
  const total = year * 12 + (month - 1) + months;
  const y = Math.floor(total / 12);
  const m = (total % 12) + 1;
  const lastDay = new Date(Date.UTC(y, m, 0)).getUTCDate();
  const d = Math.min(day, lastDay);
  return { ymd: y * 10_000 + m * 100 + d, startMs: Date.UTC(y, m - 1, d) - BEIJING_OFFSET_MS };
}

/** The gap between two bank changes of one holder (q. 26). */
export const BANK_CHANGE_GAP_MONTHS = 6;

export interface BankChangeView {
  id: number;
  holderId: number;
  oldCardNo: string;
  fromBank: string;
  toBank: string;
  cancelledMs: number;
  newCardNo: string | null;
  completedMs: number | null;
  /** When the next change becomes possible (6 months after this one completed); null while open. */
  nextPossibleMs: number | null;
}

type Raw = Record<string, string | number | bigint | null>;

function bankChangeFromRow(r: Raw): BankChangeView {
  const completedMs = r.completed_ms === null ? null : Number(r.completed_ms);
  return {
    id: Number(r.id),
    holderId: Number(r.holder_id),
    oldCardNo: String(r.old_card_no),
    fromBank: String(r.from_bank),
    toBank: String(r.to_bank),
    cancelledMs: Number(r.cancelled_ms),
    newCardNo: r.new_card_no === null ? null : String(r.new_card_no),
    completedMs,
    nextPossibleMs: completedMs === null ? null : addMonthsBeijing(completedMs, BANK_CHANGE_GAP_MONTHS).startMs,
  };
}

/** The holder's latest bank change, or null. */
export async function latestBankChange(tx: Tx, holderId: number): Promise<BankChangeView | null> {
  const row = await tx.get<Raw>('SELECT * FROM bank_changes WHERE holder_id = ? ORDER BY cancelled_ms DESC, id DESC LIMIT 1', [holderId]);
  return row === undefined ? null : bankChangeFromRow(row);
}

export interface BankChangeRequest {
  cardNo: string;
  toBank: string;
  refundTo: RefundDestination;
  debt?: DebtSettlement;
}

/** The first step of a bank change, at the old issuing bank (q. 25-26). */
export async function startBankChange(
  tx: Tx,
  request: BankChangeRequest,
  actor: LifecycleActor,
  nowMs: number,
): Promise<{ oldCard: CardRow; refund: RefundView; bankChange: BankChangeView }> {
  const card = await requireCard(tx, request.cardNo, nowMs);
  if (card.status !== 'active') throw new ApiError('card-not-active', `card ${card.cardNo} is ${card.status}`);
  const holderId = requireHolderId(card);
  if (request.toBank === card.issuingBank) throw new ApiError('same-bank', `card ${card.cardNo} is already issued by ${card.issuingBank}`);
  const previous = await latestBankChange(tx, holderId);
  if (previous !== null && previous.completedMs === null) {
    throw new ApiError('bank-change-in-progress', `the holder's change from ${previous.fromBank} (card ${previous.oldCardNo}) waits for the new bank's card`);
  }
  if (previous?.nextPossibleMs != null && nowMs < previous.nextPossibleMs) {
    const possible = addMonthsBeijing(previous.completedMs!, BANK_CHANGE_GAP_MONTHS).ymd;
    const text = `${String(possible).slice(0, 4)}-${String(possible).slice(4, 6)}-${String(possible).slice(6, 8)}`;
    throw new ApiError(
      'bank-change-too-soon',
      `the holder changed the partner bank on ${new Date(previous.completedMs! + BEIJING_OFFSET_MS).toISOString().slice(0, 10)}: the next change is possible from ${text} (6 months later)`,
      { possibleFrom: text, possibleFromMs: previous.nextPossibleMs },
    );
  }
  const cancelled = await cancelCard(tx, card.cardNo, nowMs);
  const refund = refundOrThrow(
    await requestRefund(tx, card.cardNo, request.refundTo, actor.name, nowMs, {
      settlement: request.debt,
      actor: { name: actor.name, supervisor: actor.supervisor },
    }),
  );
  const row = await tx.get<{ id: number | bigint }>(
    `INSERT INTO bank_changes (holder_id, old_card_no, from_bank, to_bank, cancelled_ms, new_card_no, completed_ms, created_by)
     VALUES (?, ?, ?, ?, ?, NULL, NULL, ?) RETURNING id`,
    [holderId, card.cardNo, card.issuingBank, request.toBank, nowMs, actor.name],
  );
  const view = bankChangeFromRow((await tx.get<Raw>('SELECT * FROM bank_changes WHERE id = ?', [Number(row!.id)]))!);
  return { oldCard: (await findCard(tx, cancelled.cardNo))!, refund, bankChange: view };
}

export type CancellationScope = 'card' | 'social-security';

export interface CancellationRequest {
  cardNo: string;
  scope: CancellationScope;
  /** Where the transit balance goes (a bank branch); without it the balance waits for POST /v1/cards/{cardNo}/refunds. */
  refundTo?: RefundDestination;
  debt?: DebtSettlement;
}

/**
 * Cancellation (q. 33-35). scope 'card' (a bank branch): the card is cancelled for good, a debt
 * settled first, the transit balance refunded when `refundTo` is given. scope
 * 'social-security' (what a service point does): only the social-security function ends; the
 * card, its transit purse and functions are untouched (q. 34: other functions go on).
 */
export async function cancelCardAtCounter(
  tx: Tx,
  request: CancellationRequest,
  actor: LifecycleActor,
  nowMs: number,
): Promise<{ card: CardRow; refund: RefundView | null }> {
  if (request.scope === 'social-security') {
    const card = await requireCard(tx, request.cardNo, nowMs);
    await tx.run('UPDATE cards SET social_security_cancelled_ms = ?, updated_ms = ? WHERE card_no = ? AND social_security_cancelled_ms IS NULL', [
      nowMs,
      nowMs,
      card.cardNo,
    ]);
    return { card: (await findCard(tx, card.cardNo))!, refund: null };
  }
  const before = await requireCard(tx, request.cardNo, nowMs);
  const card = await cancelCard(tx, request.cardNo, nowMs);
  let refund: RefundView | null = null;
  if (request.refundTo !== undefined) {
    refund = refundOrThrow(
      await requestRefund(tx, card.cardNo, request.refundTo, actor.name, nowMs, {
        settlement: request.debt,
        actor: { name: actor.name, supervisor: actor.supervisor },
      }),
    );
  } else if (before.status !== 'cancelled') {
    // Not refunded now: an overdrawn card's debt is still settled before the cancellation completes.
    await settleCardDebt(tx, card.cardNo, 'cancellation', request.debt, { name: actor.name, supervisor: actor.supervisor }, nowMs);
  }
  return { card: (await findCard(tx, card.cardNo))!, refund };
}
