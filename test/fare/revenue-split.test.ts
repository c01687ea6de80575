/**
 * The revenue split between operators (清分, DOMAIN.md section 8; core/src/fare/revenue-split.ts):
 * the 2026 line → operator table covers the real network and a table missing a line is refused;
 * a subway trip's charge is split by the fare path's kilometres (parts by their own fares),
 * largest remainder with ties to the exit line's operator then operator id; overtime to the exit
 * line's operator; flat lines whole to their operator; 亦庄T1线 splits like the rest; the parts
 * always sum exactly to the amount and none is negative (fast-check, against an exact BigInt
 * reference written from the rule).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildFareTables,
  busOperatorId,
  defaultFareTablesSpec,
  encodeFareTablesJson,
  type FarePath,
  type FareTables,
  type FareTablesSpec,
  FareTablesFormatError,
  largestRemainderSplit,
  LineWithoutOperatorError,
  parkAndRideOperatorId,
  parseFareTablesJson,
  quoteSubwayFare,
  REVENUE_SPLIT_2026,
  type RevenueSplitTable,
  splitParkPassSale,
  stationCode,
  subwayRevenueSplitter,
  subwayRevenueSplitterOf,
  suburbanOperatorId,
} from '#core';
import { SUBWAY_CSV } from './subway-data.ts';

const tables = buildFareTables(defaultFareTablesSpec(SUBWAY_CSV, 2, 0));
const splitter = subwayRevenueSplitterOf(tables);
const code = (name: string): number => stationCode(tables.subway, name);

function split(from: string, to: string, chargedFen: number, overtimeFen = 0): Record<string, number> {
  return Object.fromEntries(splitter.splitTrip(code(from), code(to), chargedFen, overtimeFen).map((p) => [p.operatorId, p.amountFen]));
}

/** Exact reference, written from the rule with BigInt rationals (no shared code with the splitter). */
function referenceLargestRemainder(amount: bigint, weights: bigint[], rank: number[]): bigint[] {
  const total = weights.reduce((a, b) => a + b, 0n);
  if (total === 0n) {
    const first = rank.indexOf(Math.min(...rank));
    return weights.map((_, i) => (i === first ? amount : 0n));
  }
  const floors = weights.map((w) => (amount * w) / total);
  const rests = weights.map((w, i) => amount * w - floors[i] * total);
  let left = amount - floors.reduce((a, b) => a + b, 0n);
  const order = weights.map((_, i) => i).sort((a, b) => (rests[b] > rests[a] ? 1 : rests[b] < rests[a] ? -1 : rank[a] - rank[b]));
  for (const i of order) {
    if (left === 0n) break;
    floors[i] += 1n;
    left -= 1n;
  }
  return floors;
}

function referenceSplit(path: FarePath, operatorOf: (line: string) => string, charged: number, overtime: number): Map<string, bigint> {
  const out = new Map<string, bigint>();
  const add = (op: string, v: bigint): void => {
    out.set(op, (out.get(op) ?? 0n) + v);
  };
  const exitOp = operatorOf(path.exitLine);
  add(exitOp, BigInt(overtime));
  const journey = BigInt(charged - overtime);
  const exitPart = path.parts.length - 1;
  const partAmounts = referenceLargestRemainder(
    journey,
    path.parts.map((p) => BigInt(p.fareWeight)),
    path.parts.map((_, i) => (i === exitPart ? -1 : i)),
  );
  path.parts.forEach((part, p) => {
    const metres = new Map<string, bigint>();
    for (const leg of part.legs) metres.set(operatorOf(leg.line), (metres.get(operatorOf(leg.line)) ?? 0n) + BigInt(leg.distanceM));
    const ops = [...metres.keys()].sort();
    const parts = referenceLargestRemainder(
      partAmounts[p],
      ops.map((op) => metres.get(op)!),
      ops.map((op, i) => (op === exitOp ? -1 : i)),
    );
    ops.forEach((op, i) => {
      add(op, parts[i]);
    });
  });
  return out;
}

const operatorOfLine = (table: RevenueSplitTable) => (line: string) => table.subwayLines.find((e) => e.line === line)!.operatorId;

