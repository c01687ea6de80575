/**
 * Bad input on every HTTP route of the gateway (issue 8, "The proof"): for each route the
 * gateway registers (its own list, so a new route is covered the day it lands), with its path
 * parameters filled with real ids:
 * - missing, malformed and foreign Authorization headers;
 * - fast-check generated JSON bodies, with the right and wrong content types;
 * - bodies over the route's limit;
 * - bad Idempotency-Key headers on the routes that take one.
 * Each answer is a clear 4xx problem+json (never a 5xx), and nothing changes: ledger balances,
 * shadow balances, the blacklist and the row count of every table are the same afterwards.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIMITS } from '#core';
import { ProofTally } from '../support/proof-summary.ts';
import type { CityWorld } from '../model/city-world.ts';
import { badInputWorld, stateSnapshot } from './bad-input-world.ts';

const tally = new ProofTally('bad-input:http');
afterAll(() => tally.record());

let w: CityWorld;
let before: string;
let routes: Array<{ method: string; url: string }>;
beforeAll(async () => {
  w = await badInputWorld(1);
  const loads = await w.all<{ id: number }>('SELECT id FROM loads ORDER BY id LIMIT 1');
  const fill = (url: string): string => url.replace(':cardNo', w.cards[0].cardNo).replace(':deviceId', w.devices[0].id).replace(':id', String(loads[0].id));
  const all = (w.app as unknown as { gatewayRoutes: Array<{ method: string; url: string; hidden: boolean }> }).gatewayRoutes;
  routes = all.filter((r) => !r.url.startsWith('/docs') && r.method !== 'OPTIONS').map((r) => ({ method: r.method, url: fill(r.url) }));
  before = await stateSnapshot(w);
});
afterAll(async () => {
  await w.close();
});

/** Routes without a bearer credential: liveness, readiness, the OpenAPI document, app login, device enrolment (its code is in the body). */
// Routes anyone may call: health, the document, the app's and the holder's sign-in, the online
// holder account's sign-up, phone verification and its resend (issue 16), a device's enrolment.
const PUBLIC =
  /^(GET \/healthz|GET \/readyz|GET \/openapi\.json|POST \/v1\/auth\/app-sessions|POST \/v1\/auth\/holder-sessions|POST \/v1\/holder-accounts|POST \/v1\/holder-accounts\/phone-verification|POST \/v1\/holder-accounts\/phone-verification\/resend|POST \/v1\/devices\/[^/]+\/certificate)$/;

