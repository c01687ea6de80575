/**
 * Holders, issuing bank and the counter's service password reset (issue 16), on SQLite and on
 * PostgreSQL: the ID number never reaches the database, the logs or an answer; the same ID number
 * finds the same holder; a search answers exactly that holder's cards with masked names; the
 * issuing bank is fixed at issue and only the 15 partner banks exist; a reset needs the holder's
 * ID number, forces a change at the next sign-in and unlocks a locked login; 401/403/404 by the
 * scope rule (docs/gateway-api.md, "Callers and roles").
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildGateway } from '#gateway/app';
import type { GatewayConfig } from '#gateway/config';
import { HOLDER_KEY_FILE, holderIdKeyFor, readHolderKeyFile, StartupFiles } from '#gateway/secrets';
import { maskName } from '#gateway/services/holders';
import { PARTNER_BANKS } from '#gateway/services/partner-banks';
import { SqliteStore } from '#gateway/store/sqlite-store';
import type { Store } from '#gateway/store/store-port';
import { IssuerKeyService } from '#issuer/issuer-key-service';
import { generateKeySet } from '#issuer/key-file';
import { assertPostgresUp, dropSchema, freshSchemaName, newPgStore } from '../store/pg-test-db.ts';
import { serviceAvailable } from '../support/services.ts';
import { ADMIN_TOKEN, DEC_20_2025_MS } from './support/harness.ts';

const ID_A = '11010119900307123X';
const ID_B = '110105198512240018';
const ID_UNKNOWN = '110101200001011234';
const HOLDER_KEY = Buffer.alloc(32, 7);

interface World {
  app: FastifyInstance;
  store: Store;
  now: { ms: number };
  logs: string[];
  answers: string[];
  /** Every byte the store holds, as text (SQLite: the database file and its WAL; PostgreSQL: every row of the schema). */
  storedText(): Promise<string>;
  request(method: string, url: string, options?: { token?: string; body?: unknown }): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

async function world(dialect: 'sqlite' | 'postgres'): Promise<World> {
  const now = { ms: DEC_20_2025_MS };
  const logs: string[] = [];
  const answers: string[] = [];
  let store: Store;
  let storedText: () => Promise<string>;
  let cleanup: () => Promise<void> | void;
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'holders-'));
    const path = join(dir, 'gateway.db');
    store = new SqliteStore({ path, clock: () => now.ms });
    storedText = async () =>
      [path, `${path}-wal`, `${path}-journal`]
        .filter((p) => existsSync(p))
        .map((p) => readFileSync(p).toString('latin1'))
        .join('\n');
    cleanup = () => rmSync(dir, { recursive: true, force: true });
  } else {
    const schema = freshSchemaName('holders');
    store = newPgStore(schema, { clock: () => now.ms });
    storedText = async () =>
      store.transaction(async (tx) => {
        const tables = await tx.all<{ table_name: string }>('SELECT table_name FROM information_schema.tables WHERE table_schema = ?', [schema]);
        const out: string[] = [];
        for (const t of tables) {
          const rows = await tx.all<{ t: string }>(`SELECT CAST(x AS TEXT) AS t FROM ${schema}.${t.table_name} x`);
          out.push(...rows.map((r) => String(r.t)));
        }
        return out.join('\n');
      });
    cleanup = () => dropSchema(schema);
  }
  const stream = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const keys = IssuerKeyService.fromKeySets(new Map([[1, generateKeySet()]]));
  const app = await buildGateway({
    store,
    keys,
    clock: () => now.ms,
    adminToken: ADMIN_TOKEN,
    holderIdKey: HOLDER_KEY,
    logger: { level: 'trace', stream },
    policies: { passwordKdf: { N: 1024, r: 8, p: 1 }, lossExpiryIntervalMs: 0 },
  });
  return {
    app,
    store,
    now,
    logs,
    answers,
    storedText,
    async request(method, url, o = {}) {
      const res = await app.inject({
        method: method as 'GET',
        url,
        headers: o.token ? { authorization: `Bearer ${o.token}` } : {},
        ...(o.body !== undefined ? { payload: o.body as object } : {}),
      });
      answers.push(res.body);
      return res;
    },
    async close() {
      await app.close();
      await store.close();
      await cleanup();
    },
  };
}

