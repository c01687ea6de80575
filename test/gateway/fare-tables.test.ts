/**
 * Fare-table publishing (routes/fare-tables.ts, services/fare-tables.ts) through inject, on
 * SQLite and on PostgreSQL: operators publish versioned bundles with an effective date; bad
 * bundles are 400 problem+json and change nothing; versions only go up and effective dates never
 * go back (409); other roles are refused; sync hands each device the next table it needs
 * (built-in version 1 when nothing is published). The validator side, over real HTTP, is in
 * test/validator/fare-table-sync.test.ts.
 */
import { createHash } from 'node:crypto';
import { pack, unpack } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  SYNC_PROTOCOL_VERSION,
  defaultFareTablesSpec,
  encodeFareTablesJson,
  parseFareTablesJson,
  selectFareTables,
  type FareTables,
  type FareTablesSpec,
  type SyncRequest,
  type SyncResponse,
} from '#core';
import { isoBeijing } from '#gateway/http/wire';
import { SUBWAY_CSV } from '../fare/subway-data.ts';
import { serviceAvailable } from '../support/services.ts';
import { assertPostgresUp, dropSchema, freshSchemaName, newPgStore } from '../store/pg-test-db.ts';
import { ADMIN_TOKEN, DAY_MS, makeHarness, type Harness } from './support/harness.ts';

const HOUR_MS = 60 * 60 * 1000;

/** A bundle as an operator would send it: core's default spec, this version and date, changed by `edit`. */
function bundle(version: number, effectiveFromMs: number, edit: (spec: FareTablesSpec) => void = () => {}): Record<string, unknown> {
  const spec = defaultFareTablesSpec(SUBWAY_CSV, version, effectiveFromMs);
  edit(spec);
  return JSON.parse(encodeFareTablesJson(spec)) as Record<string, unknown>;
}

/** The main-network bands one yuan dearer: the new fare every test can tell apart. */
function dearer(spec: FareTablesSpec): void {
  for (const band of spec.subwayPolicy.main.bands) band.fareFen += 100;
}

async function publish(h: Harness, body: unknown, token = ADMIN_TOKEN) {
  return h.request('POST', '/v1/fare-tables', { token, body });
}

async function listing(h: Harness): Promise<{
  fareTables: Array<{ version: number; effectiveFromMs: number; builtIn: boolean; sha256: string | null; publishedBy: string | null }>;
  inForceVersion: number | null;
}> {
  const res = await h.request('GET', '/v1/fare-tables', { token: ADMIN_TOKEN });
  expect(res.statusCode).toBe(200);
  return res.json();
}

async function sync(h: Harness, deviceId: string, credential: string, fareTableVersion: number, deviceTimeMs = h.clock.nowMs): Promise<SyncResponse> {
  const request: SyncRequest = {
    protocolVersion: SYNC_PROTOCOL_VERSION,
    deviceId,
    records: [],
    blacklistVersion: 0,
    fareTableVersion,
    deviceTimeMs,
    journalMore: false,
  };
  const res = await h.app.inject({
    method: 'POST',
    url: `/v1/devices/${deviceId}/sync`,
    headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/x-msgpack' },
    payload: pack(request),
  });
  expect(res.statusCode, res.body).toBe(200);
  return unpack(res.rawPayload) as SyncResponse;
}

