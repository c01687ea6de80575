/**
 * Sync ingest's write path groups a batch: one multi-row claim of (card, offline ATC) per few
 * hundred debits (a statement that inserted every row claimed every row; only a statement that
 * skipped some is looked at row by row), one journal insert per few hundred records, one upsert
 * per card. Whatever the grouping, the outcome must be what ingesting the same records one by
 * one gives: the same journal statuses and reasons, the same claims, shadow balances, ATC chains,
 * ledger balances, blacklist, anomalies (ATC gaps aside: one-by-one ingest sees every
 * intermediate gap) and device state. Records arrive in card and ATC order so that both ways
 * see every conflicting pair in the same order.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeCardNo, purchaseTacData, type CipherAlgorithm, type JournalRecord, type SyncResponse } from '#core';
import { SqliteStore } from '#gateway/store/sqlite-store';
import { IssuerKeyService } from '#issuer/issuer-key-service';
import { ingestSyncBatch, type SyncDeps } from '#gateway/services/sync-ingest';
import { checkSyncRequest } from '#gateway/services/sync-record-guard';
import { addBlacklistEntry, blacklistDeltaSince } from '#gateway/services/blacklist';
import { accountBalances } from '#gateway/services/ledger';
import { genuineTacFromMaster, testKeySets } from '../purse/fixtures.ts';

const NOW_MS = Date.UTC(2026, 2, 10, 2, 0, 0);
const DEVICE = 'gate-batching';
const TERMINAL = '202600000007';
const MASTER = testKeySets();

interface CardSpec {
  cardNo: string;
  keyVersion: number;
  algorithm: CipherAlgorithm;
}

/** Card n: key version 1 or 2, 3DES or SM4. */
const cardSpec = (n: number): CardSpec => ({ cardNo: makeCardNo('1000', n), keyVersion: 1 + (n % 2), algorithm: n % 3 === 0 ? 'sm4' : '3des' });

/** A debit of `card` at `offlineAtc` with a genuine TAC (or a forged one). */
function debit(
  card: CardSpec,
  offlineAtc: number,
  amountFen: number,
  tsn: number,
  time: number,
  forged = false,
  operator: 'subway' | 'bus' = 'subway',
): JournalRecord {
  const record: JournalRecord = {
    deviceId: DEVICE,
    deviceSeq: 0,
    deviceKind: 'subway-exit',
    operator,
    resultCode: 0,
    cardNo: card.cardNo,
    cardAction: 'debit',
    transactionType: 0x06,
    amountFen,
    balanceBeforeFen: 10_000,
    balanceAfterFen: 10_000 - amountFen,
    offlineAtc,
    onlineAtc: 1 + (offlineAtc % 3),
    terminalId: TERMINAL,
    tsn,
    date: 20260310,
    time,
    tac: '',
    keyVersion: card.keyVersion,
    algorithm: card.algorithm,
    fareTableVersion: 1,
    place: 101,
    line: 1,
    occurredAtMs: NOW_MS,
    recovered: false,
  };
  const tac = genuineTacFromMaster(MASTER, card.cardNo, card.keyVersion, card.algorithm, purchaseTacData(record));
  if (forged) tac[0] ^= 0x40;
  record.tac = Buffer.from(tac).toString('hex').toUpperCase();
  return record;
}

/** A record that moves no money (a refused tap). */
function noDebit(card: CardSpec, tsn: number): JournalRecord {
  return { ...debit(card, 0, 0, tsn, 120000), cardAction: 'none', transactionType: 0, amountFen: 0, balanceAfterFen: 10_000, tac: '', resultCode: 0x6a82 };
}

/** Card and ATC order (stable), then sequence numbers 1..n in that order. */
function inArrivalOrder(records: JournalRecord[]): JournalRecord[] {
  const sorted = records
    .map((r, i) => ({ r, i }))
    .sort((a, b) => (a.r.cardNo < b.r.cardNo ? -1 : a.r.cardNo > b.r.cardNo ? 1 : a.r.offlineAtc - b.r.offlineAtc || a.i - b.i));
  return sorted.map(({ r }, i) => ({ ...r, deviceSeq: i + 1 }));
}

