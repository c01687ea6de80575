/**
 * The gateway's two stores side by side (issue 6 closing note): loads per second and sync
 * records per second on the embedded SQLite file (WAL, synchronous=FULL) and on PostgreSQL
 * (127.0.0.1:5432, READ COMMITTED with the cards locked, a fresh schema dropped afterwards), through the same service
 * code the routes run.
 *
 * - load: one store transaction = claim the Idempotency-Key, settle earlier pending loads,
 *   verify the card's genuine MAC1, issue MAC2, insert the load, post to the ledger, store the
 *   answer. Run one at a time (a single counter), and 16 in flight (many counters at once: on
 *   PostgreSQL they run in parallel on the pool; SQLite serialises them).
 * - sync: batches of LIMITS.syncBatchRecords genuine records (TAC verified): one device at a
 *   time, and 4 devices at once on disjoint cards.
 * Floor: an empty PostgreSQL transaction (BEGIN; SELECT 1; COMMIT through the store), the
 * round-trip cost every PostgreSQL transaction pays at least.
 * Budgets are floors that hold on the shared 2-core CI box while other suites run (measured
 * numbers there wander by 2x); the side-by-side ratio is the point of this suite.
 * Checksums: each store's reconciliation (shadow balances = card liability, every posting
 * balanced) and the number of loads and records stored.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { LIMITS, makeCardNo, type JournalRecord, type SyncRequest } from '#core';
import type { BenchContext, SuiteResult } from './harness.ts';
import { benchKeySet } from './support/genuine-debits.ts';
import { NOW_MS, loadRequests, oneLoad, runPool, seed, syncBatches, type Fixture } from './support/store-fixture.ts';
import { SqliteStore } from '#gateway/store/sqlite-store';
import { PostgresStore } from '#gateway/store/postgres-store';
import type { Store } from '#gateway/store/store-port';
import { IssuerKeyService } from '#issuer/issuer-key-service';
import { ingestSyncBatch, type SyncDeps } from '#gateway/services/sync-ingest';
import { checkSyncRequest } from '#gateway/services/sync-record-guard';
import { addBlacklistEntry, blacklistDeltaSince } from '#gateway/services/blacklist';
import { reconcile } from '#gateway/services/ledger';

const PG_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function stats(samplesUs: number[], opsPerSample: number, wallUs?: number) {
  const sorted = [...samplesUs].sort((a, b) => a - b);
  const total = samplesUs.reduce((s, v) => s + v, 0);
  return {
    medianUs: sorted[Math.floor(sorted.length / 2)],
    p99Us: sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)],
    meanUs: total / samplesUs.length,
    // Concurrent runs: throughput is operations over the wall time, not over the summed latencies.
    opsPerSec: (opsPerSample * samplesUs.length) / ((wallUs ?? total) / 1e6),
  };
}

export default async function suite(ctx: BenchContext): Promise<SuiteResult> {
  const loadsPerRun = ctx.pick(600, 40);
  const syncBatchesPerDevice = ctx.pick(3, 1);
  const syncDevices = ctx.pick(4, 2);
  const master = benchKeySet(6);
  const keys = IssuerKeyService.fromKeySets(new Map([[1, master]]), 1);
  // Sequential and concurrent loads each need fresh cards (a card's first INIT); sync cards are separate.
  const loadCards = Array.from({ length: loadsPerRun * 2 }, (_, i) => makeCardNo('1000', 10_000 + i));
  // 500 cards per device, disjoint: parallel uploads do not contend on one card's chain.
  const syncCards = Array.from({ length: (syncDevices + 1) * 500 }, (_, i) => makeCardNo('1000', 500_000 + i));
  const fx: Fixture = { keys, master, loadCards, syncCards };
  const requests = loadRequests(fx);
  const deviceIds = Array.from({ length: syncDevices + 1 }, (_, d) => `bench-gate-${d}`);
  const batchesFor = (d: number) => syncBatches(master, deviceIds[d], syncCards.slice(d * 500, (d + 1) * 500), syncBatchesPerDevice);
  // Device 0 uploads alone; devices 1..4 upload at the same time.
  const sequentialBatches = batchesFor(0);
  const parallelBatches = Array.from({ length: syncDevices }, (_, d) => batchesFor(d + 1));

  const dir = mkdtempSync(join(tmpdir(), 'bench-store-'));
  const schema = `bench_store_${process.pid}_${Date.now() % 1_000_000}`;
  const sqlite = new SqliteStore({ path: join(dir, 'gateway.db'), clock: () => NOW_MS });
  const postgres = new PostgresStore({ connectionString: PG_URL, schema, clock: () => NOW_MS });
  const deps: SyncDeps = { keys, blacklist: { add: addBlacklistEntry, deltaSince: blacklistDeltaSince } };
  const syncOnce = async (store: Store, deviceId: string, records: JournalRecord[]) => {
    const request: SyncRequest = { protocolVersion: 1, deviceId, records, blacklistVersion: 0, fareTableVersion: 1, deviceTimeMs: NOW_MS };
    const check = checkSyncRequest(request, deviceId);
    if (!check.ok) throw new Error(check.reasons.join('; '));
    // As routes/sync.ts runs it: the device, then the batch's cards, locked; READ COMMITTED on PostgreSQL.
    const { response } = await store.transaction(
      async (tx) => {
        await tx.lockDevice(deviceId);
        await tx.lockCards(records.map((r) => r.cardNo));
        return ingestSyncBatch(tx, deps, deviceId, check.request, NOW_MS);
      },
      { isolation: 'read-committed' },
    );
    if (response.acknowledged.length !== records.length) throw new Error(`sync acknowledged ${response.acknowledged.length} of ${records.length}`);
  };

  try {
    const stores: Array<[string, Store]> = [
      ['SQLite', sqlite],
      ['PostgreSQL', postgres],
    ];
    for (const [, store] of stores) await seed(store, fx, deviceIds);

    const floor = await runPool(
      Array.from({ length: ctx.pick(400, 100) }, () => async () => {
        await postgres.transaction((tx) => tx.get('SELECT 1 AS one'));
      }),
      1,
    );
    ctx.report({ name: 'floor: PostgreSQL empty transaction', samples: floor.samplesUs.length, floor: true, ...stats(floor.samplesUs, 1) });

    const loadsPerSec: Record<string, number[]> = {};
    const recordsPerSec: Record<string, number[]> = {};
    for (const [name, store] of stores) {
      const seq = await runPool(
        requests.slice(0, loadsPerRun).map((r, i) => () => oneLoad(store, fx, r, `seq-${i}`)),
        1,
      );
      const par = await runPool(
        requests.slice(loadsPerRun).map((r, i) => () => oneLoad(store, fx, r, `par-${i}`)),
        16,
      );
      const seqStats = ctx.report({
        name: `${name}: load, 1 at a time`,
        samples: seq.samplesUs.length,
        ...stats(seq.samplesUs, 1),
        budget: { minOpsPerSec: name === 'SQLite' ? 100 : 50 },
      });
      const parStats = ctx.report({
        name: `${name}: load, 16 in flight`,
        samples: par.samplesUs.length,
        ...stats(par.samplesUs, 1, par.wallUs),
        budget: { minOpsPerSec: name === 'SQLite' ? 100 : 50 },
      });
      loadsPerSec[name] = [seqStats.opsPerSec, parStats.opsPerSec];

      const syncSeq = await runPool(
        sequentialBatches.map((records) => () => syncOnce(store, deviceIds[0], records)),
        1,
      );
      const syncPar = await runPool(
        parallelBatches.flatMap((batches, d) => batches.map((records) => () => syncOnce(store, deviceIds[d + 1], records))),
        syncDevices,
      );
      const perBatch = LIMITS.syncBatchRecords;
      const s1 = ctx.report({
        name: `${name}: sync 5,000-record batch, 1 device`,
        samples: syncSeq.samplesUs.length,
        ...stats(syncSeq.samplesUs, perBatch),
        budget: { minOpsPerSec: name === 'SQLite' ? 8_000 : 2_500 },
      });
      const s4 = ctx.report({
        name: `${name}: sync 5,000-record batches, ${syncDevices} devices at once`,
        samples: syncPar.samplesUs.length,
        ...stats(syncPar.samplesUs, perBatch, syncPar.wallUs),
        budget: { minOpsPerSec: name === 'SQLite' ? 8_000 : 2_500 },
      });
      recordsPerSec[name] = [s1.opsPerSec, s4.opsPerSec];

      const books = await store.transaction((tx) => reconcile(tx));
      ctx.checksum(
        `${name}: books balance (discrepancy, unbalanced postings)`,
        `${books.discrepancyFen},${books.unbalancedPostings},${books.postingsBalanceFen}`,
        '0,0,0',
      );
      const counts = await store.transaction((tx) =>
        tx.get<{ loads: number; records: number }>('SELECT (SELECT COUNT(*) FROM loads) AS loads, (SELECT COUNT(*) FROM journal_records) AS records'),
      );
      ctx.checksum(
        `${name}: loads and records stored`,
        `${counts!.loads},${counts!.records}`,
        `${loadsPerRun * 2},${syncBatchesPerDevice * (1 + syncDevices) * perBatch}`,
      );
    }
    for (const [name] of stores) {
      ctx.metric(`${name} loads/s (1 at a time)`, Math.round(loadsPerSec[name][0]), 'loads/s');
      ctx.metric(`${name} loads/s (16 in flight)`, Math.round(loadsPerSec[name][1]), 'loads/s');
      ctx.metric(`${name} sync records/s (1 device)`, Math.round(recordsPerSec[name][0]), 'records/s');
      ctx.metric(`${name} sync records/s (${syncDevices} devices at once)`, Math.round(recordsPerSec[name][1]), 'records/s');
    }
    ctx.note(
      `retries on PostgreSQL: ${postgres.stats.retries} of ${postgres.stats.transactions} transactions (deadlocks ${postgres.stats.deadlocks}, serialization failures ${postgres.stats.serializationFailures})`,
    );
    ctx.note(
      `${loadsPerRun} loads per mode on fresh cards; ${syncBatchesPerDevice} batch(es) of ${LIMITS.syncBatchRecords} per device; SQLite WAL synchronous=FULL; PostgreSQL READ COMMITTED with the cards locked (docs/postgres.md), pool 10 (default), same machine, loopback TCP`,
    );
    return ctx.result();
  } finally {
    await sqlite.close();
    await postgres.close();
    rmSync(dir, { recursive: true, force: true });
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
  }
}
