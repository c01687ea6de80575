/**
 * A real gateway on a temp SQLite file (or a fresh PostgreSQL schema) with the real issuer key
 * service, real card simulators and a software PSAM, for the money tests: every MAC1, MAC2 and
 * TAC here is genuine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pack, unpack } from 'msgpackr';
import { afterEach, beforeEach } from 'vitest';
import {
  CardSimulator,
  SW,
  TRANSACTION_TYPE,
  cardSerialFromCardNo,
  parseCardImage,
  runPurchase,
  transactionDateBytes,
  transactionTimeBytes,
  type JournalRecord,
  type Operator,
  type SyncRequest,
  type SyncResponse,
} from '#core';
import { buildGateway, type BuildGatewayOptions } from '#gateway/app';
import { SqliteStore } from '#gateway/store/sqlite-store';
import type { Store } from '#gateway/store/store-port';
import type { IssuerKeyService } from '#issuer/issuer-key-service';
import { beijingDateTime } from '#gateway/services/money-time';
import { reconcile } from '#gateway/services/ledger';
import { makeIssuer, makePsam, seededRandom } from '../purse/fixtures.ts';
import { dropSchema, freshSchemaName, newPgStore } from '../store/pg-test-db.ts';
import type { SoftwarePsam } from '#validator/psam';
import { loadRequestFromCard, type LoadRequestBody } from '#validator/rider/issue-cards';

export const ADMIN_TOKEN = 'money-test-admin-token-0123456789';
export const COUNTER_TERMINAL = '0000000001A1';
/** 2026-03-10 10:00 Beijing time. */
export const START_MS = Date.UTC(2026, 2, 10, 2, 0, 0);

export interface MoneyHarness {
  app: FastifyInstance;
  store: SqliteStore;
  issuer: IssuerKeyService;
  now: { ms: number };
  dir: string;
  admin: Record<string, string>;
  close(): Promise<void>;
}

/** The gateway on `store` at the test clock, with the admin token; `cleanup` runs after the store closed. */
async function moneyHarnessOn(
  store: Store,
  now: { ms: number },
  dir: string,
  cleanup: () => Promise<void> | void,
  options: Pick<BuildGatewayOptions, 'logger' | 'metricsRefreshIntervalMs' | 'policies' | 'clearingCertificates'>,
): Promise<MoneyHarness> {
  const issuer = makeIssuer();
  const app = await buildGateway({
    store,
    keys: issuer,
    clock: () => now.ms,
    adminToken: ADMIN_TOKEN,
    ...options,
    policies: { lossExpiryIntervalMs: 0, ...options.policies },
  });
  return {
    app,
    // The SQLite-only members (`stats`) are read by SQLite-only tests; the helpers here use only `transaction`.
    store: store as SqliteStore,
    issuer,
    now,
    dir,
    admin: { authorization: `Bearer ${ADMIN_TOKEN}` },
    async close() {
      await app.close();
      await store.close();
      await cleanup();
    },
  };
}

/**
 * `options.logger`: pino options (e.g. `{ level: 'info', stream }`) for tests that read the log; none by default.
 * `options.metricsRefreshIntervalMs`: 0 for tests that run the store metrics job themselves.
 * `options.policies`: gateway policies over the test defaults (e.g. instantCardBranches).
 */
export async function startMoneyGateway(
  options: Pick<BuildGatewayOptions, 'logger' | 'metricsRefreshIntervalMs' | 'policies' | 'clearingCertificates'> = {},
): Promise<MoneyHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'money-gw-'));
  const now = { ms: START_MS };
  const store = new SqliteStore({ path: join(dir, 'gateway.db'), clock: () => now.ms });
  return moneyHarnessOn(store, now, dir, () => rmSync(dir, { recursive: true, force: true }), options);
}

/** The same harness on a fresh PostgreSQL schema (test/store/pg-test-db.ts), dropped on close. */
export async function startPgMoneyGateway(options: Pick<BuildGatewayOptions, 'policies' | 'clearingCertificates'> = {}): Promise<MoneyHarness> {
  const schema = freshSchemaName('money');
  const now = { ms: START_MS };
  const store = newPgStore(schema, { clock: () => now.ms });
  return moneyHarnessOn(store, now, '', () => dropSchema(schema), options);
}

