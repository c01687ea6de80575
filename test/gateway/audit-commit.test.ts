/**
 * The audit entry of a counter's load travels in the load's own transaction (one durable commit),
 * and every other audited request still gets exactly one entry, committed before its answer.
 */
import { describe, expect, it } from 'vitest';
import { creditLoad, initLoad, issueCard, type MoneyHarness, moneyGatewayForEachTest } from './money-fixtures.ts';

let h: MoneyHarness;
let counter: Record<string, string>;
moneyGatewayForEachTest((t) => ({ h, counter } = t));

interface Entry {
  route: string;
  method: string;
  statusCode: number;
  role: string;
  target: string | null;
  requestId: string;
}

async function auditOf(route: string): Promise<Entry[]> {
  const entries = (await h.app.inject({ method: 'GET', url: '/v1/ops/audit?limit=1000', headers: h.admin })).json().entries as Entry[];
  return entries.filter((e) => e.route === route);
}

describe('audit written with the work', () => {
  it('authorise and confirm: one entry per answered request with the status sent, visible as soon as the answer is', async () => {
    const { cardNo, card } = await issueCard(h);
    const body = initLoad(card, cardNo, 5_000);
    const groupsBefore = h.store.stats.groups;
    const created = await h.app.inject({ method: 'POST', url: '/v1/loads', headers: { ...counter, 'idempotency-key': 'a-1' }, payload: body });
    expect(created.statusCode).toBe(201);
    // The load and its audit entry: one group, one durable commit.
    expect(h.store.stats.groups - groupsBefore).toBe(1);
    const replay = await h.app.inject({ method: 'POST', url: '/v1/loads', headers: { ...counter, 'idempotency-key': 'a-1' }, payload: body });
    expect(replay.statusCode).toBe(201);
    const conflict = await h.app.inject({
      method: 'POST',
      url: '/v1/loads',
      headers: { ...counter, 'idempotency-key': 'a-1' },
      payload: { ...body, amount: '100.00' },
    });
    expect(conflict.statusCode).toBe(409);
    const refused = await h.app.inject({
      method: 'POST',
      url: '/v1/loads',
      headers: { ...counter, 'idempotency-key': 'a-2' },
      payload: { ...body, mac1: '00000000' },
    });
    expect(refused.statusCode).toBeGreaterThanOrEqual(400);
    const loads = await auditOf('/v1/loads');
    expect(loads.map((e) => e.statusCode)).toEqual([201, 201, 409, refused.statusCode]);
    expect(new Set(loads.map((e) => e.requestId)).size).toBe(4);
    expect(loads.every((e) => e.role === 'counter' && e.method === 'POST')).toBe(true);

    const load = created.json();
    const badTac = await h.app.inject({ method: 'POST', url: `/v1/loads/${load.id}/confirm`, headers: counter, payload: { tac: '00000000' } });
    expect(badTac.statusCode).toBe(400);
    const ok = await h.app.inject({ method: 'POST', url: `/v1/loads/${load.id}/confirm`, headers: counter, payload: { tac: creditLoad(card, load) } });
    expect(ok.statusCode).toBe(200);
    const missing = await h.app.inject({ method: 'POST', url: '/v1/loads/999999/confirm', headers: counter, payload: { tac: '00000000' } });
    expect(missing.statusCode).toBe(404);
    const confirms = await auditOf('/v1/loads/:id/confirm');
    expect(confirms.map((e) => [e.statusCode, e.target])).toEqual([
      [400, load.id],
      [200, load.id],
      [404, '999999'],
    ]);
  });
});
