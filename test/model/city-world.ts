/**
 * The "city" the model-based test drives: one real gateway (buildGateway on a SQLite file, a
 * fake clock, the real issuer key service), real validator devices (Device on their own SQLite
 * files, software PSAMs, the real SyncClient), and real card simulators issued by the gateway.
 *
 * Sync goes through the real SyncClient and the real sync route, over `app.inject` instead of a
 * socket (the bytes are the same; a socket per request would cost seconds per run). The
 * transport is a `fetch` the test controls, so it can cut a connection before or after the
 * gateway saw the batch, deliver a batch twice, or keep old batches to replay them later.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import { CardSimulator, completeLoad, effectiveBalanceFen, hexToBytes, initializeLoad, parseCardImage, type DeviceKind, type LoadInit } from '#core';
import { buildGateway } from '#gateway/app';
import { reconcile, type Reconciliation } from '#gateway/services/ledger';
import { SqliteStore } from '#gateway/store/sqlite-store';
import { gatewayDeviceKind } from '#validator/gateway-admin';
import type { Device } from '#validator/device';
import { SyncClient } from '#validator/sync-client';
import { ISSUER, MORNING_MS, createDevice, openDevice, profile, 花园桥, 潞城 } from '../validator/device-fixtures.ts';
import { seededRandom } from '../purse/fixtures.ts';

export const ADMIN_TOKEN = 'proof-model-admin-token-0123456789';
export const LOAD_TERMINAL = Uint8Array.of(0, 0, 0, 0, 0x0a, 0x01);

export interface DeviceSlot {
  id: string;
  kind: DeviceKind;
  path: string;
  device: Device;
  credential: string;
}

export interface CardSlot {
  cardNo: string;
  sim: CardSimulator;
}

/** A fetch that answers from `app.inject` (same bytes, same routes, no socket). */
export function injectFetch(app: FastifyInstance): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    const res = await app.inject({
      method: (init?.method ?? 'GET') as 'POST',
      url: url.pathname + url.search,
      headers: (init?.headers ?? {}) as Record<string, string>,
      payload: init?.body === undefined || init.body === null ? undefined : Buffer.from(init.body as Uint8Array),
    });
    return new Response(res.statusCode === 204 ? null : new Uint8Array(res.rawPayload), {
      status: res.statusCode,
      headers: { 'content-type': String(res.headers['content-type'] ?? 'application/octet-stream') },
    });
  }) as typeof fetch;
}

const TEMPLATE_DIR = mkdtempSync(join(tmpdir(), 'proof-model-devices-'));
process.on('exit', () => rmSync(TEMPLATE_DIR, { recursive: true, force: true }));

function deviceTemplate(id: string, spec: { kind: DeviceKind; place: Parameters<typeof profile>[2] }): string {
  const path = join(TEMPLATE_DIR, `${id}.db`);
  if (!existsSync(path)) {
    const device = createDevice(path, profile(id, spec.kind, spec.place));
    device.checkpoint();
    device.close();
  }
  return path;
}

export class CityWorld {
  readonly dir: string;
  readonly clock = { ms: MORNING_MS };
  readonly devices: DeviceSlot[] = [];
  readonly cards: CardSlot[] = [];
  counter: Record<string, string> = {};
  readonly admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

  private constructor(
    readonly app: FastifyInstance,
    readonly store: SqliteStore,
    dir: string,
    readonly run: number,
  ) {
    this.dir = dir;
  }

