/**
 * Organisations and the channel matrix at the API (issue 16; services/channel-rules.ts), on
 * SQLite and PostgreSQL: migration 007 turns existing counter tokens into tellers of a bank-branch
 * organisation of their branch id; operators create organisations and counter tokens for them;
 * every route names its operation; a street service point, an outlet, the hotline and another
 * bank's branch are refused what the matrix refuses them (a stable code, the rule, plain words,
 * nothing changed) and do what it allows; the operator token does not top up or refund.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildGateway } from '#gateway/app';
import { hashToken, principalForToken } from '#gateway/auth/tokens';
import { SqliteStore } from '#gateway/store/sqlite-store';
import { MIGRATIONS } from '#gateway/store/migrations/index';
import type { Migration } from '#gateway/store/migrate';
import type { Store } from '#gateway/store/store-port';
import { IssuerKeyService } from '#issuer/issuer-key-service';
import { generateKeySet } from '#issuer/key-file';
import { assertPostgresUp, dropSchema, freshSchemaName, newPgStore } from '../store/pg-test-db.ts';
import { serviceAvailable } from '../support/services.ts';
import { ADMIN_TOKEN, DEC_20_2025_MS } from './support/harness.ts';

const ID_A = '11010119900307123X';
/** 2026-03-02 10:00 Beijing: after the mass exchange. */
const MAR_2_2026_MS = Date.UTC(2026, 2, 2, 2);

type Dialect = 'sqlite' | 'postgres';

function newStore(
  dialect: Dialect,
  clock: () => number,
  migrations?: readonly Migration[],
): { store: Store; cleanup: () => Promise<void> | void; reopen: () => Store } {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'channels-'));
    const path = join(dir, 'gateway.db');
    return {
      store: new SqliteStore({ path, clock, migrations }),
      reopen: () => new SqliteStore({ path, clock }),
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const schema = freshSchemaName('channels');
  return { store: newPgStore(schema, { clock, migrations }), reopen: () => newPgStore(schema, { clock }), cleanup: () => dropSchema(schema) };
}

