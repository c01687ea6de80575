/**
 * Bad msgpack sync payloads (issue 8, "The proof"): truncated at every length, oversized,
 * not msgpack, valid msgpack of the wrong shape (fast-check values), and genuine records with
 * one field given a wrong type or an impossible value (negative, NaN, Infinity, fractions,
 * strings, huge numbers). Each is a 4xx problem+json (invalid-msgpack / invalid-sync-batch /
 * body-too-large), nothing changes, nothing crashes; the genuine batch is then accepted.
 */
import fc from 'fast-check';
import { pack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYNC_PROTOCOL_VERSION, type JournalRecord, type SyncRequest } from '#core';
import { ProofTally } from '../support/proof-summary.ts';
import type { CityWorld, DeviceSlot } from '../model/city-world.ts';
import { badInputWorld, stateSnapshot } from './bad-input-world.ts';

const tally = new ProofTally('bad-input:sync-msgpack');
afterAll(() => tally.record());

let w: CityWorld;
let slot: DeviceSlot;
let records: JournalRecord[];
let before: string;
beforeAll(async () => {
  w = await badInputWorld(2);
  slot = w.devices[1];
  // Fresh taps, not yet uploaded: the genuine batch the bad ones are made from.
  for (const card of w.cards) {
    w.clock.ms += 60 * 60_000;
    w.devices[0].device.tap(card.sim, w.clock.ms);
    card.sim.reset();
    slot.device.tap(card.sim, w.clock.ms + 20 * 60_000);
    card.sim.reset();
  }
  records = slot.device.journal.unacked(100);
  expect(records.length).toBeGreaterThan(0);
  before = await stateSnapshot(w);
});
afterAll(async () => {
  await w.close();
});

function request(recs: unknown[], extra: Record<string, unknown> = {}): SyncRequest {
  const state = slot.device.state.read();
  return {
    protocolVersion: SYNC_PROTOCOL_VERSION,
    deviceId: slot.id,
    records: recs as JournalRecord[],
    blacklistVersion: state.blacklistVersion,
    fareTableVersion: state.fareTableVersion,
    deviceTimeMs: w.clock.ms,
    ...extra,
  };
}

async function send(payload: Buffer, contentType = 'application/x-msgpack') {
  return w.app.inject({
    method: 'POST',
    url: `/v1/devices/${slot.id}/sync`,
    headers: { authorization: `Bearer ${slot.credential}`, 'content-type': contentType },
    payload,
  });
}

async function expectRefused(payload: Buffer, what: string, codes: string[] = ['invalid-msgpack', 'invalid-sync-batch']): Promise<void> {
  const res = await send(payload);
  tally.badInputs++;
  expect(res.statusCode, `${what} -> ${res.statusCode} ${res.body.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
  expect(res.statusCode, what).toBeLessThan(500);
  expect(String(res.headers['content-type'])).toContain('application/problem+json');
  expect(codes, `${what}: ${res.body.slice(0, 200)}`).toContain(res.json().code);
}

describe('bad msgpack sync payloads', () => {
  it('truncated at every length: 400, nothing applied', async () => {
    const full = pack(request(records));
    for (let length = 0; length < full.length; length += Math.max(1, Math.floor(full.length / 150))) {
      await expectRefused(full.subarray(0, length), `truncated to ${length} of ${full.length}`, ['invalid-msgpack', 'invalid-sync-batch', 'invalid-request']);
    }
    expect(await stateSnapshot(w)).toBe(before);
  });

  it('not msgpack, trailing garbage, wrong content type, oversized: 4xx, nothing applied', async () => {
    await expectRefused(Buffer.from([0xc1]), 'reserved byte 0xc1');
    await expectRefused(Buffer.from('{"protocolVersion":1}'), 'JSON bytes as msgpack');
    await expectRefused(Buffer.concat([pack(request(records)), Buffer.from([0xff, 0xff])]), 'trailing garbage');
    const json = await send(Buffer.from(JSON.stringify(request(records))), 'application/json');
    tally.badInputs++;
    expect(json.statusCode).toBeGreaterThanOrEqual(400);
    expect(json.statusCode).toBeLessThan(500);
    await expectRefused(Buffer.alloc(8 * 1024 * 1024 + 1, 0xc0), 'over the 8 MiB sync limit', ['body-too-large']);
    // Too many records for one batch (the limit is 5,000).
    await expectRefused(pack(request(Array.from({ length: 5_001 }, () => records[0]))), '5,001 records');
    expect(await stateSnapshot(w)).toBe(before);
  });

  it('valid msgpack of the wrong shape (fast-check): 400, never 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.anything({ maxDepth: 3 }),
          fc.record({
            protocolVersion: fc.anything(),
            deviceId: fc.anything(),
            records: fc.anything({ maxDepth: 2 }),
            blacklistVersion: fc.anything(),
            fareTableVersion: fc.anything(),
            deviceTimeMs: fc.anything(),
          }),
        ),
        async (value) => {
          let payload: Buffer;
          try {
            payload = pack(value);
          } catch {
            return; // msgpackr cannot encode it (e.g. a symbol): not a payload
          }
          await expectRefused(payload, `shape ${String(JSON.stringify(value)).slice(0, 80)}`);
        },
      ),
      { numRuns: 300, seed: Number(process.env.PROOF_SEED ?? 31) },
    );
    expect(await stateSnapshot(w)).toBe(before);
  });

  it('a genuine record with one field wrong (type, sign, NaN, Infinity, fraction, overflow): 400 for the batch, nothing applied', async () => {
    const bad: unknown[] = ['300', -1, -300, Number.NaN, Number.POSITIVE_INFINITY, 1.5, 2 ** 60, null, true, [], {}, Buffer.from([1, 2])];
    const fields = Object.keys(records[0]).filter((k) => k !== 'recovered' && k !== 'line' && k !== 'place');
    for (const field of fields) {
      for (const value of bad) {
        const broken = { ...records[0], [field]: value };
        // A value that still satisfies the field's contract is not bad input for that field.
        if (field === 'resultCode' && value === true) continue;
        // Balances are signed (overdraft): a small negative balance is a valid value.
        if ((field === 'balanceBeforeFen' || field === 'balanceAfterFen') && (value === -1 || value === -300)) continue;
        await expectRefused(pack(request([broken, ...records.slice(1)])), `${field} = ${String(value)}`);
      }
    }
    for (const extra of [{ protocolVersion: 2 }, { deviceId: 'someone-else' }, { deviceTimeMs: -5 }, { blacklistVersion: -1 }, { fareTableVersion: 1.5 }]) {
      await expectRefused(pack(request(records, extra)), `request ${JSON.stringify(extra)}`);
    }
    // Sequences out of order, repeated in one batch.
    await expectRefused(pack(request([...records].reverse())), 'descending deviceSeq');
    await expectRefused(pack(request([records[0], records[0]])), 'the same deviceSeq twice');
    expect(await stateSnapshot(w)).toBe(before);
  });

  it('after all that, the genuine batch is accepted and applied once', async () => {
    const result = await w.syncClient(slot).drain();
    tally.operations++;
    expect(result).toMatchObject({ status: 'drained', uploaded: records.length, remainingUnacked: 0 });
    expect((await w.reconciliation()).discrepancyFen).toBe(0);
  });
});
