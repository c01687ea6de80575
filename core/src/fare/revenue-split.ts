/**
 * The revenue split (清分, DOMAIN.md section 8): each cleared debit's amount divided among the
 * companies owed it, in whole fen, the parts summing exactly to the amount.
 *
 * Subway trip [P] (the 2004 rules settle the fare at the exit; the split is made at clearing):
 * - the charged amount (after discounts) less the overtime fare is split over the trip's fare
 *   path (subway-fare-path.ts, shortest path by default): first among the path's parts in
 *   proportion to each part's own fare (a trip from an airport line onto the network pays the
 *   airport line its fare's share), then each part among the operators of its lines pro rata by
 *   kilometres. A trip on one flat-priced line goes whole to its operator; 亦庄T1线 is on the
 *   distance graph and splits like any line;
 * - the overtime fare goes whole to the exit line's operator;
 * - rounding is by largest remainder (largestRemainderSplit): each share's floor, then one fen
 *   each to the largest remainders; equal remainders go first to the exit line's operator
 *   (the exit part in the first step), then by operator id.
 * Bus: the line's company (table entry, else the default bus company). P+R: the lot's operator.
 * Parks: visits to the park (park-<id>); a park-pass sale is split equally among the parks the
 * pass covers (splitParkPassSale). Suburban rail: the configured suburban operator.
 */
import type { FareTables } from './fare-tables.ts';
import { parkOperatorId, type RevenueOperator, revenueSplitTableOf, UNASSIGNED_OPERATOR } from './revenue-split-table.ts';
import { shortestFarePathModel, type SubwayFarePathModel } from './subway-fare-path.ts';
import { isStationCode, UnknownStationError } from './subway-network.ts';

/**
 * Largest-remainder split of `amount` (integer >= 0) by integer weights >= 0: part i is
 * floor(amount × w_i / W) plus one fen for each of the (amount − Σ floors) largest remainders,
 * equal remainders ordered by `tieRank` (lower first; distinct values). All weights 0: the whole
 * amount goes to the lowest tieRank. Parts are >= 0 and sum to `amount` exactly.
 */
export function largestRemainderSplit(amount: number, weights: readonly number[], tieRank: readonly number[]): number[] {
  const n = weights.length;
  if (n === 0) throw new RangeError('a split needs at least one share');
  if (tieRank.length !== n) throw new RangeError('one tie rank per share');
  if (!Number.isSafeInteger(amount) || amount < 0) throw new RangeError(`amount must be an integer >= 0, got ${amount}`);
  let total = 0;
  for (const w of weights) {
    if (!Number.isSafeInteger(w) || w < 0) throw new RangeError(`weights must be integers >= 0, got ${w}`);
    total += w;
  }
  if (!Number.isSafeInteger(total)) throw new RangeError('the weights add up past exact integer arithmetic');
  const parts = new Array<number>(n).fill(0);
  if (total === 0) {
    let first = 0;
    for (let i = 1; i < n; i++) if (tieRank[i] < tieRank[first]) first = i;
    parts[first] = amount;
    return parts;
  }
  // amount × weight must stay exact in a double; past 2^53 the same rule runs on BigInt.
  if (amount > Number.MAX_SAFE_INTEGER / total) return largestRemainderSplitBig(amount, weights, tieRank, total);
  const remainders = new Array<number>(n);
  let given = 0;
  for (let i = 0; i < n; i++) {
    const product = amount * weights[i];
    let q = Math.floor(product / total);
    // Exact integer quotient: correct a floating division that rounded across an integer.
    let r = product - q * total;
    if (r < 0) {
      q -= 1;
      r += total;
    } else if (r >= total) {
      q += 1;
      r -= total;
    }
    parts[i] = q;
    remainders[i] = r;
    given += q;
  }
  let left = amount - given;
  if (left > 0) {
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => remainders[b] - remainders[a] || tieRank[a] - tieRank[b]);
    for (let j = 0; left > 0; j++, left--) parts[order[j]] += 1;
  }
  return parts;
}

function largestRemainderSplitBig(amount: number, weights: readonly number[], tieRank: readonly number[], total: number): number[] {
  const a = BigInt(amount);
  const t = BigInt(total);
  const quotients = weights.map((w) => (a * BigInt(w)) / t);
  const remainders = weights.map((w, i) => a * BigInt(w) - quotients[i] * t);
  let left = amount - quotients.reduce((sum, q) => sum + Number(q), 0);
  const parts = quotients.map(Number);
  const order = Array.from({ length: weights.length }, (_, i) => i).sort((x, y) =>
    remainders[y] > remainders[x] ? 1 : remainders[y] < remainders[x] ? -1 : tieRank[x] - tieRank[y],
  );
  for (let j = 0; left > 0; j++, left--) parts[order[j]] += 1;
  return parts;
}

