/**
 * The money routes over a real loopback HTTP server, and fast-check generated bodies: every
 * malformed input is a 4xx that changes nothing, never a 5xx.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { pack, unpack } from 'msgpackr';
import {
  assertBooksBalance,
  counterHeaders,
  creditLoad,
  initLoad,
  issueCard,
  makeValidator,
  START_MS,
  syncRequest,
  tap,
  type MoneyHarness,
  startMoneyGateway,
  type Validator,
} from './money-fixtures.ts';
import type { CardSimulator, SyncResponse } from '#core';

let h: MoneyHarness;
let base: string;
let counter: Record<string, string>;
let gate: Validator;
let cardNo: string;
let card: CardSimulator;

beforeAll(async () => {
  h = await startMoneyGateway();
  counter = await counterHeaders(h);
  ({ cardNo, card } = await issueCard(h, 'sm4'));
  gate = await makeValidator(h, 'gate-http', 21);
  base = await h.app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await assertBooksBalance(h);
  await h.close();
});

async function snapshot(): Promise<string> {
  return h.store.transaction(async (tx) => {
    const parts = await Promise.all(
      ['loads', 'ledger_entries', 'journal_records', 'idempotency_keys', 'refunds', 'blacklist_log'].map(async (table) => {
        const row = await tx.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`);
        return `${table}=${row?.n}`;
      }),
    );
    const shadow = await tx.get<{ s: number }>('SELECT SUM(shadow_balance_fen) AS s FROM card_accounts');
    return `${parts.join(',')},shadow=${shadow?.s}`;
  });
}

describe('money routes over loopback HTTP', () => {
  it('load, confirm and sync through fetch (SM4 card)', async () => {
    const body = initLoad(card, cardNo, 8_000);
    const res = await fetch(`${base}/v1/loads`, {
      method: 'POST',
      headers: { ...counter, 'idempotency-key': 'http-1', 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(201);
    const load = (await res.json()) as { id: string; mac2: string; date: number; time: number };
    const replay = await fetch(`${base}/v1/loads`, {
      method: 'POST',
      headers: { ...counter, 'idempotency-key': 'http-1', 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(replay.status).toBe(201);
    expect(((await replay.json()) as { id: string }).id).toBe(load.id);
    const tac = creditLoad(card, load);
    const confirm = await fetch(`${base}/v1/loads/${load.id}/confirm`, {
      method: 'POST',
      headers: { ...counter, 'content-type': 'application/json' },
      body: JSON.stringify({ tac }),
    });
    expect(confirm.status).toBe(200);
    const record = tap(gate, card, cardNo, 400, START_MS + 1_000);
    const syncRes = await fetch(`${base}/v1/devices/${gate.deviceId}/sync`, {
      method: 'POST',
      headers: { ...gate.headers, 'content-type': 'application/x-msgpack' },
      body: pack(syncRequest(gate, [record])),
    });
    expect(syncRes.status).toBe(200);
    expect(syncRes.headers.get('content-type')).toContain('application/x-msgpack');
    const answer = unpack(Buffer.from(await syncRes.arrayBuffer())) as SyncResponse;
    expect(answer).toMatchObject({ acknowledged: [1], quarantined: [], watermark: 1 });
    const card1 = await fetch(`${base}/v1/cards/${cardNo}`, { headers: h.admin });
    expect(((await card1.json()) as { balanceFen: number }).balanceFen).toBe(7_600);
    const openapi = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    for (const path of [
      '/v1/loads',
      '/v1/loads/{id}/confirm',
      '/v1/loads/{id}/void',
      '/v1/devices/{deviceId}/sync',
      '/v1/cards/{cardNo}/refunds',
      '/v1/refunds/{id}',
      '/v1/ledger/balances',
      '/v1/ledger/reconciliation',
      '/v1/reports/teller',
      '/v1/reports/clearing',
    ]) {
      expect(openapi.paths[path], path).toBeDefined();
    }
  });

  it('limits: an Idempotency-Key over the limit and a sync body over LIMITS.syncBodyBytes are refused', async () => {
    const before = await snapshot();
    const body = initLoad(card, cardNo, 1_000);
    const longKey = await h.app.inject({ method: 'POST', url: '/v1/loads', headers: { ...counter, 'idempotency-key': 'k'.repeat(129) }, payload: body });
    expect(longKey.statusCode).toBe(400);
    const huge = await h.app.inject({
      method: 'POST',
      url: `/v1/devices/${gate.deviceId}/sync`,
      headers: { ...gate.headers, 'content-type': 'application/x-msgpack' },
      payload: Buffer.alloc(8 * 1024 * 1024 + 1, 0x90),
    });
    expect(huge.statusCode).toBe(413);
    const anonymous = await h.app.inject({
      method: 'POST',
      url: `/v1/devices/${gate.deviceId}/sync`,
      headers: { 'content-type': 'application/x-msgpack' },
      payload: Buffer.from([0x80]),
    });
    expect(anonymous.statusCode).toBe(401);
    const counterSync = await h.app.inject({
      method: 'POST',
      url: `/v1/devices/${gate.deviceId}/sync`,
      headers: { ...counter, 'content-type': 'application/x-msgpack' },
      payload: Buffer.from([0x80]),
    });
    expect(counterSync.statusCode).toBe(403);
    const counterLedger = await h.app.inject({ method: 'GET', url: '/v1/ledger/balances', headers: counter });
    expect(counterLedger.statusCode).toBe(403);
    expect(await snapshot()).toBe(before);
  });

  it('fast-check: generated load bodies are 4xx, never 5xx, and change nothing', async () => {
    const before = await snapshot();
    const valid = initLoad(card, cardNo, 1_000);
    const field = fc.constantFrom(...Object.keys(valid));
    const junk = fc.oneof(
      fc.string(),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.integer(), { maxLength: 3 }),
      fc.object({ maxDepth: 1 }),
      fc.constantFrom('-1.00', '1e3', '10.001', '99999999999', '', '0x10', '５０'),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(field, junk), { minLength: 1, maxLength: 4 }), fc.string({ minLength: 1, maxLength: 20 }), async (mutations, key) => {
        const body: Record<string, unknown> = { ...valid };
        for (const [name, value] of mutations) body[name] = value;
        const res = await h.app.inject({
          method: 'POST',
          url: '/v1/loads',
          headers: { ...counter, 'idempotency-key': `fc-${encodeURIComponent(key)}` },
          payload: body,
        });
        expect(res.statusCode, res.body).toBeGreaterThanOrEqual(400);
        expect(res.statusCode, res.body).toBeLessThan(500);
      }),
      { numRuns: 150, seed: 5 },
    );
    // Refusals after validation are remembered under their key (first answer), but no money moved.
    const after = await snapshot();
    expect(after.replace(/idempotency_keys=\d+,/, '')).toBe(before.replace(/idempotency_keys=\d+,/, ''));
  });

  it('fast-check: generated sync bodies are 4xx, never 5xx, and change nothing', async () => {
    const before = await snapshot();
    // A well-formed record with a forged TAC: whatever a mutation leaves well formed is either
    // refused (4xx) or stored as quarantined / moneyless, so no money may move.
    const record = { ...tap(gate, card, cardNo, 100, START_MS + 2_000), tac: '00000000' };
    const valid = syncRequest(gate, [record]);
    const recordField = fc.constantFrom(...Object.keys(record));
    const junk = fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.constant(undefined),
      fc.uint8Array({ maxLength: 8 }),
      fc.constant(-1),
      fc.constant(2 ** 53),
    );
    const mutatedRecord = fc.array(fc.tuple(recordField, junk), { minLength: 1, maxLength: 3 }).map((mutations) => {
      const r: Record<string, unknown> = { ...record };
      for (const [name, value] of mutations) r[name] = value;
      return pack({ ...valid, records: [r] });
    });
    const mutatedEnvelope = fc
      .tuple(fc.constantFrom('protocolVersion', 'deviceId', 'records', 'blacklistVersion', 'fareTableVersion', 'deviceTimeMs'), junk)
      .map(([name, value]) => pack({ ...valid, [name]: value }));
    const rawBytes = fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes));
    const truncated = fc.integer({ min: 0, max: pack(valid).length - 1 }).map((n) => pack(valid).subarray(0, n));
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutatedRecord, mutatedEnvelope, rawBytes, truncated), async (payload) => {
        const res = await h.app.inject({
          method: 'POST',
          url: `/v1/devices/${gate.deviceId}/sync`,
          headers: { ...gate.headers, 'content-type': 'application/x-msgpack' },
          payload,
        });
        if (res.statusCode === 200) {
          // A mutation may leave a well-formed record (e.g. a new place); it must then be quarantined or harmless.
          return;
        }
        expect(res.statusCode, res.body).toBeGreaterThanOrEqual(400);
        expect(res.statusCode, res.body).toBeLessThan(500);
      }),
      { numRuns: 200, seed: 7 },
    );
    const after = await snapshot();
    const cleared = await h.store.transaction((tx) =>
      tx.get<{ n: number }>("SELECT COUNT(*) AS n FROM journal_records WHERE status = 'accepted' AND card_action = 'debit' AND device_seq > 1"),
    );
    expect(Number(cleared?.n)).toBe(0);
    expect(
      after
        .split(',')
        .filter((p) => !p.startsWith('journal_records'))
        .join(),
    ).toBe(
      before
        .split(',')
        .filter((p) => !p.startsWith('journal_records'))
        .join(),
    );
  });
});
