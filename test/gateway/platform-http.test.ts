/**
 * OpenAPI completeness, problem+json shape, fares, devices and ops, log redaction, and one
 * pass through a real HTTP server on loopback.
 */
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, DAY_MS, makeHarness, SSN, type Harness } from './support/harness.ts';

let h: Harness;
beforeEach(async () => {
  h = await makeHarness();
});
afterEach(async () => {
  await h.close();
});

describe('OpenAPI', () => {
  it('describes every route with request and response schemas', async () => {
    const doc = (await h.request('GET', '/openapi.json')).json();
    const paths = doc.paths as Record<string, Record<string, { responses?: Record<string, unknown> }>>;
    const expected = [
      ['get', '/healthz'],
      ['get', '/readyz'],
      ['get', '/metrics'],
      ['post', '/v1/auth/tokens'],
      ['post', '/v1/auth/app-sessions'],
      ['post', '/v1/auth/app-password'],
      ['post', '/v1/cards'],
      ['get', '/v1/cards/{cardNo}'],
      ['get', '/v1/cards/{cardNo}/transactions'],
      ['post', '/v1/cards/{cardNo}/functions'],
      ['post', '/v1/cards/{cardNo}/replacement'],
      ['post', '/v1/cards/{cardNo}/cancellation'],
      ['post', '/v1/cards/{cardNo}/unblock'],
      ['post', '/v1/cards/{cardNo}/loss-reports'],
      ['get', '/v1/cards/{cardNo}/loss-reports/current'],
      ['delete', '/v1/cards/{cardNo}/loss-reports/current'],
      ['get', '/v1/blacklist'],
      ['get', '/v1/fares/subway'],
      ['post', '/v1/cards/{cardNo}/park-passes'],
      ['post', '/v1/devices'],
      ['get', '/v1/devices'],
      ['get', '/v1/ops/devices/stale'],
      ['get', '/v1/ops/audit'],
    ];
    for (const [method, path] of expected) expect(paths[path]?.[method], `${method} ${path}`).toBeDefined();
    // Every route registered on the instance (including other modules' routes) is documented
    // with a success response schema.
    const registered = h.app.gatewayRoutes.filter((r) => !r.hidden && !r.url.startsWith('/docs'));
    expect(registered.length).toBeGreaterThanOrEqual(expected.length);
    for (const route of registered) {
      const path = route.url.replace(/:([A-Za-z]+)/g, '{$1}');
      const operation = paths[path]?.[route.method.toLowerCase()];
      expect(operation, `${route.method} ${route.url} in OpenAPI`).toBeDefined();
      expect(
        Object.keys(operation!.responses ?? {}).some((code) => code.startsWith('2')),
        `${route.method} ${route.url} success schema`,
      ).toBe(true);
    }
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.components.schemas.Problem).toBeDefined();
  });

  it('serves human docs at /docs', async () => {
    const res = await h.request('GET', '/docs/');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
  });
});

describe('problem+json', () => {
  it('has type, title, status, detail, instance and a stable code', async () => {
    const res = await h.request('POST', '/v1/cards', { token: ADMIN_TOKEN, body: { holderName: 'x' } });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    const problem = res.json();
    expect(problem).toMatchObject({ status: 400, code: 'invalid-request', instance: '/v1/cards' });
    expect(problem.type).toMatch(/invalid-request$/);
    expect(typeof problem.title).toBe('string');
    expect(typeof problem.detail).toBe('string');
  });

  it('unknown routes are 404 problems; malformed JSON is 400; oversize bodies 413', async () => {
    const missing = await h.request('GET', '/v1/nope', { token: ADMIN_TOKEN });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('not-found');
    const broken = await h.app.inject({
      method: 'POST',
      url: '/v1/cards',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      payload: '{"a":',
    });
    expect(broken.statusCode).toBe(400);
    expect(broken.json().code).toBe('invalid-json');
    const big = await h.app.inject({
      method: 'POST',
      url: '/v1/cards',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ holderName: 'x'.repeat(70_000) }),
    });
    expect(big.statusCode).toBe(413);
    expect(big.json().code).toBe('body-too-large');
    const text = await h.app.inject({
      method: 'POST',
      url: '/v1/cards',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'text/plain' },
      payload: 'hi',
    });
    expect(text.statusCode).toBe(400);
    const xml = await h.app.inject({
      method: 'POST',
      url: '/v1/cards',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/xml' },
      payload: '<a/>',
    });
    expect(xml.statusCode).toBe(415);
    expect(xml.json().code).toBe('unsupported-media-type');
  });

  it('amounts that are not yuan strings are 400 invalid-amount', async () => {
    for (const overdraftLimit of [20, '20.001', '-1', '1e3', ' 20', '9999999999', null]) {
      const res = await h.request('POST', '/v1/cards', {
        token: ADMIN_TOKEN,
        body: { holderName: 'x', socialSecurityNo: SSN, profile: 'adult', overdraftLimit },
      });
      expect(res.statusCode, String(overdraftLimit)).toBe(400);
      expect(res.json().code, String(overdraftLimit)).toBe('invalid-amount');
    }
    const over = await h.request('POST', '/v1/cards', {
      token: ADMIN_TOKEN,
      body: { holderName: 'x', socialSecurityNo: SSN, profile: 'adult', overdraftLimit: '1000.01' },
    });
    expect(over.json().code).toBe('invalid-amount');
    const ok = await h.request('POST', '/v1/cards', {
      token: ADMIN_TOKEN,
      body: { holderName: 'x', socialSecurityNo: SSN, profile: 'adult', overdraftLimit: '30.50' },
    });
    expect(ok.json().card.overdraftLimit).toBe('30.50');
  });
});

