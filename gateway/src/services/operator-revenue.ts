/**
 * The operator-company dimension of the clearing report (清分, DOMAIN.md section 8): each
 * verified debit of the day apportioned to the companies owed it, by core's revenue split
 * (core/src/fare/revenue-split.ts) under the fare-tables bundle the device priced it with (its
 * network and its line → operator table).
 *
 * The record's service (`operator`: subway, bus, pr, park, suburban) says whose rules apply:
 * - subway exits: the charge split over the fare path from `journey_entry_place` to the exit
 *   station, overtime to the exit line's operator. A record without an entry station (firmware
 *   before the field, a torn exit recovered later) goes whole to the exit station's line and is
 *   counted in `exitsWithoutEntry`;
 * - other subway debits (an unfinished journey settled at the next entry): the station's line;
 * - bus: the line's company; P+R: the lot's operator; parks: the park; suburban: its operator.
 * - A record whose place the bundle does not know (or whose bundle cannot be read) goes to
 *   `unassigned`, so every fen of the day is somewhere: the companies always add up to the
 *   report's total (asserted).
 * Identical debits (same bundle, kind, places, amount, overtime) are grouped in SQL and split once.
 */
import {
  busOperatorId,
  type FareTables,
  isStationCode,
  type Operator,
  parkAndRideOperatorId,
  parkOperatorId,
  parseFareTablesJson,
  type RevenueOperator,
  revenuePayeesOf,
  selectFareTables,
  subwayRevenueSplitterOf,
  suburbanOperatorId,
  UNASSIGNED_OPERATOR,
} from '#core';
import type { Tx } from '../store/store-port.ts';
import { builtInFareTableOf, BUILT_IN_FARE_TABLE_VERSION, publishedFareTableJson } from './fare-tables.ts';

export interface CompanyServiceTotals {
  /** The service kind (subway, bus, pr, park, suburban). */
  operator: Operator;
  /** Debits in which the company has a part above 0. */
  debits: number;
  amountFen: number;
}

export interface CompanyRevenue {
  companyId: string;
  name: string;
  placeholder: boolean;
  amountFen: number;
  services: CompanyServiceTotals[];
}

export interface CompanyRevenueSplit {
  companies: CompanyRevenue[];
  /** The path model the subway trips were split with, and the exits split without their entry station. */
  split: { model: string; exitsWithoutEntry: number };
}

type Raw = Record<string, string | number | bigint | null>;

/** Built bundles by version, per gateway: a published version's text never changes. */
const BUNDLES = new WeakMap<object, Map<number, FareTables | null>>();

async function bundleOf(tx: Tx, gateway: { subwayNetworkCsvPath: string }, version: number): Promise<FareTables | null> {
  let cache = BUNDLES.get(gateway);
  if (cache === undefined) BUNDLES.set(gateway, (cache = new Map()));
  if (cache.has(version)) return cache.get(version) ?? null;
  let json: string | null = null;
  if (version === BUILT_IN_FARE_TABLE_VERSION) json = builtInFareTableOf(gateway)()?.json ?? null;
  else json = await publishedFareTableJson(tx, version);
  let tables: FareTables | null = null;
  if (json !== null) {
    try {
      tables = parseFareTablesJson(json);
    } catch {
      tables = null;
    }
  }
  cache.set(version, tables);
  return tables;
}

/** The version in force at `atMs` (rows uploaded before migration 120 carry none). */
async function versionInForce(tx: Tx, atMs: number): Promise<number> {
  const rows = await tx.all<Raw>('SELECT version, effective_from_ms FROM fare_tables');
  const list = [
    { version: BUILT_IN_FARE_TABLE_VERSION, effectiveFromMs: 0 },
    ...rows.map((r) => ({ version: Number(r.version), effectiveFromMs: Number(r.effective_from_ms) })),
  ];
  return selectFareTables(list, atMs)?.version ?? BUILT_IN_FARE_TABLE_VERSION;
}

/**
 * The day's accepted debits (tx_date = `yyyymmdd`) by company and service. `dayStartMs` picks the
 * bundle for rows that do not name theirs.
 */
export async function companyRevenue(tx: Tx, gateway: { subwayNetworkCsvPath: string }, yyyymmdd: number, dayStartMs: number): Promise<CompanyRevenueSplit> {
  return companyRevenueWhere(tx, gateway, { sql: 'tx_date = ?', params: [yyyymmdd] }, dayStartMs);
}

/**
 * The accepted debits that `where` selects (a condition on journal_records, e.g. the business
 * day a day close took in) by company and service; `dayStartMs` as above.
 */
