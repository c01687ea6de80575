/**
 * GET /v1/ops/anomalies: the money anomalies sync ingest and load resolution write (ATC gaps,
 * cloned cards, replayed and bad TACs, reinstated teller voids) shown to the engineer on call.
 * Every anomaly here is produced by genuine card simulators and real uploads (money-fixtures'
 * makeEveryMoneyAnomaly); operators only; keyset pages by id; the same on PostgreSQL is in
 * pg-money.test.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pack, unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { CardSimulator, type SyncResponse } from '#core';
import { isoBeijing } from '#gateway/http/wire';
import { MONEY_ANOMALY_KIND_NAMES, type MoneyAnomaly } from '#gateway/services/anomalies';
import {
  assertBooksBalance,
  counterHeaders,
  issueCard,
  loadCard,
  makeEveryMoneyAnomaly,
  makeValidator,
  START_MS,
  startMoneyGateway,
  sync,
  syncRequest,
  tap,
  type MoneyHarness,
  moneyGatewayForEachTest,
} from './money-fixtures.ts';

let h: MoneyHarness;
let counter: Record<string, string>;
moneyGatewayForEachTest((t) => ({ h, counter } = t));

/** The wire shape is the service's row shape. */
type Anomaly = MoneyAnomaly;
interface Page {
  anomalies: Anomaly[];
  more: boolean;
  nextAfter: number;
}

async function list(query = '', headers = h.admin): Promise<Page> {
  const res = await h.app.inject({ method: 'GET', url: `/v1/ops/anomalies${query}`, headers });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as Page;
}

