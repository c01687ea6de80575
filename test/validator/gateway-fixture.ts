/**
 * A real gateway (buildGateway, SQLite file) listening on loopback for the validator's sync
 * tests: the device talks to it over HTTP with global fetch, exactly as in the field. Cards
 * are issued and loaded through the gateway's own routes, so the back office knows every
 * card's balance and the cards carry genuine keys.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { DeviceKind } from '#core';
import { issueCardIntoWallet } from '#validator/rider/issue-cards';
import { buildGateway } from '#gateway/app';
import { SqliteStore } from '#gateway/store/sqlite-store';
import type { CardWallet } from '#validator/rider/card-wallet';
import { gatewayDeviceKind } from '#validator/gateway-admin';
import { ISSUER } from './device-fixtures.ts';
import { seededRandom } from '../purse/fixtures.ts';

export const ADMIN_TOKEN = 'validator-test-admin-token-0123456789';

export interface TestGateway {
  app: FastifyInstance;
  store: SqliteStore;
  url: string;
  dbPath: string;
  registerDevice(deviceId: string, kind: DeviceKind): Promise<string>;
  issueLoadedCard(wallet: CardWallet, amountFen: number): Promise<string>;
  shadowBalanceFen(cardNo: string): Promise<number>;
  journalRows(deviceId: string): Promise<Array<{ device_seq: number; card_no: string; amount_fen: number; status: string; card_action: string }>>;
  reportLoss(cardNo: string, kind: 'temporary' | 'formal'): Promise<void>;
  close(): Promise<void>;
}

async function ok(res: Response, what: string): Promise<any> {
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${what}: ${res.status} ${text}`);
  return text === '' ? {} : JSON.parse(text);
}

export async function startTestGateway(options: { dir?: string; port?: number } = {}): Promise<TestGateway> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'validator-gw-'));
  const ownsDir = options.dir === undefined;
  const dbPath = join(dir, 'gateway.db');
  const store = new SqliteStore({ path: dbPath, clock: Date.now });
  const app = await buildGateway({ store, keys: ISSUER, adminToken: ADMIN_TOKEN, policies: { lossExpiryIntervalMs: 0 } });
  await app.listen({ host: '127.0.0.1', port: options.port ?? 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('gateway did not bind');
  const url = `http://127.0.0.1:${address.port}`;
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
  let counter: string | null = null;
  let seed = 1;

  const post = (path: string, body: unknown, headers: Record<string, string> = admin) =>
    fetch(`${url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });

  return {
    app,
    store,
    url,
    dbPath,
    async registerDevice(deviceId, kind) {
      const json = await ok(await post('/v1/devices', { deviceId, kind: gatewayDeviceKind(kind), station: 'test' }), 'register device');
      return json.credential as string;
    },
    async issueLoadedCard(wallet, amountFen) {
      const issued = await issueCardIntoWallet(
        wallet,
        { gatewayUrl: url, operatorToken: ADMIN_TOKEN, amountFen, random: seededRandom(0x51ed ^ seed++) },
        counter ?? undefined,
      );
      counter = issued.counterToken ?? null;
      return issued.cardNo;
    },
    async shadowBalanceFen(cardNo) {
      const json = await ok(await fetch(`${url}/v1/cards/${cardNo}`, { headers: admin }), 'card');
      return json.balanceFen as number;
    },
    async journalRows(deviceId) {
      return store.transaction(
        (tx) =>
          tx.all('SELECT device_seq, card_no, amount_fen, status, card_action FROM journal_records WHERE device_id = ? ORDER BY device_seq', [
            deviceId,
          ]) as Promise<Array<{ device_seq: number; card_no: string; amount_fen: number; status: string; card_action: string }>>,
        { readOnly: true },
      );
    },
    async reportLoss(cardNo, kind) {
      await ok(await post(`/v1/cards/${cardNo}/loss-reports`, { kind }), 'loss report');
    },
    async close() {
      await app.close();
      await store.close();
      if (ownsDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