export async function companyRevenueWhere(
  tx: Tx,
  gateway: { subwayNetworkCsvPath: string },
  where: { sql: string; params: readonly (string | number)[] },
  dayStartMs: number,
): Promise<CompanyRevenueSplit> {
  const rows = await tx.all<Raw>(
    `SELECT fare_table_version, device_kind, operator, place, line, journey_entry_place, amount_fen, COALESCE(overtime_fen, 0) AS overtime_fen,
            COUNT(*) AS n
       FROM journal_records
      WHERE ${where.sql} AND card_action = 'debit' AND status = 'accepted'
      GROUP BY fare_table_version, device_kind, operator, place, line, journey_entry_place, amount_fen, COALESCE(overtime_fen, 0)`,
    where.params,
  );
  const fallbackVersion = rows.some((r) => r.fare_table_version === null) ? await versionInForce(tx, dayStartMs) : BUILT_IN_FARE_TABLE_VERSION;
  const known = new Map<string, RevenueOperator>([[UNASSIGNED_OPERATOR.id, UNASSIGNED_OPERATOR]]);
  const totals = new Map<string, Map<string, CompanyServiceTotals>>();
  const credit = (companyId: string, service: Operator, amountFen: number, debits: number): void => {
    if (amountFen === 0) return;
    let byService = totals.get(companyId);
    if (byService === undefined) totals.set(companyId, (byService = new Map()));
    let entry = byService.get(service);
    if (entry === undefined) byService.set(service, (entry = { operator: service, debits: 0, amountFen: 0 }));
    entry.amountFen += amountFen;
    entry.debits += debits;
  };
  let exitsWithoutEntry = 0;
  let model = 'shortest-path';
  let expected = 0;
  for (const r of rows) {
    const n = Number(r.n);
    const amount = Number(r.amount_fen);
    const overtime = Number(r.overtime_fen);
    // The sync guard admits only the five service kinds.
    const service = String(r.operator) as Operator;
    const kind = String(r.device_kind);
    const place = Number(r.place);
    expected += amount * n;
    const version = r.fare_table_version === null ? fallbackVersion : Number(r.fare_table_version);
    const tables = await bundleOf(tx, gateway, version);
    if (tables === null) {
      credit(UNASSIGNED_OPERATOR.id, service, amount * n, n);
      continue;
    }
    for (const op of revenuePayeesOf(tables).operators) known.set(op.id, op);
    const whole = (companyId: string): void => credit(companyId, service, amount * n, n);
    if (service === 'subway') {
      const splitter = subwayRevenueSplitterOf(tables);
      model = splitter.model.name;
      const entry = r.journey_entry_place === null ? 0 : Number(r.journey_entry_place);
      const isExit = kind === 'subway-exit';
      const withPath = isExit && isStationCode(tables.subway, entry);
      if (!isStationCode(tables.subway, place) || overtime > amount) {
        whole(UNASSIGNED_OPERATOR.id);
        continue;
      }
      if (isExit && !withPath) exitsWithoutEntry += n;
      // Without an entry station (or at an entry: an unfinished journey settled) the station's own line takes it.
      const parts = withPath ? splitter.splitTrip(entry, place, amount, overtime) : splitter.splitTrip(place, place, amount, isExit ? overtime : 0);
      for (const part of parts) credit(part.operatorId, service, part.amountFen * n, n);
      continue;
    }
    if (service === 'bus') whole(busOperatorId(tables, Number(r.line)));
    else if (service === 'pr') whole(parkAndRideOperatorId(tables, place));
    else if (service === 'park') whole(tables.parkById.has(place) ? parkOperatorId(place) : UNASSIGNED_OPERATOR.id);
    else if (service === 'suburban') whole(suburbanOperatorId(tables));
    else whole(UNASSIGNED_OPERATOR.id);
  }
  const companies: CompanyRevenue[] = [...totals.entries()]
    .map(([companyId, byService]): CompanyRevenue => {
      const op = known.get(companyId);
      const services = [...byService.values()].sort((a, b) => (a.operator < b.operator ? -1 : a.operator > b.operator ? 1 : 0));
      return {
        companyId,
        name: op?.name ?? companyId,
        placeholder: op?.placeholder ?? true,
        amountFen: services.reduce((s, e) => s + e.amountFen, 0),
        services,
      };
    })
    .sort((a, b) => (a.companyId < b.companyId ? -1 : a.companyId > b.companyId ? 1 : 0));
  const sum = companies.reduce((s, c) => s + c.amountFen, 0);
  if (sum !== expected) throw new Error(`revenue split lost money: companies ${sum} fen, debits ${expected} fen`);
  return { companies, split: { model, exitsWithoutEntry } };
}
