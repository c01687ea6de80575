/**
 * "Drained" is said, never guessed from sizes (issue: sync drained flag).
 *
 * The journal: the validator tells the gateway whether unacknowledged records wait beyond the
 * batch (SyncRequest.journalMore, asked of its journal), and the gateway counts the device
 * drained (device_sync_state.drained_ms / drained_blacklist_version, which broken-card refunds
 * wait for) only on that word. A last batch of exactly LIMITS.syncBatchRecords is drained; a
 * full batch smaller than the limit (SyncClient batchRecords) is not.
 *
 * The blacklist: the gateway's blacklistMore is exact (it reads one row past the page), so a
 * delta of exactly LIMITS.blacklistDeltaPage entries takes one round and one more entry takes
 * two; a "more" whose page moves nothing is refused instead of asked for again forever.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pack, unpack } from 'msgpackr';
import { LIMITS, SYNC_PROTOCOL_VERSION, TAP_RESULT, type JournalRecord, type SyncRequest, type SyncResponse } from '#core';
import { addBlacklistEntry } from '#gateway/services/blacklist';
import type { Device } from '#validator/device';
import { SyncClient } from '#validator/sync-client';
import { MORNING_MS, createDevice, profile, 花园桥 } from './device-fixtures.ts';
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
let devices: Device[] = [];
let n = 0;
beforeEach(() => {
  tmp = tempDir();
  devices = [];
});
afterEach(() => {
  for (const d of devices) d.close();
  tmp.cleanup();
});

async function newDevice(): Promise<{ device: Device; credential: string }> {
  n++;
  const device = createDevice(tmp.file(`gate-${n}.db`), profile(`DRAIN-${n}`, 'subway-entry', { stationCode: 花园桥 }));
  devices.push(device);
  const credential = await gw.registerDevice(device.deviceId, 'subway-entry');
  return { device, credential };
}

/**
 * `count` journal rows of refused taps (the card was not touched: no TAC, no money), written the
 * way the tap commit writes them (rows, unacknowledged count and next sequence in one transaction).
 */
function fillJournal(device: Device, count: number): void {
  const first = device.state.read().nextDeviceSeq;
  const records: JournalRecord[] = [];
  for (let i = 0; i < count; i++) {
    records.push({
      deviceId: device.deviceId,
      deviceSeq: first + i,
      deviceKind: 'subway-entry',
      operator: 'subway',
      resultCode: TAP_RESULT.INSUFFICIENT_BALANCE,
      cardNo: `10007543${String(90_000_000 + i).slice(-8)}`,
      cardAction: 'none',
      transactionType: 0,
      amountFen: 0,
      balanceBeforeFen: 100,
      balanceAfterFen: 100,
      offlineAtc: 0,
      onlineAtc: 0,
      terminalId: device.profile.terminalIdHex,
      tsn: 0,
      date: 20261125,
      time: 80000,
      tac: '',
      keyVersion: 1,
      algorithm: '3des',
      fareTableVersion: 1,
      place: 花园桥,
      line: 0,
      occurredAtMs: MORNING_MS + i,
      recovered: false,
    });
  }
  device.db
    .transaction(() => {
      device.journal.appendInTransaction(records);
      device.db.prepare('UPDATE device_state SET next_device_seq = next_device_seq + ? WHERE id = 1').run(count);
    })
    .immediate();
}

/** Global fetch that remembers every sync request it carried. */
function spyingFetch(seen: SyncRequest[]): typeof fetch {
  return async (input, init) => {
    seen.push(unpack(Buffer.from(init!.body as Uint8Array)) as SyncRequest);
    return fetch(input, init);
  };
}

function client(device: Device, credential: string, extra: Partial<ConstructorParameters<typeof SyncClient>[0]> = {}): SyncClient {
  return new SyncClient({ device, gatewayUrl: gw.url, credential, sleep: async () => {}, random: () => 0.5, ...extra });
}

/** The gateway's drained mark of a device (0 = never drained). */
async function drainedMs(deviceId: string): Promise<number> {
  const row = await gw.store.transaction((tx) => tx.get<{ drained_ms: number }>('SELECT drained_ms FROM device_sync_state WHERE device_id = ?', [deviceId]), {
    readOnly: true,
  });
  return Number(row?.drained_ms ?? 0);
}

