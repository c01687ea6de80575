/**
 * The money side of a card account (the row itself belongs to the cards service, table
 * card_accounts). The shadow balance is the back office's view of the card's effective
 * purse balance: confirmed loads minus every verified debit uploaded so far. Debits commute,
 * so the sum is the same whatever order records arrive in; ATC gaps are tracked separately
 * (card_chains) to say whether the shadow is complete.
 */
import type { Tx } from '../store/store-port.ts';

export interface CardMoneyState {
  cardNo: string;
  shadowBalanceFen: number;
  /** cards.status as the cards service keeps it. */
  cardStatus: string;
  /** Current blacklist reason, or null when the card is not listed. */
  blacklistReason: string | null;
  /** Highest online ATC a credit is known to have used (-1 = none known). */
  lastOnlineAtc: number;
}

export async function readCardMoney(tx: Tx, cardNo: string): Promise<CardMoneyState | undefined> {
  const row = await tx.get<{
    card_no: string;
    shadow_balance_fen: number | bigint;
    card_status: string;
    reason: string | null;
    last_online_atc: number | bigint;
  }>(
    `SELECT a.card_no, a.shadow_balance_fen, a.last_online_atc, c.status AS card_status, b.reason
       FROM card_accounts a JOIN cards c ON c.card_no = a.card_no
       LEFT JOIN blacklist_current b ON b.card_no = a.card_no
      WHERE a.card_no = ?`,
    [cardNo],
  );
  if (row === undefined) return undefined;
  return {
    cardNo: row.card_no,
    shadowBalanceFen: Number(row.shadow_balance_fen),
    cardStatus: String(row.card_status),
    blacklistReason: row.reason ?? null,
    lastOnlineAtc: Number(row.last_online_atc),
  };
}

/** Adds `deltaFen` (may be negative) to the card's shadow balance; false when the card is unknown. */
export async function addShadowBalance(tx: Tx, cardNo: string, deltaFen: number): Promise<boolean> {
  if (!Number.isSafeInteger(deltaFen)) throw new RangeError(`shadow delta must be integer fen, got ${deltaFen}`);
  const changed = await tx.run('UPDATE card_accounts SET shadow_balance_fen = shadow_balance_fen + ? WHERE card_no = ?', [deltaFen, cardNo]);
  return changed === 1;
}
