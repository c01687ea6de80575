/**
 * Lost-card balances (issue 16; seed q. 46; DOMAIN.md section 7 "Replacement" [P]). A lost card's
 * transit balance is never refunded: the value is on the chip, which a finder may still spend
 * until every validator has the blacklisting. It stays a card liability until the replacement is
 * issued, or, without a replacement, until `lostCardForfeitMs` (GATEWAY_LOST_BALANCE_FORFEIT_DAYS,
 * default 30 days) after the formal loss report; then it moves, once per card, to the account of
 * forfeited lost-card balances, a liability and not income:
 *
 *   liability:card-purse +B / liability:lost-card-forfeited −B   (the card's shadow balance → 0)
 *
 * Taps of the lost card uploaded later were paid from that value: sync ingest posts them against
 * the forfeited account (liability:lost-card-forfeited +A / revenue:<operator> −A) and leaves the
 * card's shadow balance at 0. The reconciliation and the demo's report show the account.
 */
import type { Tx } from '../store/store-port.ts';
import { ACCOUNTS, postTransfer } from './ledger.ts';

export type ForfeitCause = 'replacement' | 'time';

/**
 * Moves the card's balance to the forfeited account (idempotent: once per card). Returns the
 * amount moved, or null when the card's balance was already moved.
 */
export async function forfeitLostCardBalance(tx: Tx, cardNo: string, cause: ForfeitCause, nowMs: number): Promise<number | null> {
  const account = await tx.get<{ shadow_balance_fen: number | bigint }>('SELECT shadow_balance_fen FROM card_accounts WHERE card_no = ?', [cardNo]);
  const amountFen = Number(account?.shadow_balance_fen ?? 0);
  const inserted = await tx.get<{ card_no: string }>(
    'INSERT INTO lost_card_forfeits (card_no, amount_fen, cause, late_taps_fen, at_ms) VALUES (?, ?, ?, 0, ?) ON CONFLICT (card_no) DO NOTHING RETURNING card_no',
    [cardNo, amountFen, cause, nowMs],
  );
  if (inserted === undefined) return null;
  await postTransfer(tx, {
    kind: 'lost-card-forfeit',
    reference: cardNo,
    atMs: nowMs,
    entries: [
      { account: ACCOUNTS.cardPurse, amountFen },
      { account: ACCOUNTS.lostCardForfeited, amountFen: -amountFen },
    ],
  });
  await tx.run('UPDATE card_accounts SET shadow_balance_fen = 0, updated_ms = ? WHERE card_no = ?', [nowMs, cardNo]);
  return amountFen;
}

/**
 * The time rule: formally lost cards never replaced whose formal report is at least
 * `forfeitAfterMs` old. Returns the cards whose balance moved.
 */
export async function forfeitDueLostBalances(tx: Tx, nowMs: number, forfeitAfterMs: number): Promise<string[]> {
  const moved: string[] = [];
  for (const cardNo of await lostBalancesDue(tx, nowMs, forfeitAfterMs)) {
    if ((await forfeitLostCardBalance(tx, cardNo, 'time', nowMs)) !== null) moved.push(cardNo);
  }
  return moved;
}

/** The formally lost cards never replaced whose balance is due to move at `nowMs`, in card order. */
export async function lostBalancesDue(tx: Tx, nowMs: number, forfeitAfterMs: number): Promise<string[]> {
  const due = await tx.all<{ card_no: string }>(
    `SELECT c.card_no FROM cards c JOIN loss_reports r ON r.card_no = c.card_no AND r.kind = 'formal' AND r.ended_ms IS NULL
      WHERE c.status = 'formal-loss' AND r.reported_ms <= ?
        AND NOT EXISTS (SELECT 1 FROM lost_card_forfeits f WHERE f.card_no = c.card_no)
      ORDER BY c.card_no`,
    [nowMs - forfeitAfterMs],
  );
  return due.map((row) => row.card_no);
}
