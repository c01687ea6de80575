/**
 * Validator sync: ingests a journal batch exactly once and answers with the acknowledgement,
 * the blacklist delta, a newer fare table and the device watermark (issue 5, "Sync").
 *
 * One transaction per batch. Exactly once by the primary key (device_id, device_seq): a retry
 * finds its records stored and is acknowledged again without applying anything twice.
 *
 * Every debit's TAC is verified with the issuer keys. A bad TAC is quarantined (stored with
 * status 'quarantined', acknowledged as quarantined, never cleared) and the device flagged.
 *
 * Another T-Union issuer's card (issue 18; the issuer registry, SyncDeps.issuers): only that
 * issuer holds its keys, so its debits are not TAC-verified here; they are claimed in
 * card_debits like ours (exactly once, clones and replays found the same way), stored
 * 'accepted' and go out in that issuer's clearing file (services/interissuer-clearing.ts),
 * which verifies them. We hold no balance or ATC chain for such a card (no card_accounts, no
 * card_chains, no pending loads). A T-Union number of no known issuer is verified with our keys,
 * as before, and so quarantined.
 *
 * Shadow balance: the back office's view of each card's effective balance = confirmed loads −
 * every verified debit uploaded so far. Amounts commute, so it is the same whatever order the
 * records arrive in. Whether it is complete is a separate fact, the card's offline ATC chain
 * (card_chains.next_atc = the lowest ATC not yet seen; records above it wait as "pending"
 * until the gap fills; a gap left after a batch is flagged as an 'atc-gap' anomaly).
 * A second, different record at an ATC already seen is a cloned card: the record is
 * quarantined ('atc-conflict') and the card blacklisted 'cloned' at once. The TAC does not
 * cover the offline ATC, so a genuine record claimed under a second ATC would verify: the
 * unique (card, digest) index refuses it and the copy is quarantined ('tac-replayed').
 *
 * Ledger, one posting per batch: liability:card-purse + / revenue:<operator> − for each
 * operator; taps of a card already refunded are written off instead (writeoff:late-taps + /
 * revenue −), so the operator is paid and nothing is lost or counted twice. Taps of a lost card
 * whose balance was moved to the forfeited account (services/lost-card-balances.ts) post against
 * that account (liability:lost-card-forfeited + / revenue −): they were paid from that value.
 * Taps of another issuer's cards are still our operators' revenue, paid by that issuer:
 * receivable:issuer:<name> + / revenue:<operator> −.
 */
import type { BulkColumnType, BulkInsert, SqlValue, Tx } from '../store/store-port.ts';
import type { IssuerKeysPort } from '../keys/issuer-keys-port.ts';
import {
  LIMITS,
  SYNC_PROTOCOL_VERSION,
  beijingDateTime,
  epochMsFromBeijing,
  purchaseTacData,
  type BlacklistDeltaEntry,
  type BlacklistReason,
  type JournalRecord,
  type SyncRequest,
  type SyncResponse,
  DEFAULT_ISSUER_REGISTRY,
  type Issuer,
  type IssuerRegistry,
} from '#core';
import { ACCOUNTS, postTransfer, revenueAccount, type LedgerEntry } from './ledger.ts';
import { receivableAccount } from './interissuer-clearing.ts';
import { OPEN_TO_CARD_EVIDENCE_SQL, resolvePendingLoads } from './loads.ts';

/** What sync needs from the blacklist service (gateway/src/services/blacklist.ts). */
export interface SyncBlacklist {
  add(tx: Tx, cardNo: string, reason: BlacklistReason, nowMs: number): Promise<unknown>;
  deltaSince(tx: Tx, version: number, limit: number): Promise<{ entries: BlacklistDeltaEntry[]; version: number; more: boolean }>;
}

export interface SyncDeps {
  keys: IssuerKeysPort;
  blacklist: SyncBlacklist;
  /** The fare table in force when newer than the device's, else null. */
  fareTableFor?: (tx: Tx, deviceVersion: number) => Promise<{ version: number; json: string } | null>;
  /** Which issuer each card is (GatewayPolicies.issuers); DEFAULT_ISSUER_REGISTRY when absent. */
  issuers?: IssuerRegistry;
}

/** The issuer of a card when it is a known issuer other than home, else null (home cards, unknown T-Union numbers). */
function foreignIssuerOf(registry: IssuerRegistry, cardNo: string): Issuer | null {
  const issuer = registry.issuerOfCardNo(cardNo);
  return issuer === null || registry.isHome(issuer) ? null : issuer;
}

