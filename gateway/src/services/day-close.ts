/**
 * Day close (日结, issue 18; docs/settlement.md). A business day (services/business-day.ts) is
 * closed by an operator (POST /v1/settlement/days/{day}/close, `gateway settlement close`) or by
 * the due jobs once every active device has synced after the day's end ('watermarks') or the
 * grace deadline has passed ('grace').
 *
 * One transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: SERIALIZABLE, one snapshot for the whole
 * body) takes in every journal record that occurred before the day's end and every ledger posting
 * made before it that no earlier close took (stamping `closed_day`), and computes from exactly
 * those rows: revenue per service and per operator company (the 清分 split), per-issuer
 * positions, per-bank top-up collections, refunds paid, the ledger movement of every account, and
 * the reconciliation. Rows from before the day's start are adjustments referencing their own
 * business day. A record or posting committed after the close is not in its snapshot: the next
 * close takes it in as an adjustment. A day that does not reconcile to 0.00 is not closed (the
 * transaction rolls back: nothing changes).
 *
 * The summary is canonical JSON, its SHA-256 digest and the clearing centre's RSA signature are
 * stored with it in `business_days`, which the schema never lets change (migration 121).
 * Days close in order: the first close may be any ended day (earlier records become its
 * adjustments); after it, only the day after the last closed one.
 */
import { createHash } from 'node:crypto';
import { DEFAULT_ISSUER_REGISTRY, type IssuerRegistry, isCardNo, type Operator } from '#core';
import { beijingIsoTime } from '../http/csv.ts';
import { ApiError, registerErrorCodes } from '../http/problem.ts';
import type { Store, Tx } from '../store/store-port.ts';
import { type BusinessDayWindow, businessDayOf, businessDayWindow, DEFAULT_CUTOFF_MINUTES, nextDay } from './business-day.ts';
import { type ClearingSigner, verifySignature } from './clearing-key.ts';
import { reconcile } from './ledger.ts';
import { VOID_REVERSED } from './loads.ts';
import { type CompanyRevenue, companyRevenueWhere } from './operator-revenue.ts';
import { CLEARING_OPERATORS } from './reports.ts';

export const DAY_CLOSE_ERROR_CODES = {
  'day-not-ended': { status: 409, title: 'The business day has not reached its cut-off yet' },
  'day-already-closed': { status: 409, title: 'The business day is already closed' },
  'day-out-of-order': { status: 409, title: 'Business days close in order: close the day after the last closed one' },
  'day-does-not-reconcile': { status: 409, title: 'The business day does not reconcile to 0.00 and was not closed' },
  'day-not-closed': { status: 404, title: 'The business day is not closed' },
} as const;
registerErrorCodes(DAY_CLOSE_ERROR_CODES);

/** Version of the summary's layout (docs/settlement.md); a change of meaning bumps it. */
export const DAY_SUMMARY_FORMAT = 1;
export const DEFAULT_GRACE_MS = 36 * 60 * 60 * 1000;
export const HOME_ISSUER = 'home';

export type CloseTrigger = 'operator' | 'watermarks' | 'grace';

export interface DayCloseContext {
  store: Store;
  signer: ClearingSigner;
  subwayNetworkCsvPath: string;
  cutoffMinutes: number;
  graceMs: number;
  /** A device is active for day D when it synced at or after D's start minus this window. */
  deviceStaleWindowMs: number;
  /** Card-number prefixes of other issuers (GatewayPolicies.otherCardNoPrefixes): their cards' taps are positions on those issuers. */
  otherCardNoPrefixes: readonly string[];
  /** The issuer registry (GatewayPolicies.issuers): a known foreign issuer's cards' taps are positions on it, by its name. */
  issuers?: IssuerRegistry;
}

export interface ServiceTotals {
  operator: Operator;
  debits: number;
  amountFen: number;
}

