/**
 * Operations reports. Days are Beijing natural days ('YYYY-MM-DD').
 * - Teller end-of-day: loads authorised at a branch that day by payment source, loads voided
 *   that day (teller voids and card-evidence voids), net takings per source.
 * - Daily clearing per operator: verified debits uploaded for that transaction date (the
 *   date the card and TAC carry), count and amount per operator (subway, bus, P+R, parks,
 *   suburban: the service dimension), quarantined records kept apart (never cleared); and the
 *   same debits per operator company (清分, services/operator-revenue.ts), read in the same
 *   transaction, so the companies add up to the same total. Beside them, the day's forfeited
 *   lost-card balances (issue 16; q46): a liability account, never an operator's income.
 */
import type { Tx } from '../store/store-port.ts';
import { ACCOUNTS, PAYMENT_SOURCES, type PaymentSource } from './ledger.ts';
import { type CompanyRevenue, companyRevenue, type CompanyRevenueSplit } from './operator-revenue.ts';

export interface SourceTotals {
  paymentSource: PaymentSource;
  loads: number;
  loadedFen: number;
  voids: number;
  voidedFen: number;
  netFen: number;
}

export interface TellerReport {
  day: string;
  branch: string | null;
  sources: SourceTotals[];
  totals: { loads: number; loadedFen: number; voids: number; voidedFen: number; netFen: number; pending: number };
  voids: Array<{ loadId: string; cardNo: string; amountFen: number; paymentSource: PaymentSource; resolution: string; voidedMs: number }>;
}

export async function tellerReport(tx: Tx, day: string, range: { startMs: number; endMs: number }, branch: string | null): Promise<TellerReport> {
  const branchClause = branch === null ? '' : ' AND branch = ?';
  const branchParam = branch === null ? [] : [branch];
  const loaded = await tx.all<{ payment_source: string; n: number | bigint; total: number | bigint }>(
    `SELECT payment_source, COUNT(*) AS n, SUM(amount_fen) AS total FROM loads WHERE created_ms >= ? AND created_ms < ?${branchClause} GROUP BY payment_source`,
    [range.startMs, range.endMs, ...branchParam],
  );
  const voidRows = await tx.all<{
    id: number | bigint;
    card_no: string;
    amount_fen: number | bigint;
    payment_source: string;
    resolution: string;
    resolved_ms: number | bigint;
  }>(
    `SELECT id, card_no, amount_fen, payment_source, resolution, resolved_ms FROM loads
      WHERE status = 'voided' AND resolved_ms >= ? AND resolved_ms < ?${branchClause} ORDER BY resolved_ms, id`,
    [range.startMs, range.endMs, ...branchParam],
  );
  const pending = await tx.get<{ n: number | bigint }>(`SELECT COUNT(*) AS n FROM loads WHERE status = 'pending' AND created_ms < ?${branchClause}`, [
    range.endMs,
    ...branchParam,
  ]);
  const sources = PAYMENT_SOURCES.map((paymentSource): SourceTotals => {
    const row = loaded.find((r) => r.payment_source === paymentSource);
    const voided = voidRows.filter((r) => r.payment_source === paymentSource);
    const loadedFen = Number(row?.total ?? 0);
    const voidedFen = voided.reduce((sum, r) => sum + Number(r.amount_fen), 0);
    return { paymentSource, loads: Number(row?.n ?? 0), loadedFen, voids: voided.length, voidedFen, netFen: loadedFen - voidedFen };
  });
  const sum = (pick: (s: SourceTotals) => number): number => sources.reduce((total, s) => total + pick(s), 0);
  return {
    day,
    branch,
    sources,
    totals: {
      loads: sum((s) => s.loads),
      loadedFen: sum((s) => s.loadedFen),
      voids: sum((s) => s.voids),
      voidedFen: sum((s) => s.voidedFen),
      netFen: sum((s) => s.netFen),
      pending: Number(pending?.n ?? 0),
    },
    voids: voidRows.map((r) => ({
      loadId: String(r.id),
      cardNo: r.card_no,
      amountFen: Number(r.amount_fen),
      paymentSource: r.payment_source as PaymentSource,
      resolution: r.resolution,
      voidedMs: Number(r.resolved_ms),
    })),
  };
}

export const CLEARING_OPERATORS = ['subway', 'bus', 'pr', 'park', 'suburban'] as const;