describe('journal drained: said by the device, not guessed from the batch size', () => {
  it(`a journal of exactly ${LIMITS.syncBatchRecords} records drains in one round and the gateway counts the device drained`, async () => {
    const { device, credential } = await newDevice();
    fillJournal(device, LIMITS.syncBatchRecords);
    const seen: SyncRequest[] = [];
    const result = await client(device, credential, { fetch: spyingFetch(seen) }).drain();
    expect(result).toMatchObject({ status: 'drained', rounds: 1, uploaded: LIMITS.syncBatchRecords, remainingUnacked: 0 });
    expect(seen.map((r) => [r.records.length, r.journalMore])).toEqual([[LIMITS.syncBatchRecords, false]]);
    expect(await drainedMs(device.deviceId)).toBeGreaterThan(0);
    expect((await gw.journalRows(device.deviceId)).length).toBe(LIMITS.syncBatchRecords);
  });

  it(`${LIMITS.syncBatchRecords + 1} records: a full batch that says more, then the last one; drained only after it`, async () => {
    const { device, credential } = await newDevice();
    fillJournal(device, LIMITS.syncBatchRecords + 1);
    const seen: SyncRequest[] = [];
    const sync = client(device, credential, { fetch: spyingFetch(seen) });
    expect(await sync.syncOnce()).toMatchObject({ ok: true, uploaded: LIMITS.syncBatchRecords, remainingUnacked: 1 });
    expect(await drainedMs(device.deviceId)).toBe(0);
    expect(await sync.drain()).toMatchObject({ status: 'drained', rounds: 1, uploaded: 1, remainingUnacked: 0 });
    expect(seen.map((r) => [r.records.length, r.journalMore])).toEqual([
      [LIMITS.syncBatchRecords, true],
      [1, false],
    ]);
    expect(await drainedMs(device.deviceId)).toBeGreaterThan(0);
  });

  it('a device sending batches smaller than the limit is not taken for drained while rows wait behind a full batch', async () => {
    const { device, credential } = await newDevice();
    fillJournal(device, 250);
    const seen: SyncRequest[] = [];
    const sync = client(device, credential, { fetch: spyingFetch(seen), batchRecords: 100 });
    expect(await sync.syncOnce()).toMatchObject({ ok: true, uploaded: 100, remainingUnacked: 150 });
    expect(await drainedMs(device.deviceId)).toBe(0);
    expect(await sync.drain()).toMatchObject({ status: 'drained', rounds: 2, uploaded: 150 });
    expect(seen.map((r) => [r.records.length, r.journalMore])).toEqual([
      [100, true],
      [100, true],
      [50, false],
    ]);
    expect(await drainedMs(device.deviceId)).toBeGreaterThan(0);
    // Exactly a multiple of the small batch: the last full batch says it is the last.
    fillJournal(device, 200);
    seen.length = 0;
    expect(await sync.drain()).toMatchObject({ status: 'drained', rounds: 2, uploaded: 200 });
    expect(seen.map((r) => [r.records.length, r.journalMore])).toEqual([
      [100, true],
      [100, false],
    ]);
  });

  it('a journalMore that is not a boolean is a 400 that changes nothing', async () => {
    const { device, credential } = await newDevice();
    fillJournal(device, 3);
    const state = device.state.read();
    const body = pack({
      protocolVersion: SYNC_PROTOCOL_VERSION,
      deviceId: device.deviceId,
      records: device.journal.unacked(10),
      blacklistVersion: state.blacklistVersion,
      fareTableVersion: state.fareTableVersion,
      deviceTimeMs: MORNING_MS,
      journalMore: 'no',
    });
    const res = await fetch(`${gw.url}/v1/devices/${device.deviceId}/sync`, {
      method: 'POST',
      headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/x-msgpack' },
      body,
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('invalid-sync-batch');
    expect(await gw.journalRows(device.deviceId)).toEqual([]);
    expect(await drainedMs(device.deviceId)).toBe(0);
  });
});

describe('blacklist delta of exactly its page limit', () => {
  it(`${LIMITS.blacklistDeltaPage} entries arrive in one round; one more entry takes exactly one more page`, async () => {
    const nowMs = Date.now();
    await gw.store.transaction(async (tx) => {
      for (let i = 0; i < LIMITS.blacklistDeltaPage; i++) await addBlacklistEntry(tx, `10009999${String(i).padStart(8, '0')}`, 'formal-loss', nowMs);
    });
    const { device, credential } = await newDevice();
    const seen: SyncRequest[] = [];
    const first = await client(device, credential, { fetch: spyingFetch(seen) }).drain();
    expect(first).toMatchObject({ status: 'drained', rounds: 1 });
    expect(device.status()).toMatchObject({ blacklistVersion: LIMITS.blacklistDeltaPage, blacklistCount: LIMITS.blacklistDeltaPage });

    await gw.store.transaction((tx) => addBlacklistEntry(tx, '1000999999999999', 'formal-loss', nowMs));
    const { device: late, credential: lateCredential } = await newDevice();
    const second = await client(late, lateCredential).drain();
    expect(second).toMatchObject({ status: 'drained', rounds: 2 });
    expect(late.status()).toMatchObject({ blacklistVersion: LIMITS.blacklistDeltaPage + 1, blacklistCount: LIMITS.blacklistDeltaPage + 1 });
    // The first device, already at the page limit, needs one round for the one new entry.
    expect(await client(device, credential).drain()).toMatchObject({ status: 'drained', rounds: 1 });
    expect(device.status().blacklistVersion).toBe(LIMITS.blacklistDeltaPage + 1);
  });

  it('a gateway that says more pages wait but sends a page that moves nothing is refused, not asked again forever', async () => {
    const { device } = await newDevice();
    const stuck: typeof fetch = async (_input, init) => {
      const req = unpack(Buffer.from(init!.body as Uint8Array)) as SyncRequest;
      const body: SyncResponse = {
        protocolVersion: SYNC_PROTOCOL_VERSION,
        acknowledged: req.records.map((r) => r.deviceSeq),
        quarantined: [],
        blacklist: [],
        blacklistVersion: req.blacklistVersion,
        blacklistMore: true,
        fareTable: null,
        watermark: 0,
        serverTimeMs: 0,
      };
      return new Response(pack(body), { status: 200, headers: { 'content-type': 'application/x-msgpack' } });
    };
    const result = await client(device, 'x', { fetch: stuck }).drain({ maxRounds: 50 });
    expect(result).toMatchObject({ status: 'rejected', rounds: 1 });
    expect(result.lastError).toMatch(/more blacklist pages/);
  });
});
