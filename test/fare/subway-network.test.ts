import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BEIJING_MAIN_BANDS,
  DEFAULT_SUBWAY_FARE_POLICY,
  distanceBandFareFen,
  parseSubwayNetwork,
  quoteSubwayFare,
  quoteSubwayFareByCode,
  stationCode,
  stationName,
  SubwayNetworkFormatError,
  UnknownStationError,
} from '#core';
import { SUBWAY_CSV } from './subway-data.ts';

const network = parseSubwayNetwork(SUBWAY_CSV);

describe('subway network', () => {
  it('has the 425 stations of SOURCE.md, 416 on the main network', () => {
    expect(network.stationCount).toBe(425);
    expect(network.onMainNetwork.reduce((a, b) => a + b, 0)).toBe(416);
  });

  it('codes are deterministic: first appearance order, 1-based', () => {
    expect(stationCode(network, '苹果园')).toBe(1);
    expect(stationCode(network, '古城')).toBe(2);
    expect(stationName(network, 3)).toBe('八宝山');
    const again = parseSubwayNetwork(SUBWAY_CSV);
    expect(again.stationNames).toEqual(network.stationNames);
  });

  // SOURCE.md non-official cross-check table: exact distance and fare.
  it.each([
    ['天安门西', '东单', 2551, 300],
    ['雍和宫', '惠新西街南口', 3236, 300],
    ['前门', '大红门南', 7030, 400],
    ['昌平东关', '沙河', 10963, 400],
    ['平安里', '新宫', 13884, 500],
    ['北京西站', '大郊亭', 14696, 500],
    ['古城', '四惠', 26126, 600],
    ['花园桥', '潞城', 39708, 700],
  ])('%s → %s: %i m, %i fen', (from, to, distanceM, fareFen) => {
    expect(quoteSubwayFare(network, from, to)).toEqual({ distanceM, fareFen });
    expect(quoteSubwayFare(network, to, from)).toEqual({ distanceM, fareFen });
  });

  it('uses the loop closures (积水潭→西直门 1899 m, 首经贸→丰台站 1717 m)', () => {
    expect(quoteSubwayFare(network, '积水潭', '西直门').distanceM).toBe(1899);
    expect(quoteSubwayFare(network, '首经贸', '丰台站').distanceM).toBe(1717);
  });

  it('routes across a transfer (same name on two lines is one node)', () => {
    // 天安门西 (1号线) → 复兴门 (1/2) → 阜成门 (2号线): the only sensible path transfers at 复兴门.
    const a = quoteSubwayFare(network, '天安门西', '复兴门').distanceM;
    const b = quoteSubwayFare(network, '复兴门', '阜成门').distanceM;
    expect(quoteSubwayFare(network, '天安门西', '阜成门').distanceM).toBe(a + b);
  });

  it('keeps suffixed names as distinct stations', () => {
    const a = stationCode(network, '木樨地(1号线)');
    const b = stationCode(network, '木樨地(16号线)');
    expect(a).not.toBe(b);
    expect(quoteSubwayFareByCode(network, a, b).distanceM).toBeGreaterThan(0);
    expect(() => stationCode(network, '木樨地')).toThrow(UnknownStationError);
    expect(stationCode(network, '大钟寺(12号线)')).not.toBe(stationCode(network, '大钟寺(13号线)'));
  });

  it('includes 亦庄T1线 in the main network', () => {
    expect(network.onMainNetwork[stationCode(network, '定海园')]).toBe(1);
  });

  it('names the unknown station in the error', () => {
    expect(() => quoteSubwayFare(network, '天安门西', '霍格沃茨')).toThrow(/霍格沃茨/);
    expect(() => quoteSubwayFare(network, '霍格沃茨', '东单')).toThrow(UnknownStationError);
    expect(() => quoteSubwayFareByCode(network, 0, 1)).toThrow(UnknownStationError);
    expect(() => quoteSubwayFareByCode(network, 1, 426)).toThrow(UnknownStationError);
  });

  it('prices the special lines by their own rules', () => {
    expect(quoteSubwayFare(network, '3号航站楼', '东直门').fareFen).toBe(2_500);
    expect(quoteSubwayFare(network, '2号航站楼', '3号航站楼').fareFen).toBe(2_500);
    expect(quoteSubwayFare(network, '大兴新城', '草桥')).toEqual({ distanceM: 13_028, fareFen: 1_000 });
    expect(quoteSubwayFare(network, '大兴机场', '大兴新城')).toEqual({ distanceM: 25_303, fareFen: 2_500 });
    expect(quoteSubwayFare(network, '大兴机场', '草桥')).toEqual({ distanceM: 38_331, fareFen: 3_500 });
    expect(quoteSubwayFare(network, '香山', '巴沟')).toEqual({ distanceM: 8_693, fareFen: 400 });
    expect(quoteSubwayFare(network, '香山', '万安')).toEqual({ distanceM: 2_716, fareFen: 300 });
  });

  it('special-only to main station: special fare to the transfer plus main fare onwards', () => {
    const main = quoteSubwayFare(network, '草桥', '东单');
    expect(quoteSubwayFare(network, '大兴机场', '东单')).toEqual({ distanceM: 38_331 + main.distanceM, fareFen: 3_500 + main.fareFen });
    const viaBagou = quoteSubwayFare(network, '巴沟', '西直门');
    expect(quoteSubwayFare(network, '香山', '西直门')).toEqual({ distanceM: 8_693 + viaBagou.distanceM, fareFen: 400 + viaBagou.fareFen });
    // Two main-network stations are quoted on the main network even if both are on the airport line.
    expect(quoteSubwayFare(network, '三元桥', '东直门').fareFen).toBe(300);
  });

  it('same station: distance 0, minimum fare of its line', () => {
    expect(quoteSubwayFare(network, '东单', '东单')).toEqual({ distanceM: 0, fareFen: 300 });
    expect(quoteSubwayFare(network, '3号航站楼', '3号航站楼')).toEqual({ distanceM: 0, fareFen: 2_500 });
    expect(quoteSubwayFare(network, '大兴新城', '大兴新城')).toEqual({ distanceM: 0, fareFen: 1_000 });
    expect(quoteSubwayFare(network, '香山', '香山')).toEqual({ distanceM: 0, fareFen: 300 });
  });

  it('is symmetric, never negative, and the main distance obeys the triangle inequality', () => {
    const n = network.stationCount;
    const main: number[] = [];
    for (let c = 1; c <= n; c++) if (network.onMainNetwork[c]) main.push(c);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: n }), fc.integer({ min: 1, max: n }), (a, b) => {
        const ab = quoteSubwayFareByCode(network, a, b);
        const ba = quoteSubwayFareByCode(network, b, a);
        expect(ab).toEqual(ba);
        expect(ab.fareFen).toBeGreaterThanOrEqual(0);
        expect(ab.distanceM).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: 2_000 },
    );
    const pick = fc.constantFrom(...main);
    fc.assert(
      fc.property(pick, pick, pick, (a, b, c) => {
        const d = (x: number, y: number) => quoteSubwayFareByCode(network, x, y).distanceM;
        expect(d(a, c)).toBeLessThanOrEqual(d(a, b) + d(b, c));
      }),
      { numRuns: 3_000 },
    );
  });

  it('fare is monotone in distance on the main network', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200_000 }), fc.integer({ min: 0, max: 200_000 }), (x, y) => {
        const [lo, hi] = x <= y ? [x, y] : [y, x];
        expect(distanceBandFareFen(BEIJING_MAIN_BANDS, lo)).toBeLessThanOrEqual(distanceBandFareFen(BEIJING_MAIN_BANDS, hi));
      }),
    );
  });

  it('settlement maximum is the largest fare of the row', () => {
    const c = stationCode(network, '东单');
    let max = 0;
    for (let b = 1; b <= network.stationCount; b++) max = Math.max(max, quoteSubwayFareByCode(network, c, b).fareFen);
    expect(network.maxFareFromFen[c]).toBe(max);
  });

  it('rejects malformed CSV', () => {
    expect(() => parseSubwayNetwork('a,b,c\n')).toThrow(SubwayNetworkFormatError);
    expect(() => parseSubwayNetwork('line,from_station,to_station,distance_m\nX,a,b,-3\n')).toThrow(SubwayNetworkFormatError);
    expect(() => parseSubwayNetwork('line,from_station,to_station,distance_m\n')).toThrow(SubwayNetworkFormatError);
  });

  it('refuses a policy whose early-entry station is not in the network', () => {
    const policy = structuredClone(DEFAULT_SUBWAY_FARE_POLICY);
    policy.earlyEntry.stations.push('不存在站');
    expect(() => parseSubwayNetwork(SUBWAY_CSV, policy)).toThrow(/不存在站/);
  });
});

describe('distance bands', () => {
  it.each([
    [0, 300],
    [6_000, 300],
    [6_001, 400],
    [12_000, 400],
    [12_001, 500],
    [22_000, 500],
    [22_001, 600],
    [32_000, 600],
    [32_001, 700],
    [52_000, 700],
    [52_001, 800],
    [92_001, 1_000],
  ])('%i m → %i fen', (m, f) => {
    expect(distanceBandFareFen(BEIJING_MAIN_BANDS, m)).toBe(f);
  });

  it('the 100 m grace is off by default and works when switched on', () => {
    expect(distanceBandFareFen(BEIJING_MAIN_BANDS, 6_099)).toBe(400);
    const withGrace = { ...BEIJING_MAIN_BANDS, graceM: 100 };
    expect(distanceBandFareFen(withGrace, 6_099)).toBe(300);
    expect(distanceBandFareFen(withGrace, 6_101)).toBe(400);
  });
});
