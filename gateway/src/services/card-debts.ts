/**
 * Debts of overdrawn cards (issue 16, "Negative balances"). A card whose back-office balance is
 * negative when it is exchanged, cancelled or refunded owes that amount: there is nothing to pay
 * out, and the debt must be settled before the operation completes, in the same transaction:
 *
 * - paid in at the counter: payment:<source> + / liability:card-purse − (the card's balance
 *   comes back to 0);
 * - or written off by a supervisor to the named account `writeoff:overdraft-debts`:
 *   writeoff:overdraft-debts + / liability:card-purse −.
 *
 * Without either the operation is refused (409 card-has-debt, with the amount) and nothing
 * changes. Never a negative payout. A debt that appears only after the request (taps of the
 * blocked card uploaded before the payout) is what the refund's payout moves to
 * receivable:overdraft, as before (services/refunds.ts).
 *
 * Only with the card ended in the same transaction (blacklisted for good) may its shadow
 * balance be raised this way: the chip still carries the overdraft, and a card still in use
 * would later be refunded money it never had.
 */
import { formatYuan } from '#core';
import { ApiError, registerErrorCodes } from '../http/problem.ts';
import type { Tx } from '../store/store-port.ts';
import { addShadowBalance } from './card-money.ts';
import { ACCOUNTS, paymentAccount, postTransfer, type PaymentSource } from './ledger.ts';

registerErrorCodes({
  'card-has-debt': { status: 409, title: 'The card is overdrawn: its debt must be paid in or written off first' },
  'supervisor-required': { status: 403, title: 'Only a supervisor may write off a debt' },
});

/** The named account overdraft debts are written off to. */
export const OVERDRAFT_WRITE_OFF_ACCOUNT = 'writeoff:overdraft-debts';

/** How the holder's debt is settled, as the request says. */
export type DebtSettlement = { settle: 'pay'; paymentSource: PaymentSource } | { settle: 'write-off' };

export type DebtOperation = 'exchange' | 'cancellation' | 'refund' | 'bank-change';

export interface SettledDebt {
  debtFen: number;
  settlement: 'paid' | 'written-off';
  account: string;
}

/**
 * Settles the card's debt, if it has one, before `operation` ends the card. Returns what was
 * settled (null when the balance is not negative). `settlement` undefined on an overdrawn card:
 * 409 card-has-debt with `debtFen` and `debt` (yuan). A write-off must come from a supervisor
 * (the route checks the caller and passes `supervisor`).
 */
export async function settleCardDebt(
  tx: Tx,
  cardNo: string,
  operation: DebtOperation,
  settlement: DebtSettlement | undefined,
  actor: { name: string; supervisor: boolean },
  nowMs: number,
): Promise<SettledDebt | null> {
  const row = await tx.get<{ shadow_balance_fen: number | bigint }>('SELECT shadow_balance_fen FROM card_accounts WHERE card_no = ?', [cardNo]);
  const balanceFen = Number(row?.shadow_balance_fen ?? 0);
  if (balanceFen >= 0) return null;
  const debtFen = -balanceFen;
  if (settlement === undefined) {
    throw new ApiError(
      'card-has-debt',
      `card ${cardNo} is overdrawn by ${formatYuan(debtFen)} yuan: the holder pays it in at the counter (debt.settle = pay), or a supervisor writes it off (debt.settle = write-off), before the ${operation}`,
      { debtFen, debt: formatYuan(debtFen) },
    );
  }
  if (settlement.settle === 'write-off' && !actor.supervisor) {
    throw new ApiError('supervisor-required', `only a supervisor may write off the ${formatYuan(debtFen)} yuan debt of card ${cardNo}`);
  }
  const account = settlement.settle === 'pay' ? paymentAccount(settlement.paymentSource) : OVERDRAFT_WRITE_OFF_ACCOUNT;
  const kind = settlement.settle === 'pay' ? 'paid' : 'written-off';
  const inserted = await tx.get<{ id: number | bigint }>(
    'INSERT INTO card_debts (card_no, debt_fen, settlement, account, operation, actor, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id',
    [cardNo, debtFen, kind, account, operation, actor.name, nowMs],
  );
  await postTransfer(tx, {
    kind: settlement.settle === 'pay' ? 'debt-paid' : 'debt-written-off',
    reference: String(inserted!.id),
    atMs: nowMs,
    entries: [
      { account, amountFen: debtFen },
      { account: ACCOUNTS.cardPurse, amountFen: -debtFen },
    ],
  });
  await addShadowBalance(tx, cardNo, debtFen);
  return { debtFen, settlement: kind, account };
}
