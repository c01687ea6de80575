/**
 * The clearing report's operator-company dimension (清分; services/operator-revenue.ts) through
 * real sync uploads on SQLite: subway exits split over their fare path by the bundle the device
 * priced them with, overtime to the exit line's operator, bus / park / P+R to their payees; the
 * companies add up to the report's total; a published bundle with its own line → operator table
 * changes the split of the records priced with it; a bundle whose table misses a line is refused
 * and changes nothing. The expected figures are worked out by hand from the network's legs
 * (国贸 → 西直门: 4号线 2,125 m of 11,923 m; 400 fen → 京港 71.29 → 71, the rest 328.71 → 329).
 */
import { describe, expect, it } from 'vitest';
import { defaultFareTablesSpec, encodeFareTablesJson, type JournalRecord, REVENUE_SPLIT_2026, stationCode, buildFareTables } from '#core';
import { SUBWAY_CSV } from '../fare/subway-data.ts';
import { issueCard, loadCard, makeValidator, type MoneyHarness, moneyGatewayForEachTest, START_MS, sync, syncRequest, tap } from './money-fixtures.ts';

let h: MoneyHarness;
let counter: Record<string, string>;
moneyGatewayForEachTest((t) => ({ h, counter } = t));

const network = buildFareTables(defaultFareTablesSpec(SUBWAY_CSV, 1, 0)).subway;
const code = (name: string): number => stationCode(network, name);

type Companies = Array<{
  companyId: string;
  amountFen: number;
  placeholder: boolean;
  services: Array<{ operator: string; debits: number; amountFen: number }>;
}>;

async function clearing(
  day = '2026-03-10',
): Promise<{ totals: { amountFen: number; debits: number }; companies: Companies; split: { exitsWithoutEntry: number } }> {
  const res = await h.app.inject({ method: 'GET', url: `/v1/reports/clearing?day=${day}`, headers: h.admin });
  expect(res.statusCode).toBe(200);
  return res.json();
}

const amounts = (companies: Companies): Record<string, number> => Object.fromEntries(companies.map((c) => [c.companyId, c.amountFen]));

function exit(r: JournalRecord, from: string, to: string, overtimeFen = 0, fareTableVersion = 1): JournalRecord {
  return { ...r, deviceKind: 'subway-exit', place: code(to), line: 0, journeyEntryPlace: code(from), overtimeFen, fareTableVersion };
}