describe('the 2026 line → operator table', () => {
  it('gives every line of the real network one operator, as Beijing Daily 2025-08-18 counts them', () => {
    const lines = tables.subway.lines;
    expect(lines).toHaveLength(28);
    const byOperator = new Map<string, string[]>();
    for (const line of lines) {
      const op = operatorOfLine(REVENUE_SPLIT_2026)(line);
      byOperator.set(op, [...(byOperator.get(op) ?? []), line]);
    }
    expect(byOperator.get('bj-subway')).toHaveLength(19);
    expect(byOperator.get('bj-mtr')?.sort()).toEqual(['14号线', '16号线', '17号线', '4号线']);
    expect(byOperator.get('bii-rail')?.sort()).toEqual(['19号线', '大兴机场线', '燕房线'].sort());
    expect(byOperator.get('bj-public-transport')?.sort()).toEqual(['亦庄T1线', '西郊线'].sort());
    // What the sources leave open is said in the data.
    expect(REVENUE_SPLIT_2026.subwayLines.find((e) => e.line === '首都机场线')?.source).toContain('UNCONFIRMED');
    expect(REVENUE_SPLIT_2026.operators.filter((o) => o.placeholder).map((o) => o.id)).toEqual(['pr-operator-unknown', 'suburban-operator-unknown']);
  });

  it('travels in the bundle: a bundle with its own table round-trips; one without is split by the default', () => {
    const spec: FareTablesSpec = { ...defaultFareTablesSpec(SUBWAY_CSV, 3, 0), revenueSplit: structuredClone(REVENUE_SPLIT_2026) };
    spec.revenueSplit!.subwayLines.find((e) => e.line === '18号线')!.operatorId = 'bii-rail';
    const parsed = parseFareTablesJson(encodeFareTablesJson(spec));
    expect(parsed.spec.revenueSplit?.subwayLines.find((e) => e.line === '18号线')?.operatorId).toBe('bii-rail');
    const on18 = subwayRevenueSplitterOf(parsed).splitTrip(stationCode(parsed.subway, '马连洼'), stationCode(parsed.subway, '天通苑东'), 500, 0);
    expect(on18).toEqual([{ operatorId: 'bii-rail', amountFen: 500 }]);
    expect(parseFareTablesJson(encodeFareTablesJson(defaultFareTablesSpec(SUBWAY_CSV, 4, 0))).spec.revenueSplit).toBeUndefined();
  });

  it('refuses a table that misses a line of the network, naming the line', () => {
    const spec: FareTablesSpec = { ...defaultFareTablesSpec(SUBWAY_CSV, 3, 0), revenueSplit: structuredClone(REVENUE_SPLIT_2026) };
    spec.revenueSplit!.subwayLines = spec.revenueSplit!.subwayLines.filter((e) => e.line !== '亦庄T1线' && e.line !== '11号线');
    let thrown: unknown;
    try {
      parseFareTablesJson(encodeFareTablesJson(spec));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(FareTablesFormatError);
    expect((thrown as Error).message).toContain('gives no operator for lines 11号线, 亦庄T1线');
    expect((thrown as Error).cause).toBeInstanceOf(LineWithoutOperatorError);
    expect(((thrown as Error).cause as LineWithoutOperatorError).lines).toEqual(['11号线', '亦庄T1线']);
  });

  it.each<[string, (t: RevenueSplitTable) => void, string]>([
    ['an unknown operator', (t) => (t.subwayLines[0].operatorId = 'nobody'), 'unknown operator "nobody"'],
    ['a line listed twice', (t) => t.subwayLines.push({ line: '1号线', operatorId: 'bj-mtr', source: 'x' }), 'line 1号线 has two operators'],
    ['an operator id twice', (t) => t.operators.push({ ...t.operators[0] }), 'appears twice'],
    ['a bad operator id', (t) => (t.operators[0].id = 'Bj Subway'), 'must be lower-case'],
    ['a park id taken', (t) => (t.operators[0].id = 'park-1'), 'parks’ own'.replace('’', "'")],
    ['a bus default unknown', (t) => (t.defaults.busOperatorId = 'x'), 'defaults.busOperatorId'],
  ])('refuses %s', (_, change, message) => {
    const spec: FareTablesSpec = { ...defaultFareTablesSpec(SUBWAY_CSV, 3, 0), revenueSplit: structuredClone(REVENUE_SPLIT_2026) };
    change(spec.revenueSplit!);
    expect(() => parseFareTablesJson(encodeFareTablesJson(spec))).toThrow(message);
  });

  it('refuses a table of the wrong shape before building', () => {
    const json = JSON.parse(encodeFareTablesJson(defaultFareTablesSpec(SUBWAY_CSV, 3, 0)));
    json.revenueSplit = { operators: 'none' };
    expect(() => parseFareTablesJson(JSON.stringify(json))).toThrow(/revenueSplit.operators: must be an array/);
  });
});

describe('splitting a subway trip', () => {
  it('splits by kilometres on the fare path: 国贸 → 西直门 over lines 1, 5, 6 (北京地铁) and 4 (京港)', () => {
    const path = splitter.model.pathOf(code('国贸'), code('西直门'));
    expect(path.exitLine).toBe('4号线');
    const legs = path.parts.flatMap((p) => p.legs);
    expect(legs.reduce((s, l) => s + l.distanceM, 0)).toBe(quoteSubwayFare(tables.subway, '国贸', '西直门').distanceM);
    const mtrM = legs.filter((l) => l.line === '4号线').reduce((s, l) => s + l.distanceM, 0);
    const totalM = legs.reduce((s, l) => s + l.distanceM, 0);
    // 400 × mtrM / totalM rounded by largest remainder, the rest to 北京地铁.
    const mtrExact = (400 * mtrM) / totalM;
    const mtr = mtrExact - Math.floor(mtrExact) > 0.5 ? Math.ceil(mtrExact) : Math.floor(mtrExact);
    expect(split('国贸', '西直门', 400)).toEqual({ 'bj-mtr': mtr, 'bj-subway': 400 - mtr });
  });

  it('gives the overtime fare to the exit line’s operator', () => {
    const plain = split('国贸', '西直门', 400);
    expect(split('国贸', '西直门', 700, 300)).toEqual({ 'bj-mtr': plain['bj-mtr'] + 300, 'bj-subway': plain['bj-subway'] });
    // The other way the exit line is 1号线 (北京地铁).
    const back = split('西直门', '国贸', 400);
    expect(split('西直门', '国贸', 700, 300)).toEqual({ 'bj-mtr': back['bj-mtr'], 'bj-subway': back['bj-subway'] + 300 });
  });

  it('gives a trip only on a flat-priced line whole to its operator', () => {
    expect(split('2号航站楼', '3号航站楼', 2500)).toEqual({ 'bj-subway': 2500 });
    expect(split('香山', '巴沟', 400)).toEqual({ 'bj-public-transport': 400 });
    expect(split('大兴机场', '大兴新城', 1000)).toEqual({ 'bii-rail': 1000 });
  });

  it('splits a trip from an airport line onto the network by the parts’ own fares, then by km', () => {
    // 大兴机场 → 宋家庄: 35 yuan on 大兴机场线 (京投) + 4 yuan on 10号线 (北京地铁).
    expect(split('大兴机场', '宋家庄', 3900)).toEqual({ 'bii-rail': 3500, 'bj-subway': 400 });
    // Discounted (the card paid 50%): the same proportions.
    expect(split('大兴机场', '宋家庄', 1950)).toEqual({ 'bii-rail': 1750, 'bj-subway': 200 });
  });

  it('splits 亦庄T1线 like any line: 屈庄 (T1) → 万源街 (亦庄线)', () => {
    const path = splitter.model.pathOf(code('屈庄'), code('万源街'));
    expect(path.parts.flatMap((p) => p.legs.map((l) => l.line))).toEqual(['亦庄T1线', '亦庄线']);
    const parts = split('屈庄', '万源街', 400);
    expect(parts['bj-public-transport'] + parts['bj-subway']).toBe(400);
    expect(parts['bj-public-transport']).toBeGreaterThan(parts['bj-subway']);
  });

  it('gives a same-station trip (outside the free window) to its station’s line and a 0 charge to no one', () => {
    expect(split('西单', '西单', 300)).toEqual({ 'bj-subway': 300 });
    expect(split('国贸', '西直门', 0)).toEqual({ 'bj-mtr': 0 });
  });

  it('refuses an overtime larger than the charge, a negative or fractional amount, an unknown station', () => {
    expect(() => splitter.splitTrip(code('国贸'), code('西直门'), 300, 400)).toThrow(RangeError);
    expect(() => splitter.splitTrip(code('国贸'), code('西直门'), -1, 0)).toThrow(RangeError);
    expect(() => splitter.splitTrip(code('国贸'), code('西直门'), 1.5, 0)).toThrow(RangeError);
    expect(() => splitter.splitTrip(0, code('西直门'), 300, 0)).toThrow(/unknown station/);
    expect(() => splitter.splitTrip(code('国贸'), tables.subway.side, 300, 0)).toThrow(/unknown station/);
    expect(() => splitter.splitTrip(1.5, code('西直门'), 300, 0)).toThrow(/unknown station/);
  });
});

describe('ties', () => {
  // A made-up network: P -A- Q -B- R -C- S, 1000 m each; A, B, C run by x, y, z.
  const csv = 'line,from_station,to_station,distance_m\nA,P,Q,1000\nB,Q,R,1000\nC,R,S,1000\n';
  const base = defaultFareTablesSpec(csv, 2, 0);
  base.subwayPolicy.special = [];
  base.subwayPolicy.earlyEntry.enabled = false;
  const table: RevenueSplitTable = {
    operators: ['x', 'y', 'z'].map((id) => ({ id, name: id, kind: 'rail' as const, placeholder: false, source: 'test' })),
    subwayLines: [
      { line: 'A', operatorId: 'x', source: 'test' },
      { line: 'B', operatorId: 'y', source: 'test' },
      { line: 'C', operatorId: 'z', source: 'test' },
    ],
    busLines: [],
    parkAndRideLots: [],
    defaults: { busOperatorId: 'x', parkAndRideOperatorId: 'x', suburbanOperatorId: 'x' },
  };
  const small = buildFareTables({ ...base, revenueSplit: table });
  const s = subwayRevenueSplitterOf(small);
  const trip = (from: string, to: string, fen: number) =>
    Object.fromEntries(s.splitTrip(stationCode(small.subway, from), stationCode(small.subway, to), fen, 0).map((p) => [p.operatorId, p.amountFen]));

  it('gives an equal remainder to the exit line’s operator first', () => {
    expect(trip('P', 'R', 3)).toEqual({ x: 1, y: 2 });
    expect(trip('R', 'P', 3)).toEqual({ x: 2, y: 1 });
    expect(trip('P', 'R', 1)).toEqual({ y: 1 });
  });

  it('then by operator id', () => {
    // Three equal shares of 4 fen: 1 each, then the exit's (z), then the lowest id (x).
    expect(trip('P', 'S', 5)).toEqual({ x: 2, y: 1, z: 2 });
    expect(trip('S', 'P', 5)).toEqual({ x: 2, y: 2, z: 1 });
    expect(trip('Q', 'S', 1)).toEqual({ z: 1 });
  });

  it('takes any path model: a two-path model replaces the shortest path', () => {
    const twoPaths = {
      name: 'two-paths',
      pathOf: (): FarePath => ({
        parts: [
          { fareWeight: 1, legs: [{ line: 'A', distanceM: 1000 }] },
          { fareWeight: 3, legs: [{ line: 'C', distanceM: 500 }] },
        ],
        exitLine: 'C',
      }),
    };
    const custom = subwayRevenueSplitter(small, twoPaths);
    expect(custom.splitTrip(stationCode(small.subway, 'P'), stationCode(small.subway, 'Q'), 400, 100)).toEqual([
      { operatorId: 'x', amountFen: 75 },
      { operatorId: 'z', amountFen: 325 },
    ]);
  });
});

describe('other services', () => {
  it('bus to the line’s company (default 北京公交集团), P+R to the lot’s operator, suburban to its operator', () => {
    expect(busOperatorId(tables, 1)).toBe('bj-public-transport');
    expect(parkAndRideOperatorId(tables, 4)).toBe('pr-operator-unknown');
    expect(suburbanOperatorId(tables)).toBe('suburban-operator-unknown');
    const table = structuredClone(REVENUE_SPLIT_2026);
    table.operators.push({ id: 'bus-co-2', name: 'other bus co', kind: 'bus', placeholder: false, source: 'test' });
    table.busLines.push({ lineId: 1, operatorId: 'bus-co-2' });
    table.parkAndRideLots.push({ lotId: 4, operatorId: 'bj-subway' });
    const withTable: FareTables = buildFareTables({ ...defaultFareTablesSpec(SUBWAY_CSV, 2, 0), revenueSplit: table });
    expect(busOperatorId(withTable, 1)).toBe('bus-co-2');
    expect(busOperatorId(withTable, 2)).toBe('bj-public-transport');
    expect(parkAndRideOperatorId(withTable, 4)).toBe('bj-subway');
  });

  it('splits a park-pass sale equally among the 11 parks of the pass, the extra fen to the lowest ids', () => {
    const parts = splitParkPassSale(tables, 10_000);
    expect(parts).toHaveLength(11);
    expect(parts.reduce((s, p) => s + p.amountFen, 0)).toBe(10_000);
    expect(parts[0]).toEqual({ operatorId: 'park-1', amountFen: 910 });
    expect(parts.slice(1).every((p) => p.amountFen === 909)).toBe(true);
  });
});

describe('properties', () => {
  it('largestRemainderSplit: parts are >= 0, each within a fen of its exact share, and sum exactly', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.array(fc.integer({ min: 0, max: 1_000_000 }), { minLength: 1, maxLength: 10 }),
        (amount, weights) => {
          const rank = weights.map((_, i) => i);
          const parts = largestRemainderSplit(amount, weights, rank);
          expect(parts.reduce((a, b) => a + b, 0)).toBe(amount);
          const total = weights.reduce((a, b) => a + b, 0);
          parts.forEach((p, i) => {
            expect(p).toBeGreaterThanOrEqual(0);
            if (total > 0) expect(Math.abs(p * total - amount * weights[i])).toBeLessThan(total);
          });
          expect(parts.map(BigInt)).toEqual(
            referenceLargestRemainder(
              BigInt(amount),
              weights.map((w) => BigInt(w)),
              rank,
            ),
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it('the split of any charged amount over any path of the real network sums to it exactly, no part negative, as the exact reference says', () => {
    const n = tables.subway.stationCount;
    const operatorOf = operatorOfLine(REVENUE_SPLIT_2026);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: n }),
        fc.integer({ min: 1, max: n }),
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.integer({ min: 0, max: 10_000_000 }),
        (a, b, charged, over) => {
          const overtime = Math.min(over, charged);
          const parts = splitter.splitTrip(a, b, charged, overtime);
          expect(parts.reduce((sum, p) => sum + p.amountFen, 0)).toBe(charged);
          for (const p of parts) expect(p.amountFen).toBeGreaterThanOrEqual(0);
          const reference = referenceSplit(splitter.model.pathOf(a, b), operatorOf, charged, overtime);
          for (const p of parts) expect(BigInt(p.amountFen)).toBe(reference.get(p.operatorId) ?? 0n);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('every path the model gives has the quoted distance and ends on the exit line', () => {
    const n = tables.subway.stationCount;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: n }), fc.integer({ min: 1, max: n }), (a, b) => {
        const path = splitter.model.pathOf(a, b);
        const metres = path.parts.flatMap((p) => p.legs).reduce((s, l) => s + l.distanceM, 0);
        expect(metres).toBe(tables.subway.distanceM[a * tables.subway.side + b]);
        expect(path.parts.reduce((s, p) => s + p.fareWeight, 0)).toBe(tables.subway.fareFen[a * tables.subway.side + b]);
        const last = path.parts[path.parts.length - 1];
        expect(last.legs[last.legs.length - 1].line).toBe(path.exitLine);
      }),
      { numRuns: 300 },
    );
  });
});
