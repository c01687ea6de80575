import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { pack, unpack } from 'msgpackr';
import {
  SYNC_PROTOCOL_VERSION,
  TAP_RESULT,
  defaultFareTablesSpec,
  effectiveBalanceFen,
  encodeFareTablesJson,
  type SyncRequest,
  type SyncResponse,
} from '#core';
import type { Device } from '#validator/device';
import { CardWallet } from '#validator/rider/card-wallet';
import { SyncClient, backoffDelayMs, DEFAULT_BACKOFF } from '#validator/sync-client';
import { SUBWAY_CSV } from '../fare/subway-data.ts';
import { MORNING_MS, createDevice, profile, 花园桥, 潞城 } from './device-fixtures.ts';
import { startTestGateway, type TestGateway } from './gateway-fixture.ts';
import { tempDir } from './temp-db.ts';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw.close();
});

let tmp: ReturnType<typeof tempDir>;
let wallet: CardWallet;
let entry: Device;
let exit: Device;
let entryCredential: string;
let exitCredential: string;
let n = 0;
const MIN = 60_000;

beforeEach(async () => {
  tmp = tempDir();
  wallet = new CardWallet(tmp.file('cards.db'));
  n++;
  entry = createDevice(tmp.file('entry.db'), profile(`SYNC-IN-${n}`, 'subway-entry', { stationCode: 花园桥 }));
  exit = createDevice(tmp.file('exit.db'), profile(`SYNC-OUT-${n}`, 'subway-exit', { stationCode: 潞城 }));
  entryCredential = await gw.registerDevice(entry.deviceId, 'subway-entry');
  exitCredential = await gw.registerDevice(exit.deviceId, 'subway-exit');
});
afterEach(() => {
  entry.close();
  exit.close();
  wallet.close();
  tmp.cleanup();
});

const noSleep = async (): Promise<void> => {};
function client(device: Device, credential: string, extra: Partial<ConstructorParameters<typeof SyncClient>[0]> = {}): SyncClient {
  return new SyncClient({ device, gatewayUrl: gw.url, credential, sleep: noSleep, random: () => 0.5, ...extra });
}

/** Rides: entry then exit for each card; returns the total charged per card. */
function ride(cards: string[], startMs: number): Map<string, number> {
  const charged = new Map<string, number>();
  cards.forEach((card, i) => {
    expect(entry.tap(wallet.present(card), startMs + i * MIN).status).toBe('accepted');
    const out = exit.tap(wallet.present(card), startMs + (i + 30) * MIN);
    expect(out.status).toBe('accepted');
    charged.set(card, out.chargeFen);
  });
  return charged;
}

