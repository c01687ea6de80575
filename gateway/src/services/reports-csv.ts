/**
 * The clearing and teller reports as CSV (http/csv.ts: RFC 4180, UTF-8 with BOM, money as
 * `_yuan` and `_fen`, formula-escaped text). The headers are a contract: clients parse them, so
 * columns are only ever appended, never renamed or reordered (docs/gateway-api.md, "CSV exports").
 * Used by GET /v1/reports/* with `Accept: text/csv` and by the console's downloads.
 */
import { csvFilename, csvHeaders, integerColumn, moneyColumn, textColumn, timeColumn, toCsv, type CsvColumn } from '../http/csv.ts';
import type { ClearingReport, TellerReport } from './reports.ts';

type ClearingRow = {
  row: 'operator' | 'total' | 'company' | 'lost-card-balances';
  day: string;
  operator: string | null;
  debits: number | null;
  amountFen: number;
  quarantined: number | null;
  companyId: string | null;
  companyName: string | null;
  lostCards?: number;
  lateTapsFen?: number;
  heldFen?: number;
};

const CLEARING_COLUMNS: readonly CsvColumn<ClearingRow>[] = [
  textColumn('row', (r) => r.row),
  textColumn('day', (r) => r.day),
  textColumn('operator', (r) => r.operator),
  integerColumn('debits', (r) => r.debits),
  moneyColumn('amount', (r) => r.amountFen),
  integerColumn('quarantined', (r) => r.quarantined),
  // Appended for the operator-company dimension (清分): empty on operator and total records.
  textColumn('company', (r) => r.companyId),
  textColumn('company_name', (r) => r.companyName),
  // Appended for lost-card balances (issue 16; q46): only on the lost-card-balances record, whose
  // `amount` is the balances moved to liability:lost-card-forfeited that day.
  integerColumn('lost_cards', (r) => r.lostCards ?? null),
  moneyColumn('late_taps', (r) => r.lateTapsFen ?? null),
  moneyColumn('forfeited_held', (r) => r.heldFen ?? null),
];

/**
 * row, day, operator, debits, amount_yuan, amount_fen, quarantined, company, company_name,
 * lost_cards, late_taps_yuan, late_taps_fen, forfeited_held_yuan, forfeited_held_fen.
 */
export const CLEARING_CSV_HEADERS: readonly string[] = csvHeaders(CLEARING_COLUMNS);

/**
 * One `operator` record per operator (subway, bus, pr, park, suburban: the service dimension),
 * one `total` record, then one `company` record per operator company and service it was paid
 * for (`operator` = the service, `debits` = debits it has a part in, `amount` = its part; the
 * `company` records add up to the total's amount), and last one `lost-card-balances` record: the
 * lost cards whose balance moved that day (`lost_cards`, `amount`), their later taps paid from the
 * account that day (`late_taps`) and what it holds at the day's end (`forfeited_held`) — a
 * liability, not income, so it is not in the total.
 */
export function clearingReportCsv(report: ClearingReport): string {
  const none = { companyId: null, companyName: null };
  const rows: ClearingRow[] = [
    ...report.operators.map((o): ClearingRow => ({ row: 'operator', day: report.day, ...o, ...none })),
    { row: 'total', day: report.day, operator: null, ...report.totals, ...none },
    ...report.companies.flatMap((c) =>
      c.services.map(
        (s): ClearingRow => ({
          row: 'company',
          day: report.day,
          operator: s.operator,
          debits: s.debits,
          amountFen: s.amountFen,
          quarantined: null,
          companyId: c.companyId,
          companyName: c.name,
        }),
      ),
    ),
    {
      row: 'lost-card-balances',
      day: report.day,
      operator: null,
      debits: null,
      amountFen: report.lostCardBalances.forfeitedFen,
      quarantined: null,
      ...none,
      lostCards: report.lostCardBalances.cards,
      lateTapsFen: report.lostCardBalances.lateTapsFen,
      heldFen: report.lostCardBalances.heldFen,
    },
  ];
  return toCsv(CLEARING_COLUMNS, rows);
}

export function clearingReportFilename(report: ClearingReport): string {
  return csvFilename('clearing', report.day);
}

interface TellerRow {
  row: 'source' | 'total' | 'void';
  paymentSource: string | null;
  loads: number | null;
  loadedFen: number | null;
  voids: number | null;
  voidedFen: number | null;
  netFen: number | null;
  pending: number | null;
  loadId: string | null;
  cardNo: string | null;
  resolution: string | null;
  voidedMs: number | null;
}

function tellerColumns(report: TellerReport): readonly CsvColumn<TellerRow>[] {
  return [
    textColumn('row', (r) => r.row),
    textColumn('day', () => report.day),
    textColumn('branch', () => report.branch),
    textColumn('payment_source', (r) => r.paymentSource),
    integerColumn('loads', (r) => r.loads),
    moneyColumn('loaded', (r) => r.loadedFen),
    integerColumn('voids', (r) => r.voids),
    moneyColumn('voided', (r) => r.voidedFen),
    moneyColumn('net', (r) => r.netFen),
    integerColumn('pending', (r) => r.pending),
    textColumn('load_id', (r) => r.loadId),
    textColumn('card_no', (r) => r.cardNo),
    textColumn('resolution', (r) => r.resolution),
    timeColumn('voided', (r) => r.voidedMs),
  ];
}