export interface ClearingReport {
  day: string;
  operators: Array<{ operator: (typeof CLEARING_OPERATORS)[number]; debits: number; amountFen: number; quarantined: number }>;
  totals: { debits: number; amountFen: number; quarantined: number };
  /** The operator-company dimension: the same debits apportioned to the companies owed them. */
  companies: CompanyRevenue[];
  split: CompanyRevenueSplit['split'];
  /** Lost-card balances (issue 16; q46): the day's movements of liability:lost-card-forfeited — never income. */
  lostCardBalances: LostCardBalancesOfDay;
}

export interface LostCardBalancesOfDay {
  /** Lost cards whose balance moved out of card liability that day (replacement issued, or the forfeit period ended). */
  cards: number;
  /** The balances moved that day. */
  forfeitedFen: number;
  /** Lost cards' later taps uploaded that day, paid from the account (the operators are still paid). */
  lateTapsFen: number;
  /** What the account holds at the end of the day: every balance moved so far, less every later tap. */
  heldFen: number;
}

/** The day's postings to liability:lost-card-forfeited, by the ledger's posting time (Beijing natural day). */
export async function lostCardBalancesOfDay(tx: Tx, range: { startMs: number; endMs: number }): Promise<LostCardBalancesOfDay> {
  const moved = await tx.get<{ n: number | bigint; total: number | bigint | null }>(
    `SELECT COUNT(*) AS n, SUM(-e.amount_fen) AS total FROM ledger_postings p JOIN ledger_entries e ON e.posting_id = p.id
      WHERE p.kind = 'lost-card-forfeit' AND e.account = ? AND p.at_ms >= ? AND p.at_ms < ?`,
    [ACCOUNTS.lostCardForfeited, range.startMs, range.endMs],
  );
  const taps = await tx.get<{ total: number | bigint | null }>(
    `SELECT SUM(e.amount_fen) AS total FROM ledger_postings p JOIN ledger_entries e ON e.posting_id = p.id
      WHERE p.kind <> 'lost-card-forfeit' AND e.account = ? AND p.at_ms >= ? AND p.at_ms < ?`,
    [ACCOUNTS.lostCardForfeited, range.startMs, range.endMs],
  );
  const held = await tx.get<{ total: number | bigint | null }>(
    `SELECT SUM(-e.amount_fen) AS total FROM ledger_postings p JOIN ledger_entries e ON e.posting_id = p.id
      WHERE e.account = ? AND p.at_ms < ?`,
    [ACCOUNTS.lostCardForfeited, range.endMs],
  );
  return {
    cards: Number(moved?.n ?? 0),
    forfeitedFen: Number(moved?.total ?? 0),
    lateTapsFen: Number(taps?.total ?? 0),
    heldFen: Number(held?.total ?? 0),
  };
}

export async function clearingReport(
  tx: Tx,
  gateway: { subwayNetworkCsvPath: string },
  day: string,
  range: { yyyymmdd: number; startMs: number; endMs: number },
): Promise<ClearingReport> {
  const yyyymmdd = range.yyyymmdd;
  const rows = await tx.all<{ operator: string; status: string; n: number | bigint; total: number | bigint }>(
    `SELECT operator, status, COUNT(*) AS n, SUM(amount_fen) AS total FROM journal_records
      WHERE tx_date = ? AND card_action = 'debit' GROUP BY operator, status`,
    [yyyymmdd],
  );
  const operators = CLEARING_OPERATORS.map((operator) => {
    const accepted = rows.find((r) => r.operator === operator && r.status === 'accepted');
    const quarantined = rows.filter((r) => r.operator === operator && r.status === 'quarantined').reduce((n, r) => n + Number(r.n), 0);
    return { operator, debits: Number(accepted?.n ?? 0), amountFen: Number(accepted?.total ?? 0), quarantined };
  });
  const { companies, split } = await companyRevenue(tx, gateway, yyyymmdd, range.startMs);
  return {
    day,
    operators,
    totals: {
      debits: operators.reduce((n, o) => n + o.debits, 0),
      amountFen: operators.reduce((n, o) => n + o.amountFen, 0),
      quarantined: operators.reduce((n, o) => n + o.quarantined, 0),
    },
    companies,
    split,
    lostCardBalances: await lostCardBalancesOfDay(tx, range),
  };
}