export interface IngestStats {
  stored: number;
  retried: number;
  quarantined: number;
  clones: number;
  gaps: number;
  /** Of the records stored by this batch: applied (verified, charged or recorded once). */
  accepted: number;
  /** Of the records stored by this batch: quarantined (bad TAC, clone conflict, replayed TAC). */
  rejected: number;
  /** Of the records stored by this batch: an exact copy of a record already stored, acknowledged and not applied. */
  duplicates: number;
  /** Pending loads the batch's purchases proved credited (confirmed) or a teller void reversed. */
  loadsConfirmed: number;
  loadsReinstated: number;
}

/** A fresh record's state (index into STATUS_TEXT, the journal's status column). */
const ACCEPTED = 0;
const QUARANTINED = 1;
const DUPLICATE = 2;
const STATUS_TEXT = ['accepted', 'quarantined', 'duplicate'] as const;

const CHUNK = 400;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function placeholders(n: number): string {
  return new Array(n).fill('?').join(', ');
}

function digestOf(r: JournalRecord): string {
  return `${r.amountFen}|${r.transactionType}|${r.terminalId.toUpperCase()}|${r.tsn}|${r.date}|${r.time}|${r.tac.toUpperCase()}`;
}

/** Indexes of `records` in card order: card number, then offline ATC, then arrival. */
function cardOrder(records: readonly JournalRecord[]): number[] {
  const order = new Array<number>(records.length);
  for (let i = 0; i < records.length; i++) order[i] = i;
  return order.sort((i, j) => {
    const a = records[i];
    const b = records[j];
    if (a.cardNo !== b.cardNo) return a.cardNo < b.cardNo ? -1 : 1;
    return a.offlineAtc - b.offlineAtc || i - j;
  });
}

/**
 * A recovered torn debit happened at the date and time it carries (the DEBIT's, on the card's log
 * and under the TAC), whatever tap recovered it: older firmware put the recovering tap in
 * occurredAtMs. A date no calendar has keeps the device's occurredAtMs.
 */
function recoveredOccurredAtMs(r: JournalRecord): number {
  const atMs = epochMsFromBeijing(r.date, r.time);
  return Number.isSafeInteger(atMs) && atMs >= 0 && beijingDateTime(atMs).date === r.date ? atMs : r.occurredAtMs;
}

/** Verifies one debit's TAC; an unknown key version or malformed bytes is simply "not valid". */
export function verifyRecordTac(keys: IssuerKeysPort, r: JournalRecord): boolean {
  try {
    // The exact bytes the card's TAC covers, built by core (DOMAIN.md section 3).
    const data = purchaseTacData(r);
    return keys.verifyTac({ cardNo: r.cardNo, keyVersion: r.keyVersion, algorithm: r.algorithm, data, tac: Buffer.from(r.tac, 'hex') });
  } catch {
    return false;
  }
}

/** The journal_records columns a stored record fills, with their types, in the order journalRow gives them. */
const JOURNAL_COLUMN_TYPES: readonly (readonly [string, BulkColumnType])[] = [
  ['device_id', 'text'],
  ['device_seq', 'bigint'],
  ['status', 'text'],
  ['reason', 'text'],
  ['card_no', 'text'],
  ['card_action', 'text'],
  ['operator', 'text'],
  ['device_kind', 'text'],
  ['result_code', 'bigint'],
  ['transaction_type', 'bigint'],
  ['amount_fen', 'bigint'],
  ['balance_before_fen', 'bigint'],
  ['balance_after_fen', 'bigint'],
  ['offline_atc', 'bigint'],
  ['online_atc', 'bigint'],
  ['terminal_id', 'text'],
  ['tsn', 'bigint'],
  ['tx_date', 'bigint'],
  ['tx_time', 'bigint'],
  ['tac', 'text'],
  ['place', 'bigint'],
  ['line', 'bigint'],
  ['occurred_at_ms', 'bigint'],
  ['recovered_at_ms', 'bigint'],
  ['received_ms', 'bigint'],
  ['fare_table_version', 'bigint'],
  ['journey_entry_place', 'bigint'],
  ['overtime_fen', 'bigint'],
];
/** A batch's journal rows: one bulk insert (one `unnest()` statement on PostgreSQL). */
const JOURNAL_BULK: BulkInsert = { table: 'journal_records', columns: JOURNAL_COLUMN_TYPES };
/** The journal_records columns a stored record fills, in the order pushJournalRow appends them. */
export const JOURNAL_COLUMNS = `(${JOURNAL_COLUMN_TYPES.map(([name]) => name).join(', ')})`;
export const JOURNAL_COLUMN_COUNT = JOURNAL_COLUMN_TYPES.length;

