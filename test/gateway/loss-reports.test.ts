import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LIMITS } from '#core';
import { ADMIN_TOKEN, DAY_MS, makeHarness, type Harness } from './support/harness.ts';

let h: Harness;
let counter: string;
beforeEach(async () => {
  h = await makeHarness();
  counter = await h.counterToken();
});
afterEach(async () => {
  await h.close();
});

async function blacklist(since = 0, limit?: number) {
  const res = await h.request('GET', `/v1/blacklist?since=${since}${limit ? `&limit=${limit}` : ''}`, { token: counter });
  expect(res.statusCode).toBe(200);
  return res.json() as { entries: Array<{ version: number; cardNo: string; op: string; reason: string }>; version: number; more: boolean };
}

describe('temporary loss (seed q. 17-18)', () => {
  it('blacklists at once and expires by itself after 15 simulated days, as a versioned remove delta', async () => {
    const { cardNo } = await h.issueCard();
    const app = await h.appSession(cardNo);
    const res = await h.request('POST', `/v1/cards/${cardNo}/loss-reports`, { token: app, body: { kind: 'temporary' } });
    expect(res.statusCode).toBe(201);
    expect(res.json().report.expiresMs).toBe(h.clock.nowMs + LIMITS.temporaryLossMs);
    expect((await blacklist()).entries).toEqual([{ version: 1, cardNo, op: 'add', reason: 'temporary-loss' }]);
    expect((await h.request('GET', `/v1/cards/${cardNo}`, { token: counter })).json().status).toBe('temporary-loss');

    h.clock.advance(15 * DAY_MS - 1);
    expect((await h.request('GET', `/v1/cards/${cardNo}`, { token: counter })).json().status).toBe('temporary-loss');
    expect((await blacklist(1)).entries).toEqual([]);

    h.clock.advance(1);
    const card = (await h.request('GET', `/v1/cards/${cardNo}`, { token: counter })).json();
    expect(card.status).toBe('active');
    expect(card.blacklist).toBeNull();
    expect(card.lossReport).toBeNull();
    const delta = await blacklist(1);
    expect(delta.entries).toEqual([{ version: 2, cardNo, op: 'remove', reason: 'temporary-loss' }]);
    expect(delta.version).toBe(2);
    // Reading again emits nothing more: the expiry is idempotent.
    expect((await blacklist(2)).entries).toEqual([]);
    const ended = await h.store.transaction((tx) => tx.get<{ end_reason: string; ended_ms: number }>('SELECT end_reason, ended_ms FROM loss_reports'));
    expect(ended).toEqual({ end_reason: 'expired', ended_ms: h.clock.nowMs });
  });

  it('the expiry job runs on a timer as well as on reads', async () => {
    const timed = await makeHarness({ policies: { lossExpiryIntervalMs: 20 } });
    try {
      const { cardNo } = await timed.issueCard();
      await timed.request('POST', `/v1/cards/${cardNo}/loss-reports`, { token: ADMIN_TOKEN, body: { kind: 'temporary' } });
      timed.clock.advance(16 * DAY_MS);
      await new Promise((resolve) => setTimeout(resolve, 120));
      const status = await timed.store.transaction((tx) => tx.get<{ status: string }>('SELECT status FROM cards WHERE card_no = ?', [cardNo]));
      expect(status?.status).toBe('active');
    } finally {
      await timed.close();
    }
  });

  it('a counter may lift it early (card and ID present); the app may not', async () => {
    const { cardNo } = await h.issueCard();
    const app = await h.appSession(cardNo);
    await h.request('POST', `/v1/cards/${cardNo}/loss-reports`, { token: app, body: { kind: 'temporary' } });
    expect((await h.request('DELETE', `/v1/cards/${cardNo}/loss-reports/current`, { token: app })).statusCode).toBe(403);
    const lifted = await h.request('DELETE', `/v1/cards/${cardNo}/loss-reports/current`, { token: counter });
    expect(lifted.statusCode).toBe(200);
    expect(lifted.json().report.endReason).toBe('unblocked');
    expect((await blacklist()).entries.map((e) => e.op)).toEqual(['add', 'remove']);
    const again = await h.request('DELETE', `/v1/cards/${cardNo}/loss-reports/current`, { token: counter });
    expect(again.statusCode).toBe(404);
    expect(again.json().code).toBe('loss-report-not-found');
  });

  it('a second report while one is open is a 409; formal upgrades a temporary one', async () => {
    const { cardNo } = await h.issueCard();
    await h.request('POST', `/v1/cards/${cardNo}/loss-reports`, { token: counter, body: { kind: 'temporary' } });
    const dup = await h.request('POST', `/v1/cards/${cardNo}/loss-reports`, { token: counter, body: { kind: 'temporary' } });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().code).toBe('loss-report-exists');
    const formal = await h.request('POST', `/v1/cards/${cardNo}/loss-reports`, { token: counter, body: { kind: 'formal' } });
    expect(formal.statusCode).toBe(201);
    expect((await blacklist()).entries.map((e) => `${e.op}:${e.reason}`)).toEqual(['add:temporary-loss', 'add:formal-loss']);
    // The old temporary deadline no longer lifts anything.
    h.clock.advance(20 * DAY_MS);
    expect((await h.request('GET', `/v1/cards/${cardNo}`, { token: counter })).json().status).toBe('formal-loss');
    const lift = await h.request('DELETE', `/v1/cards/${cardNo}/loss-reports/current`, { token: counter });
    expect(lift.statusCode).toBe(409);
    expect(lift.json().code).toBe('unblock-refused');
  });

  it('the app may report only a temporary loss', async () => {
    const { cardNo } = await h.issueCard();
    const app = await h.appSession(cardNo);
    expect((await h.request('POST', `/v1/cards/${cardNo}/loss-reports`, { token: app, body: { kind: 'formal' } })).statusCode).toBe(403);
  });
});

