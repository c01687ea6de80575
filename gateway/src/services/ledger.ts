/**
 * The double-entry ledger. Every money movement of the back office is one posting: a set of
 * entries on named accounts whose amounts sum to zero.
 *
 * Sign convention: a DEBIT is a positive amount, a CREDIT a negative one. So asset and expense
 * accounts (payment:*, receivable:*, writeoff:*) normally carry positive balances, and
 * liability and revenue accounts (liability:card-purse, payable:refunds, revenue:*) negative
 * ones. The money owed to cardholders is therefore `-balance(liability:card-purse)`, and it
 * must equal the sum of every card's shadow balance (the reconciliation check).
 *
 * `(kind, reference)` is unique in the schema: posting the same business event twice is a
 * no-op that returns `false`, which is what makes retries and concurrent requests safe.
 */
import type { Tx } from '../store/store-port.ts';

export type PaymentSource = 'bank-account' | 'cash' | 'other-bank-card' | 'app';
export const PAYMENT_SOURCES: readonly PaymentSource[] = ['bank-account', 'cash', 'other-bank-card', 'app'];

export const ACCOUNTS = {
  cardPurse: 'liability:card-purse',
  refundsPayable: 'payable:refunds',
  lateTapWriteOff: 'writeoff:late-taps',
  overdraftReceivable: 'receivable:overdraft',
  parkPassRevenue: 'revenue:park-pass',
  refundBank: 'payment:bank-account',
  /** Balances of lost cards moved out of card liability (services/lost-card-balances.ts): owed to nobody now, never income. */
  lostCardForfeited: 'liability:lost-card-forfeited',
} as const;

export function paymentAccount(source: PaymentSource): string {
  return `payment:${source}`;
}

export function revenueAccount(operator: string): string {
  return `revenue:${operator}`;
}

export interface LedgerEntry {
  account: string;
  /** Debit positive, credit negative, integer fen. */
  amountFen: number;
}

export interface Transfer {
  /** Business event kind, e.g. 'load-confirm', 'sync-batch', 'refund-payout'. */
  kind: string;
  /** Unique within `kind`: the event's own id (load id, device:seq range, refund id). */
  reference: string;
  atMs: number;
  entries: readonly LedgerEntry[];
}

export class UnbalancedPostingError extends Error {
  override readonly name = 'UnbalancedPostingError';
}

/**
 * Posts a transfer. Throws (a programmer error) when the entries do not balance, are empty or
 * hold a non-integer amount. Returns false when this (kind, reference) was already posted.
 * Zero-amount entries are dropped; a transfer whose entries are all zero posts nothing.
 */
export async function postTransfer(tx: Tx, transfer: Transfer): Promise<boolean> {
  const nonZero = checkedEntries(transfer);
  if (nonZero.length === 0) return false;
  const inserted = await tx.get<{ id: number | bigint }>(
    'INSERT INTO ledger_postings (kind, reference, at_ms) VALUES (?, ?, ?) ON CONFLICT (kind, reference) DO NOTHING RETURNING id',
    [transfer.kind, transfer.reference, transfer.atMs],
  );
  if (inserted === undefined) return false;
  const values = nonZero.map(() => '(?, ?, ?)').join(', ');
  const params = nonZero.flatMap(([account, amount]) => [inserted.id, account, amount]);
  // Pipelined on PostgreSQL (Tx.write): nothing here needs its answer.
  await tx.write(`INSERT INTO ledger_entries (posting_id, account, amount_fen) VALUES ${values}`, params);
  return true;
}

/** The transfer's entries merged per account, zero ones dropped; throws when they do not balance. */
function checkedEntries(transfer: Transfer): [string, number][] {
  let sum = 0;
  const merged = new Map<string, number>();
  for (const entry of transfer.entries) {
    if (!Number.isSafeInteger(entry.amountFen)) throw new UnbalancedPostingError(`entry amount ${entry.amountFen} is not integer fen`);
    if (entry.account.length === 0) throw new UnbalancedPostingError('entry without an account');
    sum += entry.amountFen;
    merged.set(entry.account, (merged.get(entry.account) ?? 0) + entry.amountFen);
  }
  if (transfer.entries.length === 0) throw new UnbalancedPostingError(`posting ${transfer.kind}/${transfer.reference} has no entries`);
  if (sum !== 0) throw new UnbalancedPostingError(`posting ${transfer.kind}/${transfer.reference} does not balance: sum ${sum} fen`);
  return [...merged].filter(([, amount]) => amount !== 0);
}

