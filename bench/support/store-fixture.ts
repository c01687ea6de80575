/**
 * Store fixtures shared by the store benches (store-throughput, postgres-loads): cards seeded
 * with money on the books, each card's genuine first INITIALIZE FOR LOAD, genuine sync
 * batches, the load transaction exactly as POST /v1/loads runs it (minus HTTP and audit), and
 * a pool runner that keeps N jobs in flight.
 */
import { performance } from 'node:perf_hooks';
import { CardSimulator, LIMITS, SW, algorithmFromId, parseLoadInit, type JournalRecord } from '#core';
import { cardTacKeys, genuineDebit } from './genuine-debits.ts';
import type { Store } from '#gateway/store/store-port';
import type { IssuerKeyService, MasterKeySet } from '#issuer/issuer-key-service';
import { authorizeLoad, readLoadState, requestHash, withIdempotency, type LoadRequest, type MoneyCaller } from '#gateway/services/loads';

export const NOW_MS = Date.UTC(2026, 2, 10, 2, 0, 0);
export const SEED_FEN = 50_000;
export const LOAD_FEN = 2_000;
const TERMINAL = Uint8Array.of(0, 0, 0, 0, 0x01, 0xa1);
const CALLER: MoneyCaller = { role: 'counter', scope: 'counter:bench', branch: 'bench' };

/** xorshift32 card randomness: deterministic runs. */
function seeded(seed: number): () => Uint8Array {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return Uint8Array.of(s >>> 24, (s >>> 16) & 0xff, (s >>> 8) & 0xff, s & 0xff);
  };
}

/** Genuine purchase records for a device over its own cards, each card's offline ATC in order. */
export function syncBatches(master: MasterKeySet, deviceId: string, cardNos: string[], batches: number): JournalRecord[][] {
  const tacKeys = cardTacKeys(master, cardNos);
  const nextAtc = new Array<number>(cardNos.length).fill(0);
  const balance = new Array<number>(cardNos.length).fill(SEED_FEN);
  const out: JournalRecord[][] = [];
  let cursor = 0;
  for (let b = 0; b < batches; b++) {
    const batch: JournalRecord[] = [];
    for (let i = 0; i < LIMITS.syncBatchRecords; i++) {
      const c = cursor++ % cardNos.length;
      const amountFen = 200 + ((c + i) % 5) * 100;
      batch.push(
        genuineDebit(tacKeys[c], {
          deviceId,
          deviceSeq: b * LIMITS.syncBatchRecords + i + 1,
          operator: i % 3 === 0 ? 'bus' : 'subway',
          cardNo: cardNos[c],
          amountFen,
          balanceBeforeFen: balance[c],
          offlineAtc: nextAtc[c]++,
          terminalId: '202600000001',
          tsn: b * LIMITS.syncBatchRecords + i + 1,
          time: 100000,
          occurredAtMs: NOW_MS,
        }),
      );
      balance[c] -= amountFen;
    }
    out.push(batch);
  }
  return out;
}

export interface Fixture {
  keys: IssuerKeyService;
  master: MasterKeySet;
  loadCards: string[];
  syncCards: string[];
}

/** Cards (rows in cards + card_accounts), their seed money on the books, devices. */
export async function seed(store: Store, fx: Fixture, devices: string[]): Promise<void> {
  await store.migrate();
  const all = [...fx.loadCards, ...fx.syncCards];
  await store.transaction(async (tx) => {
    for (let i = 0; i < all.length; i += 200) {
      const part = all.slice(i, i + 200);
      const cardRows = part.map(() => "(?, '1000', 3, 'adult', '3des', 1, 20361231, 2000, 1, 0, 'Rider', 'active', 'bench', ?, ?)").join(', ');
      await tx.run(
        `INSERT INTO cards (card_no, issuer_code, generation, profile, algorithm, key_version, expiry_date, overdraft_limit_fen, transit_opened, suburban_opened, holder_name, status, issued_by, issued_ms, updated_ms) VALUES ${cardRows}`,
        part.flatMap((cardNo) => [cardNo, NOW_MS, NOW_MS]),
      );
      await tx.run(
        `INSERT INTO card_accounts (card_no, shadow_balance_fen, updated_ms) VALUES ${part.map(() => '(?, ?, ?)').join(', ')}`,
        part.flatMap((cardNo) => [cardNo, SEED_FEN, NOW_MS]),
      );
    }
    const posting = await tx.get<{ id: number }>('INSERT INTO ledger_postings (kind, reference, at_ms) VALUES (?, ?, ?) RETURNING id', [
      'bench-seed',
      'cards',
      NOW_MS,
    ]);
    await tx.run('INSERT INTO ledger_entries (posting_id, account, amount_fen) VALUES (?, ?, ?), (?, ?, ?)', [
      posting!.id,
      'payment:cash',
      SEED_FEN * all.length,
      posting!.id,
      'liability:card-purse',
      -SEED_FEN * all.length,
    ]);
    for (const deviceId of devices)
      await tx.run("INSERT INTO devices (device_id, kind, registered_by, registered_ms) VALUES (?, 'subway-gate', 'bench', ?)", [deviceId, NOW_MS]);
  });
}