  static async start(run: number, kinds: ReadonlyArray<{ kind: DeviceKind; place: Parameters<typeof profile>[2] }>, cards: number): Promise<CityWorld> {
    const dir = mkdtempSync(join(tmpdir(), 'proof-model-'));
    const clock = { ms: MORNING_MS };
    const store = new SqliteStore({ path: join(dir, 'gateway.db'), clock: () => clock.ms });
    const app = await buildGateway({
      store,
      keys: ISSUER,
      clock: () => clock.ms,
      adminToken: ADMIN_TOKEN,
      policies: { lossExpiryIntervalMs: 0, passwordKdf: { N: 1024, r: 8, p: 1 } },
    });
    const world = new CityWorld(app, store, dir, run);
    (world as { clock: { ms: number } }).clock = clock;
    const token = await world.call('POST', '/v1/auth/tokens', { role: 'counter', label: 'model counter', branchId: 'branch-model' }, world.admin);
    world.counter = { authorization: `Bearer ${token.json.token}` };
    for (const [i, spec] of kinds.entries()) {
      // Each run has its own gateway, so device ids can repeat across runs: the initialised
      // device file is made once and copied (initialising parses the fare tables, ~0.1 s).
      const id = `M-${spec.kind}-${i}`;
      const path = join(dir, `${id}.db`);
      copyFileSync(deviceTemplate(id, spec), path);
      const device = openDevice(path);
      const registered = await world.call('POST', '/v1/devices', { deviceId: id, kind: gatewayDeviceKind(spec.kind), station: 'model' }, world.admin);
      if (registered.status !== 201) throw new Error(`register ${id}: ${registered.status} ${registered.body}`);
      world.devices.push({ id, kind: spec.kind, path, device, credential: registered.json.credential });
    }
    for (let i = 0; i < cards; i++) {
      const issued = await world.call(
        'POST',
        '/v1/cards',
        { holderName: `Rider ${i}`, socialSecurityNo: '11010119900307123X', profile: 'adult', algorithm: i % 2 === 0 ? '3des' : 'sm4' },
        world.admin,
      );
      if (issued.status !== 201) throw new Error(`issue card: ${issued.status} ${issued.body}`);
      const image = parseCardImage(Uint8Array.from(Buffer.from(issued.json.cardImage, 'hex')));
      world.cards.push({ cardNo: issued.json.card.cardNo, sim: new CardSimulator(image, seededRandom(0x5eed ^ (run * 97 + i))) });
    }
    return world;
  }

  async call(
    method: string,
    url: string,
    body?: unknown,
    headers: Record<string, string> = this.admin,
    extra: Record<string, string> = {},
  ): Promise<{ status: number; json: any; body: string; headers: Record<string, unknown> }> {
    const res = await this.app.inject({
      method: method as 'POST',
      url,
      headers: { ...headers, ...extra },
      ...(body === undefined ? {} : { payload: body as object }),
    });
    let json: any;
    try {
      json = res.body === '' ? undefined : JSON.parse(res.body);
    } catch {
      json = undefined;
    }
    return { status: res.statusCode, json, body: res.body, headers: res.headers };
  }

  syncClient(slot: DeviceSlot, fetchFn: typeof fetch = injectFetch(this.app), batchRecords?: number): SyncClient {
    return new SyncClient({
      device: slot.device,
      gatewayUrl: 'http://gateway.invalid',
      credential: slot.credential,
      fetch: fetchFn,
      clock: () => this.clock.ms,
      random: () => 0.5,
      sleep: async () => {},
      backoff: { maxAttempts: 4 },
      ...(batchRecords === undefined ? {} : { batchRecords }),
    });
  }

  /** Close the device database and open it again (the device restarts). */
  restartDevice(slot: DeviceSlot): void {
    slot.device.close();
    slot.device = openDevice(slot.path);
  }

  chipBalanceFen(card: CardSlot): number {
    return effectiveBalanceFen(card.sim.image());
  }