/**
 * A fresh SQLite money gateway and a counter token (branch-01) for every test of the file:
 * started before each test and handed to `use`; after it, the books must balance
 * (assertBooksBalance) and the gateway is closed. Usage:
 *   let h: MoneyHarness;
 *   let counter: Record<string, string>;
 *   moneyGatewayForEachTest((t) => ({ h, counter } = t));
 */
export function moneyGatewayForEachTest(use: (t: { h: MoneyHarness; counter: Record<string, string> }) => void): void {
  let current: MoneyHarness | undefined;
  beforeEach(async () => {
    current = await startMoneyGateway();
    use({ h: current, counter: await counterHeaders(current) });
  });
  afterEach(async () => {
    const h = current;
    current = undefined;
    if (h !== undefined) await closeCheckingBooks(h);
  });
}

/** The end of a money test: the books must balance (assertBooksBalance); the gateway is closed either way. */
export async function closeCheckingBooks(h: MoneyHarness): Promise<void> {
  try {
    await assertBooksBalance(h);
  } finally {
    await h.close();
  }
}

export async function counterHeaders(h: MoneyHarness, branchId = 'branch-01'): Promise<Record<string, string>> {
  const res = await h.app.inject({
    method: 'POST',
    url: '/v1/auth/tokens',
    headers: h.admin,
    payload: { role: 'counter', label: `teller ${branchId}`, branchId },
  });
  if (res.statusCode !== 201 && res.statusCode !== 200) throw new Error(`counter token: ${res.statusCode} ${res.body}`);
  return { authorization: `Bearer ${res.json().token}` };
}

/**
 * Bearer headers of an app session on `cardNo`: signs in with the first password (the last six of
 * the holder's ID) and changes it, as the gateway requires before anything else.
 */
export async function appSessionHeaders(h: MoneyHarness, cardNo: string): Promise<Record<string, string>> {
  const opened = await h.app.inject({ method: 'POST', url: '/v1/auth/app-sessions', payload: { cardNo, password: '07123X' } });
  if (opened.statusCode !== 201) throw new Error(`app session: ${opened.statusCode} ${opened.body}`);
  const headers = { authorization: `Bearer ${opened.json().token}` };
  const changed = await h.app.inject({
    method: 'POST',
    url: '/v1/auth/app-password',
    headers,
    payload: { currentPassword: '07123X', newPassword: 'new-secret-1' },
  });
  if (changed.statusCode !== 200) throw new Error(`password change: ${changed.statusCode} ${changed.body}`);
  return headers;
}

let cardSeed = 1;

/**
 * Issues a card through POST /v1/cards and puts its image into a card simulator. Every card is
 * the one test holder's unless `holder` names another (ID number, issuing bank, suburban rail).
 */
export async function issueCard(
  h: MoneyHarness,
  algorithm: '3des' | 'sm4' = '3des',
  holder: { socialSecurityNo?: string; issuingBank?: string; suburbanOpened?: boolean; cardNo?: string } = {},
): Promise<{ cardNo: string; card: CardSimulator }> {
  const res = await h.app.inject({
    method: 'POST',
    url: '/v1/cards',
    headers: h.admin,
    payload: { holderName: 'Test Rider', socialSecurityNo: '11010119900307123X', profile: 'adult', algorithm, ...holder },
  });
  if (res.statusCode !== 201 && res.statusCode !== 200) throw new Error(`issue card: ${res.statusCode} ${res.body}`);
  const body = res.json();
  return { cardNo: body.card.cardNo, card: cardFromImage(body.cardImage) };
}

/** A card simulator holding the image an answer carries (hex). */
export function cardFromImage(imageHex: string): CardSimulator {
  const image = parseCardImage(Uint8Array.from(Buffer.from(imageHex, 'hex')));
  return new CardSimulator(image, seededRandom(0x9e3779b9 ^ cardSeed++));
}

export async function registerDevice(h: MoneyHarness, deviceId: string): Promise<Record<string, string>> {
  const res = await h.app.inject({ method: 'POST', url: '/v1/devices', headers: h.admin, payload: { deviceId, kind: 'subway-gate', station: 'S1' } });
  if (res.statusCode !== 201) throw new Error(`register device: ${res.statusCode} ${res.body}`);
  return { authorization: `Bearer ${res.json().credential}` };
}

export type LoadBody = LoadRequestBody;

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex').toUpperCase();