/** The journal_records row of record `r` (JOURNAL_COLUMNS, in order). */
function journalRow(
  deviceId: string,
  r: JournalRecord,
  status: (typeof STATUS_TEXT)[number],
  reason: string | null,
  nowMs: number,
): (string | number | null)[] {
  return [
    deviceId,
    r.deviceSeq,
    status,
    reason,
    r.cardNo,
    r.cardAction,
    r.operator,
    r.deviceKind,
    r.resultCode,
    r.transactionType,
    r.amountFen,
    r.balanceBeforeFen,
    r.balanceAfterFen,
    r.offlineAtc,
    r.onlineAtc,
    r.terminalId.toUpperCase(),
    r.tsn,
    r.date,
    r.time,
    r.tac.toUpperCase(),
    r.place,
    r.line,
    r.recovered ? recoveredOccurredAtMs(r) : r.occurredAtMs,
    // Older firmware dated a recovered record at the recovering tap and sent no recoveredAtMs.
    r.recovered ? (r.recoveredAtMs ?? r.occurredAtMs) : null,
    nowMs,
    r.fareTableVersion,
    // Older firmware sends neither: NULL (the revenue split credits the exit station's line).
    r.journeyEntryPlace ?? null,
    r.overtimeFen ?? null,
  ];
}

/** Appends the journal_records row of record `r` (JOURNAL_COLUMNS, in order) to `params`. */
export function pushJournalRow(
  params: (string | number | null)[],
  deviceId: string,
  r: JournalRecord,
  status: (typeof STATUS_TEXT)[number],
  reason: string | null,
  nowMs: number,
): void {
  for (const value of journalRow(deviceId, r, status, reason, nowMs)) params.push(value);
}

/** Claims of verified debits: the unique (card, offline ATC) finds clones and duplicates. */
const DEBITS_BULK: BulkInsert = {
  table: 'card_debits',
  columns: [
    ['card_no', 'text'],
    ['offline_atc', 'bigint'],
    ['digest', 'text'],
    ['device_id', 'text'],
    ['device_seq', 'bigint'],
  ],
  onConflict: 'ON CONFLICT DO NOTHING',
};
/** The cards' ATC chain heads after the batch. */
const CHAINS_BULK: BulkInsert = {
  table: 'card_chains',
  columns: [
    ['card_no', 'text'],
    ['next_atc', 'bigint'],
    ['max_atc', 'bigint'],
  ],
  onConflict: 'ON CONFLICT (card_no) DO UPDATE SET next_atc = excluded.next_atc, max_atc = excluded.max_atc',
};
/** The cards' shadow balances (moved by the batch's debits) and ATCs. */
const ACCOUNTS_BULK: BulkInsert = {
  table: 'card_accounts',
  columns: [
    ['card_no', 'text'],
    ['shadow_balance_fen', 'bigint'],
    ['last_offline_atc', 'bigint'],
    ['last_online_atc', 'bigint'],
    ['updated_ms', 'bigint'],
  ],
  onConflict: `ON CONFLICT (card_no) DO UPDATE SET shadow_balance_fen = card_accounts.shadow_balance_fen + excluded.shadow_balance_fen,
       last_offline_atc = excluded.last_offline_atc,
       last_online_atc = CASE WHEN excluded.last_online_atc > card_accounts.last_online_atc THEN excluded.last_online_atc ELSE card_accounts.last_online_atc END,
       updated_ms = excluded.updated_ms`,
};

/** `width` column arrays of `rows` values each: a bulk insert's input. */
function columnArrays(width: number, rows: number): SqlValue[][] {
  return Array.from({ length: width }, () => new Array<SqlValue>(rows));
}

/**
 * Ingests one validated batch and builds the response. Call inside one store transaction;
 * `request` must have passed checkSyncRequest for `deviceId`.
 */
