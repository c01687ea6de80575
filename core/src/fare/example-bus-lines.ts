/**
 * EXAMPLE DATA, MADE UP by this project. No public dataset of Beijing bus stop distances
 * exists (data/SOURCE.md, gap 8): these line numbers, stop names and distances are invented
 * for tests and the demo and describe no real bus line.
 */
import type { BusLine } from './bus-fare.ts';

export const EXAMPLE_BUS_LINES: BusLine[] = [
  {
    lineId: 1,
    name: '示例1路 (example, made up: flat fare)',
    kind: 'flat',
    flatFareFen: 200,
    stops: ['示例东站', '示例中街', '示例西站'],
    stopPositionsM: [0, 1_500, 3_200],
  },
  {
    lineId: 801,
    name: '示例801路 (example, made up: segmented)',
    kind: 'segmented',
    flatFareFen: 0,
    stops: ['甲村', '乙庄', '丙桥', '丁路口', '戊园', '己镇', '庚站', '辛营'],
    // 0 .. 27.4 km: covers the 10 km first segment and several started 5 km steps.
    stopPositionsM: [0, 3_100, 7_900, 10_000, 12_600, 17_400, 22_050, 27_400],
  },
  {
    lineId: 902,
    name: '示例902路 (example, made up: segmented, long)',
    kind: 'segmented',
    flatFareFen: 0,
    stops: ['北郊', '果园村', '新城北', '新城南', '开发区', '南郊'],
    stopPositionsM: [0, 8_000, 15_000, 20_001, 31_500, 42_000],
  },
  {
    lineId: 3,
    name: '示例3路 (example, made up: flat fare)',
    kind: 'flat',
    flatFareFen: 100,
    stops: ['环路东', '环路南', '环路西', '环路北'],
    stopPositionsM: [0, 2_000, 4_000, 6_000],
  },
];