function expectClearRefusal(res: { statusCode: number; headers: Record<string, unknown>; body: string }, what: string): void {
  expect(res.statusCode, `${what} -> ${res.statusCode} ${res.body.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
  expect(res.statusCode, what).toBeLessThan(500);
  expect(String(res.headers['content-type']), what).toContain('application/problem+json');
  const problem = JSON.parse(res.body) as { status: number; code: string; title?: string };
  expect(problem.status).toBe(res.statusCode);
  expect(typeof problem.code).toBe('string');
}

describe('bad input on every HTTP route', () => {
  it('covers a real set of routes', () => {
    expect(routes.length).toBeGreaterThanOrEqual(30);
  });

  it('missing, malformed and wrong Authorization headers: 401 problem+json before anything else, nothing changes', async () => {
    const bad: Array<Record<string, string>> = [
      {},
      { authorization: 'Bearer' },
      { authorization: 'Bearer ' },
      { authorization: 'Basic YWRtaW46YWRtaW4=' },
      { authorization: `Bearer ${'x'.repeat(4_000)}` },
      { authorization: 'Bearer not-a-token-at-all' },
      { authorization: 'bearer\tweird' },
      { authorization: `Bearer ${w.devices[0].credential}x` },
      { authorization: 'Bearer 令牌' },
    ];
    for (const route of routes) {
      if (PUBLIC.test(`${route.method} ${route.url}`)) continue;
      for (const headers of bad) {
        const res = await w.app.inject({
          method: route.method as 'GET',
          url: route.url,
          headers: { ...headers, 'content-type': 'application/json' },
          payload: route.method === 'GET' || route.method === 'DELETE' ? undefined : '{}',
        });
        tally.badInputs++;
        expectClearRefusal(res, `${route.method} ${route.url} with ${JSON.stringify(headers).slice(0, 60)}`);
        expect(res.statusCode, `${route.method} ${route.url}`).toBe(401);
      }
    }
    expect(await stateSnapshot(w)).toBe(before);
  });

  it('a device credential on an operator route, an app token on a counter route: 403; another device: 404', async () => {
    const res = await w.app.inject({
      method: 'POST',
      url: '/v1/cards',
      headers: { authorization: `Bearer ${w.devices[0].credential}`, 'content-type': 'application/json' },
      payload: {},
    });
    tally.badInputs++;
    expectClearRefusal(res, 'device on POST /v1/cards');
    expect(res.statusCode).toBe(403);
    const foreign = await w.app.inject({
      method: 'POST',
      url: `/v1/devices/${w.devices[1].id}/sync`,
      headers: { authorization: `Bearer ${w.devices[0].credential}`, 'content-type': 'application/x-msgpack' },
      payload: Buffer.from([0x80]),
    });
    tally.badInputs++;
    expect(foreign.statusCode).toBe(404);
    expect(await stateSnapshot(w)).toBe(before);
  });

  it('fast-check bodies and content types on every write route: 4xx problem+json, never 5xx, nothing changes', async () => {
    const writes = routes.filter((r) => r.method === 'POST' || r.method === 'DELETE' || r.method === 'PUT' || r.method === 'PATCH');
    expect(writes.length).toBeGreaterThanOrEqual(15);
    // Bodies that are never a valid request: random JSON, objects with random keys, or
    // strings in other content types.
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }).filter((v) => !(typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0)),
      fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { minKeys: 1 }),
      fc.record({
        amount: fc.oneof(fc.double(), fc.string({ maxLength: 12 }), fc.constant('-10.00'), fc.constant('1e3'), fc.constant('10.001')),
        cardNo: fc.string({ maxLength: 20 }),
      }),
    );
    const contentType = fc.constantFrom(
      'application/json',
      'application/json',
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/octet-stream',
      'application/x-msgpack',
    );
    const who = fc.constantFrom<'admin' | 'counter'>('admin', 'counter');
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...writes), body, contentType, who, async (route, value, type, role) => {
        // Routes that legitimately accept an empty or any body are exercised elsewhere.
        if (/\/(void|cancellation|jobs\/run)$/.test(route.url) || route.method === 'DELETE') return;
        const res = await w.app.inject({
          method: route.method as 'POST',
          url: route.url,
          headers: { ...(role === 'admin' ? w.admin : w.counter), 'content-type': type, 'idempotency-key': 'bad-input-fuzz' },
          payload: type === 'application/json' ? JSON.stringify(value) : typeof value === 'string' ? value : JSON.stringify(value),
        });
        tally.badInputs++;
        expectClearRefusal(res, `${route.method} ${route.url} ${type} ${JSON.stringify(value).slice(0, 80)}`);
      }),
      { numRuns: 400, seed: Number(process.env.PROOF_SEED ?? 8) },
    );
    expect(await stateSnapshot(w)).toBe(before);
  });

  it('bodies over the limit: 413 problem+json on every write route, nothing changes', async () => {
    const huge = JSON.stringify({ holderName: 'x'.repeat(70 * 1024) });
    // Fare tables carry a network and every bus line: their route has its own, larger limit.
    const hugeFareTables = JSON.stringify({ subwayCsv: 'x'.repeat(LIMITS.fareTablesJsonChars) });
    for (const route of routes.filter((r) => r.method === 'POST')) {
      const sync = route.url.endsWith('/sync');
      const send = (credential: Record<string, string>) =>
        w.app.inject({
          method: 'POST',
          url: route.url,
          headers: {
            ...(sync ? { authorization: `Bearer ${w.devices[0].credential}` } : credential),
            'content-type': sync ? 'application/x-msgpack' : 'application/json',
            'idempotency-key': 'huge',
          },
          payload: sync ? Buffer.alloc(8 * 1024 * 1024 + 16, 0x90) : route.url === '/v1/fare-tables' ? hugeFareTables : huge,
        });
      let res = await send(w.admin);
      // Counter money operations refuse the operator credential before the body is read (channel
      // rules, issue 16): those routes are sent again with a counter's credential.
      if (res.statusCode === 403 && (JSON.parse(res.body) as { code: string }).code === 'operator-not-a-channel') res = await send(w.counter);
      tally.badInputs++;
      expectClearRefusal(res, `huge body on ${route.url}`);
      // The body limit, or a refusal of the caller that comes before the body (sync of another device, public login).
      expect([413, 400, 401, 403], `${route.url}: ${res.statusCode}`).toContain(res.statusCode);
      if (!route.url.startsWith('/v1/auth/app-sessions')) expect(res.statusCode, route.url).toBe(413);
    }
    expect(await stateSnapshot(w)).toBe(before);
  });

  it('bad Idempotency-Key headers on loads and park passes: 400 problem+json, nothing changes', async () => {
    const keyRoutes = ['/v1/loads', `/v1/cards/${w.cards[0].cardNo}/park-passes`];
    const badKeys: Array<string | undefined> = [undefined, '', 'k'.repeat(129), 'k'.repeat(10_000), 'bad key with spaces', 'ключ', 'a\u0001b'];
    for (const url of keyRoutes) {
      for (const key of badKeys) {
        const headers: Record<string, string> = { ...w.counter, 'content-type': 'application/json' };
        if (key !== undefined) headers['idempotency-key'] = key;
        let res;
        try {
          res = await w.app.inject({ method: 'POST', url, headers, payload: JSON.stringify({ cardNo: w.cards[0].cardNo }) });
        } catch (error) {
          // Node refuses to even send some header values (control characters): nothing reached the gateway.
          expect(String(error)).toMatch(/Invalid character|header/i);
          tally.badInputs++;
          continue;
        }
        tally.badInputs++;
        expectClearRefusal(res, `${url} key ${JSON.stringify(key)?.slice(0, 30)}`);
        expect(res.statusCode, `${url} key ${JSON.stringify(key)?.slice(0, 30)}`).toBe(400);
      }
    }
    expect(await stateSnapshot(w)).toBe(before);
  });

  it('random path parameters and query strings on every route: never 5xx, nothing changes', async () => {
    const templates = (w.app as unknown as { gatewayRoutes: Array<{ method: string; url: string }> }).gatewayRoutes.filter(
      (r) => r.url.includes(':') || r.method === 'GET',
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...templates), fc.string({ maxLength: 40 }), fc.string({ maxLength: 30 }), async (route, param, query) => {
        const url = `${route.url.replace(/:[A-Za-z]+/g, encodeURIComponent(param))}?${encodeURIComponent(query)}=${encodeURIComponent(param)}&limit=${encodeURIComponent(query)}`;
        const res = await w.app.inject({
          method: route.method as 'GET',
          url,
          headers: { ...w.counter, 'content-type': 'application/json' },
          payload: route.method === 'GET' ? undefined : '{}',
        });
        tally.badInputs++;
        expect(res.statusCode, `${route.method} ${url} -> ${res.body.slice(0, 200)}`).toBeLessThan(500);
      }),
      { numRuns: 300, seed: Number(process.env.PROOF_SEED ?? 9) },
    );
    expect(await stateSnapshot(w)).toBe(before);
  });
});
