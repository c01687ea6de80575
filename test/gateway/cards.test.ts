import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCardImage } from '#core';
import { ADMIN_TOKEN, makeHarness, SSN, type Harness } from './support/harness.ts';

let h: Harness;
beforeEach(async () => {
  h = await makeHarness();
});
afterEach(async () => {
  await h.close();
});

describe('cards', () => {
  it('issues a card whose image the simulator can load, and shows it with a zero shadow balance', async () => {
    const counter = await h.counterToken();
    const res = await h.request('POST', '/v1/cards', {
      token: counter,
      body: { holderName: 'Li Lei', socialSecurityNo: SSN, profile: 'student', algorithm: '3des' },
    });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body.card.cardNo).toMatch(/^[0-9]{16}$/);
    expect(JSON.stringify(body)).not.toContain(SSN);
    const image = parseCardImage(Uint8Array.from(Buffer.from(body.cardImage, 'hex')));
    expect(image.cardNo).toBe(body.card.cardNo);
    expect(image.profile).toBe('student');
    expect(image.algorithm).toBe('3des');
    expect(image.keyVersion).toBe(h.keys.currentKeyVersion);

    const got = await h.request('GET', `/v1/cards/${body.card.cardNo}`, { token: counter });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toMatchObject({ cardNo: body.card.cardNo, status: 'active', balance: '0.00', balanceFen: 0, generation: 3 });
  });

  it('refuses a duplicate explicit card number with 409 card-exists', async () => {
    await h.issueCard({ cardNo: '1000000000042422' });
    const res = await h.request('POST', '/v1/cards', {
      token: ADMIN_TOKEN,
      body: { cardNo: '1000000000042422', holderName: 'X', socialSecurityNo: SSN, profile: 'adult' },
    });
    expect(res.statusCode).toBe(409);
    expect(res.json().code).toBe('card-exists');
  });

  it('404 problem for an unknown card', async () => {
    const res = await h.request('GET', '/v1/cards/9999999999999999', { token: ADMIN_TOKEN });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ status: 404, code: 'card-not-found', instance: '/v1/cards/9999999999999999' });
  });
});