/** One operator's part of a debit. */
export interface RevenuePart {
  operatorId: string;
  amountFen: number;
}

/** The payees a splitter knows: the table's operators, sorted by id, then the parks. */
export interface RevenuePayees {
  readonly operators: readonly RevenueOperator[];
  readonly indexById: ReadonlyMap<string, number>;
}

/**
 * Precomputed per entry-exit pair: the path's parts with the operators' kilometres (metres), so
 * apportioning a trip is a few integer operations. Built lazily, pair by pair.
 */
interface PairSplit {
  /** Part fare weights, travel order. */
  partWeights: number[];
  /** Per part: operator indexes (ascending) and their metres. */
  partOperators: number[][];
  partMetres: number[][];
  /** Per part: the sum of its metres. */
  partTotals: number[];
  /** Part holding the exit line. */
  exitPart: number;
  exitOperator: number;
}

export interface SubwayRevenueSplitter {
  readonly payees: RevenuePayees;
  readonly model: SubwayFarePathModel;
  /**
   * Adds a subway trip's parts into `totals` (indexed by payee index): `chargedFen` split as the
   * module comment says, `overtimeFen` (part of chargedFen) to the exit line's operator.
   */
  addTrip(totals: Float64Array | number[], entryCode: number, exitCode: number, chargedFen: number, overtimeFen: number): void;
  /** The same split as a list (operators with a non-zero part, by payee index; all zero: the exit operator's 0). */
  splitTrip(entryCode: number, exitCode: number, chargedFen: number, overtimeFen: number): RevenuePart[];
}

/**
 * Every payee of a fare-tables bundle: its table's operators (sorted by id), 'unassigned' when a
 * default table misses a line, then one payee per park (park-<id>).
 */
export function revenuePayeesOf(tables: FareTables): RevenuePayees {
  const table = revenueSplitTableOf(tables.spec);
  const covered = new Set(table.subwayLines.map((e) => e.line));
  const operators: RevenueOperator[] = [...table.operators];
  if (tables.subway.lines.some((line) => !covered.has(line))) operators.push(UNASSIGNED_OPERATOR);
  for (const park of tables.spec.parks) {
    operators.push({ id: parkOperatorId(park.parkId), name: park.name, kind: 'park', placeholder: false, source: 'the park itself' });
  }
  operators.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const indexById = new Map<string, number>();
  operators.forEach((op, i) => {
    indexById.set(op.id, i);
  });
  return { operators, indexById };
}

const SPLITTERS = new WeakMap<FareTables, SubwayRevenueSplitter>();

/** The splitter of a bundle with the default (shortest-path) model, built once per bundle. */
export function subwayRevenueSplitterOf(tables: FareTables): SubwayRevenueSplitter {
  let splitter = SPLITTERS.get(tables);
  if (splitter === undefined) {
    splitter = subwayRevenueSplitter(tables, shortestFarePathModel(tables.subway));
    SPLITTERS.set(tables, splitter);
  }
  return splitter;
}

