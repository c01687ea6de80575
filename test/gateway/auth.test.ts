import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, makeHarness, SSN, type Harness } from './support/harness.ts';

let h: Harness;
beforeEach(async () => {
  h = await makeHarness();
});
afterEach(async () => {
  await h.close();
});

describe('authentication before validation', () => {
  it('401 without or with a bad credential, even when the body is invalid', async () => {
    const variants: Record<string, string>[] = [
      {},
      { authorization: 'Bearer not-a-real-token-but-long-enough' },
      { authorization: 'Basic abc' },
      { authorization: 'Bearer ' },
    ];
    for (const headers of variants) {
      const res = await h.request('POST', '/v1/cards', { headers, body: { nonsense: true } });
      expect(res.statusCode).toBe(401);
      expect(res.json().code).toBe('unauthenticated');
      expect(res.headers['content-type']).toContain('application/problem+json');
    }
  });

  it('403 for a wrong role before the body is validated, 400 only for an allowed caller', async () => {
    const { cardNo } = await h.issueCard();
    const app = await h.appSession(cardNo);
    const device = await h.registerDevice('gate-1');
    const counter = await h.counterToken();
    // Devices may not issue cards: 403 even with a broken body.
    expect((await h.request('POST', '/v1/cards', { token: device, body: { nonsense: true } })).statusCode).toBe(403);
    expect((await h.request('POST', '/v1/cards', { token: app, body: 'not json at all' })).statusCode).toBe(403);
    // Counters may not register devices.
    const res = await h.request('POST', '/v1/devices', { token: counter, body: {} });
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('forbidden');
    // An allowed caller with a bad body: 400.
    const bad = await h.request('POST', '/v1/cards', { token: counter, body: { nonsense: true } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('invalid-request');
  });

  it('role matrix over the platform routes', async () => {
    const { cardNo } = await h.issueCard();
    const app = await h.appSession(cardNo);
    const device = await h.registerDevice('gate-2');
    const counter = await h.counterToken();
    const tokens = { operator: ADMIN_TOKEN, counter, app, device } as const;
    const matrix: Array<[string, string, Record<keyof typeof tokens, boolean>]> = [
      ['GET', `/v1/cards/${cardNo}`, { operator: true, counter: true, app: true, device: false }],
      ['GET', `/v1/cards/${cardNo}/transactions`, { operator: true, counter: true, app: true, device: false }],
      ['GET', '/v1/blacklist?since=0', { operator: true, counter: true, app: false, device: true }],
      ['GET', '/v1/devices', { operator: true, counter: false, app: false, device: false }],
      ['GET', '/v1/ops/devices/stale', { operator: true, counter: false, app: false, device: false }],
      ['GET', '/v1/ops/audit', { operator: true, counter: false, app: false, device: false }],
      ['GET', `/v1/cards/${cardNo}/loss-reports/current`, { operator: true, counter: true, app: true, device: false }],
    ];
    for (const [method, url, allowed] of matrix) {
      for (const [role, token] of Object.entries(tokens) as Array<[keyof typeof tokens, string]>) {
        const res = await h.request(method, url, { token });
        if (allowed[role]) expect([200, 404], `${role} ${method} ${url}`).toContain(res.statusCode);
        else expect(res.statusCode, `${role} ${method} ${url}`).toBe(403);
      }
    }
  });

  it('public routes need no token', async () => {
    expect((await h.request('GET', '/healthz')).statusCode).toBe(200);
    expect((await h.request('GET', '/openapi.json')).statusCode).toBe(200);
    expect((await h.request('GET', '/docs')).statusCode).toBeLessThan(400);
  });

  it('counter tokens need a branch; created tokens work and carry their branch into the audit log', async () => {
    const noBranch = await h.request('POST', '/v1/auth/tokens', { token: ADMIN_TOKEN, body: { role: 'counter', label: 'x' } });
    expect(noBranch.statusCode).toBe(400);
    const counter = await h.counterToken('branch-042');
    const issued = await h.request('POST', '/v1/cards', { token: counter, body: { holderName: 'A', socialSecurityNo: SSN, profile: 'adult' } });
    expect(issued.statusCode).toBe(201);
    const audit = (await h.request('GET', '/v1/ops/audit', { token: ADMIN_TOKEN })).json().entries;
    expect(
      audit.some(
        (e: { branchId: string; route: string; statusCode: number }) => e.branchId === 'branch-042' && e.route === '/v1/cards' && e.statusCode === 201,
      ),
    ).toBe(true);
  });

  it('expired tokens are refused', async () => {
    const res = await h.request('POST', '/v1/auth/tokens', { token: ADMIN_TOKEN, body: { role: 'operator', label: 'temp', ttlMinutes: 1 } });
    const token = res.json().token;
    expect((await h.request('GET', '/v1/devices', { token })).statusCode).toBe(200);
    h.clock.advance(61_000);
    expect((await h.request('GET', '/v1/devices', { token })).statusCode).toBe(401);
  });
});

describe('cardholder app sessions (seed q. 16)', () => {
  it('initial password is the last 6 of the social security number and must be changed first', async () => {
    const { cardNo } = await h.issueCard();
    const login = await h.request('POST', '/v1/auth/app-sessions', { body: { cardNo, password: SSN.slice(-6) } });
    expect(login.statusCode).toBe(201);
    expect(login.json().mustChangePassword).toBe(true);
    const token = login.json().token;
    const blocked = await h.request('GET', `/v1/cards/${cardNo}`, { token });
    expect(blocked.statusCode).toBe(403);
    expect(blocked.json().code).toBe('password-change-required');
    const same = await h.request('POST', '/v1/auth/app-password', { token, body: { currentPassword: SSN.slice(-6), newPassword: SSN.slice(-6) } });
    expect(same.statusCode).toBe(400);
    const changed = await h.request('POST', '/v1/auth/app-password', { token, body: { currentPassword: SSN.slice(-6), newPassword: 'harder-pass-9' } });
    expect(changed.statusCode).toBe(200);
    expect((await h.request('GET', `/v1/cards/${cardNo}`, { token })).statusCode).toBe(200);
    // The old password no longer opens a session; the new one does, without the change demand.
    expect((await h.request('POST', '/v1/auth/app-sessions', { body: { cardNo, password: SSN.slice(-6) } })).statusCode).toBe(401);
    const again = await h.request('POST', '/v1/auth/app-sessions', { body: { cardNo, password: 'harder-pass-9' } });
    expect(again.statusCode).toBe(201);
    expect(again.json().mustChangePassword).toBe(false);
  });

  it('stores the password hashed with scrypt and a per-card salt, never the social security number', async () => {
    const a = await h.issueCard();
    const b = await h.issueCard();
    const rows = await h.store.transaction((tx) => tx.all<{ password_hash: string }>('SELECT password_hash FROM app_credentials ORDER BY card_no'));
    expect(rows).toHaveLength(2);
    expect(rows[0].password_hash).toMatch(/^scrypt\$/);
    expect(rows[0].password_hash).not.toBe(rows[1].password_hash);
    const dump = JSON.stringify(await h.store.transaction((tx) => tx.all('SELECT * FROM cards')));
    expect(dump).not.toContain(SSN);
    expect(dump).not.toContain(SSN.slice(-6));
    expect(a.cardNo).not.toBe(b.cardNo);
  });

  it('locks the account for 30 minutes after 5 consecutive failures, even for the right password', async () => {
    const { cardNo } = await h.issueCard();
    for (let i = 0; i < 5; i++) {
      const res = await h.request('POST', '/v1/auth/app-sessions', { body: { cardNo, password: `wrong-${i}` } });
      expect(res.statusCode).toBe(401);
      expect(res.json().code).toBe('invalid-credentials');
    }
    const locked = await h.request('POST', '/v1/auth/app-sessions', { body: { cardNo, password: SSN.slice(-6) } });
    expect(locked.statusCode).toBe(403);
    expect(locked.json().code).toBe('account-locked');
    h.clock.advance(30 * 60 * 1000 + 1);
    expect((await h.request('POST', '/v1/auth/app-sessions', { body: { cardNo, password: SSN.slice(-6) } })).statusCode).toBe(201);
  });

  it('four failures then a success reset the counter', async () => {
    const { cardNo } = await h.issueCard();
    for (let i = 0; i < 4; i++) await h.request('POST', '/v1/auth/app-sessions', { body: { cardNo, password: 'bad-pass' } });
    expect((await h.request('POST', '/v1/auth/app-sessions', { body: { cardNo, password: SSN.slice(-6) } })).statusCode).toBe(201);
    for (let i = 0; i < 4; i++) await h.request('POST', '/v1/auth/app-sessions', { body: { cardNo, password: 'bad-pass' } });
    expect((await h.request('POST', '/v1/auth/app-sessions', { body: { cardNo, password: SSN.slice(-6) } })).statusCode).toBe(201);
  });

  it('unknown card numbers answer like a wrong password', async () => {
    const res = await h.request('POST', '/v1/auth/app-sessions', { body: { cardNo: '1000999999999999', password: '123456' } });
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('invalid-credentials');
  });

  it('an app session may only touch its own card', async () => {
    const mine = await h.issueCard();
    const other = await h.issueCard();
    const token = await h.appSession(mine.cardNo);
    expect((await h.request('GET', `/v1/cards/${mine.cardNo}`, { token })).statusCode).toBe(200);
    // Another card is answered as one that does not exist (test/gateway/scope-answers.test.ts).
    const res = await h.request('GET', `/v1/cards/${other.cardNo}`, { token });
    expect(res.statusCode).toBe(404);
    const loss = await h.request('POST', `/v1/cards/${other.cardNo}/loss-reports`, { token, body: { kind: 'temporary' } });
    expect(loss.statusCode).toBe(404);
    const state = await h.request('GET', `/v1/cards/${other.cardNo}`, { token: ADMIN_TOKEN });
    expect(state.json().status).toBe('active');
  });
});

describe('device credentials', () => {
  it('a device credential is returned once and authenticates only that device', async () => {
    const credential = await h.registerDevice('gate-9');
    const row = await h.store.transaction((tx) =>
      tx.get<{ token_hash: string; subject: string }>("SELECT token_hash, subject FROM auth_tokens WHERE role = 'device'"),
    );
    expect(row?.subject).toBe('gate-9');
    expect(row?.token_hash).not.toContain(credential);
    expect(row?.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect((await h.request('GET', '/v1/blacklist', { token: credential })).statusCode).toBe(200);
    const dup = await h.request('POST', '/v1/devices', { token: ADMIN_TOKEN, body: { deviceId: 'gate-9', kind: 'bus-validator' } });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().code).toBe('device-exists');
  });
});
