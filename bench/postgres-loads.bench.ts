/**
 * PostgreSQL near its floor (issue 19): the gateway's loads and sync ingest on PostgreSQL
 * against DURABLE primitive floors measured in the same run, on the same server and schema.
 *
 * Floors (synchronous_commit as the server has it: on, so every commit waits for its WAL flush):
 * - (a) one single-row INSERT with autocommit (one round trip, one durable commit);
 * - (b) one server-side function doing one load's writes under READ COMMITTED with the card's
 *   row locked (`FOR NO KEY UPDATE`): insert the load, the posting and its two entries, update
 *   the idempotency answer; one round trip, one durable commit. What the gateway's load could
 *   cost if it were written in PL/pgSQL and did no checks (no MAC1, no rules, no evidence).
 * - a raw `INSERT … SELECT * FROM unnest($1::text[], …)` of a batch's journal rows, one
 *   statement, into a table shaped like journal_records (its primary key too).
 *
 * Measured through the store, as the routes run them (bench/support/store-fixture.ts):
 * - a load (POST /v1/loads' transaction minus HTTP and audit: the card locked, claim the
 *   Idempotency-Key, settle earlier pending loads, verify the genuine MAC1, issue MAC2, insert
 *   the load, post it, store the answer), 1 in flight and 16 in flight (pool 16), each load on
 *   its own card;
 * - a sync batch of LIMITS.syncBatchRecords genuine records (the device and the batch's cards
 *   locked, every TAC verified, claims, journal, shadow and chain upserts, one posting).
 *
 * Budgets (ratios in the same run, so a busy machine moves both sides): loads at 16 in flight
 * ≥ 0.6 × floor (b) at 16 in flight; 16 in flight ≥ 1.5 × 1 in flight; sync ingest ≥ 0.6 × the
 * raw unnest batch (records/s); retries < 0.01 per load; no deadlock.
 * Checksums: the books reconcile (discrepancy 0, every posting balanced), every load and
 * record stored once, every floor row and answer written.
 */
import { loadavg } from 'node:os';
import pg from 'pg';
import { LIMITS, makeCardNo, type SyncRequest } from '#core';
import type { BenchContext, SuiteResult } from './harness.ts';
import { benchKeySet } from './support/genuine-debits.ts';
import { LOAD_FEN, NOW_MS, loadRequests, oneLoad, runPool, seed, syncBatches, type Fixture } from './support/store-fixture.ts';
import { PostgresStore } from '#gateway/store/postgres-store';
import { IssuerKeyService } from '#issuer/issuer-key-service';
import { ingestSyncBatch, JOURNAL_COLUMNS, pushJournalRow, type SyncDeps } from '#gateway/services/sync-ingest';
import { checkSyncRequest } from '#gateway/services/sync-record-guard';
import { addBlacklistEntry, blacklistDeltaSince } from '#gateway/services/blacklist';
import { reconcile } from '#gateway/services/ledger';

const PG_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const IN_FLIGHT = 16;
const DEVICE = 'bench-pg-gate';

/** Floor (b): one load's writes, the card's row locked, one round trip (created in the bench schema only). */
const FLOOR_LOAD_FUNCTION = `
CREATE FUNCTION bench_floor_load(p_card TEXT, p_amount BIGINT, p_key TEXT, p_now BIGINT) RETURNS BIGINT LANGUAGE plpgsql AS $fn$
DECLARE
  v_load BIGINT;
  v_posting BIGINT;
BEGIN
  PERFORM 1 FROM card_accounts WHERE card_no = p_card FOR NO KEY UPDATE;
  INSERT INTO loads (card_no, amount_fen, payment_source, caller_scope, branch, terminal_id, online_atc, balance_before_fen,
      key_version, algorithm, load_date, load_time, mac2, status, resolution, tac, created_ms, resolved_ms, card_random)
    VALUES (p_card, p_amount, 'cash', 'counter:floor', 'bench', '0000000001A1', 0, 50000, 1, '3des', 20260310, 100000,
      '00000000', 'pending', NULL, NULL, p_now, NULL, p_key)
    RETURNING id INTO v_load;
  INSERT INTO ledger_postings (kind, reference, at_ms) VALUES ('load-authorise', v_load::text, p_now) RETURNING id INTO v_posting;
  INSERT INTO ledger_entries (posting_id, account, amount_fen)
    VALUES (v_posting, 'payment:cash', p_amount), (v_posting, 'liability:pending-loads', -p_amount);
  UPDATE idempotency_keys SET status_code = 201, response_json = '{"load":"' || v_load || '"}'
    WHERE scope = 'counter:floor' AND idem_key = p_key;
  RETURN v_load;
END
$fn$`;