interface World {
  app: FastifyInstance;
  store: Store;
  now: { ms: number };
  request(method: string, url: string, options?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

async function world(dialect: Dialect): Promise<World> {
  const now = { ms: DEC_20_2025_MS };
  const { store, cleanup } = newStore(dialect, () => now.ms);
  const keys = IssuerKeyService.fromKeySets(new Map([[1, generateKeySet()]]));
  const app = await buildGateway({
    store,
    keys,
    clock: () => now.ms,
    adminToken: ADMIN_TOKEN,
    policies: { passwordKdf: { N: 1024, r: 8, p: 1 }, lossExpiryIntervalMs: 0 },
  });
  return {
    app,
    store,
    now,
    request: (method, url, o = {}) =>
      app.inject({
        method: method as 'GET',
        url,
        headers: { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...(o.headers ?? {}) },
        ...(o.body !== undefined ? { payload: o.body as object } : {}),
      }),
    async close() {
      await app.close();
      await store.close();
      await cleanup();
    },
  };
}

const POSTGRES_UP = serviceAvailable('postgres', 'channels on PostgreSQL');
const STORES: Dialect[] = ['sqlite', ...(POSTGRES_UP ? (['postgres'] as const) : [])];

beforeAll(async () => {
  if (POSTGRES_UP) await assertPostgresUp();
});

/** Fields of a load body the channel check sees before any MAC is verified. */
function loadBody(cardNo: string, paymentSource: string) {
  return {
    cardNo,
    amount: '50.00',
    paymentSource,
    onlineAtc: 0,
    cardRandom: '01020304',
    balanceBeforeFen: 0,
    mac1: '00000000',
    keyVersion: 1,
    algorithm: 'sm4',
    terminalId: '000000000001',
  };
}

describe.each(STORES)('migration 007 on %s', (dialect) => {
  it('turns existing counter tokens into tellers of an icbc branch organisation of their branch id; other roles get none', async () => {
    const clock = () => DEC_20_2025_MS;
    const before = MIGRATIONS.filter((m) => m.id < 7);
    const { store, reopen, cleanup } = newStore(dialect, clock, before);
    try {
      await store.migrate();
      const tokens = {
        legacy: 'legacy-counter-token-0123456789abcdef',
        noBranch: 'legacy-counter-nobranch-0123456789',
        op: 'operator-token-0123456789abcdefgh',
      };
      await store.transaction(async (tx) => {
        const insert = 'INSERT INTO auth_tokens (token_hash, role, subject, branch_id, label, created_by, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)';
        await tx.run(insert, [hashToken(tokens.legacy), 'counter', 'B12', 'B12', 'till', 'test', 1]);
        await tx.run(insert, [hashToken(tokens.noBranch), 'counter', 'B99', null, 'till', 'test', 1]);
        await tx.run(insert, [hashToken(tokens.op), 'operator', 'night', null, 'night', 'test', 1]);
      });
      await store.close();
      const after = reopen();
      try {
        await after.migrate();
        const [legacy, noBranch, op] = await after.transaction(
          async (tx) => [
            await principalForToken(tx, tokens.legacy, 2),
            await principalForToken(tx, tokens.noBranch, 2),
            await principalForToken(tx, tokens.op, 2),
          ],
          { readOnly: true },
        );
        expect(legacy).toMatchObject({
          role: 'counter',
          subject: 'B12',
          staffRole: 'teller',
          organisation: { id: 'B12', channelKind: 'bank-branch', bankId: 'icbc', branchId: 'B12' },
        });
        expect(noBranch?.organisation).toEqual({ id: 'B99', channelKind: 'bank-branch', bankId: 'icbc', branchId: 'B99' });
        expect(op).toMatchObject({ role: 'operator', organisation: null, staffRole: null });
        // The online channel's row exists; a new holder session may be stored (the role check accepts it).
        const online = await after.transaction((tx) => tx.get<{ channel_kind: string }>("SELECT channel_kind FROM organisations WHERE id = 'online'"));
        expect(online?.channel_kind).toBe('online');
        await after.transaction((tx) =>
          tx.run("INSERT INTO auth_tokens (token_hash, role, subject, label, created_by, created_ms) VALUES ('h', 'holder', '1', 'x', 'x', 1)"),
        );
        // A bank branch without a bank is refused by the table itself.
        await expect(
          after.transaction((tx) =>
            tx.run("INSERT INTO organisations (id, name, channel_kind, created_by, created_ms) VALUES ('x', 'x', 'bank-branch', 'x', 1)"),
          ),
        ).rejects.toThrow();
      } finally {
        await after.close();
      }
    } finally {
      await cleanup();
    }
  });
});

describe.each(STORES)('channels on %s', (dialect) => {
  let w: World | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  async function org(body: Record<string, unknown>): Promise<void> {
    const res = await w!.request('POST', '/v1/organisations', { token: ADMIN_TOKEN, body });
    expect(res.statusCode, res.body).toBe(201);
  }
  async function token(organisationId: string, staffRole?: string): Promise<string> {
    const res = await w!.request('POST', '/v1/auth/tokens', {
      token: ADMIN_TOKEN,
      body: { role: 'counter', label: `till ${organisationId}`, organisationId, staffRole },
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json().token;
  }
  async function setup() {
    w = await world(dialect);
    await org({ id: 'icbc-B12', name: '工商银行西单支行', channelKind: 'bank-branch', bankId: 'icbc', branchId: 'B12' });
    await org({ id: 'ccb-C1', name: '建设银行', channelKind: 'bank-branch', bankId: 'ccb', branchId: 'C1' });
    await org({ id: 'sp-1', name: '西长安街街道服务网点', channelKind: 'service-point' });
    await org({ id: 'ykt-1', name: '一卡通自营网点', channelKind: 'ykt-outlet' });
    await org({ id: 'topup-1', name: '一卡通充值网点', channelKind: 'ykt-top-up-outlet' });
    await org({ id: 'hotline', name: '96066', channelKind: 'hotline' });
    const t = {
      icbc: await token('icbc-B12'),
      ccb: await token('ccb-C1'),
      sp: await token('sp-1'),
      ykt: await token('ykt-1'),
      topUp: await token('topup-1'),
      hotline: await token('hotline'),
    };
    const issued = await w.request('POST', '/v1/cards', { token: t.icbc, body: { holderName: '张三', socialSecurityNo: ID_A, profile: 'adult' } });
    expect(issued.statusCode, issued.body).toBe(201);
    return { t, cardNo: issued.json().card.cardNo as string, card: issued.json().card };
  }
  async function loadCount(): Promise<number> {
    return Number((await w!.store.transaction((tx) => tx.get<{ n: number }>('SELECT COUNT(*) AS n FROM loads')))!.n);
  }

  it('a bank branch issues its own bank’s cards; a street service point top-up is refused with its rule and plain words, nothing taken', async () => {
    const { t, cardNo, card } = await setup();
    expect(card.issuingBank).toBe('icbc');
    const refused = await w!.request('POST', '/v1/loads', { token: t.sp, body: loadBody(cardNo, 'cash'), headers: { 'idempotency-key': 'sp-1' } });
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ code: 'channel-not-allowed', rule: 'top-up@service-point', operation: 'top-up', channel: 'service-point' });
    expect(refused.json().detail).toContain('street service points do not handle transit top-ups');
    expect(await loadCount()).toBe(0);
    // The other bank's branch issues its own bank's cards, never another's.
    const ccbCard = await w!.request('POST', '/v1/cards', {
      token: t.ccb,
      body: { holderName: '李四', socialSecurityNo: '110105198512240018', profile: 'adult' },
    });
    expect(ccbCard.json().card.issuingBank).toBe('ccb');
    const wrongBank = await w!.request('POST', '/v1/cards', {
      token: t.ccb,
      body: { holderName: '李四', socialSecurityNo: '110105198512240018', profile: 'adult', issuingBank: 'icbc' },
    });
    expect(wrongBank.statusCode).toBe(403);
    expect(wrongBank.json()).toMatchObject({ code: 'issuing-bank-only', rule: 'apply@bank-branch' });
  });

  it('top-up: outlets and any bank branch take cash; the card’s own account only at its issuing bank; the hotline and the operator not at all', async () => {
    const { t, cardNo } = await setup();
    const attempt = (tok: string, source: string, key: string) =>
      w!.request('POST', '/v1/loads', { token: tok, body: loadBody(cardNo, source), headers: { 'idempotency-key': key } });
    // Passing the channel check means reaching the card's MAC1, which this made-up one fails.
    for (const [tok, source] of [
      [t.ykt, 'cash'],
      [t.topUp, 'cash'],
      [t.ccb, 'cash'],
      [t.ccb, 'other-bank-card'],
      [t.icbc, 'bank-account'],
    ] as const) {
      const res = await attempt(tok, source, `ok-${source}-${tok.slice(0, 6)}`);
      expect(res.json().code, res.body).toBe('mac1-invalid');
    }
    const ownAccountElsewhere = await attempt(t.ccb, 'bank-account', 'own-ccb');
    expect(ownAccountElsewhere.statusCode).toBe(403);
    expect(ownAccountElsewhere.json()).toMatchObject({ code: 'own-account-issuing-bank-only', issuingBank: 'icbc' });
    const atOutlet = await attempt(t.ykt, 'bank-account', 'own-ykt');
    expect(atOutlet.json().code).toBe('own-account-issuing-bank-only');
    expect((await attempt(t.hotline, 'cash', 'hotline')).json()).toMatchObject({ code: 'channel-not-allowed', rule: 'top-up@hotline' });
    const operator = await attempt(ADMIN_TOKEN, 'cash', 'operator');
    expect(operator.statusCode).toBe(403);
    expect(operator.json()).toMatchObject({ code: 'operator-not-a-channel', rule: 'top-up@operator' });
    expect(await loadCount()).toBe(0);
  });

  it('issuing-bank cells: formal loss, replacement, lifting, unblock and refund only at the card’s issuing bank', async () => {
    const { t, cardNo } = await setup();
    // Temporary loss: the hotline may; lifting it early: only the issuing bank (not the service point, not ccb).
    expect((await w!.request('POST', `/v1/cards/${cardNo}/loss-reports`, { token: t.hotline, body: { kind: 'temporary' } })).statusCode).toBe(201);
    expect((await w!.request('GET', `/v1/cards/${cardNo}`, { token: t.hotline })).statusCode).toBe(200);
    const liftSp = await w!.request('DELETE', `/v1/cards/${cardNo}/loss-reports/current`, { token: t.sp });
    expect(liftSp.json()).toMatchObject({ code: 'channel-not-allowed', rule: 'loss-lift@service-point' });
    const liftCcb = await w!.request('DELETE', `/v1/cards/${cardNo}/loss-reports/current`, { token: t.ccb });
    expect(liftCcb.json()).toMatchObject({ code: 'issuing-bank-only', rule: 'loss-lift@bank-branch' });
    expect((await w!.request('GET', `/v1/cards/${cardNo}/loss-reports/current`, { token: t.icbc })).statusCode).toBe(200);
    expect((await w!.request('DELETE', `/v1/cards/${cardNo}/loss-reports/current`, { token: t.icbc })).statusCode).toBe(200);
    // Unblock and refund at ccb: refused, the card untouched.
    expect((await w!.request('POST', `/v1/cards/${cardNo}/unblock`, { token: t.ccb, body: { challenge: '01020304' } })).json().code).toBe('issuing-bank-only');
    const refund = await w!.request('POST', `/v1/cards/${cardNo}/refunds`, {
      token: t.ccb,
      body: { destinationAccount: '6222020200112233456', destinationName: '张三' },
    });
    expect(refund.json()).toMatchObject({ code: 'issuing-bank-only', rule: 'exchange@bank-branch' });
    expect(
      (
        await w!.request('POST', `/v1/cards/${cardNo}/refunds`, { token: t.sp, body: { destinationAccount: '6222020200112233456', destinationName: '张三' } })
      ).json().code,
    ).toBe('channel-not-allowed');
    // Formal loss: not at ccb, not at the service point, yes at icbc; the replacement likewise.
    expect((await w!.request('POST', `/v1/cards/${cardNo}/loss-reports`, { token: t.ccb, body: { kind: 'formal' } })).json().code).toBe('issuing-bank-only');
    expect((await w!.request('POST', `/v1/cards/${cardNo}/loss-reports`, { token: t.sp, body: { kind: 'formal' } })).json().rule).toBe(
      'loss-formal@service-point',
    );
    expect((await w!.request('GET', `/v1/cards/${cardNo}`, { token: t.icbc })).json()).toMatchObject({ status: 'active', blacklist: null });
    expect((await w!.request('POST', `/v1/cards/${cardNo}/loss-reports`, { token: t.icbc, body: { kind: 'formal' } })).statusCode).toBe(201);
    expect((await w!.request('POST', `/v1/cards/${cardNo}/replacement`, { token: t.ccb, body: {} })).json().code).toBe('issuing-bank-only');
    expect((await w!.request('POST', `/v1/cards/${cardNo}/replacement`, { token: ADMIN_TOKEN, body: {} })).json().code).toBe('operator-not-a-channel');
    const replaced = await w!.request('POST', `/v1/cards/${cardNo}/replacement`, { token: t.icbc, body: {} });
    expect(replaced.statusCode, replaced.body).toBe(201);
    expect(replaced.json().card.issuingBank).toBe('icbc');
  });

  it('status queries: the hotline and the self-operated outlet may, the top-up outlet may not; park pass and suburban rail per the matrix', async () => {
    const { t, cardNo } = await setup();
    expect((await w!.request('GET', `/v1/cards/${cardNo}`, { token: t.ykt })).statusCode).toBe(200);
    expect((await w!.request('GET', `/v1/cards/${cardNo}`, { token: t.topUp })).json()).toMatchObject({
      code: 'channel-not-allowed',
      rule: 'status-query@ykt-top-up-outlet',
    });
    const park = await w!.request('POST', `/v1/cards/${cardNo}/park-passes`, {
      token: t.sp,
      body: { challenge: '01020304' },
      headers: { 'idempotency-key': 'p1' },
    });
    expect(park.json()).toMatchObject({ code: 'channel-not-allowed', rule: 'park-pass@service-point' });
    const suburbanSp = await w!.request('POST', `/v1/cards/${cardNo}/functions`, { token: t.sp, body: { challenge: '01020304', suburban: true } });
    expect(suburbanSp.json().code).toBe('channel-not-allowed');
    const suburbanYkt = await w!.request('POST', `/v1/cards/${cardNo}/functions`, { token: t.ykt, body: { challenge: '01020304', suburban: true } });
    expect(suburbanYkt.statusCode, suburbanYkt.body).toBe(200);
    // Service password reset at a street service point: allowed (q6).
    const reset = await w!.request('POST', `/v1/cards/${cardNo}/service-password/reset`, { token: t.sp, body: { idNumber: ID_A } });
    expect(reset.statusCode, reset.body).toBe(200);
    // Cancellation ends transit: at a service point refused (the social-security function only, q33).
    expect((await w!.request('POST', `/v1/cards/${cardNo}/cancellation`, { token: t.sp })).json().rule).toBe('cancel-transit-refund@service-point');
  });

  it('service points take no applications during the mass exchange, and do after it', async () => {
    const { t } = await setup();
    const body = { holderName: '王五', socialSecurityNo: '110101200001011234', profile: 'adult' };
    const during = await w!.request('POST', '/v1/cards', { token: t.sp, body });
    expect(during.statusCode).toBe(403);
    expect(during.json()).toMatchObject({ code: 'mass-exchange-paused', rule: 'apply@service-point' });
    expect((await w!.request('POST', '/v1/cards', { token: t.ykt, body })).json().code).toBe('channel-not-allowed');
    w!.now.ms = MAR_2_2026_MS;
    const after = await w!.request('POST', '/v1/cards', { token: t.sp, body });
    expect(after.statusCode, after.body).toBe(201);
  });

  it('organisations: operators create them (shape checked, ids unique); counter tokens carry the organisation and staff role; old clients’ branchId still works', async () => {
    w = await world(dialect);
    const bad = [
      { id: 'x1', name: 'x', channelKind: 'bank-branch', branchId: 'B1' },
      { id: 'x2', name: 'x', channelKind: 'bank-branch', bankId: 'icbc' },
      { id: 'x3', name: 'x', channelKind: 'service-point', bankId: 'icbc' },
      { id: 'x4', name: 'x', channelKind: 'bank-branch', bankId: 'hsbc', branchId: 'B1' },
      { id: 'has space', name: 'x', channelKind: 'hotline' },
    ];
    for (const body of bad) expect((await w.request('POST', '/v1/organisations', { token: ADMIN_TOKEN, body })).statusCode, JSON.stringify(body)).toBe(400);
    await org({ id: 'sp-1', name: 'sp', channelKind: 'service-point' });
    expect(
      (await w.request('POST', '/v1/organisations', { token: ADMIN_TOKEN, body: { id: 'sp-1', name: 'again', channelKind: 'hotline' } })).json().code,
    ).toBe('organisation-exists');
    const sup = await w.request('POST', '/v1/auth/tokens', {
      token: ADMIN_TOKEN,
      body: { role: 'counter', label: 'lead', organisationId: 'sp-1', staffRole: 'supervisor' },
    });
    expect(sup.json()).toMatchObject({ organisationId: 'sp-1', channelKind: 'service-point', staffRole: 'supervisor', subject: 'sp-1' });
    expect((await w.request('POST', '/v1/organisations', { token: sup.json().token, body: { id: 'x', name: 'x', channelKind: 'hotline' } })).statusCode).toBe(
      403,
    );
    const principal = await w.store.transaction((tx) => principalForToken(tx, sup.json().token, w!.now.ms), { readOnly: true });
    expect(principal).toMatchObject({ staffRole: 'supervisor', organisation: { id: 'sp-1', channelKind: 'service-point', bankId: null } });
    const unknown = await w.request('POST', '/v1/auth/tokens', { token: ADMIN_TOKEN, body: { role: 'counter', label: 'x', organisationId: 'nope' } });
    expect(unknown.json().code).toBe('organisation-not-found');
    const legacy = await w.request('POST', '/v1/auth/tokens', { token: ADMIN_TOKEN, body: { role: 'counter', label: 'old', branchId: 'B7' } });
    expect(legacy.json()).toMatchObject({ organisationId: 'B7', channelKind: 'bank-branch', staffRole: 'teller', branchId: 'B7' });
    const list = await w.request('GET', '/v1/organisations', { token: ADMIN_TOKEN });
    expect(list.json().organisations.map((o: { id: string }) => o.id)).toEqual(['B7', 'online', 'sp-1']);
    const matrix = await w.request('GET', '/v1/channel-matrix', { token: sup.json().token });
    expect(matrix.json().operations.find((o: { operation: string }) => o.operation === 'top-up').cells['service-point']).toBe('refused');
  });

  it('agents (q37) report a temporary loss, recorded with a hash of their ID number; not a formal one; a minor acts through a guardian (q24)', async () => {
    const { t, cardNo } = await setup();
    const AGENT_ID = '110105198512240018';
    const agent = { actingAs: 'agent', idNumber: AGENT_ID, name: '李四', document: { kind: 'written-authorisation', reference: 'WT-1' } };
    const formal = await w!.request('POST', `/v1/cards/${cardNo}/loss-reports`, { token: t.icbc, body: { kind: 'formal', agent } });
    expect(formal.json()).toMatchObject({ code: 'agent-not-allowed', rule: 'loss-formal@agent' });
    const wrongDocument = await w!.request('POST', `/v1/cards/${cardNo}/loss-reports`, {
      token: t.icbc,
      body: { kind: 'temporary', agent: { ...agent, document: { kind: 'birth-certificate', reference: 'x' } } },
    });
    expect(wrongDocument.statusCode).toBe(400);
    const reported = await w!.request('POST', `/v1/cards/${cardNo}/loss-reports`, { token: t.icbc, body: { kind: 'temporary', agent } });
    expect(reported.statusCode, reported.body).toBe(201);
    const acts = await w!.store.transaction((tx) => tx.all<Record<string, string | number | null>>('SELECT * FROM agent_acts'));
    expect(acts).toHaveLength(1);
    expect(acts[0]).toMatchObject({
      card_no: cardNo,
      operation: 'loss-temporary',
      acting_as: 'agent',
      agent_name: '李四',
      document_kind: 'written-authorisation',
      organisation_id: 'icbc-B12',
    });
    expect(String(acts[0].agent_id_hmac)).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(acts)).not.toContain(AGENT_ID);
    expect(JSON.stringify(acts)).not.toContain(AGENT_ID.slice(-6));
    // A holder born in 2012 is a minor in 2025: only a guardian with proof reports for them.
    const minorCard = await w!.request('POST', '/v1/cards', {
      token: t.icbc,
      body: {
        holderName: '小明',
        socialSecurityNo: '110101201203071236',
        profile: 'student',
        agent: { actingAs: 'guardian', idNumber: AGENT_ID, name: '李四', document: { kind: 'birth-certificate', reference: 'BC-1' } },
      },
    });
    const minor = minorCard.json().card.cardNo as string;
    expect((await w!.request('POST', `/v1/cards/${minor}/loss-reports`, { token: t.icbc, body: { kind: 'temporary' } })).json().code).toBe('guardian-required');
    expect((await w!.request('POST', `/v1/cards/${minor}/loss-reports`, { token: t.icbc, body: { kind: 'temporary', agent } })).json().code).toBe(
      'guardian-required',
    );
    const guardian = { actingAs: 'guardian', idNumber: AGENT_ID, name: '李四', document: { kind: 'household-register', reference: 'HK-9' } };
    expect((await w!.request('POST', `/v1/cards/${minor}/loss-reports`, { token: t.icbc, body: { kind: 'temporary', guardian } })).statusCode).toBe(400);
    const byGuardian = await w!.request('POST', `/v1/cards/${minor}/loss-reports`, { token: t.icbc, body: { kind: 'temporary', agent: guardian } });
    expect(byGuardian.statusCode, byGuardian.body).toBe(201);
    // An adult's card: a guardian is not an agent.
    expect((await w!.request('GET', `/v1/cards/${cardNo}`, { token: t.icbc })).json().lossReport.kind).toBe('temporary');
  });

  it('every route a counter, app or holder session may call names its operation or says why it has none', async () => {
    w = await world(dialect);
    const missing = w.app.gatewayRoutes.filter(
      (r) =>
        (r.roles ?? []).some((role) => role === 'counter' || role === 'app' || role === 'holder') &&
        r.operation === undefined &&
        r.noChannelOperation === undefined,
    );
    expect(missing.map((r) => `${r.method} ${r.url}`)).toEqual([]);
  });
});
