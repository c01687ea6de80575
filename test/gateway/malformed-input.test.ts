/**
 * Every malformed input is a 4xx that changes nothing: fast-check generates JSON bodies, path
 * parameters and query strings for every platform route; no answer may be a 5xx, and the
 * database (apart from the audit log, which records refused actions too) must be unchanged.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, makeHarness, type Harness } from './support/harness.ts';

let h: Harness;
let cardNo: string;
let counter: string;
beforeAll(async () => {
  h = await makeHarness();
  counter = await h.counterToken();
  cardNo = (await h.issueCard()).cardNo;
  await h.registerDevice('gate-fuzz');
});
afterAll(async () => {
  await h.close();
});

const TABLES = [
  'cards',
  'card_accounts',
  'app_credentials',
  'loss_reports',
  'blacklist_current',
  'blacklist_log',
  'devices',
  'park_pass_sales',
  'auth_tokens',
  'counters',
  'ledger_entries',
];

async function snapshot(): Promise<string> {
  return h.store.transaction(async (tx) => {
    const parts: unknown[] = [];
    for (const table of TABLES) parts.push(await tx.all(`SELECT * FROM ${table} ORDER BY 1`));
    return JSON.stringify(parts);
  });
}

const POST_ROUTES = [
  () => '/v1/cards',
  () => `/v1/cards/${cardNo}/functions`,
  () => `/v1/cards/${cardNo}/unblock`,
  () => `/v1/cards/${cardNo}/loss-reports`,
  () => `/v1/cards/${cardNo}/park-passes`,
  () => '/v1/devices',
  () => '/v1/auth/tokens',
  () => '/v1/auth/app-sessions',
];

/** Bodies that are JSON but never a valid request: random values, or valid-looking objects with a broken field. */
const malformedBody = fc.oneof(
  fc.jsonValue(),
  fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 })),
  fc.record({
    holderName: fc.oneof(fc.constant(''), fc.integer(), fc.string({ minLength: 65, maxLength: 80 })),
    socialSecurityNo: fc.oneof(fc.string({ maxLength: 20 }), fc.integer()),
    profile: fc.string({ maxLength: 8 }),
    overdraftLimit: fc.oneof(fc.double(), fc.string({ maxLength: 12 })),
  }),
  fc.record({ kind: fc.string({ maxLength: 10 }).filter((k) => k !== 'temporary' && k !== 'formal') }),
  fc.record({ challenge: fc.string({ maxLength: 12 }).filter((c) => !/^[0-9A-Fa-f]{8}$/.test(c)), transit: fc.jsonValue() }),
  fc.record({
    deviceId: fc.string({ maxLength: 80 }),
    kind: fc.string({ maxLength: 12 }).filter((k) => !['subway-gate', 'bus-validator', 'pr-gate', 'park-gate'].includes(k)),
  }),
  fc.record({ cardNo: fc.string({ maxLength: 20 }), password: fc.oneof(fc.integer(), fc.constant('')) }),
);

describe('malformed inputs', () => {
  it('random JSON bodies on every POST route: 4xx, never 5xx, nothing changes', async () => {
    const before = await snapshot();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...POST_ROUTES), malformedBody, fc.constantFrom(ADMIN_TOKEN, 'counter'), async (route, body, who) => {
        const token = who === 'counter' ? counter : who;
        const res = await h.app.inject({
          method: 'POST',
          url: route(),
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': 'fuzz-key' },
          payload: JSON.stringify(body),
        });
        expect(res.statusCode, `${route()} ${JSON.stringify(body)} -> ${res.body}`).toBeGreaterThanOrEqual(400);
        expect(res.statusCode).toBeLessThan(500);
        expect(res.headers['content-type']).toContain('application/problem+json');
      }),
      { numRuns: 300, seed: 20251220 },
    );
    expect(await snapshot()).toBe(before);
  });

  it('random path parameters and query strings: never 5xx', async () => {
    const before = await snapshot();
    const segment = fc.string({ maxLength: 24 }).map((s) => encodeURIComponent(s));
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          '/v1/cards/',
          '/v1/blacklist?since=',
          '/v1/fares/subway?from=',
          '/v1/ops/devices/stale?windowMinutes=',
          '/v1/devices?limit=',
          '/v1/ops/audit?after=',
        ),
        segment,
        fc.constantFrom('GET', 'DELETE', 'POST'),
        async (prefix, value, method) => {
          const res = await h.app.inject({ method: method as 'GET', url: prefix + value, headers: { authorization: `Bearer ${counter}` } });
          expect(res.statusCode, `${method} ${prefix}${value} -> ${res.body}`).toBeLessThan(500);
        },
      ),
      { numRuns: 300, seed: 7 },
    );
    expect(await snapshot()).toBe(before);
  });

  it('raw garbage bodies are 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ maxLength: 200 }),
        fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain', 'application/octet-stream'),
        async (payload, type) => {
          const res = await h.app.inject({
            method: 'POST',
            url: '/v1/cards',
            headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': type },
            payload,
          });
          expect(res.statusCode).toBeGreaterThanOrEqual(400);
          expect(res.statusCode).toBeLessThan(500);
        },
      ),
      { numRuns: 150, seed: 3 },
    );
  });
});