async function freshStore(): Promise<{ store: SqliteStore; deps: SyncDeps }> {
  const store = new SqliteStore({ path: ':memory:', clock: () => NOW_MS });
  await store.migrate();
  await store.transaction(async (tx) => {
    await tx.run("INSERT INTO devices (device_id, kind, registered_by, registered_ms) VALUES (?, 'subway-gate', 'test', ?)", [DEVICE, NOW_MS]);
  });
  const keys = IssuerKeyService.fromKeySets(MASTER, 2, { tacKeyCacheCards: 64 });
  return { store, deps: { keys, blacklist: { add: addBlacklistEntry, deltaSince: blacklistDeltaSince } } };
}

/** Ingests the records in batches of the given sizes; returns every acknowledged and quarantined sequence number. */
async function ingestInBatches(records: JournalRecord[], sizes: number[]): Promise<{ snapshot: unknown; acknowledged: number[]; quarantined: number[] }> {
  const { store, deps } = await freshStore();
  const acknowledged: number[] = [];
  const quarantined: number[] = [];
  try {
    let from = 0;
    for (const size of sizes) {
      const batch = records.slice(from, from + size);
      from += size;
      const check = checkSyncRequest(
        {
          protocolVersion: 1,
          deviceId: DEVICE,
          records: batch,
          blacklistVersion: 0,
          fareTableVersion: 1,
          deviceTimeMs: NOW_MS,
          journalMore: from < records.length,
        },
        DEVICE,
      );
      if (!check.ok) throw new Error(check.reasons.join('; '));
      const { response } = await store.transaction((tx) => ingestSyncBatch(tx, deps, DEVICE, check.request, NOW_MS));
      acknowledged.push(...(response as SyncResponse).acknowledged);
      quarantined.push(...response.quarantined);
    }
    if (from !== records.length) throw new Error('batch sizes do not cover the records');
    return { snapshot: await snapshot(store), acknowledged: acknowledged.sort((a, b) => a - b), quarantined: quarantined.sort((a, b) => a - b) };
  } finally {
    await store.close();
  }
}

/** Everything sync ingest writes, in a stable order. */
async function snapshot(store: SqliteStore): Promise<unknown> {
  return store.transaction(async (tx) => ({
    journal: await tx.all('SELECT device_seq, status, reason, card_no, offline_atc, amount_fen FROM journal_records ORDER BY device_seq'),
    claims: await tx.all('SELECT card_no, offline_atc, digest, device_id, device_seq FROM card_debits ORDER BY card_no, offline_atc'),
    accounts: await tx.all('SELECT card_no, shadow_balance_fen, last_offline_atc, last_online_atc FROM card_accounts ORDER BY card_no'),
    chains: await tx.all('SELECT card_no, next_atc, max_atc FROM card_chains ORDER BY card_no'),
    ledger: [...(await accountBalances(tx))],
    blacklist: await tx.all('SELECT card_no, reason FROM blacklist_current ORDER BY card_no'),
    anomalies: await tx.all(
      "SELECT kind, card_no, atc, device_id, device_seq FROM money_anomalies WHERE kind <> 'atc-gap' ORDER BY kind, card_no, atc, device_seq",
    ),
    device: await tx.all('SELECT watermark, max_seq, quarantined_count, flagged FROM device_sync_state'),
    flags: await tx.all('SELECT flagged, flag_reason FROM devices ORDER BY device_id'),
  }));
}

/** Batch sizes from cut points. */
function sizesFrom(total: number, cuts: number[]): number[] {
  const points = [...new Set(cuts.map((c) => c % total).filter((c) => c > 0))].sort((a, b) => a - b);
  const sizes: number[] = [];
  let last = 0;
  for (const p of [...points, total]) {
    sizes.push(p - last);
    last = p;
  }
  return sizes;
}