function stats(samplesUs: number[], opsPerSample: number, wallUs?: number) {
  const sorted = [...samplesUs].sort((a, b) => a - b);
  const total = samplesUs.reduce((s, v) => s + v, 0);
  return {
    medianUs: sorted[Math.floor(sorted.length / 2)],
    p99Us: sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)],
    meanUs: total / samplesUs.length,
    opsPerSec: (opsPerSample * samplesUs.length) / ((wallUs ?? total) / 1e6),
  };
}

const round2 = (x: number) => Math.round(x * 100) / 100;

export default async function suite(ctx: BenchContext): Promise<SuiteResult> {
  const loadsPerRun = ctx.pick(600, 48);
  const floorOps = ctx.pick(600, 48);
  const syncRuns = ctx.pick(4, 1);
  const loadAtStart = loadavg();
  const master = benchKeySet(19);
  const keys = IssuerKeyService.fromKeySets(new Map([[1, master]]), 1);
  // Every load and every floor (b) call on its own card: a card's next INIT would settle the last one.
  const loadCards = Array.from({ length: loadsPerRun * 2 }, (_, i) => makeCardNo('1000', 20_000 + i));
  const floorCards = Array.from({ length: floorOps * 2 }, (_, i) => makeCardNo('1000', 40_000 + i));
  const syncCards = Array.from({ length: 500 }, (_, i) => makeCardNo('1000', 600_000 + i));
  const fx: Fixture = { keys, master, loadCards: [...loadCards, ...floorCards], syncCards };
  const requests = loadRequests({ ...fx, loadCards });
  // Each run a batch of fresh records (new sequence numbers), after one untimed warm-up batch per
  // side (connections' first Parse, plans, catalog caches). The store gets batches 0..n, so
  // every card's offline ATCs continue where the last batch ended (as a validator's do): were it
  // given later batches, every card would start with a gap and the run would measure 500 'atc-gap'
  // anomalies and gap walks per batch instead of ingest. The raw floor inserts the later batches
  // into its own table (it knows nothing of ATCs).
  const batches = syncBatches(master, DEVICE, syncCards, (syncRuns + 1) * 2);
  const schema = `bench_pgloads_${process.pid}_${Date.now() % 1_000_000}`;
  const store = new PostgresStore({ connectionString: PG_URL, schema, clock: () => NOW_MS, poolSize: IN_FLIGHT });
  const raw = new pg.Pool({ connectionString: PG_URL, max: IN_FLIGHT, options: `-c search_path=${schema}` });
  raw.on('error', () => undefined);
  const deps: SyncDeps = { keys, blacklist: { add: addBlacklistEntry, deltaSince: blacklistDeltaSince } };
  try {
    await seed(store, fx, [DEVICE]);
    await raw.query('CREATE TABLE bench_floor_rows (id BIGSERIAL PRIMARY KEY, card_no TEXT NOT NULL, amount_fen BIGINT NOT NULL, at_ms BIGINT NOT NULL)');
    await raw.query('CREATE TABLE bench_raw_journal (LIKE journal_records INCLUDING ALL)');
    await raw.query(FLOOR_LOAD_FUNCTION);
    await raw.query(
      "INSERT INTO idempotency_keys (scope, idem_key, request_hash, status_code, response_json, created_ms) SELECT 'counter:floor', card_no, '', 0, '', $1 FROM unnest($2::text[]) AS card_no",
      [NOW_MS, floorCards],
    );
    // The journal's columns and types, in the service's order, for the unnest floor.
    const columns = JOURNAL_COLUMNS.slice(1, -1)
      .split(',')
      .map((c) => c.trim());
    const types = new Map(
      (
        await raw.query<{ name: string; type: string }>(
          "SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = 'journal_records'::regclass AND attnum > 0 AND NOT attisdropped",
        )
      ).rows.map((r) => [r.name, r.type]),
    );
    const unnestSql = `INSERT INTO bench_raw_journal ${JOURNAL_COLUMNS} SELECT * FROM unnest(${columns.map((c, i) => `$${i + 1}::${types.get(c)}[]`).join(', ')})`;

    // Warm-up: connections, prepared statements, the function's plan, the page cache.
    await runPool(
      Array.from({ length: IN_FLIGHT * 2 }, (_, i) => async () => {
        await raw.query({
          name: 'floor_a',
          text: 'INSERT INTO bench_floor_rows (card_no, amount_fen, at_ms) VALUES ($1, $2, $3)',
          values: [`warm-${i}`, LOAD_FEN, NOW_MS],
        });
      }),
      IN_FLIGHT,
    );
    await store.transaction((tx) => tx.get('SELECT 1 AS one'), { readOnly: true });

    // Floor (a): single-row INSERT, autocommit.
    const floorA = async (tag: string, parallel: number) =>
      runPool(
        Array.from({ length: floorOps }, (_, i) => async () => {
          await raw.query({
            name: 'floor_a',
            text: 'INSERT INTO bench_floor_rows (card_no, amount_fen, at_ms) VALUES ($1, $2, $3)',
            values: [`${tag}-${i}`, LOAD_FEN, NOW_MS],
          });
        }),
        parallel,
      );
    // Floor (b): the load's writes in one server-side function call, one card each.
    const floorB = async (cards: string[], parallel: number) =>
      runPool(
        cards.map((cardNo) => async () => {
          await raw.query({ name: 'floor_b', text: 'SELECT bench_floor_load($1, $2, $3, $4) AS id', values: [cardNo, LOAD_FEN, cardNo, NOW_MS] });
        }),
        parallel,
      );
    const a1 = await floorA('a1', 1);
    const a16 = await floorA('a16', IN_FLIGHT);
    const b1 = await floorB(floorCards.slice(0, floorOps), 1);
    const b16 = await floorB(floorCards.slice(floorOps), IN_FLIGHT);

    // The gateway's loads through the store.
    const before = { ...store.stats };
    const seq = await runPool(
      requests.slice(0, loadsPerRun).map((r, i) => () => oneLoad(store, fx, r, `seq-${i}`)),
      1,
    );
    const par = await runPool(
      requests.slice(loadsPerRun).map((r, i) => () => oneLoad(store, fx, r, `par-${i}`)),
      IN_FLIGHT,
    );
    const loadRetries = store.stats.retries - before.retries;
    const deadlocks = store.stats.deadlocks - before.deadlocks;

    // Sync: the raw unnest batch, then the service's batch of the same size (fresh records each);
    // run -1 warms both up and is not timed.
    const perBatch = LIMITS.syncBatchRecords;
    const unnestUs: number[] = [];
    const syncUs: number[] = [];
    for (let run = -1; run < syncRuns; run++) {
      const rows: (string | number | null)[] = [];
      for (const r of batches[syncRuns + 2 + run]) pushJournalRow(rows, DEVICE, r, 'accepted', null, NOW_MS);
      const arrays = columns.map((_, c) => {
        const column: (string | number | null)[] = new Array(perBatch);
        for (let k = 0; k < perBatch; k++) column[k] = rows[k * columns.length + c];
        return column;
      });
      const t0 = performance.now();
      await raw.query({ name: 'floor_unnest', text: unnestSql, values: arrays });
      if (run >= 0) unnestUs.push((performance.now() - t0) * 1000);

      const records = batches[run + 1];
      const t1 = performance.now();
      const request: SyncRequest = { protocolVersion: 1, deviceId: DEVICE, records, blacklistVersion: 0, fareTableVersion: 1, deviceTimeMs: NOW_MS };
      const check = checkSyncRequest(request, DEVICE);
      if (!check.ok) throw new Error(check.reasons.join('; '));
      const { response } = await store.transaction(
        async (tx) => {
          await tx.lockDevice(DEVICE);
          await tx.lockCards(records.map((r) => r.cardNo));
          return ingestSyncBatch(tx, deps, DEVICE, check.request, NOW_MS);
        },
        { isolation: 'read-committed' },
      );
      if (run >= 0) syncUs.push((performance.now() - t1) * 1000);
      if (response.acknowledged.length !== perBatch) throw new Error(`sync acknowledged ${response.acknowledged.length} of ${perBatch}`);
    }

    ctx.report({ name: 'floor (a): single-row INSERT, autocommit, 1 in flight', samples: a1.samplesUs.length, ...stats(a1.samplesUs, 1) });
    ctx.report({
      name: `floor (a): single-row INSERT, autocommit, ${IN_FLIGHT} in flight`,
      samples: a16.samplesUs.length,
      ...stats(a16.samplesUs, 1, a16.wallUs),
    });
    const fb1 = ctx.report({
      name: 'floor (b): load function, card locked, 1 round trip, 1 in flight',
      samples: b1.samplesUs.length,
      ...stats(b1.samplesUs, 1),
    });
    const fb16 = ctx.report({
      name: `floor (b): load function, card locked, 1 round trip, ${IN_FLIGHT} in flight`,
      samples: b16.samplesUs.length,
      floor: true,
      ...stats(b16.samplesUs, 1, b16.wallUs),
    });
    const l1 = ctx.report({ name: 'gateway load (store), 1 in flight', samples: seq.samplesUs.length, ...stats(seq.samplesUs, 1), ratioTo: fb1.name });
    const l16 = ctx.report({ name: `gateway load (store), ${IN_FLIGHT} in flight`, samples: par.samplesUs.length, ...stats(par.samplesUs, 1, par.wallUs) });
    const un = ctx.report({
      name: `raw unnest() INSERT, ${perBatch.toLocaleString('en-US')}-row batch`,
      samples: unnestUs.length,
      ...stats(unnestUs, perBatch),
    });
    const sy = ctx.report({
      name: `sync ingest (store), ${perBatch.toLocaleString('en-US')} verified records`,
      samples: syncUs.length,
      ...stats(syncUs, perBatch),
      ratioTo: un.name,
    });

    ctx.metric(`loads/s ${IN_FLIGHT} in flight ÷ floor (b) ${IN_FLIGHT} in flight`, round2(l16.opsPerSec / fb16.opsPerSec), 'x', { min: 0.6 });
    ctx.metric(`loads/s ${IN_FLIGHT} in flight ÷ 1 in flight`, round2(l16.opsPerSec / l1.opsPerSec), 'x', { min: 1.5 });
    ctx.metric('sync records/s ÷ raw unnest() rows/s', round2(sy.opsPerSec / un.opsPerSec), 'x', { min: 0.6 });
    ctx.metric('retries per load', round2(loadRetries / (loadsPerRun * 2)), 'retries', { max: 0.01 });
    ctx.metric('deadlocks (40P01) during the loads', deadlocks, 'deadlocks', { max: 0 });
    ctx.metric(`loads/s ${IN_FLIGHT} in flight`, Math.round(l16.opsPerSec), 'loads/s');
    ctx.metric(`floor (b) calls/s ${IN_FLIGHT} in flight`, Math.round(fb16.opsPerSec), 'calls/s');
    ctx.metric('load average (1 min) at the start', round2(loadAtStart[0]), 'load');

    const books = await store.transaction((tx) => reconcile(tx), { readOnly: true });
    ctx.checksum(
      'books balance (discrepancy, unbalanced postings, postings sum)',
      `${books.discrepancyFen},${books.unbalancedPostings},${books.postingsBalanceFen}`,
      '0,0,0',
    );
    const counts = await raw.query<{ loads: string; answered: string; records: string; raw: string; rows: string }>(
      `SELECT (SELECT COUNT(*) FROM loads) AS loads, (SELECT COUNT(*) FROM idempotency_keys WHERE status_code = 201) AS answered,
         (SELECT COUNT(*) FROM journal_records) AS records, (SELECT COUNT(*) FROM bench_raw_journal) AS raw, (SELECT COUNT(*) FROM bench_floor_rows) AS rows`,
    );
    const c = counts.rows[0];
    ctx.checksum(
      'loads (gateway + floor b), answers stored',
      `${c.loads},${c.answered}`,
      `${loadsPerRun * 2 + floorOps * 2},${loadsPerRun * 2 + floorOps * 2}`,
    );
    ctx.checksum(
      'journal rows: service, raw unnest; floor (a) rows',
      `${c.records},${c.raw},${c.rows}`,
      `${(syncRuns + 1) * perBatch},${(syncRuns + 1) * perBatch},${IN_FLIGHT * 2 + floorOps * 2}`,
    );
    // The floors and the store are durable: every commit waits for its WAL flush (fsync on,
    // synchronous_commit not off). Read on both pools' connections: a session or role setting
    // could differ from the server's.
    const durability = async (ask: (sql: string) => Promise<unknown>) => {
      const sync = String(await ask('SHOW synchronous_commit'));
      const fsync = String(await ask('SHOW fsync'));
      return sync !== 'off' && fsync === 'on' ? 'durable' : `NOT durable (synchronous_commit ${sync}, fsync ${fsync})`;
    };
    const floorsDurable = await durability(async (sql) => Object.values((await raw.query(sql)).rows[0])[0]);
    const storeDurable = await durability(async (sql) => Object.values((await store.transaction((tx) => tx.get(sql), { readOnly: true })) ?? {})[0]);
    ctx.checksum("commits wait for the WAL flush on the floors' and the store's connections", `${floorsDurable},${storeDurable}`, 'durable,durable');
    ctx.note(
      `PostgreSQL at ${PG_URL.replace(/\/\/[^@]*@/, '//')}, synchronous_commit on (durable, checked), ${PG_URL.includes('host=/') ? 'Unix-domain socket' : 'TCP'}, store pool ${IN_FLIGHT}; ${loadsPerRun} loads per mode and ${floorOps} floor calls per mode, every one on its own card; ` +
        `${syncRuns} timed batch(es) of ${perBatch} records per side (after one warm-up batch each) over ${syncCards.length} cards. Load average at the start ${loadAtStart.map((x) => x.toFixed(2)).join(' / ')} (1/5/15 min; a shared 2-core machine).`,
    );
    ctx.note(
      `store during the loads: ${loadRetries} retries, ${deadlocks} deadlocks; whole run: ${store.stats.readCommitted} READ COMMITTED, ${store.stats.serializable} SERIALIZABLE, ${store.stats.snapshots} snapshot transactions`,
    );
    return ctx.result();
  } finally {
    await store.close();
    await raw.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await raw.end();
  }
}
