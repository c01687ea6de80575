/**
 * Validator sync ingest on the embedded default (SQLite file, WAL, synchronous=FULL): records
 * per second for batches of LIMITS.syncBatchRecords genuine journal records (real TACs, each
 * verified), against the primitive floor measured in the same run: raw better-sqlite3 inserts
 * of the same rows into a same-shaped table, one prepared statement, one transaction per batch.
 *
 * Measured, each batch a fresh upload (new device sequence numbers, every card's next ATC):
 * - floor: raw SQLite inserts of the batch's rows;
 * - service: shape check + one store transaction of ingestSyncBatch (exactly-once lookup, TAC
 *   verification, card ATC claims, journal insert, per-card shadow/chain upserts, one grouped
 *   ledger posting, device watermark, blacklist delta);
 * - http: the same through POST /v1/devices/{id}/sync (msgpack decode, auth, route) via inject.
 * Checksums: the sum of shadow balances and the ledger card liability after the run both equal
 * the loads minus every amount generated.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pack, unpack } from 'msgpackr';
import { LIMITS, makeCardNo, type JournalRecord, type SyncRequest, type SyncResponse } from '#core';
import type { BenchContext, SuiteResult } from './harness.ts';
import { benchKeySet, cardTacKeys, genuineDebit } from './support/genuine-debits.ts';
import { SqliteStore } from '#gateway/store/sqlite-store';
import { DEFAULT_TAC_KEY_CACHE_CARDS, IssuerKeyService, type MasterKeySet } from '#issuer/issuer-key-service';
import { ingestSyncBatch, JOURNAL_COLUMN_COUNT, JOURNAL_COLUMNS, pushJournalRow, type SyncDeps } from '#gateway/services/sync-ingest';
import { checkSyncRequest } from '#gateway/services/sync-record-guard';
import { addBlacklistEntry, blacklistDeltaSince } from '#gateway/services/blacklist';
import { reconcile } from '#gateway/services/ledger';
import { buildGateway } from '#gateway/app';
import { issueToken } from '#gateway/auth/tokens';

const ADMIN = 'bench-sync-admin-token-0123456789';
const NOW_MS = Date.UTC(2026, 2, 10, 2, 0, 0);
const LOAD_FEN = 100_000;

interface Generator {
  batch(deviceId: string, terminalId: string, firstSeq: number): JournalRecord[];
  totalFen: number;
}

/** Genuine records: each card's TAC key diversified from the master, every card's ATC in order. */
function recordGenerator(master: MasterKeySet, cardNos: string[]): Generator {
  const tacKeys = cardTacKeys(master, cardNos);
  const nextAtc = new Array<number>(cardNos.length).fill(0);
  const balance = new Array<number>(cardNos.length).fill(LOAD_FEN);
  let cursor = 0;
  const gen: Generator = {
    totalFen: 0,
    batch(deviceId, terminalId, firstSeq) {
      const out: JournalRecord[] = [];
      for (let i = 0; i < LIMITS.syncBatchRecords; i++) {
        const c = cursor++ % cardNos.length;
        const amountFen = 200 + ((c * 7 + i) % 5) * 100;
        out.push(
          genuineDebit(tacKeys[c], {
            deviceId,
            deviceSeq: firstSeq + i,
            operator: i % 3 === 0 ? 'bus' : 'subway',
            cardNo: cardNos[c],
            amountFen,
            balanceBeforeFen: balance[c],
            offlineAtc: nextAtc[c]++,
            // Each device its own PSAM terminal id: a (terminal, TSN) pair names one transaction, and
            // the gateway quarantines the same debit claimed again under another ATC.
            terminalId,
            tsn: firstSeq + i,
            time: 100000 + ((i % 5_000) % 60),
            occurredAtMs: NOW_MS,
          }),
        );
        balance[c] -= amountFen;
        gen.totalFen += amountFen;
      }
      return out;
    },
  };
  return gen;
}