export async function ingestSyncBatch(
  tx: Tx,
  deps: SyncDeps,
  deviceId: string,
  request: SyncRequest,
  nowMs: number,
): Promise<{ response: SyncResponse; stats: IngestStats }> {
  const records = request.records;
  const stats: IngestStats = {
    stored: 0,
    retried: 0,
    quarantined: 0,
    clones: 0,
    gaps: 0,
    accepted: 0,
    rejected: 0,
    duplicates: 0,
    loadsConfirmed: 0,
    loadsReinstated: 0,
  };
  const acknowledged: number[] = [];
  const quarantined: number[] = [];

  // 1. Which of these sequence numbers are already stored (a retry)?
  const known = new Map<number, string>();
  if (records.length > 0) {
    const rows = await tx.all<{ device_seq: number | bigint; status: string }>(
      'SELECT device_seq, status FROM journal_records WHERE device_id = ? AND device_seq >= ? AND device_seq <= ?',
      [deviceId, records[0].deviceSeq, records[records.length - 1].deviceSeq],
    );
    for (const row of rows) known.set(Number(row.device_seq), row.status);
  }

  // 2. Classify the new records: TAC of every debit. A fresh record's state lives at its index
  // in `fresh` (sequence numbers are unique in a checked request).
  const fresh: JournalRecord[] = [];
  for (const r of records) {
    const stored = known.size === 0 ? undefined : known.get(r.deviceSeq);
    if (stored !== undefined) {
      stats.retried++;
      (stored === 'quarantined' ? quarantined : acknowledged).push(r.deviceSeq);
      continue;
    }
    fresh.push(r);
  }
  const count = fresh.length;
  const state = new Uint8Array(count); // ACCEPTED until found otherwise
  const reason: (string | null)[] = new Array<string | null>(count).fill(null);
  const registry = deps.issuers ?? DEFAULT_ISSUER_REGISTRY;
  // Debits of another known issuer's cards: that issuer verifies their TACs (the clearing file), not us.
  const foreign: (Issuer | null)[] = new Array<Issuer | null>(count).fill(null);
  for (let i = 0; i < count; i++) {
    const r = fresh[i];
    if (r.cardAction !== 'debit') continue;
    foreign[i] = foreignIssuerOf(registry, r.cardNo);
    if (foreign[i] === null && !verifyRecordTac(deps.keys, r)) {
      state[i] = QUARANTINED;
      reason[i] = 'tac-invalid';
    }
  }
  // Card order (card number, then offline ATC, then arrival), sorted once for every insert below:
  // the keys (card, ATC) and (card, digest) then go into their B-trees in order, touching each
  // page once, instead of at random across a city's cards.
  const order = cardOrder(fresh);

  // 3. Claim each verified debit's (card, offline ATC): the unique key finds clones and duplicates.
  const debits: number[] = []; // indexes into fresh, arrival order
  const digests: string[] = new Array<string>(count);
  for (let i = 0; i < count; i++) {
    if (fresh[i].cardAction !== 'debit' || state[i] !== ACCEPTED) continue;
    debits.push(i);
    digests[i] = digestOf(fresh[i]);
  }
  // One bulk insert claims them all (one statement on PostgreSQL). When it inserts every row it
  // claimed every one (the usual case); otherwise each claim's holder is looked up below.
  const claims = order.filter((i) => fresh[i].cardAction === 'debit' && state[i] === ACCEPTED);
  const claimColumns = columnArrays(DEBITS_BULK.columns.length, claims.length);
  for (let k = 0; k < claims.length; k++) {
    const r = fresh[claims[k]];
    claimColumns[0][k] = r.cardNo;
    claimColumns[1][k] = r.offlineAtc;
    claimColumns[2][k] = digests[claims[k]];
    claimColumns[3][k] = deviceId;
    claimColumns[4][k] = r.deviceSeq;
  }
  const claiming = tx.insertRows(DEBITS_BULK, claimColumns);
  claiming.catch(() => undefined); // awaited below; a failure throws there

  // 4. Store every new record (in card order, for the journal's (card, ATC) index): one bulk
  // insert, sent behind the claims without waiting for them (the server inserts the claims
  // while this encodes the journal), with the status known so far. The claims rarely change
  // it (a duplicate, a replayed TAC, a clone): those rows are updated once decided, below.
  // Pipelined (Tx.writeRows): a failure fails the next read or the commit.
  const journal = columnArrays(JOURNAL_COLUMN_COUNT, count);
  for (let k = 0; k < count; k++) {
    const i = order[k];
    const row = journalRow(deviceId, fresh[i], STATUS_TEXT[state[i]], reason[i], nowMs);
    for (let c = 0; c < JOURNAL_COLUMN_COUNT; c++) journal[c][k] = row[c];
  }
  await tx.writeRows(JOURNAL_BULK, journal);
  const claimedAll = (await claiming) === claims.length;
  // Who holds each (card, ATC): asked all at once (PostgreSQL pipelines them), decided in arrival order below.
  const holders = claimedAll
    ? []
    : await Promise.all(
        debits.map((i) =>
          tx.get<{ digest: string; device_id: string; device_seq: number | bigint }>(
            'SELECT digest, device_id, device_seq FROM card_debits WHERE card_no = ? AND offline_atc = ?',
            [fresh[i].cardNo, fresh[i].offlineAtc],
          ),
        ),
      );
  const clonedCards = new Set<string>();
  for (let d = 0; d < holders.length; d++) {
    const i = debits[d];
    const r = fresh[i];
    const existing = holders[d];
    // Its own claim: a (device, sequence) stored before would have made the record a retry.
    if (existing !== undefined && existing.device_id === deviceId && Number(existing.device_seq) === r.deviceSeq) continue;
    if (existing !== undefined && existing.digest === digests[i]) {
      // The same tap uploaded again under another sequence number: stored, never applied twice.
      state[i] = DUPLICATE;
    } else if ((await tx.get('SELECT offline_atc FROM card_debits WHERE card_no = ? AND digest = ?', [r.cardNo, digests[i]])) !== undefined) {
      // The TAC does not cover the offline ATC: this tap is already counted under another ATC.
      // The copy is quarantined (never cleared) and the device flagged; the card is not at fault.
      state[i] = QUARANTINED;
      reason[i] = 'tac-replayed';
      await recordAnomaly(tx, 'tac-replayed', r.cardNo, r.offlineAtc, deviceId, r.deviceSeq, 'a debit already counted under another offline ATC', nowMs);
    } else {
      state[i] = QUARANTINED;
      reason[i] = 'atc-conflict';
      clonedCards.add(r.cardNo);
      stats.clones++;
      await recordAnomaly(tx, 'cloned-card', r.cardNo, r.offlineAtc, deviceId, r.deviceSeq, 'two different debits at one offline ATC', nowMs);
    }
    // Stored above as accepted: the claim decided otherwise.
    await tx.write('UPDATE journal_records SET status = ?, reason = ? WHERE device_id = ? AND device_seq = ?', [
      STATUS_TEXT[state[i]],
      reason[i],
      deviceId,
      r.deviceSeq,
    ]);
  }

  let badTacs = 0;
  for (let i = 0; i < count; i++) {
    stats.stored++;
    if (state[i] === QUARANTINED) stats.rejected++;
    else if (state[i] === DUPLICATE) stats.duplicates++;
    else stats.accepted++;
    (state[i] === QUARANTINED ? quarantined : acknowledged).push(fresh[i].deviceSeq);
    if (reason[i] === 'tac-invalid' || reason[i] === 'tac-replayed') badTacs++;
  }
  stats.quarantined = quarantined.length;
  for (let i = 0; i < count; i++) {
    if (reason[i] !== 'tac-invalid') continue;
    const r = fresh[i];
    await recordAnomaly(tx, 'tac-invalid', r.cardNo, r.offlineAtc, deviceId, r.deviceSeq, 'TAC does not verify: quarantined', nowMs);
  }

  // 5. Money: group the applied debits per card (each card's list in arrival order) and per operator.
  let appliedCount = 0;
  let firstAppliedSeq = 0;
  const perCard = new Map<string, JournalRecord[]>();
  // Another issuer's cards: our operators' revenue, owed by that issuer (no balance of ours moves).
  const receivable = new Map<string, number>();
  const foreignRevenue = new Map<string, number>();
  for (const i of debits) {
    if (state[i] !== ACCEPTED) continue;
    const r = fresh[i];
    if (appliedCount++ === 0) firstAppliedSeq = r.deviceSeq;
    const issuer = foreign[i];
    if (issuer !== null) {
      receivable.set(issuer.name, (receivable.get(issuer.name) ?? 0) + r.amountFen);
      foreignRevenue.set(r.operator, (foreignRevenue.get(r.operator) ?? 0) + r.amountFen);
      continue;
    }
    const list = perCard.get(r.cardNo);
    if (list === undefined) perCard.set(r.cardNo, [r]);
    else list.push(r);
  }
  // Sorted card numbers: the claims are in card order already.
  const cardNos: string[] = [];
  for (const i of claims) {
    if (state[i] !== ACCEPTED || foreign[i] !== null) continue;
    const cardNo = fresh[i].cardNo;
    if (cardNos.length === 0 || cardNos[cardNos.length - 1] !== cardNo) cardNos.push(cardNo);
  }
  const refunded = new Set<string>();
  const forfeited = new Set<string>();
  const chains = new Map<string, { next: number; max: number }>();
  const withPendingLoads = new Set<string>();
  // Every chunk's four reads go out at once (one round trip on PostgreSQL).
  await Promise.all(
    chunks(cardNos, CHUNK).map(async (part) => {
      const marks = placeholders(part.length);
      const [paid, lost, chainRows, pending] = await Promise.all([
        tx.all<{ card_no: string }>(`SELECT card_no FROM refunds WHERE status = 'paid' AND card_no IN (${marks})`, part),
        tx.all<{ card_no: string }>(`SELECT card_no FROM lost_card_forfeits WHERE card_no IN (${marks})`, part),
        tx.all<{ card_no: string; next_atc: number | bigint; max_atc: number | bigint }>(
          `SELECT card_no, next_atc, max_atc FROM card_chains WHERE card_no IN (${marks})`,
          part,
        ),
        // Pending loads, and teller voids whose MAC2 the card may still have used (loads.ts).
        tx.all<{ card_no: string }>(`SELECT DISTINCT l.card_no FROM loads l WHERE l.card_no IN (${marks}) AND ${OPEN_TO_CARD_EVIDENCE_SQL}`, part),
      ]);
      for (const row of paid) refunded.add(row.card_no);
      for (const row of lost) forfeited.add(row.card_no);
      for (const row of chainRows) chains.set(row.card_no, { next: Number(row.next_atc), max: Number(row.max_atc) });
      for (const row of pending) withPendingLoads.add(row.card_no);
    }),
  );

  const revenue = new Map<string, number>();
  const writeOff = new Map<string, number>();
  let forfeitedTapsFen = 0;
  let purseDebitFen = 0;
  const chainColumns = columnArrays(CHAINS_BULK.columns.length, cardNos.length);
  const accountColumns = columnArrays(ACCOUNTS_BULK.columns.length, cardNos.length);
  let row = 0;
  for (const cardNo of cardNos) {
    const list = perCard.get(cardNo) as JournalRecord[];
    const isRefunded = refunded.has(cardNo);
    const isForfeited = !isRefunded && forfeited.has(cardNo);
    let spentFen = 0;
    // A purchase read the card's online ATC: every credit below it has happened.
    let lastCreditAtc = -1;
    for (const r of list) {
      spentFen += r.amountFen;
      if (isRefunded) writeOff.set(r.operator, (writeOff.get(r.operator) ?? 0) + r.amountFen);
      else revenue.set(r.operator, (revenue.get(r.operator) ?? 0) + r.amountFen);
      if (isForfeited) forfeitedTapsFen += r.amountFen;
      if (r.onlineAtc - 1 > lastCreditAtc) lastCreditAtc = r.onlineAtc - 1;
    }
    const before = chains.get(cardNo) ?? { next: 0, max: -1 };
    const chain = advanceChainInBatch(before, list);
    if (before.max >= before.next) chain.next = await advanceOverStored(tx, cardNo, chain.next, list);
    if (chain.max >= chain.next) {
      stats.gaps++;
      await recordAnomaly(tx, 'atc-gap', cardNo, chain.next, '', 0, `offline ATC ${chain.next} not yet uploaded (highest seen ${chain.max})`, nowMs);
    }
    chainColumns[0][row] = cardNo;
    chainColumns[1][row] = chain.next;
    chainColumns[2][row] = chain.max;
    // A refunded card's balance was paid out, a lost card's moved to the forfeited account: their
    // late taps no longer move the shadow balance.
    const offBooks = isRefunded || isForfeited;
    if (!offBooks) purseDebitFen += spentFen;
    else if (isForfeited) await tx.run('UPDATE lost_card_forfeits SET late_taps_fen = late_taps_fen + ? WHERE card_no = ?', [spentFen, cardNo]);
    accountColumns[0][row] = cardNo;
    accountColumns[1][row] = offBooks ? 0 : -spentFen;
    accountColumns[2][row] = chain.next - 1;
    accountColumns[3][row] = lastCreditAtc;
    accountColumns[4][row] = nowMs;
    row++;
  }
  // Bulk upserts: one statement per table for the whole batch on PostgreSQL, pipelined.
  await tx.writeRows(CHAINS_BULK, chainColumns);
  await tx.writeRows(ACCOUNTS_BULK, accountColumns);
  for (const [cardNo, list] of perCard) {
    if (!withPendingLoads.has(cardNo)) continue;
    const settled = await resolvePendingLoads(
      tx,
      cardNo,
      { kind: 'purchases', records: list.map((r) => ({ onlineAtc: r.onlineAtc, offlineAtc: r.offlineAtc, balanceBeforeFen: r.balanceBeforeFen })) },
      nowMs,
    );
    stats.loadsConfirmed += settled.confirmed.length;
    stats.loadsReinstated += settled.reinstated.length;
  }
  if (appliedCount > 0) {
    const entries: LedgerEntry[] = [{ account: ACCOUNTS.cardPurse, amountFen: purseDebitFen }];
    let writtenOffFen = 0;
    for (const [operator, amountFen] of revenue) entries.push({ account: revenueAccount(operator), amountFen: -amountFen });
    for (const [operator, amountFen] of writeOff) {
      entries.push({ account: revenueAccount(operator), amountFen: -amountFen });
      writtenOffFen += amountFen;
    }
    for (const [operator, amountFen] of foreignRevenue) entries.push({ account: revenueAccount(operator), amountFen: -amountFen });
    for (const [issuer, amountFen] of receivable) entries.push({ account: receivableAccount(issuer), amountFen });
    entries.push({ account: ACCOUNTS.lateTapWriteOff, amountFen: writtenOffFen });
    entries.push({ account: ACCOUNTS.lostCardForfeited, amountFen: forfeitedTapsFen });
    await postTransfer(tx, { kind: 'sync-debits', reference: `${deviceId}#${firstAppliedSeq}`, atMs: nowMs, entries });
    if (writtenOffFen > 0) {
      for (const [cardNo, list] of perCard) {
        if (!refunded.has(cardNo)) continue;
        const amountFen = list.reduce((sum, r) => sum + r.amountFen, 0);
        await tx.run('UPDATE refunds SET written_off_fen = written_off_fen + ? WHERE card_no = ?', [amountFen, cardNo]);
      }
    }
    // The card's history shows a refunded card's late taps as written off (services/card-history.ts), zero fares too.
    for (const cardNo of refunded) {
      for (const part of chunks(perCard.get(cardNo) ?? [], CHUNK)) {
        await tx.run(`UPDATE journal_records SET written_off = 1 WHERE device_id = ? AND device_seq IN (${placeholders(part.length)})`, [
          deviceId,
          ...part.map((r) => r.deviceSeq),
        ]);
      }
    }
  }

  // 6. Clones are blacklisted before the delta is read, so this very response carries them.
  for (const cardNo of clonedCards) {
    const listed = await tx.get<{ reason: string }>('SELECT reason FROM blacklist_current WHERE card_no = ?', [cardNo]);
    if (listed?.reason !== 'cloned') await deps.blacklist.add(tx, cardNo, 'cloned', nowMs);
  }

  // 7. Device state: watermark, drained version (for refunds), flags.
  const device = await updateDeviceState(tx, deviceId, request, fresh, badTacs, nowMs);
  const delta = await deps.blacklist.deltaSince(tx, request.blacklistVersion, LIMITS.blacklistDeltaPage);
  const fareTable = deps.fareTableFor === undefined ? null : await deps.fareTableFor(tx, request.fareTableVersion);
  // Clock skew as measured now: the device's clock when it made the request minus ours when we
  // ingest it (positive = the device runs ahead). Includes the request's transit time, which is
  // small next to the skews that matter (GET /v1/ops/devices/clock-skew lists those).
  const clockSkewMs = request.deviceTimeMs - nowMs;
  await tx.write(
    `UPDATE devices SET last_sync_ms = ?, watermark = ?, blacklist_version = ?, fare_table_version = ?,
       clock_skew_ms = ?, clock_skew_measured_ms = ?,
       flagged = CASE WHEN ? > 0 THEN 1 ELSE flagged END,
       flag_reason = CASE WHEN ? > 0 THEN 'tac-invalid' ELSE flag_reason END
     WHERE device_id = ?`,
    [nowMs, device.watermark, delta.version, fareTable?.version ?? request.fareTableVersion, clockSkewMs, nowMs, badTacs, badTacs, deviceId],
  );

  acknowledged.sort((a, b) => a - b);
  quarantined.sort((a, b) => a - b);
  return {
    response: {
      protocolVersion: SYNC_PROTOCOL_VERSION,
      acknowledged,
      quarantined,
      blacklist: delta.entries,
      blacklistVersion: delta.version,
      blacklistMore: delta.more,
      fareTable,
      watermark: device.watermark,
      serverTimeMs: nowMs,
    },
    stats,
  };
}

