/**
 * The sandbox in process (gateway/src/sandbox): the `Sandbox: true` header on every answer, the
 * forward-only clock that runs the jobs falling due (temporary loss expiry after 15 days, refund
 * payout after 2 natural days), and the virtual cards over HTTP: a torn CREDIT FOR LOAD resolved
 * through the card's log, a park-pass sale written to the card. The start refusals run as real
 * processes in sandbox-start.test.ts; the documented curl top-up in sandbox-curl.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TRANSACTION_TYPE } from '#core';
import { buildGateway } from '#gateway/app';
import { isoBeijing } from '#gateway/http/wire';
import { parkPassYearOnSale } from '#gateway/services/park-passes';
import { REFUND_PAYOUT_MARGIN_MS } from '#gateway/services/refunds';
import { buildSandboxGateway, openSandbox } from '#gateway/sandbox/sandbox-start';
import type { SandboxOptions } from '#gateway/sandbox/install';
import { SqliteStore } from '#gateway/store/sqlite-store';
import { IssuerKeyService } from '#issuer/issuer-key-service';
import { loadOrCreateSandboxKeyFile } from '#issuer/key-file';

const ADMIN = 'sandbox-test-admin-token-0123456789';
const TERMINAL = '0000000001A1';
const DAY_MS = 24 * 60 * 60 * 1000;
/** 2026-03-10 10:00 Beijing: outside the park-pass sale window. */
const START_MS = Date.UTC(2026, 2, 10, 2, 0, 0);

interface Sandbox {
  app: FastifyInstance;
  store: SqliteStore;
  sandbox: SandboxOptions;
  gatewayKeys: IssuerKeyService;
  real: { ms: number };
  dir: string;
}

let s: Sandbox;
let counter: Record<string, string>;
const admin = { authorization: `Bearer ${ADMIN}` };

beforeEach(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-gw-'));
  const real = { ms: START_MS };
  const keyFile = join(dir, 'secrets', 'issuer-keys.json');
  const keys = loadOrCreateSandboxKeyFile(keyFile);
  const gatewayKeys = IssuerKeyService.fromKeySets(keys.keySets, keys.currentKeyVersion);
  const store = new SqliteStore({ path: join(dir, 'gateway.db'), clock: () => real.ms });
  let seed = 0x5eed;
  const random = () => {
    seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
    return Uint8Array.of(seed >>> 24, seed >>> 16, seed >>> 8, seed);
  };
  const sandbox = await openSandbox(store, keyFile, { created: true, realNow: () => real.ms, random });
  const app = await buildSandboxGateway({
    store,
    keys: gatewayKeys,
    adminToken: ADMIN,
    policies: { lossExpiryIntervalMs: 0 },
    metricsRefreshIntervalMs: 0,
    sandbox,
  });
  s = { app, store, sandbox, gatewayKeys, real, dir };
  const token = await app.inject({
    method: 'POST',
    url: '/v1/auth/tokens',
    headers: admin,
    payload: { role: 'counter', label: 'sandbox teller', branchId: 'branch-01' },
  });
  counter = { authorization: `Bearer ${token.json().token}` };
});

afterEach(async () => {
  await s.app.close();
  await s.store.close();
  rmSync(s.dir, { recursive: true, force: true });
});