/** INITIALIZE FOR LOAD on the card → the POST /v1/loads body. */
export function initLoad(card: CardSimulator, cardNo: string, amountFen: number, paymentSource = 'cash'): LoadBody {
  return loadRequestFromCard(card, cardNo, amountFen, COUNTER_TERMINAL, paymentSource);
}

/** CREDIT FOR LOAD with the gateway's MAC2 → the card's TAC (hex). */
export function creditLoad(card: CardSimulator, load: { mac2: string; date: number; time: number }): string {
  const answer = card.creditForLoad(transactionDateBytes(load.date), transactionTimeBytes(load.time), Buffer.from(load.mac2, 'hex'));
  if (answer.sw !== SW.success) throw new Error(`CREDIT FOR LOAD: ${answer.sw.toString(16)}`);
  return hex(answer.data.slice(0, 4));
}

/** A complete, confirmed load: INIT → POST /v1/loads → CREDIT → confirm. */
export async function loadCard(
  h: MoneyHarness,
  headers: Record<string, string>,
  card: CardSimulator,
  cardNo: string,
  amountFen: number,
  key: string,
): Promise<void> {
  const body = initLoad(card, cardNo, amountFen);
  const res = await h.app.inject({ method: 'POST', url: '/v1/loads', headers: { ...headers, 'idempotency-key': key }, payload: body });
  if (res.statusCode !== 201) throw new Error(`load: ${res.statusCode} ${res.body}`);
  const load = res.json();
  const tac = creditLoad(card, load);
  const confirm = await h.app.inject({ method: 'POST', url: `/v1/loads/${load.id}/confirm`, headers, payload: { tac } });
  if (confirm.statusCode !== 200) throw new Error(`confirm: ${confirm.statusCode} ${confirm.body}`);
}

export interface Validator {
  deviceId: string;
  psam: SoftwarePsam;
  seq: number;
  headers: Record<string, string>;
}

export async function makeValidator(h: MoneyHarness, deviceId: string, terminal: number): Promise<Validator> {
  const headers = await registerDevice(h, deviceId);
  const terminalId = Uint8Array.of(0x20, 0x26, 0, 0, (terminal >> 8) & 0xff, terminal & 0xff);
  return { deviceId, psam: makePsam(h.issuer, terminalId, 1), seq: 0, headers };
}

/**
 * A genuine purchase on the card through the PSAM → its journal record. `issuerKey`: another
 * issuer's card (its allow-list key; the PSAM must hold that issuer's purchase keys).
 */
export function tap(
  v: Validator,
  card: CardSimulator,
  cardNo: string,
  amountFen: number,
  atMs: number,
  operator: Operator = 'subway',
  issuerKey?: number,
): JournalRecord {
  const image = card.image();
  const { date, time } = beijingDateTime(atMs);
  const outcome = runPurchase(card, v.psam, {
    cardSerial: cardSerialFromCardNo(cardNo),
    issuerKey,
    keyVersion: image.keyVersion,
    algorithm: image.algorithm,
    amountFen,
    transactionType: TRANSACTION_TYPE.purchase,
    cappRecord: null,
    date,
    time,
  });
  if (outcome.status !== 'debited') throw new Error(`purchase ${outcome.status}`);
  v.seq++;
  return {
    deviceId: v.deviceId,
    deviceSeq: v.seq,
    deviceKind: 'subway-exit',
    operator,
    resultCode: 0,
    cardNo,
    cardAction: 'debit',
    transactionType: TRANSACTION_TYPE.purchase,
    amountFen,
    balanceBeforeFen: outcome.pending.balanceBeforeFen,
    balanceAfterFen: outcome.balanceAfterFen,
    offlineAtc: outcome.pending.offlineAtc,
    onlineAtc: image.onlineAtc,
    terminalId: hex(v.psam.terminalId),
    tsn: outcome.pending.tsn,
    date,
    time,
    tac: hex(outcome.tac),
    keyVersion: image.keyVersion,
    algorithm: image.algorithm,
    fareTableVersion: 1,
    place: 1,
    line: 1,
    occurredAtMs: atMs,
    recovered: false,
  };
}

export function syncRequest(v: Validator, records: JournalRecord[], blacklistVersion = 0): SyncRequest {
  return { protocolVersion: 1, deviceId: v.deviceId, records, blacklistVersion, fareTableVersion: 1, deviceTimeMs: 0 };
}

