/**
 * Broken-card refunds (DOMAIN.md section 5, seed question 46): the purse balance of a broken
 * card is paid to a bank account within 2 natural days; a lost card gets nothing (the value is
 * on the chip, which may still be used).
 *
 * At the request the card is blacklisted 'refunded' (final) at once. The balance paid is the
 * back office's shadow balance once every device that may hold taps of the card has drained
 * its journal after downloading that blacklisting, or, at the latest, at the deadline with
 * what is known. "Every device that may hold taps" = every device registered before the
 * blacklisting (registered devices are the only ones that can upload). "Drained after
 * downloading" = a sync whose request reported blacklistVersion >= the refund's version and
 * carried less than a full batch (device_sync_state.drained_blacklist_version, sync-ingest.ts).
 * Taps uploaded after the payout are written off by sync ingest (writeoff:late-taps).
 *
 * A cancelled card (seed q. 33-35, handed in at the counter) and an exchanged one (q. 22-23,
 * 25: handed in for a new card, services/card-exchange.ts) are refunded the same way: their
 * listing is already final, so the refund waits on that listing's version.
 *
 * An overdrawn card has a debt, not a refund (services/card-debts.ts): it is paid in or written
 * off before the refund is created, or the request is refused (409 card-has-debt).
 *
 * Deadline: the end of the 2nd natural day after the request day, Beijing time (a request on
 * day D is paid before D+3 00:00 Beijing). Payout at the latest `REFUND_PAYOUT_MARGIN_MS`
 * before it, so the transfer lands inside the window even with a coarse job timer.
 *
 * Pending loads (authorised, confirmation never came) are not in the shadow balance and are
 * not paid: they may or may not be on the card. Never guessed, never voided by the refund: card
 * evidence decides them (loads.ts). Confirmed after the payout → paid to the same account by
 * the next jobs run (paySupplements); proven not credited → the payment goes back to its payer.
 * A refund shows the amount still pending (pendingLoadsFen).
 *
 * Ledger: card-purse +S / payable:refunds -S (settle), then payable:refunds +S /
 * bank:refund-payouts -S (paid). An overdrawn card (S < 0) pays nothing: the debt moves to
 * receivable:overdraft (card-purse +S / receivable -S with S negative).
 */
import type { Tx } from '../store/store-port.ts';
import { ACCOUNTS, postTransfer } from './ledger.ts';
import { beijingStartOfDayMs, DAY_MS } from './money-time.ts';
import { addBlacklistEntry, blacklistListing } from './blacklist.ts';
import { type DebtSettlement, settleCardDebt } from './card-debts.ts';

export const REFUND_PAYOUT_MARGIN_MS = 60 * 60 * 1000;
export const REFUND_BANK_ACCOUNT = 'bank:refund-payouts';

export type RefundStatus = 'waiting' | 'paid';

export interface RefundView {
  id: string;
  cardNo: string;
  /** Destination account, masked (last 4 digits). */
  destinationAccount: string;
  destinationName: string;
  status: RefundStatus;
  /** 'watermarks' (every device synced past the blacklisting) or 'deadline'. */
  settledBy: 'watermarks' | 'deadline' | null;
  paidFen: number | null;
  receivableFen: number | null;
  writtenOffFen: number;
  blacklistVersion: number;
  requestedMs: number;
  deadlineMs: number;
  paidMs: number | null;
  /** Devices still to drain before the balance is final (empty once paid). */
  waitingForDevices: string[];
  /**
   * Loads of this card still pending (authorised, confirmation never came): not part of the
   * payout, because they may or may not be on the card. Card evidence decides each one: credited
   * → paid to the account by the next jobs run; not credited → returned to its payer.
   */
  pendingLoadsFen: number;
}

export type RefundRefusalCode = 'card-not-found' | 'lost-card-no-refund' | 'card-not-active';
export type RefundOutcome = { ok: true; refund: RefundView; created: boolean } | { ok: false; code: RefundRefusalCode; detail: string };

