/**
 * One scope rule (issue 17, docs/gateway-api.md "Callers and roles"): a resource the caller may
 * not know exists answers 404, exactly as if it did not exist. An app session asking for another
 * card (by number, in the path or in a body) or another card's load gets the same problem as for
 * a card or load that does not exist, and learns nothing. 403 is kept for what the caller's role
 * may never do, and for resources the caller may know (a teller's other-branch load).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { appSessionHeaders, counterHeaders, initLoad, issueCard, registerDevice, startMoneyGateway, type MoneyHarness } from './money-fixtures.ts';

let h: MoneyHarness;
let counter: Record<string, string>;
beforeEach(async () => {
  h = await startMoneyGateway();
  counter = await counterHeaders(h);
});
afterEach(async () => {
  await h.close();
});

const NO_SUCH_CARD = '1000999999999999';
const NO_SUCH_LOAD = '999999';

/** The problem with the asked-for identifier (a whole token) blanked out: what the caller learns. */
function learned(res: LightMyRequestResponse, id: string): unknown {
  expect(res.headers['content-type']).toContain('application/problem+json');
  const token = new RegExp(`(?<![0-9A-Za-z-])${id}(?![0-9A-Za-z-])`, 'g');
  return JSON.parse(res.body, (_key, value) => (typeof value === 'string' ? value.replace(token, '<id>') : value));
}

type Call = { method: 'GET' | 'POST' | 'DELETE'; url: (id: string) => string; body?: (id: string) => unknown; headers?: Record<string, string> };

async function ask(call: Call, who: Record<string, string>, id: string): Promise<LightMyRequestResponse> {
  return h.app.inject({
    method: call.method,
    url: call.url(id),
    headers: { ...who, ...(call.headers ?? {}) },
    ...(call.body ? { payload: call.body(id) as object } : {}),
  });
}

describe('404 for what the caller may not know exists', () => {
  it("an app session: another card's routes answer exactly as for a card that does not exist", async () => {
    const mine = await issueCard(h);
    const other = await issueCard(h);
    const app = await appSessionHeaders(h, mine.cardNo);
    const loadBody = initLoad(other.card, other.cardNo, 5_000, 'app');
    const cardRoutes: Call[] = [
      { method: 'GET', url: (c) => `/v1/cards/${c}` },
      { method: 'GET', url: (c) => `/v1/cards/${c}/transactions` },
      { method: 'POST', url: (c) => `/v1/cards/${c}/loss-reports`, body: () => ({ kind: 'temporary' }) },
      { method: 'GET', url: (c) => `/v1/cards/${c}/loss-reports/current` },
      { method: 'POST', url: (c) => `/v1/cards/${c}/park-passes`, body: () => ({ challenge: '01020304' }), headers: { 'idempotency-key': 'pp-1' } },
      { method: 'POST', url: () => '/v1/loads', body: (c) => ({ ...loadBody, cardNo: c }), headers: { 'idempotency-key': 'load-1' } },
    ];
    for (const call of cardRoutes) {
      const theirs = await ask(call, app, other.cardNo);
      const none = await ask(call, app, NO_SUCH_CARD);
      const what = `${call.method} ${call.url(':cardNo')}`;
      expect({ what, status: theirs.statusCode, code: theirs.json().code }).toEqual({ what, status: 404, code: 'card-not-found' });
      expect(learned(theirs, other.cardNo), what).toEqual(learned(none, NO_SUCH_CARD));
    }
    // Nothing happened to the other card.
    const state = await h.app.inject({ method: 'GET', url: `/v1/cards/${other.cardNo}`, headers: h.admin });
    expect(state.json()).toMatchObject({ status: 'active', lossReport: null });
    // Its own card still works.
    expect((await h.app.inject({ method: 'GET', url: `/v1/cards/${mine.cardNo}`, headers: app })).statusCode).toBe(200);
  });

  it("an app session: another card's load by id answers exactly as a load that does not exist", async () => {
    const mine = await issueCard(h);
    const other = await issueCard(h);
    const app = await appSessionHeaders(h, mine.cardNo);
    const made = await h.app.inject({
      method: 'POST',
      url: '/v1/loads',
      headers: { ...counter, 'idempotency-key': 'counter-load' },
      payload: initLoad(other.card, other.cardNo, 5_000),
    });
    expect(made.statusCode).toBe(201);
    const id = String(made.json().id);
    const loadRoutes: Call[] = [
      { method: 'GET', url: (i) => `/v1/loads/${i}` },
      { method: 'POST', url: (i) => `/v1/loads/${i}/confirm`, body: () => ({ tac: '01020304' }) },
    ];
    for (const call of loadRoutes) {
      const theirs = await ask(call, app, id);
      const none = await ask(call, app, NO_SUCH_LOAD);
      const what = `${call.method} ${call.url(':id')}`;
      expect({ what, status: theirs.statusCode, code: theirs.json().code }).toEqual({ what, status: 404, code: 'load-not-found' });
      expect(learned(theirs, id), what).toEqual(learned(none, NO_SUCH_LOAD));
    }
    expect((await h.app.inject({ method: 'GET', url: `/v1/loads/${id}`, headers: counter })).json().status).toBe('pending');
  });

  it("a device: another device's sync answers exactly as a device that does not exist", async () => {
    const gate = await registerDevice(h, 'gate-a');
    await registerDevice(h, 'gate-b');
    const call: Call = { method: 'POST', url: (d) => `/v1/devices/${d}/sync`, headers: { 'content-type': 'application/x-msgpack' } };
    const theirs = await h.app.inject({ method: 'POST', url: call.url('gate-b'), headers: { ...gate, ...call.headers }, payload: Buffer.from([0x80]) });
    const none = await h.app.inject({ method: 'POST', url: call.url('gate-zz'), headers: { ...gate, ...call.headers }, payload: Buffer.from([0x80]) });
    expect(theirs.statusCode).toBe(404);
    expect(theirs.json().code).toBe('device-not-found');
    expect(learned(theirs, 'gate-b')).toEqual(learned(none, 'gate-zz'));
  });
});