/**
 * Posts a transfer whose reference is new in this transaction (e.g. a load whose id
 * Tx.reserveId gave). The posting and its entries are sent as writes (Tx.write: pipelined on
 * PostgreSQL behind the row they post; the entries find the posting by its (kind, reference)),
 * so nobody waits for the posting's id. The reference being new, its posting cannot exist yet
 * (were it there, the unique (kind, reference) would fail the transaction, never post twice).
 * Checks the entries like postTransfer.
 */
export async function postNewTransfer(tx: Tx, transfer: Transfer): Promise<void> {
  const nonZero = checkedEntries(transfer);
  if (nonZero.length === 0) return;
  await tx.write('INSERT INTO ledger_postings (kind, reference, at_ms) VALUES (?, ?, ?)', [transfer.kind, transfer.reference, transfer.atMs]);
  const rows = nonZero.map((_, i) => (i === 0 ? 'SELECT ? AS account, CAST(? AS BIGINT) AS amount_fen' : 'SELECT ?, CAST(? AS BIGINT)')).join(' UNION ALL ');
  await tx.write(
    `INSERT INTO ledger_entries (posting_id, account, amount_fen)
     SELECT p.id, e.account, e.amount_fen FROM ledger_postings p, (${rows}) AS e WHERE p.kind = ? AND p.reference = ?`,
    [...nonZero.flat(), transfer.kind, transfer.reference],
  );
}

/** Balance of every account that has entries, fen (debit positive). */
export async function accountBalances(tx: Tx): Promise<Map<string, number>> {
  const rows = await tx.all<{ account: string; balance: number | bigint }>(
    'SELECT account, SUM(amount_fen) AS balance FROM ledger_entries GROUP BY account ORDER BY account',
  );
  return new Map(rows.map((row) => [row.account, Number(row.balance)]));
}

export async function accountBalance(tx: Tx, account: string): Promise<number> {
  const row = await tx.get<{ balance: number | bigint | null }>('SELECT SUM(amount_fen) AS balance FROM ledger_entries WHERE account = ?', [account]);
  return Number(row?.balance ?? 0);
}

export interface Reconciliation {
  /** What the ledger says the issuer owes cardholders: -balance(liability:card-purse). */
  cardLiabilityFen: number;
  /** Sum of every card account's shadow balance. */
  sumShadowBalancesFen: number;
  /** cardLiabilityFen - sumShadowBalancesFen: zero when the books agree. */
  discrepancyFen: number;
  /** Sum of every entry of every posting: zero when every posting balances. */
  postingsBalanceFen: number;
  /** Money taken for loads not yet decided: -balance(liability:pending-loads), and what the loads table says. */
  pendingLoadsLedgerFen: number;
  pendingLoadsFen: number;
  /** Lost cards' balances moved out of card liability, less their later taps: -balance(liability:lost-card-forfeited). */
  forfeitedLostBalancesFen: number;
  /** Postings whose entries do not sum to zero (must be none). */
  unbalancedPostings: number;
  postings: number;
}

export async function reconcile(tx: Tx): Promise<Reconciliation> {
  const cardLiabilityFen = -(await accountBalance(tx, ACCOUNTS.cardPurse));
  const shadow = await tx.get<{ total: number | bigint | null }>('SELECT SUM(shadow_balance_fen) AS total FROM card_accounts');
  const sumShadowBalancesFen = Number(shadow?.total ?? 0);
  const all = await tx.get<{ total: number | bigint | null }>('SELECT SUM(amount_fen) AS total FROM ledger_entries');
  const unbalanced = await tx.get<{ n: number | bigint }>(
    'SELECT COUNT(*) AS n FROM (SELECT posting_id FROM ledger_entries GROUP BY posting_id HAVING SUM(amount_fen) <> 0) AS u',
  );
  const postings = await tx.get<{ n: number | bigint }>('SELECT COUNT(*) AS n FROM ledger_postings');
  const pending = await tx.get<{ total: number | bigint | null }>("SELECT SUM(amount_fen) AS total FROM loads WHERE status = 'pending'");
  return {
    pendingLoadsLedgerFen: -(await accountBalance(tx, 'liability:pending-loads')),
    forfeitedLostBalancesFen: -(await accountBalance(tx, ACCOUNTS.lostCardForfeited)),
    pendingLoadsFen: Number(pending?.total ?? 0),
    cardLiabilityFen,
    sumShadowBalancesFen,
    discrepancyFen: cardLiabilityFen - sumShadowBalancesFen,
    postingsBalanceFen: Number(all?.total ?? 0),
    unbalancedPostings: Number(unbalanced?.n ?? 0),
    postings: Number(postings?.n ?? 0),
  };
}