interface RefundRow {
  [column: string]: string | number | bigint | null;
  id: number | bigint;
  card_no: string;
  destination_account: string;
  destination_name: string;
  blacklist_version: number | bigint;
  requested_ms: number | bigint;
  deadline_ms: number | bigint;
  status: string;
  settled_by: string | null;
  paid_fen: number | bigint | null;
  receivable_fen: number | bigint | null;
  written_off_fen: number | bigint;
  paid_ms: number | bigint | null;
}

export function maskAccount(account: string): string {
  return `${'*'.repeat(Math.max(0, account.length - 4))}${account.slice(-4)}`;
}

/** Last millisecond of the 2nd natural day (Beijing) after the day of `requestedMs`. */
export function refundDeadlineMs(requestedMs: number): number {
  return beijingStartOfDayMs(requestedMs) + 3 * DAY_MS - 1;
}

const nullableNumber = (value: number | bigint | null): number | null => (value === null ? null : Number(value));

async function toView(tx: Tx, row: RefundRow): Promise<RefundView> {
  const waiting = row.status === 'waiting' ? await devicesNotDrained(tx, Number(row.requested_ms), Number(row.blacklist_version)) : [];
  const pending = await tx.get<{ total: number | bigint | null }>("SELECT SUM(amount_fen) AS total FROM loads WHERE card_no = ? AND status = 'pending'", [
    row.card_no,
  ]);
  return {
    id: String(row.id),
    cardNo: row.card_no,
    destinationAccount: maskAccount(row.destination_account),
    destinationName: row.destination_name,
    status: row.status as RefundStatus,
    settledBy: (row.settled_by as RefundView['settledBy']) ?? null,
    paidFen: nullableNumber(row.paid_fen),
    receivableFen: nullableNumber(row.receivable_fen),
    writtenOffFen: Number(row.written_off_fen),
    blacklistVersion: Number(row.blacklist_version),
    requestedMs: Number(row.requested_ms),
    deadlineMs: Number(row.deadline_ms),
    paidMs: nullableNumber(row.paid_ms),
    waitingForDevices: waiting,
    pendingLoadsFen: Number(pending?.total ?? 0),
  };
}

/** Devices registered before the blacklisting that have not drained after downloading it. */
export async function devicesNotDrained(tx: Tx, blacklistedMs: number, version: number): Promise<string[]> {
  const rows = await tx.all<{ device_id: string }>(
    `SELECT d.device_id FROM devices d LEFT JOIN device_sync_state s ON s.device_id = d.device_id
      WHERE d.registered_ms <= ? AND (s.device_id IS NULL OR s.drained_blacklist_version < ?)
      ORDER BY d.device_id`,
    [blacklistedMs, version],
  );
  return rows.map((row) => row.device_id);
}

export async function getRefund(tx: Tx, id: string): Promise<RefundView | undefined> {
  if (!/^[1-9][0-9]{0,15}$/.test(id)) return undefined;
  const row = await tx.get<RefundRow>('SELECT * FROM refunds WHERE id = ?', [Number(id)]);
  return row === undefined ? undefined : toView(tx, row);
}

const LOST_STATUSES = new Set(['temporary-loss', 'formal-loss', 'replaced']);

/**
 * Requests the refund of a broken card. A card already being refunded answers its refund
 * (created = false): a retried request never blacklists or pays twice.
 */