const POSTGRES_UP = serviceAvailable('postgres', 'holders on PostgreSQL');
const STORES: Array<'sqlite' | 'postgres'> = ['sqlite', ...(POSTGRES_UP ? (['postgres'] as const) : [])];

beforeAll(async () => {
  if (POSTGRES_UP) await assertPostgresUp();
});

describe.each(STORES)('holders on %s', (dialect) => {
  let w: World | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  async function counter(branchId = 'B12'): Promise<string> {
    const res = await w!.request('POST', '/v1/auth/tokens', { token: ADMIN_TOKEN, body: { role: 'counter', label: `till ${branchId}`, branchId } });
    expect(res.statusCode).toBe(201);
    return res.json().token;
  }
  async function issue(token: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const res = await w!.request('POST', '/v1/cards', { token, body: { holderName: '张三', socialSecurityNo: ID_A, profile: 'adult', ...body } });
    expect(res.statusCode, res.body).toBe(201);
    return res.json().card;
  }
  const search = (token: string, idNumber: string) => w!.request('POST', '/v1/holders/search', { token, body: { idNumber } });
  const reset = (token: string, cardNo: string, idNumber: string) =>
    w!.request('POST', `/v1/cards/${cardNo}/service-password/reset`, { token, body: { idNumber } });
  const login = (cardNo: string, password: string) => w!.request('POST', '/v1/auth/app-sessions', { body: { cardNo, password } });

  it('the same ID number finds the same holder; a search answers exactly their cards, oldest first, names masked', async () => {
    w = await world(dialect);
    const till = await counter();
    const first = await issue(till, { holderName: '张三' });
    w.now.ms += 60_000;
    // An icbc branch issues icbc cards (the channel rules): the back office issues the cmb one.
    const second = await issue(ADMIN_TOKEN, { holderName: '张三', issuingBank: 'cmb' });
    const other = await issue(till, { holderName: 'Wang Fang', socialSecurityNo: ID_B });
    const holders = await w.store.transaction((tx) => tx.all<{ n: number }>('SELECT COUNT(*) AS n FROM holders'));
    expect(Number(holders[0].n)).toBe(2);

    const found = await search(till, ID_A);
    expect(found.statusCode, found.body).toBe(200);
    expect(found.json().holder).toMatchObject({ name: '张*', birthDate: 19900307 });
    expect(found.json().cards.map((c: { cardNo: string }) => c.cardNo)).toEqual([first.cardNo, second.cardNo]);
    expect(found.json().cards[1]).toMatchObject({ holderName: '张*', issuingBank: 'cmb', issuingBankName: '招商银行', status: 'active' });
    const b = await search(till, ID_B);
    expect(b.json().cards.map((c: { cardNo: string }) => c.cardNo)).toEqual([other.cardNo]);
    expect(b.json().holder.name).toBe('W*** F***');
    expect(b.json().holder.birthDate).toBe(19851224);

    const none = await search(till, ID_UNKNOWN);
    expect(none.statusCode).toBe(404);
    expect(none.json().code).toBe('holder-not-found');
    // Operators may search too.
    expect((await search(ADMIN_TOKEN, ID_A)).statusCode).toBe(200);
  });

  it('first cards of one new holder issued at once make one holder', async () => {
    w = await world(dialect);
    const till = await counter();
    const answers = await Promise.all(
      Array.from({ length: 6 }, () =>
        w!.request('POST', '/v1/cards', { token: till, body: { holderName: '李四', socialSecurityNo: ID_UNKNOWN, profile: 'adult' } }),
      ),
    );
    expect(answers.map((a) => a.statusCode)).toEqual([201, 201, 201, 201, 201, 201]);
    const holders = await w.store.transaction((tx) => tx.all<{ n: number }>('SELECT COUNT(*) AS n FROM holders'));
    expect(Number(holders[0].n)).toBe(1);
    const found = (await search(till, ID_UNKNOWN)).json();
    expect(found.cards.map((c: { cardNo: string }) => c.cardNo).sort()).toEqual(answers.map((a) => a.json().card.cardNo).sort());
  });

  it('a replacement stays with its holder and its issuing bank: the search shows the history', async () => {
    w = await world(dialect);
    // The formal loss and the replacement are done at a branch of the card's issuing bank.
    const org = await w.request('POST', '/v1/organisations', {
      token: ADMIN_TOKEN,
      body: { id: 'bob-1', name: '北京银行', channelKind: 'bank-branch', bankId: 'bob', branchId: 'bob-1' },
    });
    expect(org.statusCode).toBe(201);
    const minted = await w.request('POST', '/v1/auth/tokens', { token: ADMIN_TOKEN, body: { role: 'counter', label: 'bob till', organisationId: 'bob-1' } });
    const till: string = minted.json().token;
    const card = await issue(till, { issuingBank: 'bob' });
    expect((await w.request('POST', `/v1/cards/${card.cardNo}/loss-reports`, { token: till, body: { kind: 'formal' } })).statusCode).toBe(201);
    const replaced = await w.request('POST', `/v1/cards/${card.cardNo}/replacement`, { token: till, body: {} });
    expect(replaced.statusCode, replaced.body).toBe(201);
    expect(replaced.json().card).toMatchObject({ issuingBank: 'bob', issuingBankName: '北京银行', replaces: card.cardNo });
    const found = (await search(till, ID_A)).json();
    expect(found.cards.map((c: { cardNo: string; status: string }) => [c.cardNo, c.status])).toEqual([
      [card.cardNo, 'replaced'],
      [replaced.json().card.cardNo, 'active'],
    ]);
  });

  it('issuing bank: one of the 15, fixed at issue, shown in the card view; the default for old clients is icbc; an unknown bank is 400', async () => {
    w = await world(dialect);
    const till = await counter();
    expect(PARTNER_BANKS).toHaveLength(15);
    const plain = await issue(till, {});
    expect(plain).toMatchObject({ issuingBank: 'icbc', issuingBankName: '中国工商银行' });
    for (const bank of PARTNER_BANKS) {
      const card = await issue(ADMIN_TOKEN, { issuingBank: bank.id });
      const view = await w.request('GET', `/v1/cards/${card.cardNo}`, { token: till });
      expect(view.json()).toMatchObject({ issuingBank: bank.id, issuingBankName: bank.name });
    }
    const before = await w.store.transaction((tx) => tx.all<{ n: number }>('SELECT COUNT(*) AS n FROM cards'));
    for (const bad of ['hsbc', 'ICBC', '', 7, null]) {
      const res = await w.request('POST', '/v1/cards', {
        token: till,
        body: { holderName: '张三', socialSecurityNo: ID_A, profile: 'adult', issuingBank: bad },
      });
      expect(res.statusCode, String(bad)).toBe(400);
      expect(res.json().code).toBe('invalid-request');
    }
    const after = await w.store.transaction((tx) => tx.all<{ n: number }>('SELECT COUNT(*) AS n FROM cards'));
    expect(Number(after[0].n)).toBe(Number(before[0].n));
    // No route but the making of a new card (an issue, an application at a counter or online) takes the bank: a card's bank is never changed afterwards.
    const doc = (await w.request('GET', '/openapi.json')).json() as { paths: Record<string, Record<string, { requestBody?: unknown }>> };
    const taking: string[] = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) if (JSON.stringify(op.requestBody ?? {}).includes('"issuingBank"')) taking.push(`${method} ${path}`);
    }
    expect(taking.sort()).toEqual(['post /v1/card-applications', 'post /v1/cards', 'post /v1/holder/card-applications']);
    // A row written without the column (as the migration found the cards before it) reads the default bank.
    await w.store.transaction((tx) =>
      tx.run(
        `INSERT INTO cards (card_no, issuer_code, generation, profile, algorithm, key_version, expiry_date, overdraft_limit_fen, transit_opened, suburban_opened,
           holder_name, status, issued_by, issued_ms, updated_ms) VALUES ('1000000000009998', '1000', 3, 'adult', 'sm4', 1, 20351220, 2000, 1, 0, 'x', 'active', 'old', 1, 1)`,
      ),
    );
    expect((await w.request('GET', '/v1/cards/1000000000009998', { token: till })).json()).toMatchObject({ issuingBank: 'icbc' });
  });

  it('reset: only with the holder’s ID number; forces a change at the next sign-in; unlocks a locked login; ends open sessions', async () => {
    w = await world(dialect);
    const till = await counter();
    const card = await issue(till, {});
    const cardNo = String(card.cardNo);
    // The holder chose a password, then forgot it and locked the login.
    const first = await login(cardNo, ID_A.slice(-6));
    const session = first.json().token;
    expect(
      (await w.request('POST', '/v1/auth/app-password', { token: session, body: { currentPassword: ID_A.slice(-6), newPassword: 'chosen-secret-1' } }))
        .statusCode,
    ).toBe(200);
    for (let i = 0; i < 5; i++) expect((await login(cardNo, `wrong-${i}-pw`)).statusCode).toBe(401);
    const locked = await login(cardNo, 'chosen-secret-1');
    expect(locked.statusCode).toBe(403);
    expect(locked.json().code).toBe('account-locked');

    // Another person's ID number: refused, nothing changes.
    const wrong = await reset(till, cardNo, ID_B);
    expect(wrong.statusCode).toBe(403);
    expect(wrong.json().code).toBe('id-number-mismatch');
    expect((await login(cardNo, 'chosen-secret-1')).json().code).toBe('account-locked');

    const done = await reset(till, cardNo, ID_A);
    expect(done.statusCode, done.body).toBe(200);
    expect(done.json()).toEqual({ cardNo, mustChangePassword: true, unlocked: true });
    // The session opened before the reset is over.
    expect((await w.request('GET', `/v1/cards/${cardNo}`, { token: session })).statusCode).toBe(401);
    // The chosen password is gone; the initial one works and must be changed before anything else.
    expect((await login(cardNo, 'chosen-secret-1')).statusCode).toBe(401);
    const again = await login(cardNo, ID_A.slice(-6));
    expect(again.statusCode).toBe(201);
    expect(again.json().mustChangePassword).toBe(true);
    const blocked = await w.request('GET', `/v1/cards/${cardNo}`, { token: again.json().token });
    expect(blocked.statusCode).toBe(403);
    expect(blocked.json().code).toBe('password-change-required');
    const changed = await w.request('POST', '/v1/auth/app-password', {
      token: again.json().token,
      body: { currentPassword: ID_A.slice(-6), newPassword: 'chosen-secret-2' },
    });
    expect(changed.statusCode).toBe(200);
    expect((await w.request('GET', `/v1/cards/${cardNo}`, { token: again.json().token })).statusCode).toBe(200);

    // A reset of a login that was not locked says so.
    expect((await reset(till, cardNo, ID_A)).json()).toEqual({ cardNo, mustChangePassword: true, unlocked: false });

    // Audited: who reset which card (never the ID number).
    const audit = (await w.request('GET', '/v1/ops/audit', { token: ADMIN_TOKEN })).json().entries as Array<Record<string, unknown>>;
    const resets = audit.filter((e) => e.route === '/v1/cards/:cardNo/service-password/reset');
    expect(resets.map((e) => [e.subject, e.target, e.statusCode])).toEqual([
      ['B12', cardNo, 403],
      ['B12', cardNo, 200],
      ['B12', cardNo, 200],
    ]);
  });

  it('reset refusals: a card issued before holders were kept (409), an ended card (409), an unknown card (404)', async () => {
    w = await world(dialect);
    const till = await counter();
    const card = await issue(till, {});
    await w.store.transaction((tx) => tx.run('UPDATE cards SET holder_id = NULL WHERE card_no = ?', [String(card.cardNo)]));
    const unrecorded = await reset(till, String(card.cardNo), ID_A);
    expect(unrecorded.statusCode).toBe(409);
    expect(unrecorded.json().code).toBe('holder-not-recorded');

    const cancelled = await issue(till, {});
    expect((await w.request('POST', `/v1/cards/${cancelled.cardNo}/cancellation`, { token: till })).statusCode).toBe(200);
    const ended = await reset(till, String(cancelled.cardNo), ID_A);
    expect(ended.statusCode).toBe(409);
    expect(ended.json().code).toBe('card-not-active');

    const unknown = await reset(till, '1000999999999999', ID_A);
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().code).toBe('card-not-found');
  });

  it('401 without a credential, 403 for an app session (even on its own card), 400 only for an allowed caller', async () => {
    w = await world(dialect);
    const till = await counter();
    const card = await issue(till, {});
    const cardNo = String(card.cardNo);
    const first = await login(cardNo, ID_A.slice(-6));
    const app = first.json().token;
    await w.request('POST', '/v1/auth/app-password', { token: app, body: { currentPassword: ID_A.slice(-6), newPassword: 'chosen-secret-1' } });
    for (const [url, body] of [
      ['/v1/holders/search', { idNumber: ID_A }],
      [`/v1/cards/${cardNo}/service-password/reset`, { idNumber: ID_A }],
    ] as const) {
      const anonymous = await w.request('POST', url, { body: { nonsense: true } });
      expect(anonymous.statusCode, url).toBe(401);
      const asApp = await w.request('POST', url, { token: app, body });
      expect(asApp.statusCode, url).toBe(403);
      expect(asApp.json().code).toBe('forbidden');
      const bad = await w.request('POST', url, { token: till, body: { idNumber: '1234' } });
      expect(bad.statusCode, url).toBe(400);
      expect(bad.json().code).toBe('invalid-request');
    }
  });

  it('the ID number never appears in the store, the logs or any answer', async () => {
    w = await world(dialect);
    const till = await counter();
    const a = await issue(till, { holderName: '张三' });
    await issue(till, { holderName: 'Wang Fang', socialSecurityNo: ID_B, birthDate: 19851224 });
    await search(till, ID_A);
    await search(till, ID_B);
    await search(till, ID_UNKNOWN);
    await reset(till, String(a.cardNo), ID_B);
    await reset(till, String(a.cardNo), ID_A);
    await w.request('POST', '/v1/holders/search', { token: till, body: { idNumber: `${ID_A}0` } });
    await w.request('POST', `/v1/cards/${a.cardNo}/service-password/reset`, { token: till, body: { idNumber: ID_A.toLowerCase() } });
    await w.request('GET', '/v1/ops/audit', { token: ADMIN_TOKEN });
    const stored = await w.storedText();
    const logs = w.logs.join('');
    const answers = w.answers.join('\n');
    // The check reads the real rows: what is stored is found.
    expect(stored).toContain('Wang Fang');
    expect(stored).toContain(String(a.cardNo));
    expect(logs.length).toBeGreaterThan(0);
    for (const id of [ID_A, ID_B, ID_UNKNOWN, ID_A.toLowerCase()]) {
      for (const fragment of [id, id.slice(0, 17)]) {
        expect(stored.includes(fragment), `store holds ${fragment.slice(0, 4)}…`).toBe(false);
        expect(logs.includes(fragment), `logs hold ${fragment.slice(0, 4)}…`).toBe(false);
        expect(answers.includes(fragment), `answers hold ${fragment.slice(0, 4)}…`).toBe(false);
      }
    }
    // Nor the holder key.
    expect(stored.includes(HOLDER_KEY.toString('hex'))).toBe(false);
    // The full name is not in the logs either.
    expect(logs.includes('Wang Fang')).toBe(false);
  });
});