describe('clearing report: operator companies', () => {
  it('splits subway exits over their fare path, overtime to the exit line, and adds up to the total', async () => {
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 10_000, 'l1');
    const gate = await makeValidator(h, 'gate-1', 1);
    const bus = await makeValidator(h, 'bus-1', 2);
    const park = await makeValidator(h, 'park-1', 3);
    const lot = await makeValidator(h, 'lot-1', 4);
    const at = (minute: number): number => START_MS + minute * 60_000;
    const gateRecords = [
      exit(tap(gate, card, cardNo, 400, at(1)), '国贸', '西直门'),
      exit(tap(gate, card, cardNo, 400, at(2)), '国贸', '西直门'),
      // 35 yuan on 大兴机场线 (京投) + 4 yuan on 10号线 (北京地铁): split by the parts' own fares.
      exit(tap(gate, card, cardNo, 3_900, at(3)), '大兴机场', '宋家庄'),
      // 4 yuan + 3 yuan overtime: the overtime to 1号线's operator (北京地铁).
      exit(tap(gate, card, cardNo, 700, at(4)), '西直门', '国贸', 300),
    ];
    expect((await sync(h, gate, syncRequest(gate, gateRecords))).status).toBe(200);
    const busRecord = { ...tap(bus, card, cardNo, 100, at(5), 'bus'), deviceKind: 'bus' as const, line: 1, place: 0 };
    expect((await sync(h, bus, syncRequest(bus, [busRecord]))).status).toBe(200);
    const parkRecord = { ...tap(park, card, cardNo, 1_000, at(6), 'park'), deviceKind: 'park-gate' as const, place: 101, line: 0 };
    expect((await sync(h, park, syncRequest(park, [parkRecord]))).status).toBe(200);
    const lotRecord = { ...tap(lot, card, cardNo, 200, at(7), 'pr'), deviceKind: 'pr-exit' as const, place: 4, line: 0 };
    expect((await sync(h, lot, syncRequest(lot, [lotRecord]))).status).toBe(200);

    const report = await clearing();
    expect(report.totals).toMatchObject({ debits: 7, amountFen: 6_700 });
    expect(amounts(report.companies)).toEqual({
      'bii-rail': 3_500,
      'bj-mtr': 71 * 3,
      'bj-public-transport': 100,
      'bj-subway': 329 * 2 + 400 + (329 + 300),
      'park-101': 1_000,
      'pr-operator-unknown': 200,
    });
    expect(report.companies.reduce((s, c) => s + c.amountFen, 0)).toBe(report.totals.amountFen);
    expect(report.companies.find((c) => c.companyId === 'bj-subway')?.services).toEqual([{ operator: 'subway', debits: 4, amountFen: 1_687 }]);
    expect(report.companies.find((c) => c.companyId === 'pr-operator-unknown')?.placeholder).toBe(true);
    expect(report.split.exitsWithoutEntry).toBe(0);
  });

  it('splits records priced with a published bundle by that bundle’s own table', async () => {
    const table = structuredClone(REVENUE_SPLIT_2026);
    table.subwayLines.find((e) => e.line === '4号线')!.operatorId = 'bii-rail';
    const spec = { ...defaultFareTablesSpec(SUBWAY_CSV, 2, h.now.ms), revenueSplit: table };
    const published = await h.app.inject({ method: 'POST', url: '/v1/fare-tables', headers: h.admin, payload: JSON.parse(encodeFareTablesJson(spec)) });
    expect(published.statusCode).toBe(201);
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 5_000, 'l2');
    const gate = await makeValidator(h, 'gate-2', 5);
    const records = [
      exit(tap(gate, card, cardNo, 400, START_MS + 60_000), '国贸', '西直门', 0, 2),
      exit(tap(gate, card, cardNo, 400, START_MS + 120_000), '国贸', '西直门', 0, 1),
    ];
    expect((await sync(h, gate, syncRequest(gate, records))).status).toBe(200);
    expect(amounts((await clearing()).companies)).toEqual({ 'bii-rail': 71, 'bj-mtr': 71, 'bj-subway': 329 * 2 });
  });

  it('refuses a bundle whose table misses a line of its network, naming it, and keeps the list unchanged', async () => {
    const table = structuredClone(REVENUE_SPLIT_2026);
    table.subwayLines = table.subwayLines.filter((e) => e.line !== '亦庄T1线');
    const spec = { ...defaultFareTablesSpec(SUBWAY_CSV, 2, h.now.ms), revenueSplit: table };
    const res = await h.app.inject({ method: 'POST', url: '/v1/fare-tables', headers: h.admin, payload: JSON.parse(encodeFareTablesJson(spec)) });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.json()).toMatchObject({ code: 'fare-table-line-without-operator', lines: ['亦庄T1线'] });
    expect(res.json().detail).toContain('亦庄T1线');
    // A bundle without a table, on a network with a line the 2026 default does not know.
    const newLine = { ...defaultFareTablesSpec(`${SUBWAY_CSV.trimEnd()}\n22号线,东大桥,CBD东,1500\n`, 2, h.now.ms) };
    const res2 = await h.app.inject({ method: 'POST', url: '/v1/fare-tables', headers: h.admin, payload: JSON.parse(encodeFareTablesJson(newLine)) });
    expect(res2.statusCode).toBe(400);
    expect(res2.json()).toMatchObject({ code: 'fare-table-line-without-operator', lines: ['22号线'] });
    const list = await h.app.inject({ method: 'GET', url: '/v1/fare-tables', headers: h.admin });
    expect(list.json().fareTables.map((t: { version: number }) => t.version)).toEqual([1]);
  });

  it('credits an exit without its entry station (older firmware) to the exit station’s line, and says how many', async () => {
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 5_000, 'l3');
    const gate = await makeValidator(h, 'gate-3', 6);
    const old = { ...tap(gate, card, cardNo, 500, START_MS + 60_000), place: code('西直门') };
    expect((await sync(h, gate, syncRequest(gate, [old]))).status).toBe(200);
    const report = await clearing();
    // 西直门's first line in the network data is 2号线 (北京地铁运营公司).
    expect(amounts(report.companies)).toEqual({ 'bj-subway': 500 });
    expect(report.split.exitsWithoutEntry).toBe(1);
  });
});