/** Each card's INITIALIZE FOR LOAD answer (the card's first load), computed outside the timing. */
export function loadRequests(fx: Fixture): LoadRequest[] {
  return fx.loadCards.map((cardNo, i) => {
    const image = fx.keys.personalizeCard({
      cardNo,
      issuerCode: '1000',
      generation: 3,
      profile: 'adult',
      algorithm: '3des',
      expiryDate: 20361231,
      overdraftLimitFen: 2_000,
      transitOpened: true,
      suburbanOpened: false,
    });
    image.balanceFen = SEED_FEN;
    const card = new CardSimulator(image, seeded(0x5eed + i));
    const answer = card.initializeForLoad(1, LOAD_FEN, TERMINAL);
    if (answer.sw !== SW.success) throw new Error(`INITIALIZE FOR LOAD ${answer.sw.toString(16)}`);
    const init = parseLoadInit(answer.data)!;
    return {
      cardNo,
      amountFen: LOAD_FEN,
      paymentSource: 'cash',
      onlineAtc: init.onlineAtc,
      cardRandom: init.random,
      balanceBeforeFen: init.balanceFen,
      mac1: init.mac1,
      keyVersion: init.keyVersion,
      algorithm: algorithmFromId(init.algorithmId),
      terminalId: TERMINAL,
    };
  });
}

export async function oneLoad(store: Store, fx: Fixture, request: LoadRequest, key: string): Promise<void> {
  // As routes/loads.ts runs it: the card locked first, READ COMMITTED on PostgreSQL.
  const outcome = await store.transaction(
    async (tx) => {
      await tx.lockCards([request.cardNo]);
      // The route's channel check reads the card's issuing bank with the claim (q45).
      const banking = tx.get('SELECT issuing_bank FROM cards WHERE card_no = ?', [request.cardNo]);
      banking.catch(() => undefined);
      return withIdempotency(
        tx,
        CALLER.scope,
        key,
        requestHash({ ...request, mac1: Buffer.from(request.mac1).toString('hex') }),
        NOW_MS,
        async (reads) => {
          const result = await authorizeLoad(tx, fx.keys, CALLER, request, NOW_MS, reads);
          if (!result.ok) throw new Error(`load refused: ${result.code}`);
          return { statusCode: 201, body: result.load };
        },
        () => readLoadState(tx, request),
        async () => {
          if ((await banking) === undefined) throw new Error(`card ${request.cardNo} has no row`);
        },
      );
    },
    { retryable: true, isolation: 'read-committed' },
  );
  if (outcome.kind !== 'fresh') throw new Error(`load ${key} was ${outcome.kind}`);
}

/** Runs `jobs` with at most `parallel` in flight; returns per-job latencies and the wall time. */
export async function runPool(jobs: Array<() => Promise<void>>, parallel: number): Promise<{ samplesUs: number[]; wallUs: number }> {
  const samplesUs: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(parallel, jobs.length) }, async () => {
      while (next < jobs.length) {
        const job = jobs[next++];
        const s = performance.now();
        await job();
        samplesUs.push((performance.now() - s) * 1000);
      }
    }),
  );
  return { samplesUs, wallUs: (performance.now() - t0) * 1000 };
}