describe('fares', () => {
  it('quotes distance and fare between stations; unknown stations are 404 naming the station', async () => {
    const counter = await h.counterToken();
    const res = await h.request('GET', `/v1/fares/subway?from=${encodeURIComponent('苹果园')}&to=${encodeURIComponent('古城')}`, { token: counter });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ from: '苹果园', to: '古城', distanceM: 2569, fare: '3.00', fareFen: 300 });
    const unknown = await h.request('GET', `/v1/fares/subway?from=${encodeURIComponent('苹果园')}&to=Atlantis`, { token: counter });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ code: 'station-not-found', station: 'Atlantis' });
    expect((await h.request('GET', '/v1/fares/subway?from=a', { token: counter })).statusCode).toBe(400);
  });
});

describe('devices and operations', () => {
  it('lists devices and the stale ones by window; audits operator actions', async () => {
    await h.registerDevice('gate-a');
    h.clock.advance(2 * 60 * 60 * 1000);
    await h.registerDevice('bus-b', 'bus-validator');
    await h.store.transaction((tx) => tx.run('UPDATE devices SET last_sync_ms = ? WHERE device_id = ?', [h.clock.nowMs, 'bus-b']));
    h.clock.advance(30 * 60 * 1000);
    const list = (await h.request('GET', '/v1/devices', { token: ADMIN_TOKEN })).json();
    expect(list.devices.map((d: { deviceId: string }) => d.deviceId)).toEqual(['bus-b', 'gate-a']);
    expect(JSON.stringify(list)).not.toMatch(/credential|token/i);
    const stale = (await h.request('GET', '/v1/ops/devices/stale?windowMinutes=60', { token: ADMIN_TOKEN })).json();
    expect(stale.devices.map((d: { deviceId: string }) => d.deviceId)).toEqual(['gate-a']);
    const wide = (await h.request('GET', '/v1/ops/devices/stale?windowMinutes=10', { token: ADMIN_TOKEN })).json();
    expect(wide.devices.map((d: { deviceId: string }) => d.deviceId)).toEqual(['gate-a', 'bus-b']);
    h.clock.advance(2 * DAY_MS);
    expect((await h.request('GET', '/v1/ops/devices/stale', { token: ADMIN_TOKEN })).json().devices).toHaveLength(2);
    const audit = (await h.request('GET', '/v1/ops/audit', { token: ADMIN_TOKEN })).json().entries;
    expect(audit.filter((e: { route: string }) => e.route === '/v1/devices')).toHaveLength(2);
    expect(audit[0]).toMatchObject({ role: 'operator', subject: 'admin', method: 'POST', statusCode: 201 });
  });
});

describe('logs', () => {
  it('never contain tokens, passwords, social security numbers or whole card numbers', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logged = await makeHarness({ logger: { level: 'trace', stream } });
    try {
      const counter = await logged.counterToken();
      const { cardNo } = await logged.issueCard({}, counter);
      const app = await logged.appSession(cardNo, SSN.slice(-6), 'secret-pass-42');
      await logged.request('GET', `/v1/cards/${cardNo}?x=${cardNo}`, { token: app });
      await logged.request('POST', '/v1/auth/app-sessions', { body: { cardNo, password: 'wrong-password-zz' } });
      await logged.request('GET', `/v1/cards/${cardNo}`, { token: 'forged-token-value-1234567890' });
      const device = await logged.registerDevice('gate-log');
      await logged.request('GET', '/v1/blacklist', { token: device });
      const text = lines.join('');
      expect(text.length).toBeGreaterThan(0);
      expect(text).toContain('1000********');
      for (const secret of [
        ADMIN_TOKEN,
        counter,
        app,
        device,
        SSN,
        SSN.slice(-6),
        'secret-pass-42',
        'wrong-password-zz',
        'forged-token-value-1234567890',
        cardNo,
      ]) {
        expect(text.includes(secret), `log leaks ${secret.slice(0, 4)}…`).toBe(false);
      }
    } finally {
      await logged.close();
    }
  });
});

describe('real HTTP server on loopback', () => {
  it('serves issuance, loss report and the blacklist feed over TCP', async () => {
    const address = await h.app.listen({ host: '127.0.0.1', port: 0 });
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
    expect((await fetch(`${address}/healthz`)).status).toBe(200);
    const issued = await fetch(`${address}/v1/cards`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ holderName: 'Zhao', socialSecurityNo: SSN, profile: 'senior' }),
    });
    expect(issued.status).toBe(201);
    const cardNo = ((await issued.json()) as { card: { cardNo: string } }).card.cardNo;
    const loss = await fetch(`${address}/v1/cards/${cardNo}/loss-reports`, { method: 'POST', headers: auth, body: JSON.stringify({ kind: 'formal' }) });
    expect(loss.status).toBe(201);
    const feed = (await (await fetch(`${address}/v1/blacklist?since=0`, { headers: auth })).json()) as { entries: unknown[] };
    expect(feed.entries).toEqual([{ version: 1, cardNo, op: 'add', reason: 'formal-loss' }]);
    const unauth = await fetch(`${address}/v1/blacklist`);
    expect(unauth.status).toBe(401);
    expect(unauth.headers.get('content-type')).toContain('application/problem+json');
  });
});
