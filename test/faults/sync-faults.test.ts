/**
 * Fault injection on the validator <-> gateway link (issue 8, "The proof"):
 * - connections cut mid-batch by a TCP proxy on loopback that closes the socket after N bytes
 *   of the request (the gateway never got the whole batch) or N bytes of the answer (the
 *   gateway committed, the device never heard): the retry is applied exactly once;
 * - the same batch delivered many times at once, and old batches delivered in reverse order;
 * - devices whose clocks are hours off: nothing breaks.
 * After recovery: zero lost, zero duplicated, discrepancy zero.
 */
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { pack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYNC_PROTOCOL_VERSION, type SyncRequest } from '#core';
import { SyncClient } from '#validator/sync-client';
import { ProofTally } from '../support/proof-summary.ts';
import { CITY_DEVICES, CityWorld, assertExactlyOnce, loadCard, type DeviceSlot } from '../model/city-world.ts';

const tally = new ProofTally('faults:sync-link');
afterAll(() => tally.record());

/** A loopback proxy to `target` that cuts each connection after `limit` bytes in one direction. */
async function cuttingProxy(
  targetPort: number,
  cut: { direction: 'request' | 'answer'; afterBytes: number },
): Promise<{ url: string; cuts: () => number; close: () => Promise<void> }> {
  let cuts = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    sockets.add(client).add(upstream);
    let passed = 0;
    const cutNow = (): void => {
      cuts++;
      client.destroy();
      upstream.destroy();
    };
    const forward = (from: Socket, to: Socket, counted: boolean) => {
      from.on('data', (chunk: Buffer) => {
        if (!counted) return void to.write(chunk);
        const room = cut.afterBytes - passed;
        if (room <= 0) return cutNow();
        passed += Math.min(room, chunk.length);
        if (chunk.length >= room) {
          to.write(chunk.subarray(0, room), () => setTimeout(cutNow, 20));
        } else {
          to.write(chunk);
        }
      });
    };
    forward(client, upstream, cut.direction === 'request');
    forward(upstream, client, cut.direction === 'answer');
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    cuts: () => cuts,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let w: CityWorld;
let gatewayPort: number;
beforeAll(async () => {
  w = await CityWorld.start(1, CITY_DEVICES, 3);
  for (const [i, card] of w.cards.entries()) await loadCard(w, card, 20_000, `sync-faults-${i}`);
  await w.app.listen({ host: '127.0.0.1', port: 0 });
  gatewayPort = (w.app.server.address() as AddressInfo).port;
});
afterAll(async () => {
  await w.close();
});

/** A few rides so the device has a batch to upload. */
function rides(count: number, skewMs = 0): void {
  const [entry, exit, bus] = w.devices;
  for (let i = 0; i < count; i++) {
    const card = w.cards[i % w.cards.length];
    w.clock.ms += 2 * 60_000;
    for (const [slot, offset] of [
      [entry, 0],
      [exit, 25 * 60_000],
      [bus, 40 * 60_000],
    ] as const) {
      const result = slot.device.tap(card.sim, w.clock.ms + offset + skewMs);
      card.sim.reset();
      tally.operations++;
      expect(result.status, result.resultName).toBe('accepted');
    }
  }
  w.clock.ms += 60 * 60_000;
}

function client(slot: DeviceSlot, url: string, clockSkewMs = 0): SyncClient {
  return new SyncClient({
    device: slot.device,
    gatewayUrl: url,
    credential: slot.credential,
    clock: () => w.clock.ms + clockSkewMs,
    random: () => 0.5,
    sleep: async () => {},
    backoff: { maxAttempts: 2 },
    timeoutMs: 5_000,
  });
}

async function storedCount(slot: DeviceSlot): Promise<number> {
  const [row] = await w.all<{ n: number }>('SELECT COUNT(*) AS n FROM journal_records WHERE device_id = ?', [slot.id]);
  return Number(row.n);
}

describe('sync connections cut mid-batch', () => {
  it('request cut after N bytes: nothing applied; answer cut after N bytes: applied once, acknowledged on retry', async () => {
    const cutPoints: Array<{ direction: 'request' | 'answer'; afterBytes: number }> = [
      ...[1, 60, 200, 700, 2_000].map((afterBytes) => ({ direction: 'request' as const, afterBytes })),
      ...[1, 40, 150].map((afterBytes) => ({ direction: 'answer' as const, afterBytes })),
    ];
    for (const cut of cutPoints) {
      rides(3);
      const slot = w.devices[cut.afterBytes % w.devices.length];
      const unackedBefore = slot.device.status().unackedCount;
      const storedBefore = await storedCount(slot);
      const proxy = await cuttingProxy(gatewayPort, cut);
      try {
        const round = await client(slot, proxy.url).syncOnce();
        tally.faults += proxy.cuts();
        expect(proxy.cuts(), `cut ${cut.direction}@${cut.afterBytes}`).toBeGreaterThan(0);
        expect(round.ok, `cut ${cut.direction}@${cut.afterBytes}`).toBe(false);
        // The device acknowledged nothing: every row is still to upload.
        expect(slot.device.status().unackedCount).toBe(unackedBefore);
        const stored = await storedCount(slot);
        if (cut.direction === 'request') expect(stored, 'a cut request applies nothing').toBe(storedBefore);
        else expect(stored, 'the gateway committed before its answer was cut').toBe(storedBefore + unackedBefore);
      } finally {
        await proxy.close();
      }
      // The link is back: the retry is acknowledged and stored exactly once.
      const retry = await client(slot, `http://127.0.0.1:${gatewayPort}`).drain();
      tally.operations++;
      expect(retry.status, retry.lastError ?? '').toBe('drained');
      expect(await storedCount(slot)).toBe(storedBefore + unackedBefore);
    }
    for (const slot of w.devices) expect((await client(slot, `http://127.0.0.1:${gatewayPort}`).drain()).status).toBe('drained');
    const figures = await assertExactlyOnce(w);
    tally.lossesFound += figures.lost + figures.duplicated;
  });
});

describe('duplicated and reordered batches', () => {
  function batchBody(slot: DeviceSlot, records: SyncRequest['records']): Buffer {
    const state = slot.device.state.read();
    return pack({
      protocolVersion: SYNC_PROTOCOL_VERSION,
      deviceId: slot.id,
      records,
      blacklistVersion: state.blacklistVersion,
      fareTableVersion: state.fareTableVersion,
      deviceTimeMs: w.clock.ms,
    } satisfies SyncRequest);
  }
  const post = (slot: DeviceSlot, body: Buffer) =>
    fetch(`http://127.0.0.1:${gatewayPort}/v1/devices/${slot.id}/sync`, {
      method: 'POST',
      headers: { authorization: `Bearer ${slot.credential}`, 'content-type': 'application/x-msgpack' },
      body,
    });

  it('the same batch sent eight times at once is stored once; single-record batches in reverse order are all acknowledged and applied once', async () => {
    rides(4);
    const [entry, exit, bus] = w.devices;
    const before = await w.reconciliation();
    // Eight copies of the exit gate's batch at the same moment.
    const body = batchBody(exit, exit.device.journal.unacked(100));
    const answers = await Promise.all(Array.from({ length: 8 }, () => post(exit, body)));
    tally.faults += 7;
    tally.operations += 8;
    for (const a of answers) expect(a.status).toBe(200);
    // The bus's records, one per batch, newest first.
    const busRecords = bus.device.journal.unacked(100);
    for (const record of [...busRecords].reverse()) {
      const res = await post(bus, batchBody(bus, [record]));
      tally.faults++;
      tally.operations++;
      expect(res.status).toBe(200);
    }
    // The entry gate's batch split in halves, second half first, then the whole batch again.
    const entryRecords = entry.device.journal.unacked(100);
    const half = Math.ceil(entryRecords.length / 2);
    for (const records of [entryRecords.slice(half), entryRecords.slice(0, half), entryRecords]) {
      tally.faults++;
      tally.operations++;
      expect((await post(entry, batchBody(entry, records))).status).toBe(200);
    }
    // The devices themselves then sync as usual: everything is acknowledged, nothing applied twice.
    for (const slot of w.devices) expect((await client(slot, `http://127.0.0.1:${gatewayPort}`).drain()).status).toBe('drained');
    const after = await w.reconciliation();
    expect(after.discrepancyFen).toBe(0);
    expect(after.postings).toBeGreaterThan(before.postings);
    const figures = await assertExactlyOnce(w);
    tally.lossesFound += figures.lost + figures.duplicated;
  });
});

describe('clock skew between devices', () => {
  const HOUR = 60 * 60_000;
  it('devices whose clocks are hours ahead or behind tap, sync and clear: nothing lost, books balance', async () => {
    for (const skewMs of [+5 * HOUR, -7 * HOUR, +26 * HOUR]) {
      rides(2, skewMs);
      for (const slot of w.devices) {
        tally.faults++;
        const result = await client(slot, `http://127.0.0.1:${gatewayPort}`, skewMs).drain();
        expect(result.status, result.lastError ?? '').toBe('drained');
      }
    }
    const figures = await assertExactlyOnce(w);
    tally.lossesFound += figures.lost + figures.duplicated;
  });

  // Issue 8: the gateway records each device's clock skew (SyncRequest.deviceTimeMs minus its own
  // clock) at every sync, shows it in GET /v1/devices and lists devices over a threshold.
  it('the gateway records each device clock skew (GET /v1/devices)', async () => {
    const slot = w.devices[0];
    rides(1, 3 * HOUR);
    expect((await client(slot, `http://127.0.0.1:${gatewayPort}`, 3 * HOUR).drain()).status).toBe('drained');
    const res = await w.call('GET', '/v1/devices', undefined, w.admin);
    const device = (res.json.devices ?? res.json.items ?? res.json).find((d: { deviceId: string }) => d.deviceId === slot.id);
    const skewField = Object.keys(device).find((k) => /skew/i.test(k));
    expect(skewField).toBeDefined();
    expect(Math.abs(Number(device[skewField!]) - 3 * HOUR)).toBeLessThan(60_000);
  });

  it('devices over the skew threshold are listed for on-call (worst first); a good clock at the next sync clears it; the validator keeps its own measurement', async () => {
    const [entry, exit, bus] = w.devices;
    const url = `http://127.0.0.1:${gatewayPort}`;
    expect((await client(entry, url, -90 * 60_000).drain()).status).toBe('drained');
    expect((await client(exit, url, 30_000).drain()).status).toBe('drained');
    expect((await client(bus, url, 10 * 60_000).drain()).status).toBe('drained');
    const listed = async (query = '') => {
      const res = await w.call('GET', `/v1/ops/devices/clock-skew${query}`, undefined, w.admin);
      expect(res.status).toBe(200);
      return res.json as { thresholdSeconds: number; devices: Array<{ deviceId: string; clockSkewMs: number; clockSkewMeasuredMs: number }> };
    };
    // Default threshold 2 minutes: the 30 s device is fine; the others come worst first.
    const byDefault = await listed();
    expect(byDefault.thresholdSeconds).toBe(120);
    expect(byDefault.devices.map((d) => d.deviceId)).toEqual([entry.id, bus.id]);
    expect(byDefault.devices[0].clockSkewMs).toBe(-90 * 60_000);
    expect(byDefault.devices[0].clockSkewMeasuredMs).toBe(w.clock.ms);
    expect((await listed('?thresholdSeconds=10')).devices.map((d) => d.deviceId)).toEqual([entry.id, bus.id, exit.id]);
    expect((await listed('?thresholdSeconds=3600')).devices.map((d) => d.deviceId)).toEqual([entry.id]);
    expect((await w.call('GET', '/v1/ops/devices/clock-skew?thresholdSeconds=-5', undefined, w.admin)).status).toBe(400);
    expect((await w.call('GET', '/v1/ops/devices/clock-skew', undefined, { authorization: `Bearer ${bus.credential}` })).status).toBe(403);
    // The validator measured the same skew from the answer's serverTimeMs and keeps it for `status`.
    expect(entry.device.status().clockSkew).toMatchObject({ skewMs: -90 * 60_000, measuredAtMs: w.clock.ms - 90 * 60_000 });
    // The clock is fixed: the next sync measures again and the device leaves the list.
    expect((await client(entry, url).drain()).status).toBe('drained');
    expect((await listed()).devices.map((d) => d.deviceId)).toEqual([bus.id]);
    expect(entry.device.status().clockSkew?.skewMs).toBe(0);
  });
});
