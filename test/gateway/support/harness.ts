/**
 * Test harness: a gateway on a real SQLite file in a temp dir, a fake clock, real issuer keys
 * (freshly generated), an admin token, and helpers to make counter/app/device credentials.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildGateway, type BuildGatewayOptions } from '#gateway/app';
import { IssuerKeyService } from '#issuer/issuer-key-service';
import { generateKeySet } from '#issuer/key-file';
import { SqliteStore } from '#gateway/store/sqlite-store';

export const ADMIN_TOKEN = 'admin-token-for-tests-0123456789';
/** 2025-12-20 10:00 Beijing: inside the park-pass sale window. */
export const DEC_20_2025_MS = Date.UTC(2025, 11, 20, 2, 0, 0);
export const DAY_MS = 24 * 60 * 60 * 1000;

export class FakeClock {
  constructor(public nowMs: number = DEC_20_2025_MS) {}
  readonly now = (): number => this.nowMs;
  advance(ms: number): void {
    this.nowMs += ms;
  }
}

export interface Harness {
  app: FastifyInstance;
  store: SqliteStore;
  keys: IssuerKeyService;
  clock: FakeClock;
  dir: string;
  admin: Record<string, string>;
  close(): Promise<void>;
  request(method: string, url: string, options?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<LightMyRequestResponse>;
  counterToken(branchId?: string): Promise<string>;
  issueCard(body?: Record<string, unknown>, token?: string): Promise<{ cardNo: string; cardImage: string }>;
  appSession(cardNo: string, password?: string, changeTo?: string): Promise<string>;
  registerDevice(deviceId: string, kind?: string): Promise<string>;
}

export const SSN = '11010119900307123X';

export async function makeHarness(options: Partial<BuildGatewayOptions> = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'gateway-test-'));
  const clock = new FakeClock();
  const store = new SqliteStore({ path: join(dir, 'gateway.db'), clock: clock.now });
  const keys = IssuerKeyService.fromKeySets(new Map([[1, generateKeySet()]]));
  const app = await buildGateway({
    store,
    keys,
    clock: clock.now,
    adminToken: ADMIN_TOKEN,
    ...options,
    policies: { passwordKdf: { N: 1024, r: 8, p: 1 }, lossExpiryIntervalMs: 0, ...(options.policies ?? {}) },
  });
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

  const request: Harness['request'] = (method, url, o = {}) =>
    app.inject({
      method: method as 'GET',
      url,
      headers: { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...(o.headers ?? {}) },
      ...(o.body !== undefined ? { payload: o.body as object } : {}),
    });

  const harness: Harness = {
    app,
    store,
    keys,
    clock,
    dir,
    admin,
    request,
    async close() {
      await app.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
    async counterToken(branchId = 'branch-001') {
      const res = await request('POST', '/v1/auth/tokens', { token: ADMIN_TOKEN, body: { role: 'counter', label: `counter ${branchId}`, branchId } });
      if (res.statusCode !== 201) throw new Error(`counter token: ${res.statusCode} ${res.body}`);
      return res.json().token as string;
    },
    async issueCard(body = {}, token = ADMIN_TOKEN) {
      const res = await request('POST', '/v1/cards', { token, body: { holderName: 'Wang Fang', socialSecurityNo: SSN, profile: 'adult', ...body } });
      if (res.statusCode !== 201) throw new Error(`issue card: ${res.statusCode} ${res.body}`);
      const json = res.json();
      return { cardNo: json.card.cardNo as string, cardImage: json.cardImage as string };
    },
    async appSession(cardNo, password = SSN.slice(-6), changeTo = 'new-secret-1') {
      const res = await request('POST', '/v1/auth/app-sessions', { body: { cardNo, password } });
      if (res.statusCode !== 201) throw new Error(`app session: ${res.statusCode} ${res.body}`);
      const token = res.json().token as string;
      if (res.json().mustChangePassword && changeTo) {
        const changed = await request('POST', '/v1/auth/app-password', { token, body: { currentPassword: password, newPassword: changeTo } });
        if (changed.statusCode !== 200) throw new Error(`password change: ${changed.statusCode} ${changed.body}`);
      }
      return token;
    },
    async registerDevice(deviceId, kind = 'subway-gate') {
      const res = await request('POST', '/v1/devices', { token: ADMIN_TOKEN, body: { deviceId, kind, station: '西单' } });
      if (res.statusCode !== 201) throw new Error(`register device: ${res.statusCode} ${res.body}`);
      return res.json().credential as string;
    },
  };
  return harness;
}