type Event =
  | { kind: 'tap'; card: number; atcStep: number; amount: number; forged: boolean; bus: boolean }
  | { kind: 'again'; of: number } // the same record uploaded again (duplicate)
  | { kind: 'replay'; of: number; atcShift: number } // the same tap claimed under another ATC
  | { kind: 'clone'; of: number; amount: number } // a different debit at the same ATC
  | { kind: 'none'; card: number };

const event: fc.Arbitrary<Event> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('tap' as const),
      card: fc.integer({ min: 1, max: 4 }),
      atcStep: fc.integer({ min: 0, max: 2 }),
      amount: fc.integer({ min: 1, max: 900 }),
      forged: fc.integer({ min: 0, max: 7 }).map((n) => n === 0),
      bus: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('again' as const), of: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('replay' as const), of: fc.nat(), atcShift: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('clone' as const), of: fc.nat(), amount: fc.integer({ min: 1, max: 900 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('none' as const), card: fc.integer({ min: 1, max: 4 }) }) },
);

/** The journal the events describe: genuine taps per card with rising (sometimes skipped) ATCs, and the copies. */
function recordsOf(events: Event[]): JournalRecord[] {
  const taps: { record: JournalRecord; card: CardSpec }[] = [];
  const out: JournalRecord[] = [];
  const nextAtc = new Map<number, number>();
  let tsn = 1;
  for (const e of events) {
    if (e.kind === 'tap') {
      const atc = (nextAtc.get(e.card) ?? 0) + e.atcStep;
      nextAtc.set(e.card, atc + 1);
      const card = cardSpec(e.card);
      const r = debit(card, atc, e.amount, tsn++, 100000 + (tsn % 50), e.forged, e.bus ? 'bus' : 'subway');
      taps.push({ record: r, card });
      out.push(r);
    } else if (e.kind === 'none') {
      out.push(noDebit(cardSpec(e.card), tsn++));
    } else if (taps.length > 0) {
      const { record: of, card } = taps[e.of % taps.length];
      if (e.kind === 'again') out.push({ ...of });
      else if (e.kind === 'replay') out.push({ ...of, offlineAtc: of.offlineAtc + e.atcShift });
      else out.push(debit(card, of.offlineAtc, e.amount === of.amountFen ? e.amount + 1 : e.amount, tsn++, 110000));
    }
  }
  return out;
}

/**
 * What the rules say, worked out here without the gateway: a debit whose TAC is not the card's
 * is quarantined; a verified debit claims its (card, ATC) and its content once; the same content
 * at a claimed ATC is a duplicate, content already claimed at another ATC a replay, other
 * content at a claimed ATC a clone. Returns each record's (status, reason) and each card's
 * shadow balance change and clone verdict.
 */
function expectedOutcome(records: JournalRecord[]): { statuses: [number, string, string | null][]; shadow: Map<string, number>; cloned: Set<string> } {
  const atAtc = new Map<string, string>();
  const counted = new Set<string>();
  const statuses: [number, string, string | null][] = [];
  const shadow = new Map<string, number>();
  const cloned = new Set<string>();
  for (const r of records) {
    if (r.cardAction !== 'debit') {
      statuses.push([r.deviceSeq, 'accepted', null]);
      continue;
    }
    const card = cardSpecs.get(r.cardNo)!;
    const genuine = Buffer.from(genuineTacFromMaster(MASTER, r.cardNo, card.keyVersion, card.algorithm, purchaseTacData(r)))
      .toString('hex')
      .toUpperCase();
    if (genuine !== r.tac) {
      statuses.push([r.deviceSeq, 'quarantined', 'tac-invalid']);
      continue;
    }
    const content = `${r.cardNo}/${r.amountFen}/${r.transactionType}/${r.terminalId}/${r.tsn}/${r.date}/${r.time}/${r.tac}`;
    const slot = `${r.cardNo}@${r.offlineAtc}`;
    const there = atAtc.get(slot);
    if (there === content) statuses.push([r.deviceSeq, 'duplicate', null]);
    else if (counted.has(content)) statuses.push([r.deviceSeq, 'quarantined', 'tac-replayed']);
    else if (there !== undefined) {
      statuses.push([r.deviceSeq, 'quarantined', 'atc-conflict']);
      cloned.add(r.cardNo);
    } else {
      atAtc.set(slot, content);
      counted.add(content);
      statuses.push([r.deviceSeq, 'accepted', null]);
      shadow.set(r.cardNo, (shadow.get(r.cardNo) ?? 0) - r.amountFen);
    }
  }
  return { statuses, shadow, cloned };
}

