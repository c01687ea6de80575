/**
 * A sandbox gateway with the console, listening on loopback, on a fixed clock and seed: staff
 * of every role, cards issued to holders (topped up through the sandbox card reader, as the
 * counter does), validators with taps synced the ordinary way. The browser suites and
 * `npm run screenshots` start it, on SQLite, or on PostgreSQL in an isolated schema (`store: 'postgres'`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pack } from 'msgpackr';
import { CardSimulator, cardSerialFromCardNo, parseCardImage, runPurchase, TRANSACTION_TYPE, type JournalRecord, type Operator } from '#core';
import { buildGateway } from '#gateway/app';
import { type CardReaderPort, sandboxCardReader, simulatorCardReader } from '#gateway/console/card-reader';
import { type ConsoleRole, createStaff } from '#gateway/console/staff';
import { createOrganisation } from '#gateway/services/organisations';
import { beijingDateTime } from '#gateway/services/money-time';
import type { SandboxOptions } from '#gateway/sandbox/install';
import { buildSandboxGateway, openSandbox } from '#gateway/sandbox/sandbox-start';
import { SqliteStore } from '#gateway/store/sqlite-store';
import type { Store } from '#gateway/store/store-port';
import { IssuerKeyService } from '#issuer/issuer-key-service';
import { loadOrCreateSandboxKeyFile } from '#issuer/key-file';
import { SoftwarePsam } from '#validator/psam';
import { dropSchema, freshSchemaName, newPgStore } from '../../store/pg-test-db.ts';

export const WORLD_ADMIN = 'console-world-admin-token-0123456789';
/** 2026-12-20 10:00 Beijing: a Sunday inside the 2027 park-pass sale window. */
export const WORLD_START_MS = Date.UTC(2026, 11, 20, 2, 0, 0);
export const STAFF_PASSWORD = 'counter-pass-1';
/** Cheap scrypt for tests and screenshots (production uses DEFAULT_KDF). */
const TEST_KDF = { N: 1024, r: 8, p: 1 };

export interface WorldStaff {
  username: string;
  displayName: string;
  role: ConsoleRole;
  organisationId: string | null;
}

export const STAFF: Record<'teller' | 'supervisor' | 'opsAdmin' | 'opsViewer' | 'clerk', WorldStaff> = {
  teller: { username: 'wang.li', displayName: '王丽', role: 'teller', organisationId: 'icbc-xidan' },
  supervisor: { username: 'zhao.min', displayName: '赵敏', role: 'supervisor', organisationId: 'icbc-xidan' },
  opsAdmin: { username: 'chen.ops', displayName: '陈运维', role: 'ops-admin', organisationId: null },
  opsViewer: { username: 'liu.view', displayName: '刘查看', role: 'ops-viewer', organisationId: null },
  /** A clerk at a street service point: that channel does no transit top-up (channel matrix q9). */
  clerk: { username: 'sun.clerk', displayName: '孙柜员', role: 'teller', organisationId: 'sp-dongdan' },
};

export interface WorldCard {
  cardNo: string;
  holderName: string;
  idNumber: string;
}