export async function sync(
  h: MoneyHarness,
  v: Validator,
  body: SyncRequest | Buffer,
): Promise<{ status: number; response: SyncResponse | undefined; problem: any }> {
  const payload = Buffer.isBuffer(body) ? body : pack(body);
  const res = await h.app.inject({
    method: 'POST',
    url: `/v1/devices/${v.deviceId}/sync`,
    headers: { ...v.headers, 'content-type': 'application/x-msgpack' },
    payload,
  });
  if (res.statusCode === 200) return { status: 200, response: unpack(res.rawPayload) as SyncResponse, problem: undefined };
  return { status: res.statusCode, response: undefined, problem: res.json() };
}

/** The books must always agree: card liability = sum of shadow balances; every posting balances. */
export async function assertBooksBalance(h: MoneyHarness): Promise<void> {
  const result = await h.store.transaction((tx) => reconcile(tx));
  if (
    result.discrepancyFen !== 0 ||
    result.postingsBalanceFen !== 0 ||
    result.unbalancedPostings !== 0 ||
    result.pendingLoadsFen !== result.pendingLoadsLedgerFen
  ) {
    throw new Error(`books do not balance: ${JSON.stringify(result)}`);
  }
  const res = await h.app.inject({ method: 'GET', url: '/v1/ledger/reconciliation', headers: h.admin });
  if (res.statusCode !== 200 || res.json().discrepancy !== '0.00' || res.json().ok !== true) throw new Error(`reconciliation route: ${res.body}`);
}

export async function shadowBalance(h: MoneyHarness, cardNo: string): Promise<number> {
  const row = await h.store.transaction((tx) => tx.get<{ b: number }>('SELECT shadow_balance_fen AS b FROM card_accounts WHERE card_no = ?', [cardNo]));
  return Number(row?.b);
}

/** A ledger account's balance as GET /v1/ledger/balances shows it (fen; 0 for an account without entries). */
export async function ledgerBalance(h: MoneyHarness, account: string): Promise<number> {
  const res = await h.app.inject({ method: 'GET', url: '/v1/ledger/balances', headers: h.admin });
  return res.json().accounts.find((a: { account: string }) => a.account === account)?.balanceFen ?? 0;
}

/** The `n` of a `SELECT COUNT(*) AS n ...` on the harness's store. */
export async function countRows(h: MoneyHarness, sql: string, params: (string | number)[] = []): Promise<number> {
  const row = await h.store.transaction((tx) => tx.get<{ n: number }>(sql, params));
  return Number(row?.n ?? 0);
}

/** The bank account a broken-card refund is paid to. */
export const REFUND_DESTINATION = { destinationAccount: '6222020200112233445', destinationName: 'Test Rider' };

/** POST /v1/cards/{cardNo}/refunds to REFUND_DESTINATION. */
export function requestCardRefund(h: MoneyHarness, headers: Record<string, string>, cardNo: string) {
  return h.app.inject({ method: 'POST', url: `/v1/cards/${cardNo}/refunds`, headers, payload: REFUND_DESTINATION });
}

/** What `makeEveryMoneyAnomaly` did, to check GET /v1/ops/anomalies against. */
export interface AnomalyScenario {
  /** atc-gap: gate 'anom-a' uploaded ATC 0 and 2; `missing` (ATC 1) is held back. */
  gap: { cardNo: string; missing: JournalRecord; gate: Validator };
  /** cloned-card: a second, different debit at ATC 0 uploaded by gate 'anom-b'. */
  cloned: { cardNo: string; deviceId: string; deviceSeq: number };
  /** tac-replayed: a genuine debit uploaded again under the next offline ATC by gate 'anom-a'. */
  replayed: { cardNo: string; deviceId: string; deviceSeq: number; offlineAtc: number };
  /** tac-invalid: a debit whose amount was changed after the card signed it. */
  invalid: { cardNo: string; deviceId: string; deviceSeq: number; offlineAtc: number };
  /** load-void-reversed: a teller-voided load the card was credited with anyway. */
  voidReversed: { cardNo: string; loadId: string; onlineAtc: number };
}

/**
 * One genuine occurrence of every money anomaly kind, each on its own card, in this order:
 * atc-gap, cloned-card, tac-replayed, tac-invalid, load-void-reversed. Uses validators
 * 'anom-a' and 'anom-b'; the books balance afterwards.
 */