describe('403 stays for what the role may never do, or for a resource the caller may know', () => {
  it('counter: any card and any refund by id it may ask for; another branch’s load may be seen but not voided', async () => {
    const { cardNo, card } = await issueCard(h);
    // Counters serve every card: an unknown one is a plain 404, a known one answers.
    expect((await h.app.inject({ method: 'GET', url: `/v1/cards/${NO_SUCH_CARD}`, headers: counter })).json().code).toBe('card-not-found');
    expect((await h.app.inject({ method: 'GET', url: `/v1/cards/${cardNo}`, headers: counter })).statusCode).toBe(200);
    expect((await h.app.inject({ method: 'GET', url: '/v1/refunds/999999', headers: counter })).json().code).toBe('refund-not-found');
    const made = await h.app.inject({
      method: 'POST',
      url: '/v1/loads',
      headers: { ...counter, 'idempotency-key': 'b1' },
      payload: initLoad(card, cardNo, 5_000),
    });
    const id = made.json().id;
    const otherBranch = await counterHeaders(h, 'branch-02');
    expect((await h.app.inject({ method: 'GET', url: `/v1/loads/${id}`, headers: otherBranch })).statusCode).toBe(200);
    const voided = await h.app.inject({ method: 'POST', url: `/v1/loads/${id}/void`, headers: otherBranch });
    expect(voided.statusCode).toBe(403);
    expect(voided.json().code).toBe('forbidden');
  });

  it('app session on its own card: routes its role may not call are 403 forbidden', async () => {
    const mine = await issueCard(h);
    const app = await appSessionHeaders(h, mine.cardNo);
    expect((await h.app.inject({ method: 'POST', url: `/v1/cards/${mine.cardNo}/cancellation`, headers: app })).statusCode).toBe(403);
    expect((await h.app.inject({ method: 'POST', url: `/v1/cards/${mine.cardNo}/refunds`, headers: app, payload: {} })).statusCode).toBe(403);
    // Another card on a route the role may never call: the role answers first, the same 403.
    const other = await issueCard(h);
    const res = await h.app.inject({ method: 'POST', url: `/v1/cards/${other.cardNo}/cancellation`, headers: app });
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('forbidden');
    expect(res.json().detail).not.toContain(other.cardNo);
  });
});