export function subwayRevenueSplitter(tables: FareTables, model: SubwayFarePathModel): SubwayRevenueSplitter {
  const payees = revenuePayeesOf(tables);
  const table = revenueSplitTableOf(tables.spec);
  const unassigned = payees.indexById.get(UNASSIGNED_OPERATOR.id) ?? -1;
  const operatorOfLine = new Map<string, number>();
  for (const e of table.subwayLines) operatorOfLine.set(e.line, payees.indexById.get(e.operatorId)!);
  const lineOperator = (line: string): number => {
    const op = operatorOfLine.get(line) ?? unassigned;
    if (op < 0) throw new RangeError(`line ${line} is not on the network`);
    return op;
  };
  const side = tables.subway.side;
  const pairs = new Array<PairSplit | undefined>(side * side);
  // The same pairs in flat arrays for the hot path (a day's trips touch ~180,000 pairs at random:
  // one or two cache lines per trip instead of a walk through nested objects). Kind per pair:
  // 0 not built yet, 1 one part and one operator (pairData = the operator), 2 one part and several
  // operators (pairData = offset in `flat`: count, total metres, then operator and metres each),
  // 3 several parts (the PairSplit object).
  const pairKind = new Uint8Array(side * side);
  const pairData = new Int32Array(side * side);
  const pairExit = new Int32Array(side * side);
  const flat: number[] = [];
  const pairOf = (entryCode: number, exitCode: number): PairSplit => {
    if (!isStationCode(tables.subway, entryCode)) throw new UnknownStationError(entryCode);
    if (!isStationCode(tables.subway, exitCode)) throw new UnknownStationError(exitCode);
    const k = entryCode * side + exitCode;
    let pair = pairs[k];
    if (pair !== undefined) return pair;
    const path = model.pathOf(entryCode, exitCode);
    const partWeights: number[] = [];
    const partOperators: number[][] = [];
    const partMetres: number[][] = [];
    for (const part of path.parts) {
      const metres = new Map<number, number>();
      for (const leg of part.legs) {
        const op = lineOperator(leg.line);
        metres.set(op, (metres.get(op) ?? 0) + leg.distanceM);
      }
      const ops = [...metres.keys()].sort((a, b) => a - b);
      partWeights.push(part.fareWeight);
      partOperators.push(ops);
      partMetres.push(ops.map((op) => metres.get(op)!));
    }
    const partTotals = partMetres.map((m) => m.reduce((a, b) => a + b, 0));
    pair = { partWeights, partOperators, partMetres, partTotals, exitPart: path.parts.length - 1, exitOperator: lineOperator(path.exitLine) };
    pairs[k] = pair;
    pairExit[k] = pair.exitOperator;
    if (partWeights.length > 1) pairKind[k] = 3;
    else if (partOperators[0].length === 1) {
      pairKind[k] = 1;
      pairData[k] = partOperators[0][0];
    } else if (partTotals[0] === 0 || partTotals[0] > 0x7fffffff) pairKind[k] = 3;
    else {
      pairKind[k] = 2;
      pairData[k] = flat.length;
      flat.push(partOperators[0].length, partTotals[0]);
      for (let i = 0; i < partOperators[0].length; i++) flat.push(partOperators[0][i], partMetres[0][i]);
    }
    return pair;
  };
  /** Allocation-free largest remainder of one flat part (kind 2; the rule of largestRemainderSplit). */
  const splitFlat = (totals: Float64Array | number[], amount: number, at: number, exitOp: number): void => {
    const n = flat[at];
    const total = flat[at + 1];
    if (amount > Number.MAX_SAFE_INTEGER / total) {
      const ops: number[] = [];
      const metres: number[] = [];
      for (let i = 0; i < n; i++) {
        ops.push(flat[at + 2 + 2 * i]);
        metres.push(flat[at + 3 + 2 * i]);
      }
      const parts = largestRemainderSplit(
        amount,
        metres,
        ops.map((op) => (op === exitOp ? -1 : op)),
      );
      for (let i = 0; i < n; i++) totals[ops[i]] += parts[i];
      return;
    }
    let given = 0;
    for (let i = 0; i < n; i++) {
      const product = amount * flat[at + 3 + 2 * i];
      let q = Math.floor(product / total);
      let r = product - q * total;
      if (r < 0) {
        q -= 1;
        r += total;
      } else if (r >= total) {
        q += 1;
        r -= total;
      }
      totals[flat[at + 2 + 2 * i]] += q;
      remainders[i] = r;
      given += q;
    }
    for (let left = amount - given; left > 0; left--) {
      let best = -1;
      for (let i = 0; i < n; i++) {
        const r = remainders[i];
        if (r < 0) continue;
        if (best < 0 || r > remainders[best]) best = i;
        else if (r === remainders[best]) {
          const opBest = flat[at + 2 + 2 * best];
          const op = flat[at + 2 + 2 * i];
          if (opBest !== exitOp && (op === exitOp || op < opBest)) best = i;
        }
      }
      totals[flat[at + 2 + 2 * best]] += 1;
      remainders[best] = -1;
    }
  };
  const partRank = (pair: PairSplit): number[] => pair.partWeights.map((_, i) => (i === pair.exitPart ? -1 : i));
  const opRank = (pair: PairSplit, ops: readonly number[]): number[] => ops.map((op) => (op === pair.exitOperator ? -1 : op));
  // The hot path (10 million trips a day): largestRemainderSplit's rule without its allocations,
  // on a scratch array; the exact cases it hands back to largestRemainderSplit are rare.
  const remainders = new Float64Array(payees.operators.length + 1);
  const splitPart = (totals: Float64Array | number[], amount: number, pair: PairSplit, p: number): void => {
    const ops = pair.partOperators[p];
    const metres = pair.partMetres[p];
    const total = pair.partTotals[p];
    const n = ops.length;
    if (total === 0 || amount > Number.MAX_SAFE_INTEGER / total) {
      const parts = largestRemainderSplit(amount, metres, opRank(pair, ops));
      for (let i = 0; i < n; i++) totals[ops[i]] += parts[i];
      return;
    }
    let given = 0;
    for (let i = 0; i < n; i++) {
      const product = amount * metres[i];
      let q = Math.floor(product / total);
      let r = product - q * total;
      if (r < 0) {
        q -= 1;
        r += total;
      } else if (r >= total) {
        q += 1;
        r -= total;
      }
      totals[ops[i]] += q;
      remainders[i] = r;
      given += q;
    }
    const exitOp = pair.exitOperator;
    for (let left = amount - given; left > 0; left--) {
      let best = -1;
      for (let i = 0; i < n; i++) {
        const r = remainders[i];
        if (r < 0) continue;
        if (best < 0 || r > remainders[best] || (r === remainders[best] && ops[best] !== exitOp && (ops[i] === exitOp || ops[i] < ops[best]))) best = i;
      }
      totals[ops[best]] += 1;
      remainders[best] = -1;
    }
  };
  const addTrip = (totals: Float64Array | number[], entryCode: number, exitCode: number, chargedFen: number, overtimeFen: number): void => {
    if (!Number.isSafeInteger(chargedFen) || chargedFen < 0) throw new RangeError(`charged amount must be integer fen >= 0, got ${chargedFen}`);
    if (!Number.isSafeInteger(overtimeFen) || overtimeFen < 0 || overtimeFen > chargedFen)
      throw new RangeError(`overtime must be integer fen from 0 to the charged amount, got ${overtimeFen}`);
    let k = entryCode * side + exitCode;
    // Not built yet, or not a pair of station codes (pairOf then throws UnknownStationError).
    if (!(pairKind[k] > 0) || exitCode >= side || entryCode < 1 || exitCode < 1) {
      pairOf(entryCode, exitCode);
      k = entryCode * side + exitCode;
    }
    const kind = pairKind[k];
    totals[pairExit[k]] += overtimeFen;
    const journey = chargedFen - overtimeFen;
    if (journey === 0) return;
    if (kind === 1) {
      totals[pairData[k]] += journey;
      return;
    }
    if (kind === 2) {
      splitFlat(totals, journey, pairData[k], pairExit[k]);
      return;
    }
    const pair = pairs[k]!;
    if (pair.partWeights.length === 1) {
      if (pair.partOperators[0].length === 1) totals[pair.partOperators[0][0]] += journey;
      else splitPart(totals, journey, pair, 0);
      return;
    }
    const partAmounts = largestRemainderSplit(journey, pair.partWeights, partRank(pair));
    for (let p = 0; p < partAmounts.length; p++) {
      const ops = pair.partOperators[p];
      if (ops.length === 1) totals[ops[0]] += partAmounts[p];
      else splitPart(totals, partAmounts[p], pair, p);
    }
  };
  return {
    payees,
    model,
    addTrip,
    splitTrip(entryCode, exitCode, chargedFen, overtimeFen) {
      const totals = new Array<number>(payees.operators.length).fill(0);
      addTrip(totals, entryCode, exitCode, chargedFen, overtimeFen);
      const parts: RevenuePart[] = [];
      totals.forEach((amountFen, i) => {
        if (amountFen !== 0) parts.push({ operatorId: payees.operators[i].id, amountFen });
      });
      if (parts.length === 0) parts.push({ operatorId: payees.operators[pairOf(entryCode, exitCode).exitOperator].id, amountFen: 0 });
      return parts;
    },
  };
}