/** Moves the card's contiguous-ATC head over this batch's ATCs (no I/O). */
function advanceChainInBatch(chain: { next: number; max: number }, list: readonly JournalRecord[]): { next: number; max: number } {
  let max = chain.max;
  let next = chain.next;
  if (list.length === 1) {
    // The usual case: one tap of the card in the batch.
    const atc = list[0].offlineAtc;
    if (atc > max) max = atc;
    if (atc === next) next++;
    return { next, max };
  }
  const atcs = new Set<number>();
  for (const r of list) {
    atcs.add(r.offlineAtc);
    if (r.offlineAtc > max) max = r.offlineAtc;
  }
  while (atcs.has(next)) next++;
  return { next, max };
}

/**
 * The card had a gap before this batch: records uploaded earlier wait above it. Continues the
 * head from `next` over the stored ATCs and this batch's (only cards that had a gap pay this).
 */
async function advanceOverStored(tx: Tx, cardNo: string, next: number, list: readonly JournalRecord[]): Promise<number> {
  const atcs = new Set<number>();
  for (const r of list) atcs.add(r.offlineAtc);
  const waiting = await tx.all<{ offline_atc: number | bigint }>(
    'SELECT offline_atc FROM card_debits WHERE card_no = ? AND offline_atc >= ? ORDER BY offline_atc',
    [cardNo, next],
  );
  for (const row of waiting) {
    const atc = Number(row.offline_atc);
    if (atc === next) next++;
    else if (atc > next) break;
    while (atcs.has(next)) next++;
  }
  return next;
}