  async reconciliation(): Promise<Reconciliation> {
    const r = await this.store.transaction((tx) => reconcile(tx), { readOnly: true });
    // -(0) is -0: normalise so equality checks compare amounts, not signs of zero.
    return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === 0 ? 0 : v])) as unknown as Reconciliation;
  }

  async all<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    return this.store.transaction((tx) => tx.all(sql, params as never) as Promise<T[]>, { readOnly: true });
  }

  async close(): Promise<void> {
    for (const slot of this.devices) slot.device.close();
    await this.app.close();
    await this.store.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export const CITY_DEVICES: ReadonlyArray<{ kind: DeviceKind; place: Parameters<typeof profile>[2] }> = [
  { kind: 'subway-entry', place: { stationCode: 花园桥 } },
  { kind: 'subway-exit', place: { stationCode: 潞城 } },
  { kind: 'bus', place: { busLine: 1, busStop: 0 } },
];

/** A complete load through the real protocol: INITIALIZE → POST /v1/loads → CREDIT → confirm. */
export async function loadCard(w: CityWorld, card: CardSlot, amountFen: number, key: string): Promise<string> {
  card.sim.reset();
  const init = initializeLoad(card.sim, amountFen, LOAD_TERMINAL);
  if (init.status !== 'ready') throw new Error(`INITIALIZE FOR LOAD refused: ${init.reason}`);
  const res = await w.call('POST', '/v1/loads', loadRequestBody(card, amountFen, init.init), w.counter, { 'idempotency-key': key });
  if (res.status !== 201) throw new Error(`load: ${res.status} ${res.body}`);
  const credit = completeLoad(card.sim, hexToBytes(res.json.mac2), res.json.date, res.json.time);
  if (credit.status !== 'credited') throw new Error(`CREDIT FOR LOAD: ${credit.status}`);
  const confirm = await w.call('POST', `/v1/loads/${res.json.id}/confirm`, { tac: Buffer.from(credit.tac).toString('hex').toUpperCase() }, w.counter);
  if (confirm.status !== 200) throw new Error(`confirm: ${confirm.status} ${confirm.body}`);
  return res.json.id as string;
}

/** The POST /v1/loads body from the card's INITIALIZE FOR LOAD answer. */
export function loadRequestBody(card: CardSlot, amountFen: number, init: LoadInit): Record<string, unknown> {
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();
  return {
    cardNo: card.cardNo,
    amount: (amountFen / 100).toFixed(2),
    paymentSource: 'cash',
    onlineAtc: init.onlineAtc,
    cardRandom: hex(init.random),
    balanceBeforeFen: init.balanceFen,
    mac1: hex(init.mac1),
    keyVersion: init.keyVersion,
    algorithm: card.sim.image().algorithm,
    terminalId: hex(LOAD_TERMINAL),
  };
}

/**
 * The end state every fault test must reach: the gateway holds every journal row of every
 * device exactly once, each card's back-office balance equals its chip, the books reconcile.
 * Returns the figures (records compared, lost, duplicated).
 */
export async function assertExactlyOnce(w: CityWorld): Promise<{ records: number; lost: number; duplicated: number }> {
  let records = 0;
  let lost = 0;
  let duplicated = 0;
  for (const slot of w.devices) {
    const deviceSeqs = slot.device.db.prepare('SELECT device_seq FROM journal ORDER BY device_seq').pluck().all() as number[];
    const next = slot.device.status().nextDeviceSeq;
    const rows = await w.all<{ device_seq: number; n: number }>(
      'SELECT device_seq, COUNT(*) AS n FROM journal_records WHERE device_id = ? GROUP BY device_seq ORDER BY device_seq',
      [slot.id],
    );
    const stored = new Set(rows.map((r) => Number(r.device_seq)));
    duplicated += rows.filter((r) => Number(r.n) !== 1).length;
    // Every sequence the device ever used (1..next-1) is at the gateway; none beyond.
    for (let seq = 1; seq < next; seq++) if (!stored.has(seq)) lost++;
    duplicated += [...stored].filter((seq) => seq >= next).length;
    records += next - 1;
    if (deviceSeqs.length > 0 && deviceSeqs[deviceSeqs.length - 1] !== next - 1)
      throw new Error(`${slot.id}: journal ends at ${deviceSeqs[deviceSeqs.length - 1]}, next is ${next}`);
  }
  expect({ lost, duplicated }).toEqual({ lost: 0, duplicated: 0 });
  for (const card of w.cards) {
    const [account] = await w.all<{ b: number }>('SELECT shadow_balance_fen AS b FROM card_accounts WHERE card_no = ?', [card.cardNo]);
    expect(Number(account?.b ?? 0), `back office balance of ${card.cardNo}`).toBe(w.chipBalanceFen(card));
  }
  const r = await w.reconciliation();
  expect(r).toMatchObject({ discrepancyFen: 0, postingsBalanceFen: 0, unbalancedPostings: 0 });
  expect(r.pendingLoadsFen).toBe(r.pendingLoadsLedgerFen);
  return { records, lost, duplicated };
}