function stats(samplesUs: number[], recordsPerSample: number) {
  const sorted = [...samplesUs].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const p99 = sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)];
  const total = samplesUs.reduce((s, v) => s + v, 0);
  return { medianUs: median, p99Us: p99, meanUs: total / samplesUs.length, opsPerSec: (recordsPerSample * samplesUs.length) / (total / 1e6) };
}

export default async function suite(ctx: BenchContext): Promise<SuiteResult> {
  const batches = ctx.pick(12, 2);
  const cardCount = ctx.pick(20_000, 5_000);
  const dir = mkdtempSync(join(tmpdir(), 'bench-sync-'));
  const master = benchKeySet(1);
  const keys = IssuerKeyService.fromKeySets(new Map([[1, master]]), 1);
  const store = new SqliteStore({ path: join(dir, 'gateway.db'), clock: () => NOW_MS });
  try {
    await store.migrate();
    const cardNos = Array.from({ length: cardCount }, (_, i) => makeCardNo('1000', i + 1));
    await store.transaction(async (tx) => {
      for (const cardNo of cardNos) {
        await tx.run('INSERT INTO card_accounts (card_no, shadow_balance_fen, updated_ms) VALUES (?, ?, ?)', [cardNo, LOAD_FEN, NOW_MS]);
      }
      // The loads that put the money there, so the books balance from the start.
      await tx.run('INSERT INTO ledger_postings (kind, reference, at_ms) VALUES (?, ?, ?)', ['bench-seed', 'cards', NOW_MS]);
      await tx.run("INSERT INTO ledger_entries (posting_id, account, amount_fen) SELECT id, 'payment:cash', ? FROM ledger_postings WHERE kind = 'bench-seed'", [
        LOAD_FEN * cardCount,
      ]);
      await tx.run(
        "INSERT INTO ledger_entries (posting_id, account, amount_fen) SELECT id, 'liability:card-purse', ? FROM ledger_postings WHERE kind = 'bench-seed'",
        [-LOAD_FEN * cardCount],
      );
      for (const id of ['bench-svc', 'bench-http']) {
        await tx.run("INSERT INTO devices (device_id, kind, registered_by, registered_ms) VALUES (?, 'subway-gate', 'bench', ?)", [id, NOW_MS]);
      }
    });
    const gen = recordGenerator(master, cardNos);
    const serviceBatches = Array.from({ length: batches }, (_, b) => gen.batch('bench-svc', '202600000001', 1 + b * LIMITS.syncBatchRecords));
    const httpBatches = Array.from({ length: batches }, (_, b) => gen.batch('bench-http', '202600000002', 1 + b * LIMITS.syncBatchRecords));
    const deps: SyncDeps = {
      keys,
      blacklist: { add: addBlacklistEntry, deltaSince: blacklistDeltaSince },
    };
    const request = (deviceId: string, records: JournalRecord[]): SyncRequest => ({
      protocolVersion: 1,
      deviceId,
      records,
      blacklistVersion: 0,
      fareTableVersion: 1,
      deviceTimeMs: NOW_MS,
    });

    // Floor: the same rows, raw inserts, one prepared statement, one transaction per batch.
    store.db.exec('CREATE TABLE bench_raw_journal AS SELECT * FROM journal_records WHERE 0');
    store.db.exec('CREATE UNIQUE INDEX bench_raw_pk ON bench_raw_journal (device_id, device_seq)');
    // The row the service stores for each record (its own column list and values), one insert per row.
    const insert = store.db.prepare(`INSERT INTO bench_raw_journal ${JOURNAL_COLUMNS} VALUES (${new Array(JOURNAL_COLUMN_COUNT).fill('?').join(', ')})`);
    const rawBatch = store.db.transaction((records: JournalRecord[]) => {
      for (const r of records) {
        const row: (string | number | null)[] = [];
        pushJournalRow(row, r.deviceId, r, 'accepted', null, NOW_MS);
        insert.run(row);
      }
    });
    const floorUs: number[] = [];
    for (const records of serviceBatches) {
      const t0 = performance.now();
      rawBatch(records);
      floorUs.push((performance.now() - t0) * 1000);
    }

    const serviceUs: number[] = [];
    let acknowledged = 0;
    for (const records of serviceBatches) {
      const t0 = performance.now();
      const check = checkSyncRequest(request('bench-svc', records), 'bench-svc');
      if (!check.ok) throw new Error(check.reasons.join('; '));
      const { response } = await store.transaction((tx) => ingestSyncBatch(tx, deps, 'bench-svc', check.request, NOW_MS));
      serviceUs.push((performance.now() - t0) * 1000);
      acknowledged += response.acknowledged.length;
    }

    const app = await buildGateway({ store, keys, clock: () => NOW_MS, adminToken: ADMIN, migrate: false, policies: { lossExpiryIntervalMs: 0 } });
    const token = await store.transaction((tx) => issueToken(tx, { role: 'device', subject: 'bench-http', label: 'bench', createdBy: 'bench', nowMs: NOW_MS }));
    const bodies = httpBatches.map((records) => pack(request('bench-http', records)));
    const httpUs: number[] = [];
    let httpAcknowledged = 0;
    for (const payload of bodies) {
      const t0 = performance.now();
      const res = await app.inject({
        method: 'POST',
        url: '/v1/devices/bench-http/sync',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-msgpack' },
        payload,
      });
      httpUs.push((performance.now() - t0) * 1000);
      if (res.statusCode !== 200) throw new Error(`sync answered ${res.statusCode}: ${res.body.slice(0, 200)}`);
      httpAcknowledged += (unpack(res.rawPayload) as SyncResponse).acknowledged.length;
    }
    await app.close();

    const perBatch = LIMITS.syncBatchRecords;
    ctx.report({ name: 'floor: raw SQLite insert, 5,000-row batch', samples: floorUs.length, floor: true, ...stats(floorUs, perBatch) });
    const service = ctx.report({
      name: 'ingestSyncBatch, 5,000 verified records',
      samples: serviceUs.length,
      ...stats(serviceUs, perBatch),
      budget: { maxRatioToFloor: 20 },
    });
    const http = ctx.report({ name: 'POST sync (msgpack, inject), 5,000 records', samples: httpUs.length, ...stats(httpUs, perBatch) });
    ctx.metric('sync ingest records/s (service)', Math.round(service.opsPerSec), 'records/s', { min: 50_000 });
    ctx.metric('sync ingest records/s (HTTP inject)', Math.round(http.opsPerSec), 'records/s');
    ctx.metric('raw SQLite insert rows/s (floor)', Math.round(stats(floorUs, perBatch).opsPerSec), 'rows/s');

    const books = await store.transaction((tx) => reconcile(tx));
    const expectedShadow = LOAD_FEN * cardCount - gen.totalFen;
    ctx.checksum('records acknowledged by the service path', acknowledged, batches * perBatch);
    ctx.checksum('records acknowledged by the HTTP path', httpAcknowledged, batches * perBatch);
    const quarantined = store.db.prepare("SELECT COUNT(*) AS n FROM journal_records WHERE status <> 'accepted'").get() as { n: number };
    ctx.checksum('records quarantined (all generated records are genuine)', quarantined.n, 0);
    ctx.checksum('sum of shadow balances = loads - every generated amount', books.sumShadowBalancesFen, expectedShadow);
    ctx.checksum('ledger card liability = sum of shadow balances', books.cardLiabilityFen, expectedShadow);
    ctx.note(`${batches} batches x ${perBatch} records per path over ${cardCount} cards; SQLite WAL, synchronous=FULL, one transaction per batch`);
    // Each card taps once per pass over the cards here, so after the first pass every TAC key is a
    // hit; with more active cards than the cache holds, TACs derive their keys as before.
    const cache = keys.tacKeyCacheStats;
    ctx.note(`issuer TAC key cache (per card, ${DEFAULT_TAC_KEY_CACHE_CARDS} cards): ${cache.hits} hits, ${cache.misses} misses over both paths`);
    return ctx.result();
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