export async function requestRefund(
  tx: Tx,
  cardNo: string,
  destination: { account: string; name: string },
  callerScope: string,
  nowMs: number,
  debt: { settlement?: DebtSettlement; actor: { name: string; supervisor: boolean } } = { actor: { name: callerScope, supervisor: false } },
): Promise<RefundOutcome> {
  const existing = await tx.get<RefundRow>('SELECT * FROM refunds WHERE card_no = ?', [cardNo]);
  if (existing !== undefined) return { ok: true, refund: await toView(tx, existing), created: false };
  const card = await tx.get<{ status: string }>('SELECT status FROM cards WHERE card_no = ?', [cardNo]);
  if (card === undefined) return { ok: false, code: 'card-not-found', detail: 'no such card' };
  if (LOST_STATUSES.has(card.status)) {
    return { ok: false, code: 'lost-card-no-refund', detail: 'a lost card is not refunded: the value is on the chip' }; // seed q. 46
  }
  let version: number | null;
  const handedIn = card.status === 'cancelled' || card.status === 'exchanged';
  if (handedIn) {
    // A cancelled or exchanged card was handed in at the counter (seed q. 22-25, 33-35) and is
    // already blocked for good: its balance is refunded like a broken card's, waiting on that listing.
    version = (await blacklistListing(tx, cardNo))?.version ?? null;
    if (version === null) return { ok: false, code: 'card-not-active', detail: `${card.status} card without its blacklisting` };
  } else {
    if (card.status !== 'active') return { ok: false, code: 'card-not-active', detail: `card is ${card.status}` };
    version = await addBlacklistEntry(tx, cardNo, 'refunded', nowMs);
    if (version === null) return { ok: false, code: 'card-not-active', detail: 'card is already listed with a final reason' };
  }
  // Refusals above return before anything changed; from here the refund happens.
  await settleCardDebt(tx, cardNo, 'refund', debt.settlement, debt.actor, nowMs);
  await tx.run(
    `INSERT INTO refunds (card_no, destination_account, destination_name, blacklist_version, requested_ms, deadline_ms, status,
       settled_by, paid_fen, receivable_fen, written_off_fen, paid_ms, caller_scope)
     VALUES (?, ?, ?, ?, ?, ?, 'waiting', NULL, NULL, NULL, 0, NULL, ?)`,
    [cardNo, destination.account, destination.name, version, nowMs, refundDeadlineMs(nowMs), callerScope],
  );
  await settleDueRefunds(tx, nowMs, cardNo);
  const row = await tx.get<RefundRow>('SELECT * FROM refunds WHERE card_no = ?', [cardNo]);
  if (row === undefined) throw new Error('refund insert lost');
  return { ok: true, refund: await toView(tx, row), created: true };
}

/**
 * Pays every waiting refund whose balance is final (all devices drained) or whose payout time
 * has come. Returns the ids paid. Only `cardNo`'s refund when given.
 */
/** Cards settleDueRefunds may have work for: a waiting refund, or a paid one whose card's shadow balance rose since. */
export async function refundCardsToSettle(tx: Tx): Promise<string[]> {
  const rows = await tx.all<{ card_no: string }>(
    `SELECT r.card_no FROM refunds r WHERE r.status = 'waiting'
     UNION SELECT r.card_no FROM refunds r JOIN card_accounts a ON a.card_no = r.card_no WHERE r.status = 'paid' AND a.shadow_balance_fen > 0`,
  );
  return rows.map((row) => row.card_no);
}

export async function settleDueRefunds(tx: Tx, nowMs: number, cardNo?: string): Promise<string[]> {
  const rows =
    cardNo === undefined
      ? await tx.all<RefundRow>("SELECT * FROM refunds WHERE status = 'waiting' ORDER BY id")
      : await tx.all<RefundRow>("SELECT * FROM refunds WHERE status = 'waiting' AND card_no = ?", [cardNo]);
  const paid: string[] = [];
  for (const row of rows) {
    const waiting = await devicesNotDrained(tx, Number(row.requested_ms), Number(row.blacklist_version));
    const dueByDeadline = nowMs >= Number(row.deadline_ms) - REFUND_PAYOUT_MARGIN_MS;
    if (waiting.length > 0 && !dueByDeadline) continue;
    await payRefund(tx, row, waiting.length === 0 ? 'watermarks' : 'deadline', nowMs);
    paid.push(String(row.id));
  }
  await paySupplements(tx, nowMs, cardNo);
  return paid;
}

/**
 * After the payout, only a pending load confirmed by card evidence can raise a refunded card's
 * shadow balance (late taps are written off and move nothing). That money was on the card and
 * is the holder's: it first repays an overdraft receivable left by the payout, the rest goes to
 * the refund account. References `<refund id>@<paid fen before>` are unique (paid_fen only grows).
 */