describe('the holder key in the secrets folder', () => {
  it('is generated once with mode 0600, reused on the next start, refused when it is not a key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'holder-key-'));
    try {
      const config = { holderKeyFile: join(dir, 'secrets', HOLDER_KEY_FILE) } as GatewayConfig;
      const files = new StartupFiles();
      const made = holderIdKeyFor(config, files);
      expect(made.source).toBe('generated');
      expect(made.key).toHaveLength(32);
      expect(statSync(config.holderKeyFile).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, 'secrets')).mode & 0o777).toBe(0o700);
      const again = holderIdKeyFor(config, new StartupFiles());
      expect(again.source).toBe('file');
      expect(again.key.equals(made.key)).toBe(true);
      writeFileSync(config.holderKeyFile, 'not a key\n');
      expect(() => readHolderKeyFile(config.holderKeyFile)).toThrow(/does not hold a holder key/);
      // A start that fails later removes what it created.
      files.undo();
      expect(existsSync(join(dir, 'secrets'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('maskName', () => {
  it('keeps the first character of each word', () => {
    expect(maskName('张三')).toBe('张*');
    expect(maskName('王小明')).toBe('王**');
    expect(maskName('Wang Fang')).toBe('W*** F***');
    expect(maskName('李')).toBe('李*');
  });
});