describe('SyncClient against a real gateway', () => {
  it('uploads every journal row exactly once, records the watermark, and the back office balance agrees with the card', async () => {
    const cards = [await gw.issueLoadedCard(wallet, 5_000), await gw.issueLoadedCard(wallet, 3_000)];
    ride(cards, MORNING_MS);
    const a = await client(entry, entryCredential).drain();
    const b = await client(exit, exitCredential, { batchRecords: 1 }).drain();
    expect(a).toMatchObject({ status: 'drained', uploaded: 2, remainingUnacked: 0 });
    expect(b).toMatchObject({ status: 'drained', uploaded: 2, remainingUnacked: 0 });
    expect(b.rounds).toBeGreaterThanOrEqual(2);
    expect((await gw.journalRows(exit.deviceId)).map((r) => r.device_seq)).toEqual([1, 2]);
    expect(exit.status()).toMatchObject({ unackedCount: 0, watermark: 2 });
    for (const card of cards) expect(await gw.shadowBalanceFen(card)).toBe(effectiveBalanceFen(wallet.image(card)));
  });

  it('a lost answer leaves rows unacknowledged; the retry is acknowledged again and stored once', async () => {
    const [card] = [await gw.issueLoadedCard(wallet, 5_000)];
    ride([card], MORNING_MS);
    let calls = 0;
    const losing: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      calls++;
      if (calls === 1) throw new TypeError('fetch failed: connection reset after the request');
      return res;
    };
    const first = await client(exit, exitCredential, { fetch: losing }).syncOnce();
    expect(first).toMatchObject({ ok: false, retryable: true });
    expect(exit.status().unackedCount).toBe(1);
    // The gateway did store it.
    expect(await gw.journalRows(exit.deviceId)).toHaveLength(1);
    const second = await client(exit, exitCredential, { fetch: losing }).drain();
    expect(second).toMatchObject({ status: 'drained', uploaded: 1 });
    expect(await gw.journalRows(exit.deviceId)).toHaveLength(1);
    expect(exit.status().unackedCount).toBe(0);
    expect(await gw.shadowBalanceFen(card)).toBe(effectiveBalanceFen(wallet.image(card)));
  });

  it('offline for a while: taps go on, drain backs off (bounded, jittered) and reports offline; back online it drains with no duplicates', async () => {
    const cards = [await gw.issueLoadedCard(wallet, 5_000), await gw.issueLoadedCard(wallet, 5_000), await gw.issueLoadedCard(wallet, 5_000)];
    let online = false;
    const sleeps: number[] = [];
    const flaky: typeof fetch = async (input, init) => {
      if (!online) throw new TypeError('fetch failed');
      return fetch(input, init);
    };
    const sync = client(exit, exitCredential, {
      fetch: flaky,
      sleep: async (ms) => void sleeps.push(ms),
      backoff: { baseMs: 100, maxMs: 1_000, maxAttempts: 6 },
    });
    ride(cards.slice(0, 2), MORNING_MS);
    const down = await sync.drain();
    expect(down).toMatchObject({ status: 'offline', failures: 6, uploaded: 0, remainingUnacked: 2 });
    expect(sleeps).toEqual([75, 150, 300, 600, 750]);
    // Taps continue while offline.
    ride(cards.slice(2), MORNING_MS + 90 * MIN);
    expect(exit.status().unackedCount).toBe(3);
    online = true;
    const up = await sync.drain();
    expect(up).toMatchObject({ status: 'drained', uploaded: 3, remainingUnacked: 0 });
    await sync.drain();
    expect((await gw.journalRows(exit.deviceId)).map((r) => r.device_seq)).toEqual([1, 2, 3]);
    for (const card of cards) expect(await gw.shadowBalanceFen(card)).toBe(effectiveBalanceFen(wallet.image(card)));
  });

  it('the gateway process goes down and comes back on the same database: taps go on, then everything drains once', async () => {
    const dir = tmp.file('gw-restart');
    mkdirSync(dir);
    let own = await startTestGateway({ dir });
    const port = Number(new URL(own.url).port);
    const credential = await own.registerDevice(exit.deviceId, 'subway-exit');
    const cards = [await own.issueLoadedCard(wallet, 5_000), await own.issueLoadedCard(wallet, 5_000)];
    const sync = new SyncClient({
      device: exit,
      gatewayUrl: own.url,
      credential,
      sleep: noSleep,
      random: () => 0.5,
      backoff: { maxAttempts: 3 },
      keepAcknowledged: 0,
    });
    ride(cards.slice(0, 1), MORNING_MS);
    expect((await sync.drain()).status).toBe('drained');
    await own.close();
    // Down: the device keeps taking taps; sync fails fast with a connection error.
    ride(cards.slice(1), MORNING_MS + 60 * MIN);
    const down = await sync.drain();
    expect(down).toMatchObject({ status: 'offline', failures: 3, remainingUnacked: 1 });
    expect(down.lastError).toMatch(/unreachable/);
    // Up again on the same port and database.
    own = await startTestGateway({ dir, port });
    try {
      expect(await sync.drain()).toMatchObject({ status: 'drained', uploaded: 1, remainingUnacked: 0 });
      expect((await own.journalRows(exit.deviceId)).map((r) => Number(r.device_seq))).toEqual([1, 2]);
      for (const card of cards) expect(await own.shadowBalanceFen(card)).toBe(effectiveBalanceFen(wallet.image(card)));
      // keepAcknowledged: 0 prunes every acknowledged row up to the watermark.
      expect(exit.journal.counts().total).toBe(0);
    } finally {
      await own.close();
    }
  });

  it('a gateway that is not there at all (connection refused) is a retryable failure', async () => {
    const dead = new SyncClient({ device: exit, gatewayUrl: 'http://127.0.0.1:1', credential: exitCredential, sleep: noSleep, backoff: { maxAttempts: 2 } });
    const round = await dead.syncOnce();
    expect(round).toMatchObject({ ok: false, retryable: true, status: null });
    expect((await dead.drain()).status).toBe('offline');
  });

  it('a wrong credential is rejected without retrying forever', async () => {
    const [card] = [await gw.issueLoadedCard(wallet, 5_000)];
    ride([card], MORNING_MS);
    const wrong = await client(exit, 'not-a-credential').drain();
    expect(wrong).toMatchObject({ status: 'rejected', rounds: 1, remainingUnacked: 1 });
    expect(wrong.lastError).toMatch(/401/);
  });

  it('downloads the blacklist: a formal loss reported at the gateway locks the card at the gate', async () => {
    const [lost, fine] = [await gw.issueLoadedCard(wallet, 5_000), await gw.issueLoadedCard(wallet, 5_000)];
    await gw.reportLoss(lost, 'formal');
    const result = await client(entry, entryCredential).drain();
    expect(result.status).toBe('drained');
    expect(entry.blacklist.lookup(lost)).toEqual({ listed: true, reason: 'formal-loss' });
    expect(entry.blacklist.lookup(fine)).toEqual({ listed: false });
    expect(entry.status().blacklistVersion).toBeGreaterThan(0);
    expect(entry.tap(wallet.present(lost), MORNING_MS).resultCode).toBe(TAP_RESULT.BLACKLISTED_AND_LOCKED);
    expect(wallet.image(lost).locked).toBe(true);
    // The block record goes up like any other.
    expect((await client(entry, entryCredential).drain()).uploaded).toBe(1);
  });
});