/** The company of a bus line: its table entry, else the default bus company. */
export function busOperatorId(tables: FareTables, lineId: number): string {
  const table = revenueSplitTableOf(tables.spec);
  return table.busLines.find((e) => e.lineId === lineId)?.operatorId ?? table.defaults.busOperatorId;
}

/** The operator of a P+R lot: its table entry, else the default P+R operator. */
export function parkAndRideOperatorId(tables: FareTables, lotId: number): string {
  const table = revenueSplitTableOf(tables.spec);
  return table.parkAndRideLots.find((e) => e.lotId === lotId)?.operatorId ?? table.defaults.parkAndRideOperatorId;
}

/** The suburban rail's operator. */
export function suburbanOperatorId(tables: FareTables): string {
  return revenueSplitTableOf(tables.spec).defaults.suburbanOperatorId;
}

/**
 * A park-pass sale split equally among the parks the pass covers [P] (largest remainder, the
 * extra fen to the lowest park ids): how the parks share a pass is not published [U].
 */
export function splitParkPassSale(tables: FareTables, amountFen: number): RevenuePart[] {
  const parks = tables.spec.parks.filter((p) => p.coveredByPass).sort((a, b) => a.parkId - b.parkId);
  if (parks.length === 0) throw new RangeError('no park is covered by the pass');
  const parts = largestRemainderSplit(
    amountFen,
    parks.map(() => 1),
    parks.map((p) => p.parkId),
  );
  return parks.map((p, i) => ({ operatorId: parkOperatorId(p.parkId), amountFen: parts[i] }));
}