/**
 * row, day, branch, payment_source, loads, loaded_yuan, loaded_fen, voids, voided_yuan,
 * voided_fen, net_yuan, net_fen, pending, load_id, card_no, resolution, voided_at, voided_ms.
 */
export const TELLER_CSV_HEADERS: readonly string[] = csvHeaders(tellerColumns({ day: '', branch: null, sources: [], totals: emptyTotals(), voids: [] }));

function emptyTotals(): TellerReport['totals'] {
  return { loads: 0, loadedFen: 0, voids: 0, voidedFen: 0, netFen: 0, pending: 0 };
}

const NONE = { loadId: null, cardNo: null, resolution: null, voidedMs: null } as const;

/**
 * One `source` record per payment source, one `total` record (with `pending`), then one `void`
 * record per voided load (voids = 1, voided = its amount, with its load id, card, resolution and
 * time). Fields that do not apply to a record are empty.
 */
export function tellerReportCsv(report: TellerReport): string {
  const rows: TellerRow[] = [
    ...report.sources.map((s): TellerRow => ({ row: 'source', ...s, pending: null, ...NONE })),
    { row: 'total', paymentSource: null, ...report.totals, ...NONE },
    ...report.voids.map(
      (v): TellerRow => ({
        row: 'void',
        paymentSource: v.paymentSource,
        loads: null,
        loadedFen: null,
        voids: 1,
        voidedFen: v.amountFen,
        netFen: null,
        pending: null,
        loadId: v.loadId,
        cardNo: v.cardNo,
        resolution: v.resolution,
        voidedMs: v.voidedMs,
      }),
    ),
  ];
  return toCsv(tellerColumns(report), rows);
}

export function tellerReportFilename(report: TellerReport): string {
  return report.branch === null ? csvFilename('teller', report.day) : csvFilename('teller', report.day, report.branch);
}

const withoutBom = (csv: string): string => csv.replace(/^\uFEFF/, '');

/** The example reports of the OpenAPI document: one set of figures for the JSON and CSV forms. */
export const CLEARING_REPORT_EXAMPLE: ClearingReport = {
  day: '2026-03-10',
  operators: [
    { operator: 'subway', debits: 2, amountFen: 700, quarantined: 0 },
    { operator: 'bus', debits: 1, amountFen: 100, quarantined: 0 },
    { operator: 'pr', debits: 0, amountFen: 0, quarantined: 0 },
    { operator: 'park', debits: 0, amountFen: 0, quarantined: 0 },
    { operator: 'suburban', debits: 0, amountFen: 0, quarantined: 1 },
  ],
  totals: { debits: 3, amountFen: 800, quarantined: 1 },
  // 国贸 → 西直门 (4 yuan: lines 1, 5, 6 and 4) and 天安门西 → 东单 (3 yuan, line 1); one bus ride.
  companies: [
    {
      companyId: 'bj-mtr',
      name: '京港地铁',
      placeholder: false,
      amountFen: 71,
      services: [{ operator: 'subway', debits: 1, amountFen: 71 }],
    },
    {
      companyId: 'bj-public-transport',
      name: '北京公交集团',
      placeholder: false,
      amountFen: 100,
      services: [{ operator: 'bus', debits: 1, amountFen: 100 }],
    },
    {
      companyId: 'bj-subway',
      name: '北京地铁运营公司',
      placeholder: false,
      amountFen: 629,
      services: [{ operator: 'subway', debits: 2, amountFen: 629 }],
    },
  ],
  split: { model: 'shortest-path', exitsWithoutEntry: 0 },
  lostCardBalances: { cards: 1, forfeitedFen: 3_000, lateTapsFen: 400, heldFen: 2_600 },
};

export const TELLER_REPORT_EXAMPLE: TellerReport = {
  day: '2026-03-10',
  branch: 'branch-01',
  sources: [
    { paymentSource: 'bank-account', loads: 1, loadedFen: 5_000, voids: 0, voidedFen: 0, netFen: 5_000 },
    { paymentSource: 'cash', loads: 2, loadedFen: 6_000, voids: 1, voidedFen: 3_000, netFen: 3_000 },
    { paymentSource: 'other-bank-card', loads: 0, loadedFen: 0, voids: 0, voidedFen: 0, netFen: 0 },
    { paymentSource: 'app', loads: 0, loadedFen: 0, voids: 0, voidedFen: 0, netFen: 0 },
  ],
  totals: { loads: 3, loadedFen: 11_000, voids: 1, voidedFen: 3_000, netFen: 8_000, pending: 0 },
  voids: [
    { loadId: '2', cardNo: '1000000000000018', amountFen: 3_000, paymentSource: 'cash', resolution: 'teller-void', voidedMs: Date.UTC(2026, 2, 10, 3, 15) },
  ],
};

/** The OpenAPI example of the clearing CSV (shown without its BOM). */
export const CLEARING_CSV_EXAMPLE: string = withoutBom(clearingReportCsv(CLEARING_REPORT_EXAMPLE));

/** The OpenAPI example of the teller CSV (shown without its BOM). */
export const TELLER_CSV_EXAMPLE: string = withoutBom(tellerReportCsv(TELLER_REPORT_EXAMPLE));