export interface DaySummary {
  format: number;
  day: string;
  startsMs: number;
  startsAt: string;
  endsMs: number;
  endsAt: string;
  closedMs: number;
  closedAt: string;
  closedBy: string;
  trigger: CloseTrigger;
  /** Accepted debits taken in by this close (its own day and adjustments), per service. */
  cleared: { debits: number; amountFen: number; quarantined: number; services: ServiceTotals[] };
  /** Of those, the debits of earlier business days that arrived after their day closed (or before the first close). */
  adjustments: Array<{ day: string; debits: number; amountFen: number; postings: number }>;
  /** The 清分 split of the cleared debits among operator companies; adds up to cleared.amountFen. */
  companies: CompanyRevenue[];
  split: { model: string; exitsWithoutEntry: number };
  /** Taps cleared per card issuer ('home', or the other issuer's card-number prefix). */
  issuers: Array<{ issuer: string; debits: number; amountFen: number }>;
  /** Money taken for loads (net of voids) per collecting bank or organisation and payment source. */
  collections: Array<{ collector: string; paymentSource: string; amountFen: number }>;
  refundsPaid: { count: number; amountFen: number };
  /** Every account's movement in the postings taken in (debit positive); they sum to 0. */
  ledger: { postings: number; accounts: Array<{ account: string; movementFen: number }> };
  /** Each difference must be 0 for the day to close. */
  reconciliation: {
    /** Sum of every entry of the day's postings. */
    dayPostingsFen: number;
    /** Companies' total minus the cleared debits. */
    companiesVsClearedFen: number;
    /** Revenue in the ledger (all postings to the snapshot) minus every accepted debit in the journal. */
    revenueLedgerVsJournalFen: number;
    /** Card purse liability minus the sum of the shadow balances (at the snapshot). */
    cardPurseVsShadowFen: number;
    /** Collections minus refunds paid minus the day's movement of the payment accounts. */
    collectionsVsPaymentsFen: number;
  };
}

export interface ClosedDay {
  day: string;
  summary: DaySummary;
  summaryJson: string;
  digest: string;
  signature: string;
  certificateFingerprint: string;
}

type Raw = Record<string, string | number | bigint | null>;
type DayWindow = BusinessDayWindow & { startsMs: number; endsMs: number };

const num = (v: unknown): number => Number(v ?? 0);

function collectorOf(organisations: Map<string, { id: string; bankId: string | null }>, branch: string): string {
  const org = organisations.get(branch);
  if (org === undefined) return `branch:${branch}`;
  return org.bankId !== null ? `bank:${org.bankId}` : `org:${org.id}`;
}

async function stamp(tx: Tx, day: string, endsMs: number): Promise<void> {
  await tx.run('UPDATE journal_records SET closed_day = ? WHERE closed_day IS NULL AND occurred_at_ms < ?', [day, endsMs]);
  await tx.run('UPDATE ledger_postings SET closed_day = ? WHERE closed_day IS NULL AND at_ms < ?', [day, endsMs]);
}

/** The name of a card's issuer when it is a known foreign issuer (the registry), else null. */
function foreignIssuerName(ctx: Pick<DayCloseContext, 'issuers'>, cardNo: string): string | null {
  const registry = ctx.issuers ?? DEFAULT_ISSUER_REGISTRY;
  if (!isCardNo(cardNo)) return null;
  const issuer = registry.issuerOfCardNo(cardNo);
  return issuer === null || registry.isHome(issuer) ? null : issuer.name;
}