async function paySupplements(tx: Tx, nowMs: number, cardNo?: string): Promise<void> {
  const rows = await tx.all<RefundRow & { shadow_fen: number | bigint }>(
    `SELECT r.*, a.shadow_balance_fen AS shadow_fen FROM refunds r JOIN card_accounts a ON a.card_no = r.card_no
      WHERE r.status = 'paid' AND a.shadow_balance_fen > 0${cardNo === undefined ? '' : ' AND r.card_no = ?'} ORDER BY r.id`,
    cardNo === undefined ? [] : [cardNo],
  );
  for (const row of rows) {
    const shadowFen = Number(row.shadow_fen);
    const paidBeforeFen = Number(row.paid_fen ?? 0);
    const receivableBeforeFen = Number(row.receivable_fen ?? 0);
    const repaidFen = Math.min(shadowFen, receivableBeforeFen);
    const payFen = shadowFen - repaidFen;
    const reference = `${String(row.id)}@${paidBeforeFen}/${receivableBeforeFen}`;
    if (repaidFen > 0) {
      await postTransfer(tx, {
        kind: 'refund-overdraft-repaid',
        reference,
        atMs: nowMs,
        entries: [
          { account: ACCOUNTS.cardPurse, amountFen: repaidFen },
          { account: ACCOUNTS.overdraftReceivable, amountFen: -repaidFen },
        ],
      });
    }
    if (payFen > 0) {
      await postTransfer(tx, {
        kind: 'refund-settle',
        reference,
        atMs: nowMs,
        entries: [
          { account: ACCOUNTS.cardPurse, amountFen: payFen },
          { account: ACCOUNTS.refundsPayable, amountFen: -payFen },
        ],
      });
      await postTransfer(tx, {
        kind: 'refund-paid',
        reference,
        atMs: nowMs,
        entries: [
          { account: ACCOUNTS.refundsPayable, amountFen: payFen },
          { account: REFUND_BANK_ACCOUNT, amountFen: -payFen },
        ],
      });
    }
    await tx.run('UPDATE card_accounts SET shadow_balance_fen = shadow_balance_fen - ?, updated_ms = ? WHERE card_no = ?', [shadowFen, nowMs, row.card_no]);
    await tx.run('UPDATE refunds SET paid_fen = ?, receivable_fen = ? WHERE id = ?', [paidBeforeFen + payFen, receivableBeforeFen - repaidFen, Number(row.id)]);
  }
}

async function payRefund(tx: Tx, row: RefundRow, settledBy: 'watermarks' | 'deadline', nowMs: number): Promise<void> {
  const account = await tx.get<{ shadow_balance_fen: number | bigint }>('SELECT shadow_balance_fen FROM card_accounts WHERE card_no = ?', [row.card_no]);
  const shadowFen = Number(account?.shadow_balance_fen ?? 0);
  const id = String(row.id);
  const paidFen = Math.max(0, shadowFen);
  const receivableFen = Math.max(0, -shadowFen);
  if (shadowFen > 0) {
    await postTransfer(tx, {
      kind: 'refund-settle',
      reference: id,
      atMs: nowMs,
      entries: [
        { account: ACCOUNTS.cardPurse, amountFen: shadowFen },
        { account: ACCOUNTS.refundsPayable, amountFen: -shadowFen },
      ],
    });
    await postTransfer(tx, {
      kind: 'refund-paid',
      reference: id,
      atMs: nowMs,
      entries: [
        { account: ACCOUNTS.refundsPayable, amountFen: shadowFen },
        { account: REFUND_BANK_ACCOUNT, amountFen: -shadowFen },
      ],
    });
  } else if (shadowFen < 0) {
    // Overdrawn: the card settles first, nothing is paid; the debt stays on the books as a receivable.
    await postTransfer(tx, {
      kind: 'refund-overdraft',
      reference: id,
      atMs: nowMs,
      entries: [
        { account: ACCOUNTS.cardPurse, amountFen: shadowFen },
        { account: ACCOUNTS.overdraftReceivable, amountFen: -shadowFen },
      ],
    });
  }
  await tx.run('UPDATE card_accounts SET shadow_balance_fen = 0, updated_ms = ? WHERE card_no = ?', [nowMs, row.card_no]);
  const changed = await tx.run(
    "UPDATE refunds SET status = 'paid', settled_by = ?, paid_fen = ?, receivable_fen = ?, paid_ms = ? WHERE id = ? AND status = 'waiting'",
    [settledBy, paidFen, receivableFen, nowMs, Number(row.id)],
  );
  if (changed !== 1) throw new Error(`refund ${id} was not waiting`);
}
