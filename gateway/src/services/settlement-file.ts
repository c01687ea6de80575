/**
 * The settlement file of a closed business day (issue 18; docs/settlement.md, "Settlement file"):
 * who pays whom, derived only from the day's signed summary (services/day-close.ts), so the same
 * closed day always gives the same file, byte for byte. CSV through the shared module (http/csv.ts).
 *
 * Sign convention: every transfer names its payer and payee and a positive amount; `centre` is the
 * same amount from the clearing centre's side: positive = the centre receives, negative = it pays.
 * Transfers:
 * - `top-up-collections`: each collecting bank or organisation remits the top-up money it took
 *   (per payment source) to the centre (the other way round when the day's voids exceed its loads);
 * - `fare-revenue`: the centre pays each operator company its part of the cleared debits (清分);
 * - `interop-taps`: another issuer pays the centre for its cards' taps on our terminals;
 * - `refunds-paid`: the centre paid cardholders (broken-card refunds).
 * The last record, `control`, holds the count of transfers (`detail`), the sum of their amounts
 * (`amount`) and the centre's net (`centre`, the sum of the centre column), with the closed
 * day's digest as its reference. Value day: business day + the settlement lag (T+1 by default).
 */
import { csvFilename, csvHeaders, moneyColumn, textColumn, toCsv, type CsvColumn } from '../http/csv.ts';
import { nextDay } from './business-day.ts';
import { type ClosedDay, HOME_ISSUER } from './day-close.ts';

export const CLEARING_CENTRE = 'clearing-centre';
export const SETTLEMENT_FILE_FORMAT = 1;

export interface SettlementTransfer {
  row: 'transfer' | 'control';
  day: string;
  valueDay: string;
  payer: string | null;
  payee: string | null;
  reason: string;
  detail: string | null;
  amountFen: number;
  centreFen: number;
  reference: string | null;
}

const COLUMNS: readonly CsvColumn<SettlementTransfer>[] = [
  textColumn('row', (r) => r.row),
  textColumn('day', (r) => r.day),
  textColumn('value_day', (r) => r.valueDay),
  textColumn('payer', (r) => r.payer),
  textColumn('payee', (r) => r.payee),
  textColumn('reason', (r) => r.reason),
  textColumn('detail', (r) => r.detail),
  moneyColumn('amount', (r) => r.amountFen),
  moneyColumn('centre', (r) => r.centreFen),
  textColumn('reference', (r) => r.reference),
];

/** row, day, value_day, payer, payee, reason, detail, amount_yuan, amount_fen, centre_yuan, centre_fen, reference. */
export const SETTLEMENT_CSV_HEADERS: readonly string[] = csvHeaders(COLUMNS);

export function valueDayOf(day: string, lagDays: number): string {
  let value = day;
  for (let i = 0; i < lagDays; i++) value = nextDay(value);
  return value;
}

/** The transfers of a closed day, then the control record. */
export function settlementTransfers(closed: ClosedDay, lagDays: number): SettlementTransfer[] {
  const s = closed.summary;
  const valueDay = valueDayOf(s.day, lagDays);
  const out: SettlementTransfer[] = [];
  // `centreFen` > 0: the party pays the centre.
  const transfer = (party: string, reason: string, detail: string | null, centreFen: number): void => {
    if (centreFen === 0) return;
    const toCentre = centreFen > 0;
    out.push({
      row: 'transfer',
      day: s.day,
      valueDay,
      payer: toCentre ? party : CLEARING_CENTRE,
      payee: toCentre ? CLEARING_CENTRE : party,
      reason,
      detail,
      amountFen: Math.abs(centreFen),
      centreFen,
      reference: null,
    });
  };
  for (const c of s.collections) transfer(c.collector, 'top-up-collections', c.paymentSource, c.amountFen);
  for (const c of s.companies) transfer(`company:${c.companyId}`, 'fare-revenue', c.name, -c.amountFen);
  for (const i of s.issuers) if (i.issuer !== HOME_ISSUER) transfer(`issuer:${i.issuer}`, 'interop-taps', `${i.debits} debits`, i.amountFen);
  transfer('cardholders', 'refunds-paid', `${s.refundsPaid.count} refunds`, -s.refundsPaid.amountFen);
  out.push({
    row: 'control',
    day: s.day,
    valueDay,
    payer: null,
    payee: null,
    reason: 'control-total',
    detail: String(out.length),
    amountFen: out.reduce((sum, t) => sum + t.amountFen, 0),
    centreFen: out.reduce((sum, t) => sum + t.centreFen, 0),
    reference: closed.digest,
  });
  return out;
}

export function settlementFileCsv(closed: ClosedDay, lagDays: number): string {
  return toCsv(COLUMNS, settlementTransfers(closed, lagDays));
}

export function settlementFileName(day: string): string {
  return csvFilename('settlement', day);
}