export interface ConsoleWorld {
  app: FastifyInstance;
  store: Store;
  /** The sandbox (SQLite); null on PostgreSQL, where the sandbox does not run. */
  sandbox: SandboxOptions | null;
  reader: CardReaderPort;
  baseUrl: string;
  admin: Record<string, string>;
  cards: WorldCard[];
  devices: string[];
  /** Moves the sandbox clock (the jobs then run at the new time). */
  advance(ms: number): Promise<void>;
  /** A validator blocks the card (APPLICATION BLOCK with its PSAM's block key), as it does a blacklisted card at a gate. */
  blockCard(cardNo: string): Promise<void>;
  api(method: string, url: string, payload?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

function seeded(seed: number): () => Uint8Array {
  let state = seed >>> 0 || 1;
  return () => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    return Uint8Array.of(state >>> 24, state >>> 16, state >>> 8, state);
  };
}

const HOLDERS: Array<[name: string, id: string]> = [
  ['张伟', '110101199003071234'],
  ['李娜', '11010519850512002X'],
  ['王芳', '110108197711230045'],
  ['刘洋', '110102200001010017'],
];

export async function startConsoleWorld(options: { seed?: number; taps?: boolean; store?: 'sqlite' | 'postgres' } = {}): Promise<ConsoleWorld> {
  const dir = mkdtempSync(join(tmpdir(), 'console-world-'));
  const real = { ms: WORLD_START_MS };
  const keyFile = join(dir, 'secrets', 'issuer-keys.json');
  const keyData = loadOrCreateSandboxKeyFile(keyFile);
  const keys = IssuerKeyService.fromKeySets(keyData.keySets, keyData.currentKeyVersion);
  // SQLite by default; 'postgres': an isolated schema on the test server, dropped at close.
  const schema = options.store === 'postgres' ? freshSchemaName('console_world') : null;
  const store: Store = schema ? newPgStore(schema, { clock: () => real.ms }) : new SqliteStore({ path: join(dir, 'gateway.db'), clock: () => real.ms });
  // The sandbox (its card service is the counter's card reader) runs on SQLite only: on PostgreSQL
  // the gateway is built plainly and the reader holds simulated cards made from the issued images.
  const random = seeded(options.seed ?? 0x5eed);
  const sandbox = schema ? null : await openSandbox(store, keyFile, { created: true, realNow: () => real.ms, random });
  const held = new Map<string, CardSimulator>();
  const reader = sandbox
    ? sandboxCardReader(sandbox.cards)
    : simulatorCardReader(
        (cardNo) => held.get(cardNo),
        undefined,
        (cardNo, image) => held.set(cardNo, new CardSimulator(image, random)),
      );
  const onCard = <T>(cardNo: string, command: (card: CardSimulator) => T): Promise<T> => {
    if (sandbox) return sandbox.cards.run(cardNo, command);
    const card = held.get(cardNo);
    if (!card) throw new Error(`card ${cardNo} is not held`);
    return Promise.resolve(command(card));
  };
  const gatewayOptions = {
    store,
    keys,
    adminToken: WORLD_ADMIN,
    policies: { lossExpiryIntervalMs: 0, passwordKdf: TEST_KDF },
    metricsRefreshIntervalMs: 0,
    console: { cardReader: reader, signInPerMinute: 1_000 },
  };
  const app = sandbox ? await buildSandboxGateway({ ...gatewayOptions, sandbox }) : await buildGateway({ ...gatewayOptions, clock: () => real.ms });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const admin = { authorization: `Bearer ${WORLD_ADMIN}` };
  const api = async (method: string, url: string, payload?: unknown, headers: Record<string, string> = admin) => {
    const res = await app.inject({ method: method as 'GET', url, headers, ...(payload === undefined ? {} : { payload: payload as object }) });
    return { status: res.statusCode, body: res.body.length > 0 && res.headers['content-type']?.toString().includes('json') ? res.json() : res.body };
  };

  await store.transaction(async (tx) => {
    await createOrganisation(
      tx,
      { id: 'icbc-xidan', name: '工商银行西单支行', channelKind: 'bank-branch', bankId: 'icbc', branchId: 'xidan' },
      'world',
      real.ms,
    );
    await createOrganisation(tx, { id: 'sp-dongdan', name: '东单街道服务点', channelKind: 'service-point' }, 'world', real.ms);
  });
  for (const s of Object.values(STAFF)) {
    await createStaff(store, { ...s, password: STAFF_PASSWORD }, 'world', real.ms, TEST_KDF);
    // Accounts start with must-change; the world's people have already changed theirs.
    await store.transaction((tx) => tx.run('UPDATE staff_accounts SET must_change = 0 WHERE username = ?', [s.username]));
  }

  // The cards are issued and topped up before the morning's rides (07:00 Beijing); the console's day is at 10:00.
  real.ms = WORLD_START_MS - 3 * 60 * 60_000;
  // A system counter token tops the cards up at the start of the day (as an integration would).
  const token = await api('POST', '/v1/auth/tokens', { role: 'counter', label: 'world setup', branchId: 'icbc-chaoyang' });
  const counter = { authorization: `Bearer ${token.body.token}` };
  const cards: WorldCard[] = [];
  for (const [name, idNumber] of HOLDERS) {
    const issued = await api('POST', '/v1/cards', { holderName: name, socialSecurityNo: idNumber, profile: 'adult' });
    if (issued.status !== 201) throw new Error(`issue: ${issued.status} ${JSON.stringify(issued.body)}`);
    cards.push({ cardNo: issued.body.card.cardNo, holderName: name, idNumber });
    if (!sandbox) held.set(issued.body.card.cardNo, new CardSimulator(parseCardImage(Buffer.from(issued.body.cardImage, 'hex')), random));
  }
  for (const [i, card] of cards.entries()) {
    if (i === cards.length - 1) continue; // the last card stays empty
    const amountFen = 5_000 + i * 2_000;
    const init = await reader.initializeForLoad(card.cardNo, amountFen);
    const load = await api(
      'POST',
      '/v1/loads',
      { cardNo: card.cardNo, amount: (amountFen / 100).toFixed(2), paymentSource: 'cash', terminalId: reader.terminalId, ...init.value },
      { ...counter, 'idempotency-key': `world-${card.cardNo}` },
    );
    if (load.status !== 201) throw new Error(`load: ${load.status} ${JSON.stringify(load.body)}`);
    const credit = await reader.creditForLoad(card.cardNo, load.body.date, load.body.time, load.body.mac2);
    await api('POST', `/v1/loads/${load.body.id}/confirm`, { tac: credit.value }, counter);
  }

  real.ms = WORLD_START_MS;
  const psamKeys = keys.psamKeyMaterial();

  const devices: string[] = [];
  if (options.taps !== false) {
    const plan: Array<[deviceId: string, kind: string, operator: Operator, fields: Record<string, string>]> = [
      ['XIDAN-G1', 'subway-gate', 'subway', { station: '西单' }],
      ['GUOMAO-G2', 'subway-gate', 'subway', { station: '国贸' }],
      ['BUS-1-07', 'bus-validator', 'bus', { line: '1' }],
      ['PR-TTYB-1', 'pr-gate', 'pr', { lot: '1' }],
    ];
    let terminal = 1;
    for (const [deviceId, kind, operator, fields] of plan) {
      const reg = await api('POST', '/v1/devices', { deviceId, kind, ...fields });
      if (reg.status !== 201) throw new Error(`device: ${reg.status} ${JSON.stringify(reg.body)}`);
      devices.push(deviceId);
      const terminalId = Uint8Array.of(0x20, 0x26, 0, 0, 0, terminal++);
      const psam = new SoftwarePsam({ terminalId, tsnStart: 1, ...psamKeys });
      const records: JournalRecord[] = [];
      let seq = 0;
      // Taps through the morning: each card that has money rides on this device's line.
      for (const [hour, minute] of [
        [7, 12],
        [8, 5],
        [8, 40],
        [9, 20],
      ]) {
        for (const card of cards.slice(0, 3)) {
          if (operator === 'pr' && hour !== 9) continue;
          const atMs = Date.UTC(2026, 11, 20, hour - 8, minute + seq, 0);
          const { date, time } = beijingDateTime(atMs);
          const amountFen = operator === 'bus' ? 100 : operator === 'pr' ? 200 : 300 + (seq % 3) * 100;
          const outcome = await onCard(card.cardNo, (c) => {
            const image = c.image();
            return {
              image,
              result: runPurchase(c, psam, {
                cardSerial: cardSerialFromCardNo(card.cardNo),
                keyVersion: image.keyVersion,
                algorithm: image.algorithm,
                amountFen,
                transactionType: TRANSACTION_TYPE.purchase,
                cappRecord: null,
                date,
                time,
              }),
            };
          });
          if (outcome.result.status !== 'debited') continue;
          seq++;
          records.push({
            deviceId,
            deviceSeq: seq,
            deviceKind: kind === 'subway-gate' ? 'subway-exit' : kind === 'bus-validator' ? 'bus' : 'pr-exit',
            operator,
            resultCode: 0,
            cardNo: card.cardNo,
            cardAction: 'debit',
            transactionType: TRANSACTION_TYPE.purchase,
            amountFen,
            balanceBeforeFen: outcome.result.pending.balanceBeforeFen,
            balanceAfterFen: outcome.result.balanceAfterFen,
            offlineAtc: outcome.result.pending.offlineAtc,
            onlineAtc: outcome.image.onlineAtc,
            terminalId: Buffer.from(psam.terminalId).toString('hex').toUpperCase(),
            tsn: outcome.result.pending.tsn,
            date,
            time,
            tac: Buffer.from(outcome.result.tac).toString('hex').toUpperCase(),
            keyVersion: outcome.image.keyVersion,
            algorithm: outcome.image.algorithm,
            fareTableVersion: 1,
            place: 1,
            line: 1,
            occurredAtMs: atMs,
            recovered: false,
          } as JournalRecord);
        }
      }
      const sync = await app.inject({
        method: 'POST',
        url: `/v1/devices/${deviceId}/sync`,
        headers: { authorization: `Bearer ${reg.body.credential}`, 'content-type': 'application/x-msgpack' },
        payload: pack({ protocolVersion: 1, deviceId, records, blacklistVersion: 0, fareTableVersion: 1, deviceTimeMs: real.ms }),
      });
      if (sync.statusCode !== 200) throw new Error(`sync ${deviceId}: ${sync.statusCode} ${sync.body}`);
    }
  }

  return {
    app,
    store,
    sandbox,
    reader,
    baseUrl,
    admin,
    cards,
    devices,
    api,
    async blockCard(cardNo: string) {
      const psam = new SoftwarePsam({ terminalId: Uint8Array.of(0x20, 0x26, 0, 0, 0, 0x99), tsnStart: 1, ...psamKeys });
      const sw = await onCard(cardNo, (c) => {
        const image = c.image();
        const challenge = c.getChallenge().data;
        return c.applicationBlock(psam.blockCommandMac(cardSerialFromCardNo(cardNo), image.keyVersion, image.algorithm, challenge)).sw;
      });
      if (sw !== 0x9000) throw new Error(`APPLICATION BLOCK: SW ${sw.toString(16)}`);
    },
    async advance(ms: number) {
      real.ms += ms;
      await api('POST', '/v1/ops/jobs/run');
    },
    async close() {
      await app.close();
      await store.close();
      if (schema) await dropSchema(schema);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