describe('GET /v1/ops/anomalies', () => {
  it('lists every kind, oldest first, with the card, the ATC and the device or load it concerns', async () => {
    expect(await list()).toEqual({ anomalies: [], more: false, nextAfter: 0 });
    const s = await makeEveryMoneyAnomaly(h, counter);
    const page = await list();
    expect(page.more).toBe(false);
    expect(page.anomalies.map((a) => a.kind)).toEqual(['atc-gap', 'cloned-card', 'tac-replayed', 'tac-invalid', 'load-void-reversed']);
    const ids = page.anomalies.map((a) => a.id);
    expect([...ids].sort((x, y) => x - y)).toEqual(ids);
    expect(page.nextAfter).toBe(ids[4]);
    const [gap, cloned, replayed, invalid, reversed] = page.anomalies;
    expect(gap).toEqual({
      id: ids[0],
      kind: 'atc-gap',
      cardNo: s.gap.cardNo,
      atc: s.gap.missing.offlineAtc,
      deviceId: null,
      deviceSeq: null,
      loadId: null,
      open: true,
      detail: expect.stringContaining(`offline ATC ${s.gap.missing.offlineAtc} not yet uploaded`),
      atMs: START_MS,
      at: isoBeijing(START_MS),
    });
    expect(cloned).toMatchObject({
      kind: 'cloned-card',
      cardNo: s.cloned.cardNo,
      atc: 0,
      deviceId: 'anom-b',
      deviceSeq: s.cloned.deviceSeq,
      loadId: null,
      open: null,
    });
    expect(replayed).toMatchObject({
      kind: 'tac-replayed',
      cardNo: s.replayed.cardNo,
      atc: s.replayed.offlineAtc,
      deviceId: 'anom-a',
      deviceSeq: s.replayed.deviceSeq,
      loadId: null,
      open: null,
    });
    expect(invalid).toMatchObject({
      kind: 'tac-invalid',
      cardNo: s.invalid.cardNo,
      atc: s.invalid.offlineAtc,
      deviceId: 'anom-a',
      deviceSeq: s.invalid.deviceSeq,
      loadId: null,
      open: null,
    });
    expect(reversed).toMatchObject({
      kind: 'load-void-reversed',
      cardNo: s.voidReversed.cardNo,
      atc: s.voidReversed.onlineAtc,
      deviceId: null,
      deviceSeq: null,
      loadId: s.voidReversed.loadId,
      open: null,
    });
    expect(reversed.detail).toContain('re-charge the payer');
    // Operators see whole card numbers in API answers (as in GET /v1/cards and the audit log).
    for (const a of page.anomalies) expect(a.cardNo).toMatch(/^[0-9]{16}$/);
  });

  it('an atc-gap stays listed but is no longer open once the missing record arrives', async () => {
    const s = await makeEveryMoneyAnomaly(h, counter);
    expect((await list('?kind=atc-gap')).anomalies.map((a) => a.open)).toEqual([true]);
    h.now.ms += 60_000;
    expect((await sync(h, s.gap.gate, syncRequest(s.gap.gate, [s.gap.missing]))).status).toBe(200);
    const after = await list('?kind=atc-gap');
    expect(after.anomalies).toHaveLength(1);
    expect(after.anomalies[0]).toMatchObject({ cardNo: s.gap.cardNo, atc: s.gap.missing.offlineAtc, open: false, atMs: START_MS });
  });

  it('filters by kind and by card, and pages by id with after and limit', async () => {
    const s = await makeEveryMoneyAnomaly(h, counter);
    const all = (await list()).anomalies;
    for (const kind of MONEY_ANOMALY_KIND_NAMES) {
      const only = await list(`?kind=${kind}`);
      expect(only.anomalies, kind).toEqual(all.filter((a) => a.kind === kind));
      expect(only.anomalies, kind).toHaveLength(1);
    }
    expect((await list(`?cardNo=${s.cloned.cardNo}`)).anomalies).toEqual([all[1]]);
    expect((await list(`?kind=cloned-card&cardNo=${s.cloned.cardNo}`)).anomalies).toEqual([all[1]]);
    expect((await list(`?kind=atc-gap&cardNo=${s.cloned.cardNo}`)).anomalies).toEqual([]);
    expect((await list('?cardNo=1000999999999999')).anomalies).toEqual([]);

    const first = await list('?limit=2');
    expect(first).toEqual({ anomalies: all.slice(0, 2), more: true, nextAfter: all[1].id });
    const second = await list(`?after=${first.nextAfter}&limit=2`);
    expect(second).toEqual({ anomalies: all.slice(2, 4), more: true, nextAfter: all[3].id });
    const last = await list(`?after=${second.nextAfter}&limit=2`);
    expect(last).toEqual({ anomalies: all.slice(4), more: false, nextAfter: all[4].id });
    expect(await list(`?after=${last.nextAfter}`)).toEqual({ anomalies: [], more: false, nextAfter: all[4].id });
    // Exactly a page left: no further page is promised.
    expect(await list(`?after=${all[2].id}&limit=2`)).toEqual({ anomalies: all.slice(3), more: false, nextAfter: all[4].id });
    // Filters and pages together: the card filter applies on every page.
    expect(await list(`?cardNo=${s.gap.cardNo}&after=${all[0].id}`)).toEqual({ anomalies: [], more: false, nextAfter: all[0].id });
  });

  it('operators only: no token 401, counter, app and device 403, all problem+json', async () => {
    const noToken = await h.app.inject({ method: 'GET', url: '/v1/ops/anomalies' });
    expect(noToken.statusCode).toBe(401);
    expect(noToken.headers['content-type']).toContain('application/problem+json');
    expect(noToken.json().code).toBe('unauthenticated');
    const unknown = await h.app.inject({ method: 'GET', url: '/v1/ops/anomalies', headers: { authorization: 'Bearer not-a-real-token-0123456789' } });
    expect(unknown.statusCode).toBe(401);

    const { cardNo } = await issueCard(h);
    const login = await h.app.inject({ method: 'POST', url: '/v1/auth/app-sessions', payload: { cardNo, password: '07123X' } });
    expect(login.statusCode, login.body).toBe(201);
    const app = { authorization: `Bearer ${login.json().token}` };
    const gate = await makeValidator(h, 'gate-403', 40);
    for (const [who, headers] of [
      ['counter', counter],
      ['app', app],
      ['device', gate.headers],
    ] as const) {
      const res = await h.app.inject({ method: 'GET', url: '/v1/ops/anomalies', headers });
      expect(res.statusCode, who).toBe(403);
      expect(res.headers['content-type'], who).toContain('application/problem+json');
      expect(res.json().code, who).toBe('forbidden');
    }
  });

  it('a bad query is 400 problem+json naming the field (or the unknown parameter)', async () => {
    await makeEveryMoneyAnomaly(h, counter);
    const bad: Array<[string, string]> = [
      ['?kind=cloned', 'kind'],
      ['?kind=', 'kind'],
      ['?kind=atc-gap&kind=cloned-card', 'kind'],
      ['?cardNo=123', 'cardNo'],
      ['?cardNo=10000000000000161', 'cardNo'],
      ['?cardNo=100000000000001x', 'cardNo'],
      ['?after=-1', 'after'],
      ['?after=1.5', 'after'],
      ['?after=abc', 'after'],
      ['?limit=1001', 'limit'],
      ['?limit=ten', 'limit'],
      ['?since=0', 'additional properties'],
    ];
    for (const [query, field] of bad) {
      const res = await h.app.inject({ method: 'GET', url: `/v1/ops/anomalies${query}`, headers: h.admin });
      expect(res.statusCode, query).toBe(400);
      expect(res.headers['content-type'], query).toContain('application/problem+json');
      expect(res.json(), query).toMatchObject({ status: 400, code: 'invalid-request' });
      expect(res.json().detail, query).toContain(field);
    }
  });

  it('is in the OpenAPI document with its query and answer schemas', async () => {
    const doc = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const operation = doc.paths['/v1/ops/anomalies'].get;
    expect(operation.security).toEqual([{ bearerAuth: [] }]);
    const kind = operation.parameters.find((p: { name: string }) => p.name === 'kind');
    expect(kind.schema.enum).toEqual(MONEY_ANOMALY_KIND_NAMES);
    expect(operation.parameters.map((p: { name: string }) => p.name).sort()).toEqual(['after', 'cardNo', 'kind', 'limit']);
    const answer = operation.responses['200'].content['application/json'].schema;
    expect(answer.required).toEqual(['anomalies', 'more', 'nextAfter']);
    expect(answer.properties.anomalies.items.required).toContain('cardNo');
    expect(operation.responses['400']).toBeDefined();
    expect(operation.responses['403']).toBeDefined();
  });

  it('the kind filter knows every kind the gateway writes', () => {
    // The writers use string literals (sync-ingest.ts) and VOID_REVERSED (loads.ts): a new kind must be added to MONEY_ANOMALY_KINDS.
    const root = join(import.meta.dirname, '../../gateway/src/services');
    const ingest = readFileSync(join(root, 'sync-ingest.ts'), 'utf8');
    const written = [...ingest.matchAll(/recordAnomaly\(tx, '([a-z-]+)'/g)].map((m) => m[1]);
    expect(written.length).toBeGreaterThanOrEqual(4);
    const loads = readFileSync(join(root, 'loads.ts'), 'utf8');
    expect(loads).toMatch(/INSERT INTO money_anomalies[^;]*\[\s*VOID_REVERSED,/);
    written.push(/export const VOID_REVERSED = '([a-z-]+)'/.exec(loads)![1]);
    // No other service writes the table.
    const writers = readdirSync(root).filter((f) => f.endsWith('.ts') && readFileSync(join(root, f), 'utf8').includes('INSERT INTO money_anomalies'));
    expect(writers.sort()).toEqual(['loads.ts', 'sync-ingest.ts']);
    for (const kind of written) expect(MONEY_ANOMALY_KIND_NAMES, kind).toContain(kind);
  });
});

describe('GET /v1/ops/anomalies over loopback HTTP', () => {
  it('a cloned card uploaded over TCP is listed for the operator; the log masks its number', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    // This test's own gateway, with a log to read (the beforeEach one has none).
    const logged = await startMoneyGateway({ logger: { level: 'info', stream } });
    try {
      const base = await logged.app.listen({ host: '127.0.0.1', port: 0 });
      const teller = await counterHeaders(logged);
      const { cardNo, card } = await issueCard(logged);
      await loadCard(logged, teller, card, cardNo, 5_000, 'http-l1');
      const clone = new CardSimulator(card.image(), () => Uint8Array.of(9, 9, 9, 9));
      const a = await makeValidator(logged, 'http-a', 51);
      const b = await makeValidator(logged, 'http-b', 52);
      const upload = async (v: typeof a, records: ReturnType<typeof tap>[]): Promise<SyncResponse> => {
        const res = await fetch(`${base}/v1/devices/${v.deviceId}/sync`, {
          method: 'POST',
          headers: { ...v.headers, 'content-type': 'application/x-msgpack' },
          body: pack(syncRequest(v, records)),
        });
        expect(res.status).toBe(200);
        return unpack(Buffer.from(await res.arrayBuffer())) as SyncResponse;
      };
      await upload(a, [tap(a, card, cardNo, 300, START_MS + 1_000)]);
      const copy = tap(b, clone, cardNo, 500, START_MS + 2_000);
      expect((await upload(b, [copy])).quarantined).toEqual([copy.deviceSeq]);

      const res = await fetch(`${base}/v1/ops/anomalies?kind=cloned-card&cardNo=${cardNo}`, { headers: logged.admin });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('application/json');
      const page = (await res.json()) as Page;
      expect(page.more).toBe(false);
      expect(page.anomalies).toEqual([
        expect.objectContaining({ kind: 'cloned-card', cardNo, atc: copy.offlineAtc, deviceId: 'http-b', deviceSeq: copy.deviceSeq, loadId: null, open: null }),
      ]);
      const refused = await fetch(`${base}/v1/ops/anomalies?cardNo=${cardNo}`, { headers: teller });
      expect(refused.status).toBe(403);
      expect(refused.headers.get('content-type')).toContain('application/problem+json');
      const anonymous = await fetch(`${base}/v1/ops/anomalies`);
      expect(anonymous.status).toBe(401);
      const bad = await fetch(`${base}/v1/ops/anomalies?kind=nope`, { headers: logged.admin });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { code: string }).code).toBe('invalid-request');

      const text = lines.join('');
      expect(text).toContain(`/v1/ops/anomalies?kind=cloned-card&cardNo=${cardNo.slice(0, 4)}********${cardNo.slice(-4)}`);
      expect(text.includes(cardNo), 'the log holds a whole card number').toBe(false);
      await assertBooksBalance(logged);
    } finally {
      await logged.close();
    }
  });
});