/** Computes the summary of the rows stamped `day` (the caller stamped them in this transaction). */
async function summarise(
  tx: Tx,
  ctx: Pick<DayCloseContext, 'subwayNetworkCsvPath' | 'cutoffMinutes' | 'otherCardNoPrefixes' | 'issuers'>,
  window: DayWindow,
  meta: { closedMs: number; closedBy: string; trigger: CloseTrigger },
): Promise<DaySummary> {
  const { day } = window;
  const serviceRows = await tx.all<Raw>(
    `SELECT operator, status, COUNT(*) AS n, SUM(amount_fen) AS total FROM journal_records
      WHERE closed_day = ? AND card_action = 'debit' GROUP BY operator, status`,
    [day],
  );
  const services = CLEARING_OPERATORS.map((operator): ServiceTotals => {
    const row = serviceRows.find((r) => r.operator === operator && r.status === 'accepted');
    return { operator, debits: num(row?.n), amountFen: num(row?.total) };
  });
  const quarantined = serviceRows.filter((r) => r.status === 'quarantined').reduce((n, r) => n + num(r.n), 0);
  const cleared = {
    debits: services.reduce((n, s) => n + s.debits, 0),
    amountFen: services.reduce((n, s) => n + s.amountFen, 0),
    quarantined,
    services,
  };

  // Adjustments: debits and postings of earlier business days.
  const adjustments = new Map<string, { day: string; debits: number; amountFen: number; postings: number }>();
  const adjustment = (of: string) => {
    let entry = adjustments.get(of);
    if (entry === undefined) adjustments.set(of, (entry = { day: of, debits: 0, amountFen: 0, postings: 0 }));
    return entry;
  };
  const lateDebits = await tx.all<Raw>(
    `SELECT occurred_at_ms, amount_fen FROM journal_records
      WHERE closed_day = ? AND occurred_at_ms < ? AND card_action = 'debit' AND status = 'accepted'`,
    [day, window.startsMs],
  );
  for (const r of lateDebits) {
    const entry = adjustment(businessDayOf(num(r.occurred_at_ms), ctx.cutoffMinutes));
    entry.debits++;
    entry.amountFen += num(r.amount_fen);
  }
  const latePostings = await tx.all<Raw>('SELECT at_ms FROM ledger_postings WHERE closed_day = ? AND at_ms < ?', [day, window.startsMs]);
  for (const r of latePostings) adjustment(businessDayOf(num(r.at_ms), ctx.cutoffMinutes)).postings++;

  const { companies, split } = await companyRevenueWhere(tx, ctx, { sql: 'closed_day = ?', params: [day] }, window.startsMs);

  const cardRows = await tx.all<Raw>(
    `SELECT card_no, COUNT(*) AS n, SUM(amount_fen) AS total FROM journal_records
      WHERE closed_day = ? AND card_action = 'debit' AND status = 'accepted' GROUP BY card_no`,
    [day],
  );
  const issuers = new Map<string, { issuer: string; debits: number; amountFen: number }>();
  for (const r of cardRows) {
    const cardNo = String(r.card_no);
    const issuer = foreignIssuerName(ctx, cardNo) ?? ctx.otherCardNoPrefixes.find((prefix) => cardNo.startsWith(prefix)) ?? HOME_ISSUER;
    let entry = issuers.get(issuer);
    if (entry === undefined) issuers.set(issuer, (entry = { issuer, debits: 0, amountFen: 0 }));
    entry.debits += num(r.n);
    entry.amountFen += num(r.total);
  }

  const accountRows = await tx.all<Raw>(
    `SELECT e.account, SUM(e.amount_fen) AS movement FROM ledger_entries e JOIN ledger_postings p ON p.id = e.posting_id
      WHERE p.closed_day = ? GROUP BY e.account ORDER BY e.account`,
    [day],
  );
  const accounts = accountRows.map((r) => ({ account: String(r.account), movementFen: num(r.movement) })).filter((a) => a.movementFen !== 0);
  const postings = num((await tx.get<Raw>('SELECT COUNT(*) AS n FROM ledger_postings WHERE closed_day = ?', [day]))?.n);

  // Collections: the payment accounts' entries of the day, by the load's collecting organisation.
  const paymentRows = await tx.all<Raw>(
    `SELECT p.kind, p.reference, e.account, e.amount_fen FROM ledger_entries e JOIN ledger_postings p ON p.id = e.posting_id
      WHERE p.closed_day = ? AND e.account LIKE 'payment:%'`,
    [day],
  );
  const loadKinds = new Set(['load-authorise', 'load-void', VOID_REVERSED]);
  const loadIds = [...new Set(paymentRows.filter((r) => loadKinds.has(String(r.kind))).map((r) => Number(r.reference)))].filter(Number.isSafeInteger);
  const branchOfLoad = new Map<number, string>();
  for (let from = 0; from < loadIds.length; from += 500) {
    const part = loadIds.slice(from, from + 500);
    const rows = await tx.all<Raw>(`SELECT id, branch FROM loads WHERE id IN (${part.map(() => '?').join(', ')})`, part);
    for (const r of rows) branchOfLoad.set(num(r.id), String(r.branch));
  }
  const organisations = new Map<string, { id: string; bankId: string | null }>();
  for (const r of await tx.all<Raw>('SELECT id, bank_id, branch_id FROM organisations')) {
    const org = { id: String(r.id), bankId: r.bank_id === null ? null : String(r.bank_id) };
    organisations.set(org.id, org);
    if (r.branch_id !== null && !organisations.has(String(r.branch_id))) organisations.set(String(r.branch_id), org);
  }
  const collections = new Map<string, { collector: string; paymentSource: string; amountFen: number }>();
  let refundsPaidFen = 0;
  let refundsPaidCount = 0;
  let paymentMovement = 0;
  for (const r of paymentRows) {
    const amount = num(r.amount_fen);
    paymentMovement += amount;
    const kind = String(r.kind);
    if (kind === 'refund-paid') {
      refundsPaidFen -= amount;
      refundsPaidCount++;
      continue;
    }
    const branch = loadKinds.has(kind) ? branchOfLoad.get(Number(r.reference)) : undefined;
    const collector = branch === undefined ? `other:${kind}` : collectorOf(organisations, branch);
    const paymentSource = String(r.account).slice('payment:'.length);
    const key = `${collector}\u0000${paymentSource}`;
    let entry = collections.get(key);
    if (entry === undefined) collections.set(key, (entry = { collector, paymentSource, amountFen: 0 }));
    entry.amountFen += amount;
  }
  const collectionList = [...collections.values()]
    .filter((c) => c.amountFen !== 0)
    .sort((a, b) => (a.collector < b.collector ? -1 : a.collector > b.collector ? 1 : a.paymentSource < b.paymentSource ? -1 : 1));

  // Cumulative checks at the snapshot.
  const revenueAccounts = CLEARING_OPERATORS.map((o) => `revenue:${o}`);
  const ledgerRevenue = num(
    (await tx.get<Raw>(`SELECT SUM(amount_fen) AS total FROM ledger_entries WHERE account IN (${revenueAccounts.map(() => '?').join(', ')})`, revenueAccounts))
      ?.total,
  );
  const journalRevenue = num(
    (await tx.get<Raw>("SELECT SUM(amount_fen) AS total FROM journal_records WHERE card_action = 'debit' AND status = 'accepted'"))?.total,
  );
  const books = await reconcile(tx);

  return {
    format: DAY_SUMMARY_FORMAT,
    day,
    startsMs: window.startsMs,
    startsAt: beijingIsoTime(window.startsMs),
    endsMs: window.endsMs,
    endsAt: beijingIsoTime(window.endsMs),
    closedMs: meta.closedMs,
    closedAt: beijingIsoTime(meta.closedMs),
    closedBy: meta.closedBy,
    trigger: meta.trigger,
    cleared,
    adjustments: [...adjustments.values()].sort((a, b) => (a.day < b.day ? -1 : 1)),
    companies,
    split,
    issuers: [...issuers.values()].sort((a, b) => (a.issuer < b.issuer ? -1 : 1)),
    collections: collectionList,
    refundsPaid: { count: refundsPaidCount, amountFen: refundsPaidFen },
    ledger: { postings, accounts },
    reconciliation: {
      dayPostingsFen: accounts.reduce((s, a) => s + a.movementFen, 0),
      companiesVsClearedFen: companies.reduce((s, c) => s + c.amountFen, 0) - cleared.amountFen,
      revenueLedgerVsJournalFen: -ledgerRevenue - journalRevenue,
      cardPurseVsShadowFen: books.discrepancyFen,
      collectionsVsPaymentsFen: collectionList.reduce((s, c) => s + c.amountFen, 0) - refundsPaidFen - paymentMovement,
    },
  };
}

