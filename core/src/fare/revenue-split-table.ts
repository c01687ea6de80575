/**
 * The line → operator table of the revenue split (清分, DOMAIN.md section 8): who is paid for
 * each subway line, bus line, P+R lot and suburban rail, versioned with the fare-tables bundle
 * (`FareTablesSpec.revenueSplit`; data/revenue-operators.ts is the 2026 default).
 *
 * Rules checked when a bundle carries a table (validateRevenueSplitTable):
 * - operator ids are lower-case kebab ids, unique; every operatorId used names one of them;
 * - every line of the bundle's subway network has exactly one operator (a table that misses a
 *   line is refused with LineWithoutOperatorError, which names the lines); lines not in the
 *   network are allowed (a line announced before its opening);
 * - bus line ids and lot ids appear at most once.
 * Parks are payees by themselves (`park-<parkId>`, named after the park), never listed here.
 */
import { REVENUE_SPLIT_2026 } from './data/revenue-operators.ts';

export type RevenueOperatorKind = 'rail' | 'bus' | 'park-and-ride' | 'suburban' | 'park';

export interface RevenueOperator {
  /** Stable id (lower-case kebab, at most 40 characters): what reports and settlement files carry. */
  id: string;
  name: string;
  kind: RevenueOperatorKind;
  /** True while the real company is not known: its revenue is held under this placeholder. */
  placeholder: boolean;
  /** Where the assignment comes from. */
  source: string;
}

export interface RevenueSplitTable {
  operators: RevenueOperator[];
  /** One entry per line of the network (line name exactly as in the CSV). */
  subwayLines: Array<{ line: string; operatorId: string; source: string }>;
  /** Bus lines whose company is not `defaults.busOperatorId`. */
  busLines: Array<{ lineId: number; operatorId: string }>;
  /** P+R lots whose operator is not `defaults.parkAndRideOperatorId`. */
  parkAndRideLots: Array<{ lotId: number; operatorId: string }>;
  defaults: { busOperatorId: string; parkAndRideOperatorId: string; suburbanOperatorId: string };
}

export class RevenueSplitTableError extends RangeError {
  override readonly name: string = 'RevenueSplitTableError';
}

/** A table that gives no operator for some line of the network: the lines, in network order. */
export class LineWithoutOperatorError extends RevenueSplitTableError {
  override readonly name = 'LineWithoutOperatorError';
  constructor(readonly lines: readonly string[]) {
    super(`the revenue split table gives no operator for ${lines.length === 1 ? 'line' : 'lines'} ${lines.join(', ')} of the network`);
  }
}

const OPERATOR_ID = /^[a-z0-9][a-z0-9-]{0,39}$/;
const KINDS: readonly RevenueOperatorKind[] = ['rail', 'bus', 'park-and-ride', 'suburban', 'park'];

/** Park payee id of a park (parks are not listed in the table). */
export function parkOperatorId(parkId: number): string {
  return `park-${parkId}`;
}

/**
 * Checks a table against the lines of its network. Throws RevenueSplitTableError (or its
 * LineWithoutOperatorError) naming the problem.
 */
export function validateRevenueSplitTable(table: RevenueSplitTable, networkLines: readonly string[]): void {
  const ids = new Set<string>();
  for (const op of table.operators) {
    if (!OPERATOR_ID.test(op.id)) throw new RevenueSplitTableError(`operator id "${op.id}" must be lower-case letters, digits and dashes (at most 40)`);
    if (op.id.startsWith('park-')) throw new RevenueSplitTableError(`operator id "${op.id}": park-… ids are the parks' own`);
    if (ids.has(op.id)) throw new RevenueSplitTableError(`operator id "${op.id}" appears twice`);
    if (op.name.trim() === '') throw new RevenueSplitTableError(`operator ${op.id}: name is empty`);
    if (!KINDS.includes(op.kind) || op.kind === 'park')
      throw new RevenueSplitTableError(`operator ${op.id}: kind must be rail, bus, park-and-ride or suburban`);
    if (op.source.trim() === '') throw new RevenueSplitTableError(`operator ${op.id}: source must say where it comes from`);
    ids.add(op.id);
  }
  const known = (id: string, where: string): void => {
    if (!ids.has(id)) throw new RevenueSplitTableError(`${where}: unknown operator "${id}"`);
  };
  const lines = new Set<string>();
  for (const entry of table.subwayLines) {
    if (lines.has(entry.line)) throw new RevenueSplitTableError(`line ${entry.line} has two operators`);
    known(entry.operatorId, `line ${entry.line}`);
    lines.add(entry.line);
  }
  const bus = new Set<number>();
  for (const entry of table.busLines) {
    if (bus.has(entry.lineId)) throw new RevenueSplitTableError(`bus line ${entry.lineId} is listed twice`);
    known(entry.operatorId, `bus line ${entry.lineId}`);
    bus.add(entry.lineId);
  }
  const lots = new Set<number>();
  for (const entry of table.parkAndRideLots) {
    if (lots.has(entry.lotId)) throw new RevenueSplitTableError(`P+R lot ${entry.lotId} is listed twice`);
    known(entry.operatorId, `P+R lot ${entry.lotId}`);
    lots.add(entry.lotId);
  }
  known(table.defaults.busOperatorId, 'defaults.busOperatorId');
  known(table.defaults.parkAndRideOperatorId, 'defaults.parkAndRideOperatorId');
  known(table.defaults.suburbanOperatorId, 'defaults.suburbanOperatorId');
  const missing = networkLines.filter((line) => !lines.has(line));
  if (missing.length > 0) throw new LineWithoutOperatorError(missing);
}

/** Lines of `networkLines` the table gives no operator for (empty: it covers the network). */
export function linesWithoutOperator(table: RevenueSplitTable, networkLines: readonly string[]): string[] {
  const lines = new Set(table.subwayLines.map((e) => e.line));
  return networkLines.filter((line) => !lines.has(line));
}

/** The table a bundle is split by: its own, else the 2026 default. */
export function revenueSplitTableOf(spec: { revenueSplit?: RevenueSplitTable }): RevenueSplitTable {
  return spec.revenueSplit ?? REVENUE_SPLIT_2026;
}

/**
 * The payee of a line missing from a default table (a bundle without its own table on a network
 * with a line the default does not know): revenue is held here, never lost, until a table names
 * the operator. Published tables cannot miss a line (validateRevenueSplitTable).
 */
export const UNASSIGNED_OPERATOR: RevenueOperator = {
  id: 'unassigned',
  name: '未分配 (no operator in the table)',
  kind: 'rail',
  placeholder: true,
  source: 'a line of the network missing from the default table',
};