async function recordAnomaly(
  tx: Tx,
  kind: string,
  cardNo: string,
  atc: number,
  deviceId: string,
  deviceSeq: number,
  detail: string,
  nowMs: number,
): Promise<void> {
  await tx.run(
    `INSERT INTO money_anomalies (kind, card_no, atc, device_id, device_seq, detail, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (kind, card_no, atc, device_id, device_seq) DO NOTHING`,
    [kind, cardNo, atc, deviceId, deviceSeq, detail, nowMs],
  );
}

/**
 * Watermark = highest deviceSeq with no gap below it (sequences start at 0 or 1). A request
 * whose `journalMore` is false carried everything the device had not had acknowledged: its
 * journal is drained, so every tap it made before applying `request.blacklistVersion` is now
 * here. Refunds wait for that. The device says so explicitly; a batch's size cannot (a device
 * may send batches smaller than the limit, and its last batch may be exactly the limit). Only
 * a request without the flag (older firmware) is judged by size, as before.
 */
async function updateDeviceState(
  tx: Tx,
  deviceId: string,
  request: SyncRequest,
  fresh: readonly JournalRecord[],
  quarantinedNow: number,
  nowMs: number,
): Promise<{ watermark: number }> {
  const row = await tx.get<{ watermark: number | bigint; max_seq: number | bigint; drained_blacklist_version: number | bigint; drained_ms: number | bigint }>(
    'SELECT watermark, max_seq, drained_blacklist_version, drained_ms FROM device_sync_state WHERE device_id = ?',
    [deviceId],
  );
  let watermark = Number(row?.watermark ?? 0);
  const previousMax = Number(row?.max_seq ?? 0);
  let maxSeq = previousMax;
  const seqs = new Set<number>();
  for (const r of fresh) {
    seqs.add(r.deviceSeq);
    if (r.deviceSeq > maxSeq) maxSeq = r.deviceSeq;
  }
  while (seqs.has(watermark + 1)) watermark++;
  if (previousMax > watermark) {
    const later = await tx.all<{ device_seq: number | bigint }>(
      'SELECT device_seq FROM journal_records WHERE device_id = ? AND device_seq > ? ORDER BY device_seq LIMIT ?',
      [deviceId, watermark, LIMITS.syncBatchRecords * 2],
    );
    for (const seqRow of later) {
      if (Number(seqRow.device_seq) === watermark + 1) watermark++;
      else break;
    }
  }
  const drained = request.journalMore === undefined ? request.records.length < LIMITS.syncBatchRecords : !request.journalMore;
  const drainedVersion = drained
    ? Math.max(Number(row?.drained_blacklist_version ?? 0), request.blacklistVersion)
    : Number(row?.drained_blacklist_version ?? 0);
  const drainedMs = drained ? nowMs : Number(row?.drained_ms ?? 0);
  await tx.write(
    `INSERT INTO device_sync_state (device_id, watermark, max_seq, drained_blacklist_version, drained_ms, last_sync_ms, quarantined_count, flagged)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (device_id) DO UPDATE SET watermark = excluded.watermark, max_seq = excluded.max_seq,
       drained_blacklist_version = excluded.drained_blacklist_version, drained_ms = excluded.drained_ms,
       last_sync_ms = excluded.last_sync_ms, quarantined_count = device_sync_state.quarantined_count + excluded.quarantined_count,
       flagged = CASE WHEN excluded.flagged = 1 THEN 1 ELSE device_sync_state.flagged END`,
    [deviceId, watermark, maxSeq, drainedVersion, drainedMs, nowMs, quarantinedNow, quarantinedNow > 0 ? 1 : 0],
  );
  return { watermark };
}