describe('formal loss and replacement (seed q. 19, 21)', () => {
  it('replacement needs a formal loss; the old card is blacklisted replaced forever and can never be unblocked', async () => {
    const { cardNo } = await h.issueCard();
    const early = await h.request('POST', `/v1/cards/${cardNo}/replacement`, { token: counter, body: {} });
    expect(early.statusCode).toBe(409);
    expect(early.json().code).toBe('formal-loss-required');

    await h.request('POST', `/v1/cards/${cardNo}/loss-reports`, { token: counter, body: { kind: 'formal' } });
    const replaced = await h.request('POST', `/v1/cards/${cardNo}/replacement`, { token: counter, body: {} });
    expect(replaced.statusCode).toBe(201);
    const { oldCard, card, cardImage } = replaced.json();
    expect(oldCard).toMatchObject({ cardNo, status: 'replaced', replacedBy: card.cardNo });
    expect(card).toMatchObject({ status: 'active', replaces: cardNo, holderName: 'Wang Fang', generation: 3 });
    expect(cardImage).toMatch(/^[0-9A-F]+$/);
    expect((await blacklist()).entries.map((e) => `${e.cardNo}:${e.op}:${e.reason}`)).toEqual([`${cardNo}:add:formal-loss`, `${cardNo}:add:replaced`]);

    const lift = await h.request('DELETE', `/v1/cards/${cardNo}/loss-reports/current`, { token: counter });
    expect(lift.statusCode).toBe(409);
    expect(lift.json().code).toBe('card-replaced');
    const unblock = await h.request('POST', `/v1/cards/${cardNo}/unblock`, { token: counter, body: { challenge: '01020304' } });
    expect(unblock.statusCode).toBe(409);
    expect(unblock.json().code).toBe('card-replaced');
    const twice = await h.request('POST', `/v1/cards/${cardNo}/replacement`, { token: counter, body: {} });
    expect(twice.json().code).toBe('card-replaced');
    // 15 days later nothing changes for the replaced card.
    h.clock.advance(30 * DAY_MS);
    expect((await h.request('GET', `/v1/cards/${cardNo}`, { token: counter })).json().status).toBe('replaced');
    expect((await blacklist(2)).entries).toEqual([]);
  });

  it('a temporary loss on a card that is then replaced can never be lifted', async () => {
    const { cardNo } = await h.issueCard();
    await h.request('POST', `/v1/cards/${cardNo}/loss-reports`, { token: counter, body: { kind: 'temporary' } });
    await h.request('POST', `/v1/cards/${cardNo}/loss-reports`, { token: counter, body: { kind: 'formal' } });
    await h.request('POST', `/v1/cards/${cardNo}/replacement`, { token: counter, body: {} });
    const lift = await h.request('DELETE', `/v1/cards/${cardNo}/loss-reports/current`, { token: ADMIN_TOKEN });
    expect(lift.statusCode).toBe(409);
    expect(lift.json().code).toBe('card-replaced');
  });

  it('the replacement keeps the holder service password', async () => {
    const { cardNo } = await h.issueCard();
    await h.appSession(cardNo, undefined, 'kept-pass-77');
    await h.request('POST', `/v1/cards/${cardNo}/loss-reports`, { token: counter, body: { kind: 'formal' } });
    const newCardNo = (await h.request('POST', `/v1/cards/${cardNo}/replacement`, { token: counter, body: {} })).json().card.cardNo;
    const login = await h.request('POST', '/v1/auth/app-sessions', { body: { cardNo: newCardNo, password: 'kept-pass-77' } });
    expect(login.statusCode).toBe(201);
    expect(login.json().mustChangePassword).toBe(false);
    expect((await h.request('POST', '/v1/auth/app-sessions', { body: { cardNo, password: 'kept-pass-77' } })).statusCode).toBe(401);
  });
});

describe('blacklist feed', () => {
  it('pages strictly by version', async () => {
    const cards: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { cardNo } = await h.issueCard();
      cards.push(cardNo);
      await h.request('POST', `/v1/cards/${cardNo}/loss-reports`, { token: counter, body: { kind: 'temporary' } });
    }
    const first = await blacklist(0, 2);
    expect(first.entries.map((e) => e.version)).toEqual([1, 2]);
    expect(first.more).toBe(true);
    expect(first.version).toBe(2);
    const second = await blacklist(first.version, 2);
    expect(second.entries.map((e) => e.version)).toEqual([3, 4]);
    const last = await blacklist(second.version, 2);
    expect(last.entries.map((e) => e.cardNo)).toEqual([cards[4]]);
    expect(last.more).toBe(false);
    expect((await blacklist(last.version)).version).toBe(5);
    const bad = await h.request('GET', '/v1/blacklist?since=-1', { token: counter });
    expect(bad.statusCode).toBe(400);
  });
});
