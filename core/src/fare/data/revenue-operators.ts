/**
 * DATA: who is paid for what (清分, DOMAIN.md section 8, ../shared/research/interop-settlement-calendars.md
 * section 2): the 2026 line → operator table, and the default payees of bus lines, P+R lots and
 * suburban rail.
 *
 * This module is the default only. The table travels inside the versioned fare-tables bundle
 * (`revenueSplit`, optional: a bundle without it is split by this default), so operators publish
 * a changed assignment (a line handed to another company, 22号线 opening) as a new fare-table
 * version with its effective date, like any fare; a bundle whose table misses a line of its
 * network is refused (revenue-split-table.ts).
 *
 * What the sources give and what they do not:
 * - Beijing Daily 2025-08-18 [S]: 京港地铁 runs 4号线 with 大兴线 (one line in the network data),
 *   14, 16 and 17; 京投轨道运营 runs 燕房线, 大兴机场线 and 19 (and 22 from its opening, not in the
 *   2026 network data); 北京公交集团 the two trams 西郊线 and 亦庄T1线; 北京地铁运营公司 "19 lines"
 *   without naming them.
 * - The 2026 network has 28 lines; the 19 not named for another operator are given to
 *   北京地铁运营公司 [I]: the count matches, but the operator of 首都机场线 is unconfirmed [U]
 *   (DOMAIN.md section 8), so that line is marked so.
 * - Bus lines: each line's company is not in the data; the default payee is 北京公交集团 (which
 *   runs most of Beijing's lines) [P]; a line run by another company is listed in `busLines`.
 * - P+R lots and suburban rail: their operators are unknown [U]; their revenue goes to a
 *   placeholder payee of each kind until a published table names the companies (`parkAndRideLots`,
 *   `defaults`).
 * - Parks: each park is its own payee (park-<parkId>), derived from the bundle's parks.
 */
import type { RevenueSplitTable } from '../revenue-split-table.ts';

const DAILY_2025 = 'Beijing Daily 2025-08-18 (https://www.yuhaojiang.com/redian/1219768.html)';
const DAILY_19 = `${DAILY_2025}: 北京地铁运营公司 runs 19 lines; the 19 lines of the 2026 network not named for another operator [I]`;

/** The 2026 default (DOMAIN.md section 8, operators of 2025 on the 2026 network). */
export const REVENUE_SPLIT_2026: RevenueSplitTable = {
  operators: [
    { id: 'bj-subway', name: '北京地铁运营公司', kind: 'rail', placeholder: false, source: DAILY_2025 },
    { id: 'bj-mtr', name: '京港地铁', kind: 'rail', placeholder: false, source: DAILY_2025 },
    { id: 'bii-rail', name: '京投轨道运营', kind: 'rail', placeholder: false, source: DAILY_2025 },
    { id: 'bj-public-transport', name: '北京公交集团', kind: 'bus', placeholder: false, source: DAILY_2025 },
    {
      id: 'pr-operator-unknown',
      name: 'P+R停车场运营方 (unknown, placeholder)',
      kind: 'park-and-ride',
      placeholder: true,
      source: 'PLACEHOLDER: the P+R lots’ operators are not published [U]; name them in parkAndRideLots',
    },
    {
      id: 'suburban-operator-unknown',
      name: '市郊铁路运营方 (unknown, placeholder)',
      kind: 'suburban',
      placeholder: true,
      source: 'PLACEHOLDER: the suburban railways’ operator is not confirmed [U] (DOMAIN.md section 8)',
    },
  ],
  subwayLines: [
    ...['1号线', '2号线', '3号线', '5号线', '6号线', '7号线', '8号线', '9号线', '10号线', '11号线', '12号线', '13号线', '15号线', '18号线'].map((line) => ({
      line,
      operatorId: 'bj-subway',
      source: DAILY_19,
    })),
    ...['亦庄线', '房山线', 'S1线', '昌平线'].map((line) => ({ line, operatorId: 'bj-subway', source: DAILY_19 })),
    {
      line: '首都机场线',
      operatorId: 'bj-subway',
      source: `UNCONFIRMED [U]: the operator of 首都机场线 is not in the sources (DOMAIN.md section 8); assigned by the count of ${DAILY_19}`,
    },
    ...['4号线', '14号线', '16号线', '17号线'].map((line) => ({ line, operatorId: 'bj-mtr', source: `${DAILY_2025} (4号线 includes 大兴线)` })),
    ...['燕房线', '大兴机场线', '19号线'].map((line) => ({ line, operatorId: 'bii-rail', source: DAILY_2025 })),
    ...['西郊线', '亦庄T1线'].map((line) => ({ line, operatorId: 'bj-public-transport', source: DAILY_2025 })),
  ],
  busLines: [],
  parkAndRideLots: [],
  defaults: {
    busOperatorId: 'bj-public-transport',
    parkAndRideOperatorId: 'pr-operator-unknown',
    suburbanOperatorId: 'suburban-operator-unknown',
  },
};
