import { describe, expect, it } from 'vitest';
import { pack } from 'msgpackr';
import {
  creditLoad,
  initLoad,
  issueCard,
  loadCard,
  makeValidator,
  shadowBalance,
  START_MS,
  sync,
  syncRequest,
  tap,
  type MoneyHarness,
  moneyGatewayForEachTest,
  countRows,
  ledgerBalance,
} from './money-fixtures.ts';

let h: MoneyHarness;
let counter: Record<string, string>;
moneyGatewayForEachTest((t) => ({ h, counter } = t));

const count = (sql: string, params: (string | number)[] = []): Promise<number> => countRows(h, sql, params);
const balanceOf = (account: string): Promise<number> => ledgerBalance(h, account);

describe('POST /v1/devices/{deviceId}/sync', () => {
  it('ingests genuine taps once: shadow balance, revenue, watermark; a retry is acknowledged and not applied twice', async () => {
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 5_000, 'l1');
    const gate = await makeValidator(h, 'gate-01', 1);
    const records = [tap(gate, card, cardNo, 300, START_MS + 60_000), tap(gate, card, cardNo, 400, START_MS + 120_000)];
    const first = await sync(h, gate, syncRequest(gate, records));
    expect(first.status).toBe(200);
    expect(first.response).toMatchObject({ acknowledged: [1, 2], quarantined: [], watermark: 2 });
    expect(await shadowBalance(h, cardNo)).toBe(4_300);
    expect(await balanceOf('revenue:subway')).toBe(-700);
    const retry = await sync(h, gate, syncRequest(gate, records));
    expect(retry.response).toMatchObject({ acknowledged: [1, 2], quarantined: [], watermark: 2 });
    expect(await shadowBalance(h, cardNo)).toBe(4_300);
    expect(await balanceOf('revenue:subway')).toBe(-700);
    expect(await count('SELECT COUNT(*) AS n FROM journal_records')).toBe(2);
    // The device runs fare table 1, the one the gateway has: nothing newer to send.
    expect(first.response?.fareTable).toBeNull();
    const old = await sync(h, gate, { ...syncRequest(gate, []), fareTableVersion: 0 });
    expect(old.response?.fareTable?.version).toBe(1);
    expect(JSON.parse(old.response!.fareTable!.json).format).toBe('fare-tables/1');
    const device = await h.store.transaction((tx) =>
      tx.get<{ watermark: number; last_sync_ms: number }>('SELECT watermark, last_sync_ms FROM devices WHERE device_id = ?', ['gate-01']),
    );
    expect(Number(device?.watermark)).toBe(2);
    const clearing = await h.app.inject({ method: 'GET', url: '/v1/reports/clearing?day=2026-03-10', headers: h.admin });
    expect(clearing.json().operators.find((o: { operator: string }) => o.operator === 'subway')).toMatchObject({ debits: 2, amountFen: 700 });
  });

  it('keeps the shadow balance right whatever order records arrive in, and flags then closes the ATC gap', async () => {
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 10_000, 'l1');
    const a = await makeValidator(h, 'gate-a', 2);
    const b = await makeValidator(h, 'gate-b', 3);
    const r0 = tap(a, card, cardNo, 300, START_MS + 1_000);
    const r1 = tap(b, card, cardNo, 500, START_MS + 2_000);
    const r2 = tap(a, card, cardNo, 200, START_MS + 3_000);
    // Device a uploads ATC 0 and 2 first; ATC 1 waits on device b.
    await sync(h, a, syncRequest(a, [r0, r2]));
    // Amounts commute: the shadow is the sum of every verified debit so far, gap or not.
    expect(await shadowBalance(h, cardNo)).toBe(9_500);
    expect(await count("SELECT COUNT(*) AS n FROM money_anomalies WHERE kind = 'atc-gap' AND card_no = ?", [cardNo])).toBe(1);
    const chain1 = await h.store.transaction((tx) => tx.get<{ next_atc: number }>('SELECT next_atc FROM card_chains WHERE card_no = ?', [cardNo]));
    expect(Number(chain1?.next_atc)).toBe(1);
    await sync(h, b, syncRequest(b, [r1]));
    expect(await shadowBalance(h, cardNo)).toBe(9_000);
    const chain2 = await h.store.transaction((tx) =>
      tx.get<{ next_atc: number; max_atc: number }>('SELECT next_atc, max_atc FROM card_chains WHERE card_no = ?', [cardNo]),
    );
    expect(Number(chain2?.next_atc)).toBe(3);
    expect(card.image().balanceFen).toBe(9_000);
  });

  it('quarantines a forged TAC, flags the device and never clears it', async () => {
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 5_000, 'l1');
    const gate = await makeValidator(h, 'gate-f', 4);
    const good = tap(gate, card, cardNo, 300, START_MS + 1_000);
    const forged = { ...tap(gate, card, cardNo, 300, START_MS + 2_000), amountFen: 30 };
    const res = await sync(h, gate, syncRequest(gate, [good, forged]));
    expect(res.response).toMatchObject({ acknowledged: [1], quarantined: [2], watermark: 2 });
    expect(await shadowBalance(h, cardNo)).toBe(4_700);
    const device = await h.store.transaction((tx) =>
      tx.get<{ flagged: number; flag_reason: string }>('SELECT flagged, flag_reason FROM devices WHERE device_id = ?', ['gate-f']),
    );
    expect(device).toMatchObject({ flagged: 1, flag_reason: 'tac-invalid' });
    const again = await sync(h, gate, syncRequest(gate, [good, forged]));
    expect(again.response).toMatchObject({ acknowledged: [1], quarantined: [2] });
    const clearing = await h.app.inject({ method: 'GET', url: '/v1/reports/clearing?day=2026-03-10', headers: h.admin });
    expect(clearing.json().operators.find((o: { operator: string }) => o.operator === 'subway')).toMatchObject({ debits: 1, amountFen: 300, quarantined: 1 });
  });

  it('blacklists a cloned card (same ATC, different content) and sends it in the same response', async () => {
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 5_000, 'l1');
    const clone = new (card.constructor as typeof import('#core').CardSimulator)(card.image(), () => Uint8Array.of(1, 2, 3, 4));
    const a = await makeValidator(h, 'gate-c1', 5);
    const b = await makeValidator(h, 'gate-c2', 6);
    const original = tap(a, card, cardNo, 300, START_MS + 1_000);
    const copy = tap(b, clone, cardNo, 500, START_MS + 2_000);
    expect(copy.offlineAtc).toBe(original.offlineAtc);
    await sync(h, a, syncRequest(a, [original]));
    const res = await sync(h, b, syncRequest(b, [copy]));
    expect(res.response?.quarantined).toEqual([1]);
    expect(res.response?.blacklist).toEqual(expect.arrayContaining([expect.objectContaining({ cardNo, op: 'add', reason: 'cloned' })]));
    const listed = await h.store.transaction((tx) => tx.get<{ reason: string }>('SELECT reason FROM blacklist_current WHERE card_no = ?', [cardNo]));
    expect(listed?.reason).toBe('cloned');
    expect(await shadowBalance(h, cardNo)).toBe(4_700);
  });

  it('answers 400 to malformed msgpack, wrong types and foreign records, changing nothing; 404 for another device (as for one not registered)', async () => {
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 5_000, 'l1');
    const gate = await makeValidator(h, 'gate-m', 7);
    const other = await makeValidator(h, 'gate-o', 8);
    const record = tap(gate, card, cardNo, 300, START_MS + 1_000);
    const full = pack(syncRequest(gate, [record]));
    const truncated = await sync(h, gate, full.subarray(0, full.length - 5));
    expect(truncated.status).toBe(400);
    expect(truncated.problem.code).toBe('invalid-msgpack');
    const garbage = await sync(h, gate, Buffer.from([0xc1, 0xff, 0x00]));
    expect(garbage.status).toBe(400);
    const wrongType = await sync(h, gate, syncRequest(gate, [{ ...record, amountFen: '300' as unknown as number }]));
    expect(wrongType.status).toBe(400);
    expect(wrongType.problem.code).toBe('invalid-sync-batch');
    const foreign = await sync(h, gate, syncRequest(gate, [{ ...record, deviceId: 'gate-o' }]));
    expect(foreign.status).toBe(400);
    const asOther = await h.app.inject({
      method: 'POST',
      url: '/v1/devices/gate-m/sync',
      headers: { ...other.headers, 'content-type': 'application/x-msgpack' },
      payload: full,
    });
    expect(asOther.statusCode).toBe(404);
    const json = await h.app.inject({
      method: 'POST',
      url: '/v1/devices/gate-m/sync',
      headers: { ...gate.headers, 'content-type': 'application/json' },
      payload: '{}',
    });
    expect(json.statusCode).toBeGreaterThanOrEqual(400);
    expect(json.statusCode).toBeLessThan(500);
    expect(await count('SELECT COUNT(*) AS n FROM journal_records')).toBe(0);
    expect(await shadowBalance(h, cardNo)).toBe(5_000);
    const ok = await sync(h, gate, full);
    expect(ok.response?.acknowledged).toEqual([1]);
  });

  it('settles a torn load as credited from the online ATC of the next uploaded purchase', async () => {
    const { cardNo, card } = await issueCard(h);
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/loads',
      headers: { ...counter, 'idempotency-key': 'torn' },
      payload: initLoad(card, cardNo, 5_000),
    });
    const load = res.json();
    creditLoad(card, load); // confirmation lost
    const gate = await makeValidator(h, 'gate-t', 9);
    const record = tap(gate, card, cardNo, 300, START_MS + 1_000);
    expect(record.onlineAtc).toBe(1);
    expect(record.balanceBeforeFen).toBe(5_000);
    await sync(h, gate, syncRequest(gate, [record]));
    const settled = await h.app.inject({ method: 'GET', url: `/v1/loads/${load.id}`, headers: counter });
    expect(settled.json()).toMatchObject({ status: 'confirmed', resolution: 'purchase-chain' });
    expect(await shadowBalance(h, cardNo)).toBe(4_700);
  });
});
