/**
 * Query integers out of their documented range are a clear 400, never quietly clamped: a caller
 * asking for `limit=0` or `thresholdSeconds=0` asked for something the route does not do.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, makeHarness, type Harness } from './support/harness.ts';

let h: Harness;
beforeEach(async () => {
  h = await makeHarness();
});
afterEach(async () => {
  await h.close();
});

describe('query integers in range', () => {
  it.each([
    '/v1/ops/devices/clock-skew?thresholdSeconds=0',
    '/v1/ops/devices/stale?windowMinutes=0',
    '/v1/ops/devices/stale?limit=0',
    '/v1/ops/anomalies?limit=0',
    '/v1/devices?limit=0',
    '/v1/ops/devices/clock-skew?thresholdSeconds=31536001',
  ])('GET %s is 400 invalid-request', async (url) => {
    const res = await h.request('GET', url, { token: ADMIN_TOKEN });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json().code).toBe('invalid-request');
  });

  it.each(['/v1/ops/devices/clock-skew?thresholdSeconds=1', '/v1/ops/devices/stale?windowMinutes=1&limit=1', '/v1/devices?limit=1'])(
    'GET %s (the lowest allowed) answers 200',
    async (url) => {
      const res = await h.request('GET', url, { token: ADMIN_TOKEN });
      expect(res.statusCode, res.body).toBe(200);
    },
  );
});