export function reconciles(summary: DaySummary): boolean {
  return Object.values(summary.reconciliation).every((v) => v === 0);
}

/** SHA-256 hex of the summary's canonical JSON. */
export function digestOf(summaryJson: string): string {
  return createHash('sha256').update(summaryJson, 'utf8').digest('hex');
}

/** The window under the context's cut-off; 400 invalid-request when `day` is no calendar date. */
export function windowOf(ctx: Pick<DayCloseContext, 'cutoffMinutes'>, day: string): DayWindow {
  const window = businessDayWindow(day, ctx.cutoffMinutes);
  if (window === null) throw new ApiError('invalid-request', `day ${day} is not a calendar date`);
  return { ...window, startsMs: window.startMs, endsMs: window.endMs };
}

async function lastClosedDay(tx: Tx): Promise<string | null> {
  const row = await tx.get<Raw>('SELECT MAX(day) AS day FROM business_days');
  return row?.day === null || row?.day === undefined ? null : String(row.day);
}

/**
 * Closes `day` in one transaction; throws ApiError (day-not-ended, day-already-closed,
 * day-out-of-order, day-does-not-reconcile) and changes nothing when it may not.
 */
export async function closeBusinessDay(ctx: DayCloseContext, day: string, by: { actor: string; trigger: CloseTrigger }, nowMs: number): Promise<ClosedDay> {
  const window = windowOf(ctx, day);
  if (nowMs < window.endsMs) throw new ApiError('day-not-ended', `business day ${day} ends at its cut-off, ${new Date(window.endsMs).toISOString()}`);
  return ctx.store.transaction(async (tx) => {
    if ((await tx.get('SELECT day FROM business_days WHERE day = ?', [day])) !== undefined) {
      throw new ApiError('day-already-closed', `business day ${day} is already closed`);
    }
    const last = await lastClosedDay(tx);
    if (last !== null && day !== nextDay(last)) {
      throw new ApiError(
        day < last ? 'day-already-closed' : 'day-out-of-order',
        day < last ? `business day ${day} is before the last closed day ${last}` : `the next business day to close is ${nextDay(last)}`,
        { nextDay: nextDay(last) },
      );
    }
    await stamp(tx, day, window.endsMs);
    const summary = await summarise(tx, ctx, window, { closedMs: nowMs, closedBy: by.actor, trigger: by.trigger });
    if (!reconciles(summary)) {
      throw new ApiError('day-does-not-reconcile', `business day ${day} does not reconcile: ${JSON.stringify(summary.reconciliation)}`, {
        reconciliation: summary.reconciliation,
      });
    }
    const summaryJson = JSON.stringify(summary);
    const digest = digestOf(summaryJson);
    const signature = ctx.signer.sign(summaryJson);
    await tx.run(
      `INSERT INTO business_days (day, starts_ms, ends_ms, closed_ms, closed_by, trigger_kind, summary_json, digest, signature, certificate_fingerprint)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [day, window.startsMs, window.endsMs, nowMs, by.actor, by.trigger, summaryJson, digest, signature, ctx.signer.fingerprint],
    );
    return { day, summary, summaryJson, digest, signature, certificateFingerprint: ctx.signer.fingerprint };
  });
}

function closedDayOf(r: Raw): ClosedDay {
  const summaryJson = String(r.summary_json);
  return {
    day: String(r.day),
    summary: JSON.parse(summaryJson) as DaySummary,
    summaryJson,
    digest: String(r.digest),
    signature: String(r.signature),
    certificateFingerprint: String(r.certificate_fingerprint),
  };
}

export async function getClosedDay(tx: Tx, day: string): Promise<ClosedDay | undefined> {
  const row = await tx.get<Raw>('SELECT * FROM business_days WHERE day = ?', [day]);
  return row === undefined ? undefined : closedDayOf(row);
}

/** Closed days in [from, to] (inclusive, 'YYYY-MM-DD'), oldest first. */
export async function listClosedDays(tx: Tx, from: string, to: string): Promise<ClosedDay[]> {
  const rows = await tx.all<Raw>('SELECT * FROM business_days WHERE day >= ? AND day <= ? ORDER BY day', [from, to]);
  return rows.map(closedDayOf);
}

/** Whether the stored day is intact: its digest matches its summary and the signature verifies under `certificatePem`. */
export function verifyClosedDay(closed: ClosedDay, certificatePem: string): { digestMatches: boolean; signatureValid: boolean } {
  return {
    digestMatches: digestOf(closed.summaryJson) === closed.digest,
    signatureValid: verifySignature(certificatePem, closed.summaryJson, closed.signature),
  };
}

/** The next business day to close: the day after the last closed one, else the day of the oldest row no close took, else null. */
export async function nextDayToClose(tx: Tx, cutoffMinutes: number): Promise<string | null> {
  const last = await lastClosedDay(tx);
  if (last !== null) return nextDay(last);
  const journal = await tx.get<Raw>('SELECT MIN(occurred_at_ms) AS at FROM journal_records WHERE closed_day IS NULL');
  const posting = await tx.get<Raw>('SELECT MIN(at_ms) AS at FROM ledger_postings WHERE closed_day IS NULL');
  const times = [journal?.at, posting?.at].filter((v) => v !== null && v !== undefined).map(Number);
  return times.length === 0 ? null : businessDayOf(Math.min(...times), cutoffMinutes);
}

/** Why `day` may close automatically now ('watermarks', 'grace'), or null (a device still owes records of it). */
export async function autoCloseTrigger(
  tx: Tx,
  ctx: DayCloseContext,
  window: { startsMs: number; endsMs: number },
  nowMs: number,
): Promise<CloseTrigger | null> {
  if (nowMs < window.endsMs) return null;
  if (nowMs >= window.endsMs + ctx.graceMs) return 'grace';
  const behind = await tx.get<Raw>('SELECT COUNT(*) AS n FROM devices WHERE last_sync_ms >= ? AND last_sync_ms < ?', [
    window.startsMs - ctx.deviceStaleWindowMs,
    window.endsMs,
  ]);
  return num(behind?.n) === 0 ? 'watermarks' : null;
}

/**
 * Closes every day that may close automatically now, in order (at most `limit`); returns the days
 * closed and, when one was due but could not close (it does not reconcile), why: the jobs go on,
 * the day stays open for a person (it is retried at every run).
 */
export async function closeDueDays(ctx: DayCloseContext, nowMs: number, limit = 31): Promise<{ closed: string[]; refused: string | null }> {
  const closed: string[] = [];
  for (let i = 0; i < limit; i++) {
    const due = await ctx.store.transaction(
      async (tx) => {
        const day = await nextDayToClose(tx, ctx.cutoffMinutes);
        if (day === null) return null;
        const trigger = await autoCloseTrigger(tx, ctx, windowOf(ctx, day), nowMs);
        return trigger === null ? null : { day, trigger };
      },
      { readOnly: true },
    );
    if (due === null) break;
    try {
      await closeBusinessDay(ctx, due.day, { actor: `job:${due.trigger}`, trigger: due.trigger }, nowMs);
    } catch (error) {
      // Another instance closed it first: go on with the next one.
      if (error instanceof ApiError && error.code === 'day-already-closed') continue;
      if (error instanceof ApiError) return { closed, refused: `${due.day}: ${error.message}` };
      throw error;
    }
    closed.push(due.day);
  }
  return { closed, refused: null };
}

/** The context from a gateway's parts. */
export function dayCloseContextOf(gateway: {
  store: Store;
  clearingSigner: ClearingSigner;
  subwayNetworkCsvPath: string;
  policies: {
    dayCloseCutoffMinutes?: number;
    dayCloseGraceMs?: number;
    deviceStaleWindowMs: number;
    otherCardNoPrefixes?: readonly string[];
    issuers?: IssuerRegistry;
  };
}): DayCloseContext {
  return {
    store: gateway.store,
    signer: gateway.clearingSigner,
    subwayNetworkCsvPath: gateway.subwayNetworkCsvPath,
    cutoffMinutes: gateway.policies.dayCloseCutoffMinutes ?? DEFAULT_CUTOFF_MINUTES,
    graceMs: gateway.policies.dayCloseGraceMs ?? DEFAULT_GRACE_MS,
    deviceStaleWindowMs: gateway.policies.deviceStaleWindowMs,
    otherCardNoPrefixes: gateway.policies.otherCardNoPrefixes ?? [],
    issuers: gateway.policies.issuers ?? DEFAULT_ISSUER_REGISTRY,
  };
}
