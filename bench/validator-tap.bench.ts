/**
 * Taps per second with a durable journal commit (issue 4 closing note).
 *
 * Question: how many taps can one validator acknowledge per second when every tap's journal
 * row is durable (SQLite WAL, synchronous=FULL) before the gate opens, and how much of that
 * is the storage floor?
 *
 * Tasks, all on a real SQLite file under os.tmpdir():
 * - floor: one durable single-row commit (INSERT + fsync), the primitive a tap's durability costs;
 * - executeTap alone (card simulator, PSAM, fare decision; no storage): the pure decision;
 * - device tap, bus flat fare (debit): prefetch + write-ahead intent (1 fsync) + journal commit (1 fsync);
 * - device tap refused (insufficient balance): no card write, one journal commit.
 * Checksum: the journal holds exactly as many rows as taps made, and the last card balance
 * equals its starting balance minus the fares journaled.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CardSimulator, defaultFareTablesSpec, encodeFareTablesJson, executeTap, NOT_LISTED, effectiveBalanceFen } from '#core';
import { Device, initDevice } from '#validator/device';
import { terminalIdFor } from '#validator/device-profile';
import { SUBWAY_CSV } from '#test/fare/subway-data';
import { makeCardImage, makeIssuer, makePsam, seededRandom } from '#test/purse/fixtures';
import type { BenchContext, SuiteResult } from './harness.ts';

export default async function suite(ctx: BenchContext): Promise<SuiteResult> {
  const dir = mkdtempSync(join(tmpdir(), 'validator-tap-bench-'));
  const issuer = makeIssuer();
  const fareJson = encodeFareTablesJson(defaultFareTablesSpec(SUBWAY_CSV, 1, 0));
  const dbPath = join(dir, 'bus.db');
  initDevice(dbPath, {
    profile: {
      deviceId: 'BENCH-BUS',
      kind: 'bus',
      operator: 'bus',
      stationCode: 0,
      stationName: '',
      busLine: 1,
      busStop: 0,
      lotId: 0,
      parkId: 0,
      terminalIdHex: terminalIdFor('BENCH-BUS'),
    },
    fareTablesJson: fareJson,
    nowMs: 0,
  });
  const device = Device.open(dbPath, { psamKeys: issuer.psamKeyMaterial() });
  const fares = device.faresAt(Date.UTC(2026, 10, 25))!;

  // Cards: enough money for every debit the run can make (cap 1,000 yuan, 1 yuan per ride).
  const CARDS = ctx.pick(64, 16);
  const cards = Array.from(
    { length: CARDS },
    (_, i) => new CardSimulator(makeCardImage(issuer, { cardNo: `20261125${String(i).padStart(8, '0')}`, effectiveBalanceFen: 100_000 }), seededRandom(i + 1)),
  );
  const poor = new CardSimulator(makeCardImage(issuer, { cardNo: '2026112599999999', effectiveBalanceFen: 0 }), seededRandom(7));
  let nowMs = Date.UTC(2026, 10, 25, 0, 0, 0);
  let next = 0;
  let debitTaps = 0;
  let refusedTaps = 0;
  let lastStatus = '';

  // Floor: one durable row per commit on a file with the same pragmas.
  const floorDb = new Database(join(dir, 'floor.db'));
  floorDb.pragma('journal_mode = WAL');
  floorDb.pragma('synchronous = FULL');
  floorDb.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)');
  const floorInsert = floorDb.prepare('INSERT INTO t (v) VALUES (?)');
  const blob = Buffer.alloc(300, 7);

  // executeTap alone: a separate PSAM and card set, no storage.
  const psam = makePsam(issuer, undefined, 1);
  const pureCards = Array.from(
    { length: CARDS },
    (_, i) =>
      new CardSimulator(makeCardImage(issuer, { cardNo: `20261126${String(i).padStart(8, '0')}`, effectiveBalanceFen: 100_000 }), seededRandom(i + 101)),
  );
  let pureSeq = 1;
  let pureNow = nowMs;
  const config = { deviceId: 'PURE', kind: 'bus' as const, operator: 'bus' as const, stationCode: 0, busLine: 1, busStop: 0, lotId: 0, parkId: 0 };

  await ctx.measure([
    { name: 'floor: durable single-row commit (WAL, synchronous=FULL)', floor: true, fn: () => floorInsert.run(blob) },
    {
      name: 'executeTap alone (no storage)',
      fn: () => {
        pureNow += 60_000;
        const slot = pureSeq % CARDS;
        const r = executeTap({
          card: pureCards[slot],
          psam,
          device: config,
          blacklistLookup: () => NOT_LISTED,
          fares,
          nowMs: pureNow,
          deviceSeq: pureSeq++,
          pending: null,
        });
        lastStatus = r.decision.display;
        // A card that has spent its 1,000 yuan is replaced (once per ~1,000 taps).
        if (!r.decision.accepted)
          pureCards[slot] = new CardSimulator(
            makeCardImage(issuer, { cardNo: `20261127${String(pureSeq % 1e8).padStart(8, '0')}`, effectiveBalanceFen: 100_000 }),
            seededRandom(pureSeq),
          );
        return r;
      },
      budget: { p50Us: 1_000 },
    },
    {
      name: 'device tap, debit (intent fsync + journal commit fsync)',
      fn: () => {
        nowMs += 60_000;
        const r = device.tap(cards[next++ % CARDS], nowMs);
        if (r.status !== 'accepted') throw new Error(`tap ${r.resultName}`);
        debitTaps++;
        return r;
      },
      // The software's share of a ~200 ms card transaction must stay small (DOMAIN.md section 6).
      // No ratio budget: two durable commits against one single-row commit measured 2.3-7.3 on
      // this shared box, because fsync time follows other processes' disk traffic between the
      // (sequential) tasks. The ratio is still reported.
      budget: { p50Us: 20_000, minOpsPerSec: 50 },
    },
    {
      name: 'device tap, refused (one journal commit)',
      fn: () => {
        nowMs += 60_000;
        const r = device.tap(poor, nowMs);
        if (r.status !== 'refused') throw new Error('expected a refusal');
        refusedTaps++;
        return r;
      },
      budget: { p50Us: 20_000 },
    },
  ]);

  const rows = device.journal.counts().total;
  ctx.checksum('journal rows = taps made (debits + refusals)', rows, debitTaps + refusedTaps);
  const card = cards[0].image();
  const paid = device.journal
    .all()
    .filter((r) => r.cardNo === card.cardNo && r.cardAction === 'debit')
    .reduce((s, r) => s + r.amountFen, 0);
  ctx.checksum('first card: balance = start - fares journaled', effectiveBalanceFen(card), 100_000 - paid);
  ctx.note(`executeTap last display: ${lastStatus}`);
  device.close();
  floorDb.close();
  rmSync(dir, { recursive: true, force: true });
  return ctx.result();
}
