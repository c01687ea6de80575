/**
 * The park annual pass follows the holder (issue 16; DOMAIN.md section 7 "Exchange" [P]):
 *
 * - One pass per holder and pass year (seed q. 47, DOMAIN.md section 7 "Park annual pass"): the
 *   sale is refused when any card of the holder already has that year's pass.
 * - At an exchange the current pass moves to the new card. Its visit count is taken from the
 *   back office's uploaded park entries (the old chip may be unreadable): accepted park-gate
 *   debits of 0 fen (a pass visit) dated inside the pass's validity (1 January Y to 31 January
 *   Y+1). Entries of the old card that arrive later still count: the count of a pass is always
 *   taken over the chain of cards it moved through (`passVisits`).
 */
import type { Tx } from '../store/store-port.ts';
import { beijingDateTime } from './money-time.ts';

/** First and last valid date (YYYYMMDD) of the pass of year `year`. */
export function passValidity(year: number): { from: number; until: number } {
  return { from: year * 10_000 + 101, until: (year + 1) * 10_000 + 131 };
}

/** The cards a pass of `year` held by `cardNo` moved through, `cardNo` first (at most 64 steps). */
export async function passCardChain(tx: Tx, cardNo: string, year: number): Promise<string[]> {
  const chain = [cardNo];
  for (let step = 0; step < 64; step++) {
    const row = await tx.get<{ from_card_no: string }>('SELECT from_card_no FROM park_pass_transfers WHERE to_card_no = ? AND pass_year = ?', [
      chain[chain.length - 1],
      year,
    ]);
    if (row === undefined) break;
    chain.push(row.from_card_no);
  }
  return chain;
}

/** Pass visits of `year` uploaded for `cardNo` and every card its pass moved from. */
export async function passVisits(tx: Tx, cardNo: string, year: number): Promise<number> {
  const chain = await passCardChain(tx, cardNo, year);
  const { from, until } = passValidity(year);
  const marks = chain.map(() => '?').join(', ');
  const row = await tx.get<{ n: number | bigint }>(
    `SELECT COUNT(*) AS n FROM journal_records
      WHERE card_no IN (${marks}) AND device_kind = 'park-gate' AND card_action = 'debit' AND amount_fen = 0 AND status = 'accepted'
        AND tx_date >= ? AND tx_date <= ?`,
    [...chain, from, until],
  );
  return Number(row?.n ?? 0);
}

/** Pass years the card holds (sold to it, or moved to it), newest first. */
export async function cardPassYears(tx: Tx, cardNo: string): Promise<number[]> {
  const rows = await tx.all<{ pass_year: number | bigint }>(
    `SELECT pass_year FROM park_pass_sales WHERE card_no = ?
     UNION SELECT pass_year FROM park_pass_transfers WHERE to_card_no = ?
     ORDER BY pass_year DESC`,
    [cardNo, cardNo],
  );
  return rows.map((row) => Number(row.pass_year));
}

/** The holder's cards that hold the pass of `year` now (sold or moved there, and not moved on). */
export async function holderPassCards(tx: Tx, holderId: number, year: number): Promise<string[]> {
  const notMovedOn = (column: string) => `NOT EXISTS (SELECT 1 FROM park_pass_transfers o WHERE o.from_card_no = ${column} AND o.pass_year = ?)`;
  const rows = await tx.all<{ card_no: string }>(
    `SELECT s.card_no FROM park_pass_sales s JOIN cards c ON c.card_no = s.card_no WHERE c.holder_id = ? AND s.pass_year = ? AND ${notMovedOn('s.card_no')}
     UNION SELECT t.to_card_no FROM park_pass_transfers t JOIN cards c ON c.card_no = t.to_card_no WHERE c.holder_id = ? AND t.pass_year = ? AND ${notMovedOn('t.to_card_no')}
     ORDER BY 1`,
    [holderId, year, year, holderId, year, year],
  );
  return rows.map((row) => row.card_no);
}

export interface MovedPass {
  year: number;
  visits: number;
}

/**
 * Moves every pass of the old card still valid at `nowMs` (the current one; in January also
 * last year's, valid until 31 January) to the new card, with the visits uploaded so far.
 * Idempotent per (old card, year).
 */
export async function movePassesToNewCard(tx: Tx, oldCardNo: string, newCardNo: string, nowMs: number): Promise<MovedPass[]> {
  const today = beijingDateTime(nowMs).date;
  const moved: MovedPass[] = [];
  for (const year of await cardPassYears(tx, oldCardNo)) {
    const { from, until } = passValidity(year);
    if (today < from - 10_000 || today > until) continue; // a pass sold in December for next year moves too
    const visits = await passVisits(tx, oldCardNo, year);
    await tx.run(
      `INSERT INTO park_pass_transfers (to_card_no, pass_year, from_card_no, visits_at_transfer, at_ms) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT DO NOTHING`,
      [newCardNo, year, oldCardNo, visits, nowMs],
    );
    moved.push({ year, visits });
  }
  return moved;
}