describe('SyncClient with a scripted gateway', () => {
  function scripted(answer: (req: SyncRequest) => Partial<SyncResponse>): typeof fetch {
    return async (_input, init) => {
      const req = unpack(Buffer.from(init!.body as Uint8Array)) as SyncRequest;
      const body: SyncResponse = {
        protocolVersion: SYNC_PROTOCOL_VERSION,
        acknowledged: req.records.map((r) => r.deviceSeq),
        quarantined: [],
        blacklist: [],
        blacklistVersion: req.blacklistVersion,
        blacklistMore: false,
        fareTable: null,
        watermark: 0,
        serverTimeMs: 0,
        ...answer(req),
      };
      return new Response(pack(body), { status: 200, headers: { 'content-type': 'application/x-msgpack' } });
    };
  }

  it('installs a newer fare table from the answer and uses it for later taps', async () => {
    const json = encodeFareTablesJson(defaultFareTablesSpec(SUBWAY_CSV, 7, 0));
    const result = await client(entry, 'x', { fetch: scripted(() => ({ fareTable: { version: 7, json } })) }).syncOnce();
    expect(result).toMatchObject({ ok: true, fareTableInstalled: 7 });
    expect(entry.status().fareTableVersion).toBe(7);
    expect(entry.faresAt(MORNING_MS)?.version).toBe(7);
  });

  it('a corrupted fare table is refused and changes nothing', async () => {
    const result = await client(entry, 'x', {
      fetch: scripted(() => ({ fareTable: { version: 8, json: '{"format":"fare-tables/1","version":8}' } })),
    }).syncOnce();
    expect(result).toMatchObject({ ok: false, retryable: false });
    expect(entry.status().fareTableVersion).toBe(1);
  });

  it('a corrupted blacklist page is refused whole; acknowledged rows are still marked', async () => {
    const answer = () => ({
      blacklist: [
        { version: 1, cardNo: '1000000000000001', op: 'add' as const, reason: 'formal-loss' as const },
        { version: 2, cardNo: 'garbage', op: 'add' as const, reason: 'formal-loss' as const },
      ],
      blacklistVersion: 2,
    });
    const result = await client(entry, 'x', { fetch: scripted(answer) }).drain();
    expect(result).toMatchObject({ status: 'rejected' });
    expect(result.lastError).toMatch(/corrupt-entry/);
    expect(entry.blacklist.lookup('1000000000000001').listed).toBe(false);
    expect(entry.status().blacklistVersion).toBe(0);
  });

  it('marks only the sequences it sent, even if the answer names others', async () => {
    const [card] = [await gw.issueLoadedCard(wallet, 5_000)];
    entry.tap(wallet.present(card), MORNING_MS);
    const result = await client(entry, 'x', { fetch: scripted(() => ({ acknowledged: [1, 2, 3, 99] })) }).syncOnce();
    expect(result).toMatchObject({ ok: true, acknowledged: 1 });
  });

  it('a malformed answer changes nothing', async () => {
    const [card] = [await gw.issueLoadedCard(wallet, 5_000)];
    entry.tap(wallet.present(card), MORNING_MS);
    const garbage: typeof fetch = async () => new Response(pack({ protocolVersion: 1, acknowledged: 'all' }), { status: 200 });
    expect(await client(entry, 'x', { fetch: garbage }).syncOnce()).toMatchObject({ ok: false });
    expect(entry.status().unackedCount).toBe(1);
  });
});

describe('backoffDelayMs', () => {
  it('is bounded by maxMs, at least half the exponential ceiling, and grows with attempts', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (attempt, r) => {
        const delay = backoffDelayMs(attempt, DEFAULT_BACKOFF, () => r);
        const ceiling = Math.min(DEFAULT_BACKOFF.maxMs, DEFAULT_BACKOFF.baseMs * 2 ** (attempt - 1));
        expect(delay).toBeGreaterThanOrEqual(Math.floor(ceiling / 2));
        expect(delay).toBeLessThanOrEqual(ceiling);
      }),
    );
  });
});