const cardSpecs = new Map<string, CardSpec>();
for (let n = 1; n <= 1_300; n++) cardSpecs.set(cardSpec(n).cardNo, cardSpec(n));

interface Snapshot {
  journal: { device_seq: number; status: string; reason: string | null }[];
  accounts: { card_no: string; shadow_balance_fen: number }[];
  blacklist: { card_no: string; reason: string }[];
}

/** The gateway's outcome is the rules' outcome. */
function expectRules(records: JournalRecord[], snap: unknown): void {
  const expected = expectedOutcome(records);
  const got = snap as Snapshot;
  expect(got.journal.map((r) => [Number(r.device_seq), r.status, r.reason])).toEqual(expected.statuses);
  expect(new Map(got.accounts.map((a) => [a.card_no, Number(a.shadow_balance_fen)]))).toEqual(expected.shadow);
  expect(got.blacklist.map((b) => b.card_no).sort()).toEqual([...expected.cloned].sort());
}

describe('sync ingest: grouped writes = record-by-record ingest', () => {
  it('fast-check: any split into batches gives the one-by-one outcome (claims, statuses, balances, ledger, blacklist)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(event, { minLength: 1, maxLength: 40 }), fc.array(fc.nat(), { maxLength: 6 }), async (events, cuts) => {
        const records = inArrivalOrder(recordsOf(events));
        if (records.length === 0) return;
        const grouped = await ingestInBatches(records, sizesFrom(records.length, cuts));
        const oneByOne = await ingestInBatches(
          records,
          records.map(() => 1),
        );
        expectRules(records, grouped.snapshot);
        expect(grouped.snapshot).toEqual(oneByOne.snapshot);
        expect(grouped.acknowledged).toEqual(oneByOne.acknowledged);
        expect(grouped.quarantined).toEqual(oneByOne.quarantined);
      }),
      { numRuns: 40, seed: 707 },
    );
  });

  it('a batch wider than one claim statement, with conflicts in some statements only, matches one-by-one ingest', async () => {
    const records: JournalRecord[] = [];
    let tsn = 1;
    // 1,300 cards, one genuine debit each: three claim statements of up to 500 rows.
    for (let n = 1; n <= 1_300; n++) records.push(debit(cardSpec(n), 0, 100 + (n % 7), tsn++, 100000));
    // Conflicts only among the first and the last cards: the middle statement has none.
    records.push({ ...records[3] }); // uploaded again
    records.push({ ...records[10], offlineAtc: 5 }); // replayed under another ATC
    records.push(debit(cardSpec(1_299), 0, 555, tsn++, 110000)); // clone at card 1,299's ATC 0
    records.push(debit(cardSpec(1_250), 1, 80, tsn++, 110500, true)); // forged
    const ordered = inArrivalOrder(records);
    const grouped = await ingestInBatches(ordered, [ordered.length]);
    const oneByOne = await ingestInBatches(
      ordered,
      ordered.map(() => 1),
    );
    expectRules(ordered, grouped.snapshot);
    expect(grouped.snapshot).toEqual(oneByOne.snapshot);
    expect(grouped.quarantined).toEqual(oneByOne.quarantined);
    expect(grouped.quarantined).toHaveLength(3); // replay, clone, forged; the second upload is acknowledged
    const journal = (grouped.snapshot as { journal: { status: string; reason: string | null }[] }).journal;
    expect(journal.filter((r) => r.status === 'accepted')).toHaveLength(1_300);
    expect(journal.filter((r) => r.status === 'duplicate')).toHaveLength(1);
    expect(
      journal
        .filter((r) => r.status === 'quarantined')
        .map((r) => r.reason)
        .sort(),
    ).toEqual(['atc-conflict', 'tac-invalid', 'tac-replayed']);
  }, 120_000);
});
