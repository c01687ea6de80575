/**
 * Revenue per operator company per business day and per month (issue 18; docs/settlement.md,
 * "Operator reports"), read from the closed days' signed summaries (services/day-close.ts): the
 * figures of a closed day never change, so a month's report is the sum of its closed days. Days
 * of the period not closed yet are listed in `openDays` (their revenue is not in the report).
 * JSON, and CSV through the shared module (http/csv.ts).
 */
import { csvFilename, csvHeaders, integerColumn, moneyColumn, textColumn, toCsv, type CsvColumn } from '../http/csv.ts';
import type { Tx } from '../store/store-port.ts';
import { nextDay } from './business-day.ts';
import { listClosedDays } from './day-close.ts';

export interface OperatorDay {
  day: string;
  debits: number;
  amountFen: number;
}

export interface OperatorReportEntry {
  companyId: string;
  name: string;
  placeholder: boolean;
  amountFen: number;
  /** Per service over the period. */
  services: Array<{ operator: string; debits: number; amountFen: number }>;
  /** One entry per closed day of the period, in order (zero on a day without revenue): the series a chart draws. */
  days: OperatorDay[];
}

export interface OperatorReport {
  /** 'YYYY-MM-DD' (a day) or 'YYYY-MM' (a month). */
  period: string;
  from: string;
  to: string;
  closedDays: string[];
  openDays: string[];
  operators: OperatorReportEntry[];
  totals: { debits: number; amountFen: number };
}

/** First and last day of a period ('YYYY-MM-DD' or 'YYYY-MM'); null when it is not one. */
export function periodRange(period: string): { from: string; to: string } | null {
  if (/^\d{4}-\d{2}-\d{2}$/.test(period)) {
    const t = Date.parse(`${period}T00:00:00Z`);
    return Number.isNaN(t) || new Date(t).toISOString().slice(0, 10) !== period ? null : { from: period, to: period };
  }
  const match = /^(\d{4})-(\d{2})$/.exec(period);
  if (match === null) return null;
  const month = Number(match[2]);
  if (month < 1 || month > 12) return null;
  const last = new Date(Date.UTC(Number(match[1]), month, 0)).getUTCDate();
  return { from: `${period}-01`, to: `${period}-${String(last).padStart(2, '0')}` };
}

export async function operatorReport(tx: Tx, period: string, range: { from: string; to: string }): Promise<OperatorReport> {
  const closed = await listClosedDays(tx, range.from, range.to);
  const closedDays = closed.map((c) => c.day);
  const openDays: string[] = [];
  for (let d = range.from; d <= range.to; d = nextDay(d)) if (!closedDays.includes(d)) openDays.push(d);
  const byCompany = new Map<string, OperatorReportEntry & { perDay: Map<string, OperatorDay> }>();
  for (const c of closed) {
    for (const company of c.summary.companies) {
      let entry = byCompany.get(company.companyId);
      if (entry === undefined) {
        entry = { companyId: company.companyId, name: company.name, placeholder: company.placeholder, amountFen: 0, services: [], days: [], perDay: new Map() };
        byCompany.set(company.companyId, entry);
      }
      entry.amountFen += company.amountFen;
      const day = entry.perDay.get(c.day) ?? { day: c.day, debits: 0, amountFen: 0 };
      day.amountFen += company.amountFen;
      for (const s of company.services) {
        day.debits += s.debits;
        const service = entry.services.find((x) => x.operator === s.operator);
        if (service === undefined) entry.services.push({ operator: s.operator, debits: s.debits, amountFen: s.amountFen });
        else {
          service.debits += s.debits;
          service.amountFen += s.amountFen;
        }
      }
      entry.perDay.set(c.day, day);
    }
  }
  const operators = [...byCompany.values()]
    .map(
      ({ perDay, ...entry }): OperatorReportEntry => ({
        ...entry,
        services: entry.services.sort((a, b) => (a.operator < b.operator ? -1 : 1)),
        days: closedDays.map((day) => perDay.get(day) ?? { day, debits: 0, amountFen: 0 }),
      }),
    )
    .sort((a, b) => (a.companyId < b.companyId ? -1 : 1));
  return {
    period,
    from: range.from,
    to: range.to,
    closedDays,
    openDays,
    operators,
    totals: {
      debits: closed.reduce((n, c) => n + c.summary.cleared.debits, 0),
      amountFen: closed.reduce((n, c) => n + c.summary.cleared.amountFen, 0),
    },
  };
}

interface Row {
  row: 'day' | 'operator' | 'total';
  period: string;
  day: string | null;
  companyId: string | null;
  name: string | null;
  debits: number | null;
  amountFen: number;
}

const COLUMNS: readonly CsvColumn<Row>[] = [
  textColumn('row', (r) => r.row),
  textColumn('period', (r) => r.period),
  textColumn('day', (r) => r.day),
  textColumn('company', (r) => r.companyId),
  textColumn('company_name', (r) => r.name),
  integerColumn('debits', (r) => r.debits),
  moneyColumn('amount', (r) => r.amountFen),
];

/** row, period, day, company, company_name, debits, amount_yuan, amount_fen. */
export const OPERATOR_REPORT_CSV_HEADERS: readonly string[] = csvHeaders(COLUMNS);

/** One `day` record per company and closed day, one `operator` record per company (the period), one `total`. */
export function operatorReportCsv(report: OperatorReport): string {
  const rows: Row[] = [];
  for (const o of report.operators) {
    for (const d of o.days)
      rows.push({ row: 'day', period: report.period, day: d.day, companyId: o.companyId, name: o.name, debits: d.debits, amountFen: d.amountFen });
  }
  for (const o of report.operators) {
    rows.push({
      row: 'operator',
      period: report.period,
      day: null,
      companyId: o.companyId,
      name: o.name,
      debits: o.services.reduce((n, s) => n + s.debits, 0),
      amountFen: o.amountFen,
    });
  }
  rows.push({ row: 'total', period: report.period, day: null, companyId: null, name: null, debits: report.totals.debits, amountFen: report.totals.amountFen });
  return toCsv(COLUMNS, rows);
}

export function operatorReportFilename(report: OperatorReport): string {
  return csvFilename('operators', report.period);
}