/** The whole contract, run once per store. */
function contract(makeStoreHarness: () => Promise<{ h: Harness; cleanup: () => Promise<void> }>): void {
  let h: Harness;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ h, cleanup } = await makeStoreHarness());
  });
  afterEach(async () => {
    await cleanup();
  });

  it('an operator publishes version 2 with its effective date; it is listed, served as devices get it, in force from its date, and audited', async () => {
    expect(await listing(h)).toEqual({
      fareTables: [
        {
          version: 1,
          effectiveFromMs: 0,
          effectiveFromAt: isoBeijing(0),
          builtIn: true,
          sha256: null,
          bytes: null,
          publishedBy: null,
          publishedMs: null,
          publishedAt: null,
        },
      ],
      inForceVersion: 1,
    });
    const effectiveFromMs = h.clock.nowMs + DAY_MS;
    const body = bundle(2, effectiveFromMs, dearer);
    const res = await publish(h, body);
    expect(res.statusCode, res.body).toBe(201);
    const text = encodeFareTablesJson(body as unknown as FareTablesSpec);
    expect(res.json()).toEqual({
      version: 2,
      effectiveFromMs,
      effectiveFromAt: isoBeijing(effectiveFromMs),
      builtIn: false,
      sha256: createHash('sha256').update(text).digest('hex'),
      bytes: Buffer.byteLength(text),
      publishedBy: 'operator:admin',
      publishedMs: h.clock.nowMs,
      publishedAt: isoBeijing(h.clock.nowMs),
    });
    expect((await listing(h)).fareTables.map((t) => t.version)).toEqual([1, 2]);
    expect((await listing(h)).inForceVersion).toBe(1);
    h.clock.advance(DAY_MS);
    expect((await listing(h)).inForceVersion).toBe(2);

    const served = await h.request('GET', '/v1/fare-tables/2', { token: ADMIN_TOKEN });
    expect(served.statusCode).toBe(200);
    expect(served.headers['content-type']).toMatch(/^application\/json/);
    expect(served.body).toBe(text);
    const builtIn = await h.request('GET', '/v1/fare-tables/1', { token: ADMIN_TOKEN });
    expect(builtIn.json()).toMatchObject({ format: 'fare-tables/1', version: 1, effectiveFromMs: 0 });
    const missing = await h.request('GET', '/v1/fare-tables/9', { token: ADMIN_TOKEN });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: 'fare-table-not-found' });

    const audit = (await h.request('GET', '/v1/ops/audit?limit=1000', { token: ADMIN_TOKEN })).json().entries as Array<Record<string, unknown>>;
    expect(audit.filter((e) => e.route === '/v1/fare-tables')).toEqual([
      expect.objectContaining({ method: 'POST', role: 'operator', subject: 'admin', target: 'v2', statusCode: 201 }),
    ]);
  });

  it('bad bundles are 400 problem+json and change nothing', async () => {
    const now = h.clock.nowMs;
    const bad: Array<[string, unknown, string]> = [
      ['empty object', {}, 'invalid-request'],
      ['an array', [bundle(2, now)], 'invalid-request'],
      ['unknown format', { ...bundle(2, now), format: 'fare-tables/2' }, 'invalid-request'],
      ['no effective date', (({ effectiveFromMs: _, ...rest }) => rest)(bundle(2, now)), 'invalid-request'],
      ['effective date as text', { ...bundle(2, now), effectiveFromMs: '2026-01-01' }, 'invalid-request'],
      ['negative effective date', { ...bundle(2, now), effectiveFromMs: -1 }, 'invalid-request'],
      ['version 0', bundle(0, now), 'invalid-request'],
      ['version as text', { ...bundle(2, now), version: '2' }, 'invalid-request'],
      ['an unknown member', { ...bundle(2, now), comment: 'x' }, 'invalid-request'],
      ['a network CSV that is not one', bundle(2, now, (s) => (s.subwayCsv = 'hello,world\n1,2\n')), 'invalid-fare-tables'],
      ['a ladder percent over 100', bundle(2, now, (s) => (s.subwayPolicy.monthlyLadder[1].percent = 120)), 'invalid-fare-tables'],
      ['bands that do not ascend', bundle(2, now, (s) => s.subwayPolicy.main.bands.reverse()), 'invalid-fare-tables'],
      [
        'a band fare as a yuan string',
        bundle(2, now, (s) => ((s.subwayPolicy.main.bands[0] as unknown as Record<string, unknown>).fareFen = '3.00')),
        'invalid-fare-tables',
      ],
      ['a missing grace', bundle(2, now, (s) => delete (s.subwayPolicy.main as unknown as Record<string, unknown>).graceM), 'invalid-fare-tables'],
      ['an empty park policy', bundle(2, now, (s) => (s.parkPolicy = {} as never)), 'invalid-fare-tables'],
      ['a bus profile percent of 150', bundle(2, now, (s) => (s.busPolicy.profilePercent.adult = 150)), 'invalid-fare-tables'],
      ['two bus lines with one id', bundle(2, now, (s) => s.busLines.push({ ...s.busLines[0] })), 'invalid-fare-tables'],
      ['an early-entry hour past midnight', bundle(2, now, (s) => (s.subwayPolicy.earlyEntry.beforeMinutesOfDay = 1_500)), 'invalid-fare-tables'],
    ];
    for (const [what, body, code] of bad) {
      const res = await publish(h, body);
      expect(res.statusCode, what).toBe(400);
      expect(res.headers['content-type'], what).toMatch(/^application\/problem\+json/);
      expect(res.json().code, `${what}: ${res.body}`).toBe(code);
    }
    const notJson = await h.request('POST', '/v1/fare-tables', { token: ADMIN_TOKEN, body: '{"format":', headers: { 'content-type': 'application/json' } });
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json().code).toBe('invalid-json');
    expect((await listing(h)).fareTables.map((t) => t.version)).toEqual([1]);
    expect(await h.store.transaction((tx) => tx.all('SELECT version FROM fare_tables'))).toEqual([]);
  });

  it('versions only go up and effective dates never go back (409, nothing changes); the next good one is published', async () => {
    const t = h.clock.nowMs + 7 * DAY_MS;
    expect((await publish(h, bundle(2, t))).statusCode).toBe(201);
    for (const [body, code] of [
      [bundle(2, t + DAY_MS), 'fare-table-version-not-newer'],
      [bundle(1, t + DAY_MS), 'fare-table-version-not-newer'],
      [bundle(3, t - 1), 'fare-table-effective-before-latest'],
    ] as const) {
      const res = await publish(h, body);
      expect(res.statusCode, res.body).toBe(409);
      expect(res.json().code).toBe(code);
    }
    expect((await listing(h)).fareTables.map((t) => t.version)).toEqual([1, 2]);
    // The same instant as the latest: the higher version wins from then on (core's selectFareTables).
    expect((await publish(h, bundle(3, t))).statusCode).toBe(201);
    expect((await publish(h, bundle(10, t + DAY_MS))).statusCode).toBe(201);
    expect((await listing(h)).fareTables.map((t) => t.version)).toEqual([1, 2, 3, 10]);
  });

  it('an effective date more than 5 minutes in the past is refused 409 and changes nothing; up to 5 minutes back is in force at once', async () => {
    for (const back of [HOUR_MS, 5 * 60_000 + 1]) {
      const res = await publish(h, bundle(2, h.clock.nowMs - back));
      expect(res.statusCode, res.body).toBe(409);
      expect(res.json().code).toBe('fare-table-effective-in-past');
    }
    expect((await listing(h)).fareTables.map((t) => t.version)).toEqual([1]);
    expect(await h.store.transaction((tx) => tx.all('SELECT version FROM fare_tables'))).toEqual([]);
    expect((await publish(h, bundle(2, h.clock.nowMs - 60_000))).statusCode).toBe(201);
    expect((await listing(h)).inForceVersion).toBe(2);
  });

  it('counter, app and device credentials are refused 403 (whatever the body); no credential is 401', async () => {
    const counter = await h.counterToken();
    const { cardNo } = await h.issueCard();
    const app = await h.appSession(cardNo);
    const device = await h.registerDevice('FT-GATE-1');
    for (const token of [counter, app, device]) {
      for (const body of [bundle(2, h.clock.nowMs), { nonsense: true }]) {
        const res = await publish(h, body, token);
        expect(res.statusCode).toBe(403);
        expect(res.json().code).toBe('forbidden');
      }
      expect((await h.request('GET', '/v1/fare-tables', { token })).statusCode).toBe(403);
      expect((await h.request('GET', '/v1/fare-tables/1', { token })).statusCode).toBe(403);
    }
    expect((await h.request('POST', '/v1/fare-tables', { body: bundle(2, h.clock.nowMs) })).statusCode).toBe(401);
    expect((await listing(h)).fareTables.map((t) => t.version)).toEqual([1]);
  });

  it('sync hands each device the next table it needs: built-in 1 while nothing is published, then the one in force, then announced ones; superseded ones are skipped', async () => {
    const credential = await h.registerDevice('FT-SYNC-1');
    const version = async (deviceVersion: number) => (await sync(h, 'FT-SYNC-1', credential, deviceVersion)).fareTable?.version ?? null;
    expect(await version(0)).toBe(1);
    expect(await version(1)).toBeNull();

    const now = h.clock.nowMs;
    expect((await publish(h, bundle(2, now + DAY_MS, dearer))).statusCode).toBe(201);
    expect((await publish(h, bundle(3, now + 2 * DAY_MS))).statusCode).toBe(201);
    expect(await version(0)).toBe(1);
    expect(await version(1)).toBe(2);
    expect(await version(2)).toBe(3);
    expect(await version(3)).toBeNull();
    const sent = await sync(h, 'FT-SYNC-1', credential, 1);
    expect(sent.fareTable?.json).toBe(encodeFareTablesJson(bundle(2, now + DAY_MS, dearer) as unknown as FareTablesSpec));

    // Two and a half days on, version 3 is in force: a device still on 1 (or on none) skips 2.
    h.clock.advance(2 * DAY_MS + 12 * HOUR_MS);
    expect(await version(0)).toBe(3);
    expect(await version(1)).toBe(3);
    expect(await version(2)).toBe(3);
    expect(await version(3)).toBeNull();
    const [device] = (await h.request('GET', '/v1/devices', { token: ADMIN_TOKEN })).json().devices as Array<{ deviceId: string; fareTableVersion: number }>;
    expect(device).toMatchObject({ deviceId: 'FT-SYNC-1', fareTableVersion: 3 });
  });

  it('a device whose clock is behind the gateway gets the table in force on its own clock first, so it always has one to charge by', async () => {
    // Validators pick the table by their own clock (Device.faresAt): a device told only "the one in
    // force at the gateway" while its clock has not reached that table's date holds no table in
    // force and refuses every tap (no-fare-table) until its clock gets there.
    const credential = await h.registerDevice('FT-SKEW-1');
    const effectiveFromMs = h.clock.nowMs + HOUR_MS;
    expect((await publish(h, bundle(2, effectiveFromMs, dearer))).statusCode).toBe(201);
    h.clock.advance(HOUR_MS + 60_000); // version 2 in force at the gateway for a minute
    const behindMs = h.clock.nowMs - 5 * 60_000; // the device's clock: 4 minutes before version 2's date
    const held: FareTables[] = [];
    for (let deviceVersion = 0, round = 0; round < 5; round++) {
      const table = (await sync(h, 'FT-SKEW-1', credential, deviceVersion, behindMs)).fareTable;
      if (table === null) break;
      held.push(parseFareTablesJson(table.json));
      deviceVersion = table.version;
    }
    expect(held.map((t) => t.version)).toEqual([1, 2]);
    expect(selectFareTables(held, behindMs)?.version).toBe(1);
    expect(selectFareTables(held, effectiveFromMs)?.version).toBe(2);
    // A device whose clock agrees with the gateway still skips the superseded built-in table.
    expect((await sync(h, 'FT-SKEW-1', credential, 0)).fareTable?.version).toBe(2);
  });
}

describe('fare tables on SQLite', () => {
  contract(async () => {
    const h = await makeHarness();
    return { h, cleanup: () => h.close() };
  });
});

describe.skipIf(!serviceAvailable('postgres', 'fare tables on PostgreSQL'))('fare tables on PostgreSQL', () => {
  contract(async () => {
    await assertPostgresUp();
    const schema = freshSchemaName('gwfare');
    const store = newPgStore(schema);
    const h = await makeHarness({ store: store as never });
    return {
      // The harness's own SQLite store is left unused; the PostgreSQL one carries everything.
      h: { ...h, store: store as never },
      cleanup: async () => {
        await h.close();
        await store.close();
        await dropSchema(schema);
      },
    };
  });
});
