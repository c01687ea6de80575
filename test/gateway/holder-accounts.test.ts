/**
 * The online holder account and the non-key personal data (issue 16; seed q8, q16, q31, q36), over
 * the gateway (inject) on a real SQLite file and on PostgreSQL when it is up: sign-up sends a
 * phone code (read from the simulated outbox, never from a log); sign-in needs the right password and a verified phone; the holder
 * session sees its own cards and applications; the online reset restores the initial password,
 * forces a change and unlocks a locked app login, only for the holder's own cards; address, job
 * and phone change online and at the counters the matrix allows (not at a top-up outlet), every
 * change logged with the phone masked; neither the ID number, the phone nor a code reaches a log.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildGateway } from '#gateway/app';
import { PhoneOutbox } from '#gateway/services/holder-accounts';
import { SqliteStore } from '#gateway/store/sqlite-store';
import type { Store } from '#gateway/store/store-port';
import { IssuerKeyService } from '#issuer/issuer-key-service';
import { generateKeySet } from '#issuer/key-file';
import { assertPostgresUp, dropSchema, freshSchemaName, newPgStore } from '../store/pg-test-db.ts';
import { serviceAvailable } from '../support/services.ts';
import { ADMIN_TOKEN, DEC_20_2025_MS } from './support/harness.ts';

const ID_A = '11010119900307123X';
const ID_B = '110105198512240018';
const PHONE_A = '13812345678';
const PHONE_NEW = '13900001111';
const PASSWORD = 'a-good-secret';

interface World {
  app: FastifyInstance;
  store: Store;
  outbox: PhoneOutbox;
  logs: string[];
  now: { ms: number };
  request(method: string, url: string, options?: { token?: string; body?: unknown }): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

async function world(dialect: 'sqlite' | 'postgres'): Promise<World> {
  let store: Store;
  let cleanup: () => Promise<void> | void;
  const now = { ms: DEC_20_2025_MS };
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'holder-accounts-'));
    store = new SqliteStore({ path: join(dir, 'gateway.db'), clock: () => now.ms });
    cleanup = () => rmSync(dir, { recursive: true, force: true });
  } else {
    const schema = freshSchemaName('holder_accounts');
    store = newPgStore(schema, { clock: () => now.ms });
    cleanup = () => dropSchema(schema);
  }
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const outbox = new PhoneOutbox();
  const app = await buildGateway({
    store,
    keys: IssuerKeyService.fromKeySets(new Map([[1, generateKeySet()]])),
    clock: () => now.ms,
    adminToken: ADMIN_TOKEN,
    holderIdKey: Buffer.alloc(32, 9),
    phoneOutbox: outbox,
    logger: { level: 'trace', stream },
    policies: { passwordKdf: { N: 1024, r: 8, p: 1 }, lossExpiryIntervalMs: 0 },
  });
  return {
    app,
    store,
    outbox,
    logs,
    now,
    request: (method, url, o = {}) =>
      app.inject({
        method: method as 'GET',
        url,
        headers: o.token ? { authorization: `Bearer ${o.token}` } : {},
        ...(o.body !== undefined ? { payload: o.body as object } : {}),
      }),
    async close() {
      await app.close();
      await store.close();
      await cleanup();
    },
  };
}

const POSTGRES_UP = serviceAvailable('postgres', 'holder accounts on PostgreSQL');
const STORES: Array<'sqlite' | 'postgres'> = ['sqlite', ...(POSTGRES_UP ? (['postgres'] as const) : [])];

beforeAll(async () => {
  if (POSTGRES_UP) await assertPostgresUp();
});

describe.each(STORES)('online holder accounts and non-key personal data on %s', (dialect) => {
  let w: World | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  async function counter(body: Record<string, unknown>): Promise<string> {
    const res = await w!.request('POST', '/v1/auth/tokens', { token: ADMIN_TOKEN, body: { role: 'counter', label: 'till', ...body } });
    expect(res.statusCode, res.body).toBe(201);
    return res.json().token;
  }
  async function issue(till: string, idNumber: string, holderName: string): Promise<string> {
    const res = await w!.request('POST', '/v1/cards', { token: till, body: { holderName, socialSecurityNo: idNumber, profile: 'adult' } });
    expect(res.statusCode, res.body).toBe(201);
    return res.json().card.cardNo;
  }
  const signUp = (idNumber = ID_A, phone = PHONE_A) =>
    w!.request('POST', '/v1/holder-accounts', { body: { idNumber, name: '张三', phone, password: PASSWORD } });
  const verify = (code: string, idNumber = ID_A) => w!.request('POST', '/v1/holder-accounts/phone-verification', { body: { idNumber, code } });
  const signIn = (password = PASSWORD, idNumber = ID_A) => w!.request('POST', '/v1/auth/holder-sessions', { body: { idNumber, password } });
  async function session(): Promise<string> {
    expect((await signUp()).statusCode).toBe(201);
    expect((await verify(w!.outbox.lastCode(PHONE_A, 'verify-phone')!)).statusCode).toBe(200);
    const res = await signIn();
    expect(res.statusCode, res.body).toBe(201);
    return res.json().token;
  }
  function assertNothingSecretLogged(...secrets: string[]): void {
    const text = w!.logs.join('\n');
    expect(text.length).toBeGreaterThan(0);
    for (const secret of secrets) expect(text).not.toContain(secret);
  }

  it('sign-up sends a code; sign-in needs the right password and a verified phone; one account per holder', async () => {
    w = await world(dialect);
    const opened = await signUp();
    expect(opened.statusCode, opened.body).toBe(201);
    expect(opened.json()).toEqual({ phone: '138****5678', phoneVerified: false });
    const code = w.outbox.lastCode(PHONE_A, 'verify-phone');
    expect(code).toMatch(/^[0-9]{6}$/);
    expect((await signUp()).json().code).toBe('holder-account-exists');

    // Right password, phone not verified yet.
    expect((await signIn()).json().code).toBe('phone-not-verified');
    const wrong = code === '000000' ? '000001' : '000000';
    const bad = await verify(wrong);
    expect(bad.statusCode).toBe(403);
    expect(bad.json().code).toBe('phone-code-invalid');
    expect((await verify(code!, ID_B)).json().code).toBe('phone-code-invalid');
    expect((await verify(code!)).json()).toEqual({ phoneVerified: true });
    // A code works once.
    expect((await verify(code!)).json().code).toBe('phone-code-invalid');

    const wrongPassword = await signIn('not-the-password');
    expect(wrongPassword.statusCode).toBe(401);
    expect(wrongPassword.json().code).toBe('invalid-credentials');
    expect((await signIn(PASSWORD, ID_B)).json().code).toBe('invalid-credentials');
    const ok = await signIn();
    expect(ok.statusCode, ok.body).toBe(201);
    // The holder session is a holder principal: counter routes refuse it.
    const token = ok.json().token;
    expect((await w.request('POST', '/v1/holders/search', { token, body: { idNumber: ID_A } })).statusCode).toBe(403);
    // Five wrong passwords lock the account, even against the right one.
    for (let i = 0; i < 5; i++) await signIn('not-the-password');
    expect((await signIn()).json().code).toBe('account-locked');
    assertNothingSecretLogged(ID_A, PHONE_A, code!, PASSWORD);
  });

  it('the holder session sees its cards and applications; the online reset restores the initial password and unlocks, for its own cards only', async () => {
    w = await world(dialect);
    const till = await counter({ branchId: 'B12' });
    // The application first (a holder with a card in use may not apply), then a card issued directly.
    const applied = await w.request('POST', '/v1/card-applications', {
      token: till,
      body: { holderName: '张三', socialSecurityNo: ID_A, issuingBank: 'icbc', profile: 'adult', collection: 'branch' },
    });
    expect(applied.statusCode, applied.body).toBe(201);
    const cardA = await issue(till, ID_A, '张三');
    const cardB = await issue(till, ID_B, '李四');
    const token = await session();

    const status = await w.request('GET', '/v1/holder/status', { token });
    expect(status.statusCode, status.body).toBe(200);
    expect(status.json().holder).toEqual({ name: '张*', phone: '138****5678' });
    expect(status.json().cards.map((c: { cardNo: string }) => c.cardNo)).toEqual([cardA]);
    expect(status.json().applications.map((a: { id: string }) => a.id)).toEqual([applied.json().id]);
    expect(status.json().applications[0].state).toBe('applied');

    // Lock card A's app login: five wrong service passwords.
    for (let i = 0; i < 5; i++) await w.request('POST', '/v1/auth/app-sessions', { body: { cardNo: cardA, password: 'wrong!' } });
    expect((await w.request('POST', '/v1/auth/app-sessions', { body: { cardNo: cardA, password: '07123X' } })).json().code).toBe('account-locked');

    expect((await w.request('POST', '/v1/auth/app-sessions', { body: { cardNo: cardB, password: 'wrong!' } })).statusCode).toBe(401);
    const reset = (cardNo: string, idNumber: string) => w!.request('POST', `/v1/holder/cards/${cardNo}/service-password/reset`, { token, body: { idNumber } });
    expect((await reset(cardB, ID_B)).json().code).toBe('id-number-mismatch');
    expect((await reset(cardB, ID_A)).json().code).toBe('id-number-mismatch');
    const done = await reset(cardA, ID_A);
    expect(done.statusCode, done.body).toBe(200);
    expect(done.json()).toEqual({ cardNo: cardA, mustChangePassword: true, unlocked: true });
    const app = await w.request('POST', '/v1/auth/app-sessions', { body: { cardNo: cardA, password: '07123X' } });
    expect(app.statusCode, app.body).toBe(201);
    expect(app.json().mustChangePassword).toBe(true);
    // Card B (another holder's) was not touched by the refused resets: its failure count stands.
    const b = await w.store.transaction((tx) => tx.get<{ failed_count: number }>('SELECT failed_count FROM app_credentials WHERE card_no = ?', [cardB]));
    expect(Number(b?.failed_count)).toBe(1);
  });

  it('address, job and phone change online and at the counters the matrix allows, logged with the phone masked', async () => {
    w = await world(dialect);
    const token = await session();
    const patched = await w.request('PATCH', '/v1/holder/personal-data', { token, body: { phone: PHONE_NEW, job: '教师' } });
    expect(patched.statusCode, patched.body).toBe(200);
    // The job changes at once; the new phone waits for the code sent to it.
    expect(patched.json()).toMatchObject({ phone: '138****5678', pendingPhone: '139****1111', job: '教师', changed: ['job'] });
    const online = await w.request('POST', '/v1/holder/personal-data/phone-verification', {
      token,
      body: { code: w.outbox.lastCode(PHONE_NEW, 'change-phone') },
    });
    expect(online.statusCode, online.body).toBe(200);
    expect(online.json()).toMatchObject({ phone: '139****1111', pendingPhone: null, job: '教师', address: null, changed: ['phone'] });
    expect(online.json().changes.find((c: { field: string }) => c.field === 'phone')).toMatchObject({
      oldValue: '138****5678',
      newValue: '139****1111',
      changedBy: expect.stringMatching(/^holder:/),
      organisationId: 'online',
    });
    // The account's phone followed: the status shows the new one.
    expect((await w.request('GET', '/v1/holder/status', { token })).json().holder.phone).toBe('139****1111');
    expect((await w.request('PATCH', '/v1/holder/personal-data', { token, body: {} })).statusCode).toBe(400);
    expect((await w.request('PATCH', '/v1/holder/personal-data', { token, body: { name: '王五' } })).statusCode).toBe(400);

    for (const org of [
      { id: 'sp-1', name: '街道服务网点', channelKind: 'service-point' },
      { id: 'topup-1', name: '一卡通充值网点', channelKind: 'ykt-top-up-outlet' },
    ]) {
      expect((await w.request('POST', '/v1/organisations', { token: ADMIN_TOKEN, body: org })).statusCode).toBe(201);
    }
    const servicePoint = await counter({ organisationId: 'sp-1' });
    const topUp = await counter({ organisationId: 'topup-1' });
    const refused = await w.request('POST', '/v1/holders/personal-data', { token: topUp, body: { idNumber: ID_A, address: '别处' } });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().code).toBe('channel-not-allowed');
    const atCounter = await w.request('POST', '/v1/holders/personal-data', { token: servicePoint, body: { idNumber: ID_A, address: '北京市朝阳区XX路1号' } });
    expect(atCounter.statusCode, atCounter.body).toBe(200);
    expect(atCounter.json()).toMatchObject({ address: '北京市朝阳区XX路1号', job: '教师', phone: '139****1111', changed: ['address'] });
    expect(atCounter.json().changes[0]).toMatchObject({ field: 'address', oldValue: null, organisationId: 'sp-1' });
    expect((await w.request('POST', '/v1/holders/personal-data', { token: servicePoint, body: { idNumber: ID_B, job: 'x' } })).json().code).toBe(
      'holder-not-found',
    );
    const read = (await w.request('GET', '/v1/holder/personal-data', { token })).json();
    expect(read.changes.map((c: { field: string }) => c.field).sort()).toEqual(['address', 'job', 'phone']);
    expect(read.address).toBe('北京市朝阳区XX路1号');

    // Nowhere in the store's change log or in the logs is a phone in clear.
    const stored = await w.store.transaction((tx) =>
      tx.all<{ old_value: string | null; new_value: string | null }>('SELECT old_value, new_value FROM personal_data_changes'),
    );
    expect(JSON.stringify(stored)).not.toContain(PHONE_NEW);
    assertNothingSecretLogged(ID_A, PHONE_A, PHONE_NEW);
  });

  it('codes are resent at most once a minute and 5 an hour, expire after 10 minutes, and a new phone changes only with its code', async () => {
    w = await world(dialect);
    const resend = (idNumber = ID_A) => w!.request('POST', '/v1/holder-accounts/phone-verification/resend', { body: { idNumber } });
    expect((await signUp()).statusCode).toBe(201);
    const first = w.outbox.lastCode(PHONE_A, 'verify-phone')!;
    // Too soon after the sign-up code: 429, nothing sent.
    const sent = w.outbox.messages.length;
    const soon = await resend();
    expect(soon.statusCode).toBe(429);
    expect(soon.json()).toMatchObject({ code: 'phone-code-too-soon', retryAfterSeconds: 60 });
    expect(w.outbox.messages.length).toBe(sent);
    // An unknown ID number gets the same answer as a real one, and nothing is sent.
    const unknown = await resend(ID_B);
    expect(unknown.statusCode).toBe(202);
    expect(w.outbox.messages.length).toBe(sent);
    // A minute later: a new code; the first one ends.
    w.now.ms += 61_000;
    expect((await resend()).statusCode).toBe(202);
    const second = w.outbox.lastCode(PHONE_A, 'verify-phone')!;
    expect((await verify(first)).json().code).toBe('phone-code-invalid');
    // Three more, a minute apart: five this hour, the sixth is refused until the hour has passed.
    for (let i = 0; i < 3; i++) {
      w.now.ms += 61_000;
      expect((await resend()).statusCode).toBe(202);
    }
    w.now.ms += 61_000;
    const capped = await resend();
    expect(capped.json()).toMatchObject({ code: 'phone-code-too-soon' });
    expect(capped.json().retryAfterSeconds).toBeGreaterThan(3_000);
    // The newest code expires 10 minutes after it was sent.
    const newest = w.outbox.lastCode(PHONE_A, 'verify-phone')!;
    expect(newest).not.toBe(second);
    w.now.ms += 10 * 60_000;
    expect((await verify(newest)).json().code).toBe('phone-code-invalid');
    w.now.ms += 60 * 60_000;
    expect((await resend()).statusCode).toBe(202);
    expect((await verify(w.outbox.lastCode(PHONE_A, 'verify-phone')!)).json()).toEqual({ phoneVerified: true });
    // A verified account gets no more sign-up codes.
    w.now.ms += 61_000;
    const before = w.outbox.messages.length;
    expect((await resend()).statusCode).toBe(202);
    expect(w.outbox.messages.length).toBe(before);

    // The phone change online: nothing changes until the new phone's code comes back.
    const token = (await signIn()).json().token as string;
    const confirm = (code: string) => w!.request('POST', '/v1/holder/personal-data/phone-verification', { token, body: { code } });
    const changeResend = () => w!.request('POST', '/v1/holder/personal-data/phone-verification/resend', { token });
    expect((await confirm('000000')).json().code).toBe('no-phone-change-pending');
    expect((await changeResend()).json().code).toBe('no-phone-change-pending');
    expect((await w.request('PATCH', '/v1/holder/personal-data', { token, body: { phone: PHONE_NEW } })).json()).toMatchObject({
      phone: '138****5678',
      pendingPhone: '139****1111',
      changed: [],
    });
    const changeCode = w.outbox.lastCode(PHONE_NEW, 'change-phone')!;
    const wrong = changeCode === '000000' ? '000001' : '000000';
    expect((await confirm(wrong)).json().code).toBe('phone-code-invalid');
    expect((await w.request('GET', '/v1/holder/status', { token })).json().holder.phone).toBe('138****5678');
    expect((await changeResend()).json().code).toBe('phone-code-too-soon');
    w.now.ms += 61_000;
    expect((await changeResend()).statusCode).toBe(202);
    expect((await confirm(changeCode)).json().code).toBe('phone-code-invalid');
    const changed = await confirm(w.outbox.lastCode(PHONE_NEW, 'change-phone')!);
    expect(changed.json()).toMatchObject({ phone: '139****1111', pendingPhone: null, changed: ['phone'] });
    expect((await w.request('GET', '/v1/holder/status', { token })).json().holder.phone).toBe('139****1111');
    expect((await confirm(w.outbox.lastCode(PHONE_NEW, 'change-phone')!)).json().code).toBe('no-phone-change-pending');
    assertNothingSecretLogged(ID_A, PHONE_A, PHONE_NEW);
  });

  it("applies for the holder's card online: mailed, progress in the status, one at a time; a minor's application is a guardian's at a counter", async () => {
    w = await world(dialect);
    const token = await session();
    const apply = (body: Record<string, unknown>, t = token) => w!.request('POST', '/v1/holder/card-applications', { token: t, body });
    expect((await apply({ idNumber: ID_B, issuingBank: 'ccb' })).json().code).toBe('id-number-mismatch');
    const applied = await apply({ idNumber: ID_A, issuingBank: 'ccb' });
    expect(applied.statusCode, applied.body).toBe(201);
    expect(applied.json()).toMatchObject({
      kind: 'application',
      reason: 'first-card',
      state: 'applied',
      collection: 'mail',
      issuingBank: 'ccb',
      holderName: '张*',
    });
    expect((await apply({ idNumber: ID_A, issuingBank: 'ccb' })).json().code).toBe('application-open');
    const status = (await w.request('GET', '/v1/holder/status', { token })).json();
    expect(status.applications.map((a: { id: string }) => a.id)).toEqual([applied.json().id]);
    // A counter finds the same application by ID number (progress on every channel, q36).
    const branch = await counter({ branchId: 'B1' });
    const found = await w.request('POST', '/v1/card-applications/search', { token: branch, body: { socialSecurityNo: ID_A } });
    expect(found.json().applications[0]).toMatchObject({ id: applied.json().id, collection: 'mail' });

    // A minor (born 2012) has an account but applies only through a guardian at a counter.
    const MINOR = '110101201203071236';
    expect(
      (await w.request('POST', '/v1/holder-accounts', { body: { idNumber: MINOR, name: '小明', phone: '13700000000', password: PASSWORD } })).statusCode,
    ).toBe(201);
    expect((await verify(w.outbox.lastCode('13700000000', 'verify-phone')!, MINOR)).statusCode).toBe(200);
    const minorToken = (await signIn(PASSWORD, MINOR)).json().token as string;
    expect((await apply({ idNumber: MINOR, issuingBank: 'icbc' }, minorToken)).json()).toMatchObject({ code: 'guardian-required', rule: 'apply@minor' });
    assertNothingSecretLogged(ID_A, MINOR);
  });
});
