import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CardSimulator, parseCardImage, SW, type CardRecordKind } from '#core';
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

let seed = 1;
function simulatorFor(cardImageHex: string): CardSimulator {
  const image = parseCardImage(Uint8Array.from(Buffer.from(cardImageHex, 'hex')));
  return new CardSimulator(image, () => Uint8Array.of(seed++ & 255, 2, 3, 4));
}

function challengeOf(card: CardSimulator): string {
  const res = card.getChallenge();
  expect(res.sw).toBe(SW.success);
  return Buffer.from(res.data).toString('hex');
}

function applyWrite(card: CardSimulator, write: { kind: CardRecordKind; record: string; mac: string }): number {
  return card.updateRecord(write.kind, Uint8Array.from(Buffer.from(write.record, 'hex')), Uint8Array.from(Buffer.from(write.mac, 'hex'))).sw;
}

describe('opening functions (seed q. 15, 44)', () => {
  it('authorises a functions write the card accepts', async () => {
    const { cardNo, cardImage } = await h.issueCard({ transitOpened: false });
    const card = simulatorFor(cardImage);
    expect(card.image().transitOpened).toBe(false);
    const res = await h.request('POST', `/v1/cards/${cardNo}/functions`, { token: counter, body: { challenge: challengeOf(card), suburban: true } });
    expect(res.statusCode).toBe(200);
    expect(res.json().card).toMatchObject({ transitOpened: true, suburbanOpened: true });
    expect(applyWrite(card, res.json().write)).toBe(SW.success);
    expect(card.image()).toMatchObject({ transitOpened: true, suburbanOpened: true });
  });

  it('a MAC for another challenge is refused by the card', async () => {
    const { cardNo, cardImage } = await h.issueCard({ transitOpened: false });
    const card = simulatorFor(cardImage);
    const res = await h.request('POST', `/v1/cards/${cardNo}/functions`, { token: counter, body: { challenge: 'AABBCCDD', transit: true } });
    challengeOf(card);
    expect(applyWrite(card, res.json().write)).toBe(SW.macError);
  });

  it('refuses generation 1-2 cards and empty requests', async () => {
    const { cardNo } = await h.issueCard({ generation: 2, transitOpened: false });
    const res = await h.request('POST', `/v1/cards/${cardNo}/functions`, { token: counter, body: { challenge: '01020304', transit: true } });
    expect(res.statusCode).toBe(409);
    expect(res.json().code).toBe('generation-not-supported');
    const gen3 = await h.issueCard();
    expect((await h.request('POST', `/v1/cards/${gen3.cardNo}/functions`, { token: counter, body: { challenge: '01020304' } })).statusCode).toBe(400);
    const bad = await h.request('POST', `/v1/cards/${gen3.cardNo}/functions`, { token: counter, body: { challenge: '0102', transit: true } });
    expect(bad.statusCode).toBe(400);
  });
});

describe('counter unblock of a locked card', () => {
  it('gives an APPLICATION UNBLOCK MAC the card accepts for an active card', async () => {
    const { cardNo, cardImage } = await h.issueCard();
    const card = simulatorFor(cardImage);
    const res = await h.request('POST', `/v1/cards/${cardNo}/unblock`, { token: counter, body: { challenge: challengeOf(card) } });
    expect(res.statusCode).toBe(200);
    expect(card.applicationUnblock(Uint8Array.from(Buffer.from(res.json().mac, 'hex'))).sw).toBe(SW.success);
  });

  it('refuses a card under a loss report, formally lost or cancelled', async () => {
    const a = await h.issueCard();
    await h.request('POST', `/v1/cards/${a.cardNo}/loss-reports`, { token: counter, body: { kind: 'temporary' } });
    const res = await h.request('POST', `/v1/cards/${a.cardNo}/unblock`, { token: counter, body: { challenge: '01020304' } });
    expect(res.statusCode).toBe(409);
    expect(res.json().code).toBe('unblock-refused');
    h.clock.advance(15 * DAY_MS);
    expect((await h.request('POST', `/v1/cards/${a.cardNo}/unblock`, { token: counter, body: { challenge: '01020304' } })).statusCode).toBe(200);
    const b = await h.issueCard();
    await h.request('POST', `/v1/cards/${b.cardNo}/cancellation`, { token: counter });
    expect((await h.request('POST', `/v1/cards/${b.cardNo}/unblock`, { token: counter, body: { challenge: '01020304' } })).json().code).toBe('unblock-refused');
  });
});

describe('cancellation (seed q. 33-35)', () => {
  it('blacklists the card cancelled for good and ends its app sessions', async () => {
    const { cardNo } = await h.issueCard();
    const app = await h.appSession(cardNo);
    await h.request('POST', `/v1/cards/${cardNo}/loss-reports`, { token: counter, body: { kind: 'temporary' } });
    const res = await h.request('POST', `/v1/cards/${cardNo}/cancellation`, { token: counter });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'cancelled', blacklist: { reason: 'cancelled' }, lossReport: null });
    expect((await h.request('GET', `/v1/cards/${cardNo}`, { token: app })).statusCode).toBe(401);
    h.clock.advance(20 * DAY_MS);
    const feed = (await h.request('GET', '/v1/blacklist?since=0', { token: counter })).json();
    expect(feed.entries.map((e: { op: string; reason: string }) => `${e.op}:${e.reason}`)).toEqual(['add:temporary-loss', 'add:cancelled']);
    // Idempotent, and a cancelled card takes no new loss report.
    expect((await h.request('POST', `/v1/cards/${cardNo}/cancellation`, { token: counter })).statusCode).toBe(200);
    expect((await h.request('POST', `/v1/cards/${cardNo}/loss-reports`, { token: counter, body: { kind: 'temporary' } })).json().code).toBe('card-not-active');
  });

  it('apps may not cancel', async () => {
    const { cardNo } = await h.issueCard();
    const app = await h.appSession(cardNo);
    expect((await h.request('POST', `/v1/cards/${cardNo}/cancellation`, { token: app })).statusCode).toBe(403);
  });
});

describe('transactions', () => {
  it('lists nothing for a new card and 404 for an unknown one', async () => {
    const { cardNo } = await h.issueCard();
    const res = await h.request('GET', `/v1/cards/${cardNo}/transactions?limit=10`, { token: ADMIN_TOKEN });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ cardNo, transactions: [], more: false, nextCursor: null });
    expect((await h.request('GET', '/v1/cards/1000000000009999/transactions', { token: ADMIN_TOKEN })).statusCode).toBe(404);
    expect((await h.request('GET', `/v1/cards/${cardNo}/transactions?limit=abc`, { token: ADMIN_TOKEN })).statusCode).toBe(400);
  });
});