export async function makeEveryMoneyAnomaly(h: MoneyHarness, counter: Record<string, string>): Promise<AnomalyScenario> {
  const a = await makeValidator(h, 'anom-a', 31);
  const b = await makeValidator(h, 'anom-b', 32);
  const at = (minutes: number): number => START_MS + minutes * 60_000;
  const expectSync = async (v: Validator, records: JournalRecord[]): Promise<SyncResponse> => {
    const res = await sync(h, v, syncRequest(v, records));
    if (res.status !== 200 || res.response === undefined) throw new Error(`sync ${v.deviceId}: ${res.status} ${JSON.stringify(res.problem)}`);
    return res.response;
  };

  const gapCard = await issueCard(h);
  await loadCard(h, counter, gapCard.card, gapCard.cardNo, 5_000, 'anom-gap');
  const r0 = tap(a, gapCard.card, gapCard.cardNo, 300, at(1));
  const missing = tap(a, gapCard.card, gapCard.cardNo, 300, at(2));
  const r2 = tap(a, gapCard.card, gapCard.cardNo, 300, at(3));
  await expectSync(a, [r0, r2]);

  const clonedCard = await issueCard(h);
  await loadCard(h, counter, clonedCard.card, clonedCard.cardNo, 5_000, 'anom-clone');
  const clone = new CardSimulator(clonedCard.card.image(), () => Uint8Array.of(1, 2, 3, 4));
  await expectSync(a, [tap(a, clonedCard.card, clonedCard.cardNo, 300, at(4))]);
  const copy = tap(b, clone, clonedCard.cardNo, 500, at(5));
  const cloneAnswer = await expectSync(b, [copy]);
  if (!cloneAnswer.quarantined.includes(copy.deviceSeq)) throw new Error('the cloned record was not quarantined');

  const replayedCard = await issueCard(h);
  await loadCard(h, counter, replayedCard.card, replayedCard.cardNo, 5_000, 'anom-replay');
  const genuine = tap(a, replayedCard.card, replayedCard.cardNo, 300, at(6));
  await expectSync(a, [genuine]);
  a.seq++;
  const replay = { ...genuine, deviceSeq: a.seq, offlineAtc: genuine.offlineAtc + 1 };
  await expectSync(a, [replay]);

  const invalidCard = await issueCard(h);
  await loadCard(h, counter, invalidCard.card, invalidCard.cardNo, 5_000, 'anom-invalid');
  const forged = { ...tap(a, invalidCard.card, invalidCard.cardNo, 300, at(7)), amountFen: 30 };
  await expectSync(a, [forged]);

  const voidCard = await issueCard(h);
  const body = initLoad(voidCard.card, voidCard.cardNo, 3_000);
  const authorised = await h.app.inject({ method: 'POST', url: '/v1/loads', headers: { ...counter, 'idempotency-key': 'anom-void' }, payload: body });
  if (authorised.statusCode !== 201) throw new Error(`load: ${authorised.statusCode} ${authorised.body}`);
  const load = authorised.json();
  const voided = await h.app.inject({ method: 'POST', url: `/v1/loads/${load.id}/void`, headers: counter });
  if (voided.json().status !== 'voided') throw new Error(`void: ${voided.body}`);
  const confirm = await h.app.inject({
    method: 'POST',
    url: `/v1/loads/${load.id}/confirm`,
    headers: counter,
    payload: { tac: creditLoad(voidCard.card, load) },
  });
  if (confirm.json().resolution !== 'void-reversed') throw new Error(`confirm after void: ${confirm.body}`);

  return {
    gap: { cardNo: gapCard.cardNo, missing, gate: a },
    cloned: { cardNo: clonedCard.cardNo, deviceId: b.deviceId, deviceSeq: copy.deviceSeq },
    replayed: { cardNo: replayedCard.cardNo, deviceId: a.deviceId, deviceSeq: replay.deviceSeq, offlineAtc: replay.offlineAtc },
    invalid: { cardNo: invalidCard.cardNo, deviceId: a.deviceId, deviceSeq: forged.deviceSeq, offlineAtc: forged.offlineAtc },
    voidReversed: { cardNo: voidCard.cardNo, loadId: String(load.id), onlineAtc: body.onlineAtc },
  };
}