async function issueCard(): Promise<string> {
  const res = await s.app.inject({
    method: 'POST',
    url: '/v1/cards',
    headers: admin,
    payload: { holderName: 'Sandbox Rider', socialSecurityNo: '11010119900307123X', profile: 'adult' },
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().card.cardNo;
}

function card(cardNo: string, command: string, payload?: Record<string, unknown>, headers = counter): Promise<LightMyRequestResponse> {
  return s.app.inject(
    payload === undefined
      ? { method: 'POST', url: `/v1/sandbox/cards/${cardNo}/${command}`, headers }
      : { method: 'POST', url: `/v1/sandbox/cards/${cardNo}/${command}`, headers, payload },
  );
}

async function moveClock(body: Record<string, string>) {
  return s.app.inject({ method: 'POST', url: '/v1/sandbox/clock', headers: admin, payload: body });
}

/** INITIALIZE FOR LOAD on the virtual card → POST /v1/loads: the authorised (pending) load. */
async function authorisedLoad(cardNo: string, amount: string, key: string) {
  const init = (await card(cardNo, 'initialize-for-load', { amount, terminalId: TERMINAL })).json();
  expect(init.sw).toBe('9000');
  const { onlineAtc, cardRandom, balanceBeforeFen, mac1, keyVersion, algorithm } = init;
  const res = await s.app.inject({
    method: 'POST',
    url: '/v1/loads',
    headers: { ...counter, 'idempotency-key': key },
    payload: { cardNo, amount, paymentSource: 'cash', terminalId: TERMINAL, onlineAtc, cardRandom, balanceBeforeFen, mac1, keyVersion, algorithm },
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { id: string; mac2: string; date: number; time: number; status: string };
}

async function loadStatus(id: string): Promise<string> {
  return (await s.app.inject({ method: 'GET', url: `/v1/loads/${id}`, headers: counter })).json().status;
}

describe('Sandbox: true on every answer', () => {
  it('success, 401, 404 (route and card), 400 (schema and JSON), 409', async () => {
    const cardNo = await issueCard();
    const answers = [
      await s.app.inject({ method: 'GET', url: '/healthz' }),
      await s.app.inject({ method: 'GET', url: '/v1/sandbox/clock', headers: counter }),
      await s.app.inject({ method: 'GET', url: '/v1/sandbox/clock' }),
      await s.app.inject({ method: 'GET', url: '/v1/no-such-route', headers: admin }),
      await card('1000000000000099', 'get-balance'),
      await card(cardNo, 'read-record', { index: 0 }),
      await s.app.inject({
        method: 'POST',
        url: `/v1/sandbox/cards/${cardNo}/read-record`,
        headers: { ...counter, 'content-type': 'application/json' },
        payload: '{"index":',
      }),
      await moveClock({ to: '2020-01-01T00:00:00+08:00' }),
      await s.app.inject({ method: 'GET', url: '/openapi.json' }),
    ];
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 401, 404, 404, 400, 400, 409, 200]);
    for (const answer of answers) expect(answer.headers.sandbox, `${answer.statusCode} ${answer.body.slice(0, 80)}`).toBe('true');
  });
});

describe('the sandbox in the published contract', () => {
  it('every sandbox operation has a summary, a description, bearer security, examples and problem+json errors; a gateway without the sandbox has none', async () => {
    const doc = (await s.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const paths = Object.keys(doc.paths).filter((p) => p.startsWith('/v1/sandbox/'));
    expect(paths.length).toBeGreaterThanOrEqual(10);
    for (const path of paths) {
      for (const [method, op] of Object.entries(doc.paths[path] as Record<string, Record<string, any>>)) {
        const where = `${method.toUpperCase()} ${path}`;
        expect(op.summary, where).toBeTruthy();
        expect(op.description, where).toBeTruthy();
        expect(op.security, where).toEqual([{ bearerAuth: [] }]);
        expect(Object.keys(op.responses['200'].content['application/json'].examples ?? {}), where).not.toHaveLength(0);
        if (op.requestBody) expect(Object.keys(op.requestBody.content['application/json'].examples ?? {}), where).not.toHaveLength(0);
        for (const status of ['400', '401', '403', '500', ...(path.includes('{cardNo}') ? ['404'] : [])]) {
          expect(Object.keys(op.responses[status]?.content ?? {}), `${where} ${status}`).toEqual(['application/problem+json']);
        }
      }
    }
    const store = new SqliteStore({ path: join(s.dir, 'plain.db') });
    const plain = await buildGateway({ store, keys: s.gatewayKeys, adminToken: ADMIN, metricsRefreshIntervalMs: 0, policies: { lossExpiryIntervalMs: 0 } });
    try {
      const res = await plain.inject({ method: 'GET', url: '/openapi.json' });
      expect(res.headers.sandbox).toBeUndefined();
      expect(Object.keys(res.json().paths).filter((p) => p.startsWith('/v1/sandbox'))).toEqual([]);
      expect((await plain.inject({ method: 'GET', url: '/v1/sandbox/clock', headers: admin })).statusCode).toBe(404);
    } finally {
      await plain.close();
      await store.close();
    }
  });
});

describe('the sandbox clock', () => {
  it('moves forward only: by a duration or to a later instant; backwards is a problem and changes nothing', async () => {
    const before = (await s.app.inject({ method: 'GET', url: '/v1/sandbox/clock', headers: counter })).json();
    expect(before).toMatchObject({ nowMs: START_MS, nowAt: '2026-03-10T10:00:00.000+08:00', offsetSeconds: 0 });

    const negative = await moveClock({ by: '-P1D' });
    expect(negative.statusCode).toBe(400);
    expect(negative.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(negative.json()).toMatchObject({ code: 'invalid-duration', detail: expect.stringContaining('forward only') });
    const earlier = await moveClock({ to: '2026-03-09T10:00:00+08:00' });
    expect(earlier.statusCode).toBe(409);
    expect(earlier.json().code).toBe('sandbox-clock-backwards');
    expect((await moveClock({ by: 'P1D', to: '2026-03-12T10:00:00+08:00' })).statusCode).toBe(400);
    expect((await s.app.inject({ method: 'GET', url: '/v1/sandbox/clock', headers: counter })).json().nowMs).toBe(START_MS);

    const day = await moveClock({ by: 'P1DT2H' });
    expect(day.statusCode, day.body).toBe(200);
    expect(day.json()).toMatchObject({ fromMs: START_MS, nowMs: START_MS + 26 * 3_600_000, nowAt: '2026-03-11T12:00:00.000+08:00' });
    const to = await moveClock({ to: '2026-03-20T09:30:00+08:00' });
    expect(to.json().nowMs).toBe(Date.UTC(2026, 2, 20, 1, 30));
    // Real time flows on under the shift; the gateway's clock reads the shifted time.
    s.real.ms += 5_000;
    expect(s.app.gateway.clock()).toBe(Date.UTC(2026, 2, 20, 1, 30) + 5_000);
    // Only operators move it.
    expect((await s.app.inject({ method: 'POST', url: '/v1/sandbox/clock', headers: counter, payload: { by: 'P1D' } })).statusCode).toBe(403);
  });

  it('the shift is kept in the sandbox database: a restarted sandbox keeps its time', async () => {
    await moveClock({ by: 'P3D' });
    const reopened = await openSandbox(s.store, join(s.dir, 'secrets', 'issuer-keys.json'), { created: false, realNow: () => s.real.ms });
    expect(reopened.clock.now()).toBe(START_MS + 3 * DAY_MS);
  });

  it('moving 15 days expires a temporary loss at once', async () => {
    const cardNo = await issueCard();
    const lost = await s.app.inject({ method: 'POST', url: `/v1/cards/${cardNo}/loss-reports`, headers: counter, payload: { kind: 'temporary' } });
    expect(lost.statusCode, lost.body).toBe(201);
    const status = async () => (await s.store.transaction((tx) => tx.get<{ status: string }>('SELECT status FROM cards WHERE card_no = ?', [cardNo])))?.status;
    expect(await status()).toBe('temporary-loss');
    const almost = await moveClock({ by: 'P14D' });
    expect(almost.json().jobs.temporaryLossesExpired).toBe(0);
    expect(await status()).toBe('temporary-loss');
    const moved = await moveClock({ by: 'P1D' });
    expect(moved.json().jobs).toEqual({ temporaryLossesExpired: 1, refundsPaid: [] });
    expect(await status()).toBe('active');
  });

  it('moving past the 2 natural days pays a waiting refund at once', async () => {
    const cardNo = await issueCard();
    const load = await authorisedLoad(cardNo, '20.00', 'refund-load');
    const tac = (await card(cardNo, 'credit-for-load', { date: load.date, time: load.time, mac2: load.mac2 })).json().tac;
    expect((await s.app.inject({ method: 'POST', url: `/v1/loads/${load.id}/confirm`, headers: counter, payload: { tac } })).json().status).toBe('confirmed');
    // A registered validator that has not drained yet: the refund waits for its deadline.
    const device = await s.app.inject({
      method: 'POST',
      url: '/v1/devices',
      headers: admin,
      payload: { deviceId: 'gate-1', kind: 'subway-gate', station: 'S1' },
    });
    expect(device.statusCode, device.body).toBe(201);
    const requested = await s.app.inject({
      method: 'POST',
      url: `/v1/cards/${cardNo}/refunds`,
      headers: counter,
      payload: { destinationAccount: '6222020200112233445', destinationName: 'Sandbox Rider' },
    });
    expect(requested.statusCode, requested.body).toBeLessThan(300);
    const refund = requested.json();
    expect(refund.status).not.toBe('paid');

    const oneDay = await moveClock({ by: 'P1D' });
    expect(oneDay.json().jobs.refundsPaid).toEqual([]);
    const due = await moveClock({ to: isoBeijing(refund.deadlineMs - REFUND_PAYOUT_MARGIN_MS) });
    expect(due.statusCode, due.body).toBe(200);
    expect(due.json().jobs.refundsPaid).toEqual([String(refund.id)]);
    const state = (await s.app.inject({ method: 'GET', url: `/v1/refunds/${refund.id}`, headers: counter })).json();
    expect(state).toMatchObject({ status: 'paid', settledBy: 'deadline', paidFen: 2_000 });
  });
});

describe('virtual cards', () => {
  it('a whole top-up over HTTP; the card service keys are not the gateway key port', async () => {
    const cardNo = await issueCard();
    const load = await authorisedLoad(cardNo, '50.00', 'top-up');
    const credit = (await card(cardNo, 'credit-for-load', { date: load.date, time: load.time, mac2: load.mac2 })).json();
    expect(credit).toMatchObject({ sw: '9000', answered: true });
    const confirmed = await s.app.inject({ method: 'POST', url: `/v1/loads/${load.id}/confirm`, headers: counter, payload: { tac: credit.tac } });
    expect(confirmed.json().status).toBe('confirmed');
    expect((await card(cardNo, 'get-balance')).json()).toMatchObject({ sw: '9000', balance: '50.00', balanceFen: 5_000 });
    const prove = (await card(cardNo, 'get-transaction-prove', { transactionType: TRANSACTION_TYPE.load, atc: 0 })).json();
    expect(prove).toMatchObject({ sw: '9000', mac: load.mac2, tac: credit.tac });
    expect((await card(cardNo, 'get-transaction-prove', { transactionType: TRANSACTION_TYPE.load, atc: 7 })).json().sw).toBe('6A83');
    // Out of order: CREDIT without INITIALIZE is the card's 6985.
    expect((await card(cardNo, 'credit-for-load', { date: load.date, time: load.time, mac2: load.mac2 })).json().sw).toBe('6985');
    expect(s.sandbox.cards).not.toBe(s.gatewayKeys);
    expect(JSON.stringify(s.sandbox.cards)).not.toMatch(/[0-9A-F]{32}/);
  });

  it('a torn CREDIT FOR LOAD that the card committed: resolved through the card log over HTTP (confirmed)', async () => {
    const cardNo = await issueCard();
    const load = await authorisedLoad(cardNo, '30.00', 'torn-after');
    expect((await card(cardNo, 'tear', { command: 'creditForLoad', moment: 'after-write' })).json()).toEqual({
      tearArmed: { command: 'creditForLoad', moment: 'after-write' },
    });
    const torn = (await card(cardNo, 'credit-for-load', { date: load.date, time: load.time, mac2: load.mac2 })).json();
    expect(torn).toEqual({ sw: '0000', answered: false, data: '' });
    expect(await loadStatus(load.id)).toBe('pending');

    // The counter reads the card: its online ATC and log, and sends them as evidence.
    const view = (await s.app.inject({ method: 'GET', url: `/v1/sandbox/cards/${cardNo}`, headers: counter })).json();
    expect(view).toMatchObject({ balanceFen: 3_000, onlineAtc: 1, tearArmed: null });
    const log = [];
    for (let index = 1; ; index++) {
      const read = (await card(cardNo, 'read-record', { index })).json();
      if (read.sw !== '9000') {
        expect(read.sw).toBe('6A83');
        break;
      }
      log.push({ atc: read.record.atc, amountFen: read.record.amountFen, type: read.record.type });
    }
    expect(log).toEqual([{ atc: 0, amountFen: 3_000, type: TRANSACTION_TYPE.load }]);
    const evidence = await s.app.inject({
      method: 'POST',
      url: `/v1/cards/${cardNo}/log-evidence`,
      headers: counter,
      payload: { onlineAtc: view.onlineAtc, log },
    });
    expect(evidence.json()).toEqual({ confirmed: [load.id], voided: [], reinstated: [] });
    expect(await loadStatus(load.id)).toBe('confirmed');
  });

  it('a torn CREDIT FOR LOAD proved by GET TRANSACTION PROVE: the proved TAC confirms the load', async () => {
    const cardNo = await issueCard();
    const load = await authorisedLoad(cardNo, '40.00', 'torn-prove');
    await card(cardNo, 'tear', { command: 'creditForLoad', moment: 'after-write' });
    expect((await card(cardNo, 'credit-for-load', { date: load.date, time: load.time, mac2: load.mac2 })).json().answered).toBe(false);
    const prove = (await card(cardNo, 'get-transaction-prove', { transactionType: TRANSACTION_TYPE.load, atc: 0 })).json();
    expect(prove).toMatchObject({ sw: '9000', mac: load.mac2 });
    const confirmed = await s.app.inject({ method: 'POST', url: `/v1/loads/${load.id}/confirm`, headers: counter, payload: { tac: prove.tac } });
    expect(confirmed.json().status).toBe('confirmed');
    expect((await card(cardNo, 'get-balance')).json().balanceFen).toBe(4_000);
  });

  it('a torn CREDIT FOR LOAD that the card did not commit: the log proves it, the load is voided', async () => {
    const cardNo = await issueCard();
    const load = await authorisedLoad(cardNo, '30.00', 'torn-before');
    await card(cardNo, 'tear', { command: 'creditForLoad', moment: 'before-write' });
    expect((await card(cardNo, 'credit-for-load', { date: load.date, time: load.time, mac2: load.mac2 })).json().answered).toBe(false);
    const view = (await s.app.inject({ method: 'GET', url: `/v1/sandbox/cards/${cardNo}`, headers: counter })).json();
    expect(view).toMatchObject({ balanceFen: 0, onlineAtc: 0, log: [] });
    expect((await card(cardNo, 'read-record', { index: 1 })).json().sw).toBe('6A83');
    const evidence = await s.app.inject({ method: 'POST', url: `/v1/cards/${cardNo}/log-evidence`, headers: counter, payload: { onlineAtc: 0, log: [] } });
    expect(evidence.json()).toEqual({ confirmed: [], voided: [load.id], reinstated: [] });
  });

  it('an app session runs a whole top-up on its own virtual card; another card answers 404 as if it did not exist', async () => {
    const cardNo = await issueCard();
    const other = await issueCard();
    const opened = await s.app.inject({ method: 'POST', url: '/v1/auth/app-sessions', payload: { cardNo, password: '07123X' } });
    expect(opened.statusCode, opened.body).toBe(201);
    const app = { authorization: `Bearer ${opened.json().token}` };
    const changed = await s.app.inject({
      method: 'POST',
      url: '/v1/auth/app-password',
      headers: app,
      payload: { currentPassword: '07123X', newPassword: 'sandbox-secret-1' },
    });
    expect(changed.statusCode, changed.body).toBe(200);

    const init = (await card(cardNo, 'initialize-for-load', { amount: '20.00', terminalId: TERMINAL }, app)).json();
    expect(init.sw).toBe('9000');
    const { onlineAtc, cardRandom, balanceBeforeFen, mac1, keyVersion, algorithm } = init;
    const load = await s.app.inject({
      method: 'POST',
      url: '/v1/loads',
      headers: { ...app, 'idempotency-key': 'app-load' },
      payload: { cardNo, amount: '20.00', paymentSource: 'app', terminalId: TERMINAL, onlineAtc, cardRandom, balanceBeforeFen, mac1, keyVersion, algorithm },
    });
    expect(load.statusCode, load.body).toBe(201);
    const { id, date, time, mac2 } = load.json();
    const tac = (await card(cardNo, 'credit-for-load', { date, time, mac2 }, app)).json().tac;
    const confirmed = await s.app.inject({ method: 'POST', url: `/v1/loads/${id}/confirm`, headers: app, payload: { tac } });
    expect(confirmed.json().status).toBe('confirmed');
    expect((await card(cardNo, 'get-balance', undefined, app)).json().balanceFen).toBe(2_000);

    const foreign = await card(other, 'get-balance', undefined, app);
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json().code).toBe('card-not-found');
  });

  it('a tear can be disarmed; a card the gateway did not issue is 404', async () => {
    const cardNo = await issueCard();
    await card(cardNo, 'tear', { command: 'initializeForLoad', moment: 'before-write' });
    expect((await s.app.inject({ method: 'DELETE', url: `/v1/sandbox/cards/${cardNo}/tear`, headers: counter })).json()).toEqual({ tearArmed: null });
    expect((await card(cardNo, 'initialize-for-load', { amount: '10.00', terminalId: TERMINAL })).json().sw).toBe('9000');
    const unknown = await card('1000000000000099', 'get-challenge');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().code).toBe('card-not-found');
  });

  it('a park-pass sale written to the virtual card (the clock moved into the sale window)', async () => {
    const cardNo = await issueCard();
    // 20 December of the current sandbox year, 10:00 Beijing: in the window.
    const year = new Date(START_MS).getUTCFullYear();
    const moved = await moveClock({ to: `${year}-12-20T10:00:00+08:00` });
    expect(moved.statusCode, moved.body).toBe(200);
    const passYear = parkPassYearOnSale(s.app.gateway.clock());
    expect(passYear).toBe(year + 1);

    const challenge = (await card(cardNo, 'get-challenge')).json();
    expect(challenge).toMatchObject({ sw: '9000', challenge: expect.stringMatching(/^[0-9A-F]{8}$/) });
    const sale = await s.app.inject({
      method: 'POST',
      url: `/v1/cards/${cardNo}/park-passes`,
      headers: { ...counter, 'idempotency-key': 'pass-1' },
      payload: { challenge: challenge.challenge, paymentSource: 'cash' },
    });
    expect(sale.statusCode, sale.body).toBe(201);
    const write = sale.json().write;
    const written = (await card(cardNo, 'update-record', write)).json();
    expect(written).toEqual({ sw: '9000', answered: true, data: '' });
    const view = (await s.app.inject({ method: 'GET', url: `/v1/sandbox/cards/${cardNo}`, headers: counter })).json();
    expect(view.parkPasses.map((p: { year: number }) => p.year)).toContain(passYear);
    // The same write again: the challenge was used up (6985).
    expect((await card(cardNo, 'update-record', write)).json().sw).toBe('6985');
  });

  it('the card state survives the card service: a new one reads it from the sandbox database', async () => {
    const cardNo = await issueCard();
    const load = await authorisedLoad(cardNo, '10.00', 'persist');
    const tac = (await card(cardNo, 'credit-for-load', { date: load.date, time: load.time, mac2: load.mac2 })).json().tac;
    await s.app.inject({ method: 'POST', url: `/v1/loads/${load.id}/confirm`, headers: counter, payload: { tac } });
    const again = await openSandbox(s.store, join(s.dir, 'secrets', 'issuer-keys.json'), { created: false, realNow: () => s.real.ms });
    const image = await again.cards.image(cardNo);
    expect(image.balanceFen).toBe(1_000);
    expect(image.onlineAtc).toBe(1);
  });
});
