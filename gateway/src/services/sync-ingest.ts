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
 * revenue −), so the operator is paid and nothing is lost or counted twice.
 */
import type { Tx } from '../store/store-port.ts';
import type { IssuerKeysPort } from '../keys/issuer-keys-port.ts';
import { LIMITS, SYNC_PROTOCOL_VERSION, purchaseTacData, type BlacklistDeltaEntry, type BlacklistReason, type JournalRecord, type SyncRequest, type SyncResponse } from '../../../core/src/index.ts';
import { ACCOUNTS, postTransfer, revenueAccount, type LedgerEntry } from './ledger.ts';
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
}

export interface IngestStats {
  stored: number;
  retried: number;
  quarantined: number;
  clones: number;
  gaps: number;
}

type RecordStatus = 'accepted' | 'quarantined' | 'duplicate';

const CHUNK = 400;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function placeholders(n: number): string {
  return new Array(n).fill('?').join(', ');
}

const VALUES_CACHE = new Map<number, string>();

/** '(?, ?), (?, ?)' for `rows` rows of `columns` values; cached so statement texts (and the store's prepared statements) repeat. */
function valuesList(rows: number, columns: number): string {
  const key = rows * 100 + columns;
  let text = VALUES_CACHE.get(key);
  if (text === undefined) {
    const row = `(${placeholders(columns)})`;
    text = new Array(rows).fill(row).join(', ');
    if (VALUES_CACHE.size < 1_000) VALUES_CACHE.set(key, text);
  }
  return text;
}

function digestOf(r: JournalRecord): string {
  return `${r.amountFen}|${r.transactionType}|${r.terminalId.toUpperCase()}|${r.tsn}|${r.date}|${r.time}|${r.tac.toUpperCase()}`;
}

/** A copy sorted by card number, then offline ATC (stable for equal keys). */
function byCard(records: readonly JournalRecord[]): JournalRecord[] {
  return [...records].sort((a, b) => (a.cardNo < b.cardNo ? -1 : a.cardNo > b.cardNo ? 1 : a.offlineAtc - b.offlineAtc));
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

const JOURNAL_COLUMNS =
  '(device_id, device_seq, status, reason, card_no, card_action, operator, device_kind, result_code, transaction_type, amount_fen, balance_before_fen, balance_after_fen, offline_atc, online_atc, terminal_id, tsn, tx_date, tx_time, tac, place, line, occurred_at_ms, received_ms)';
const JOURNAL_ROWS_PER_INSERT = 250;
const DEBIT_ROWS_PER_INSERT = 500;
const UPSERT_ROWS = 500;

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
  const stats: IngestStats = { stored: 0, retried: 0, quarantined: 0, clones: 0, gaps: 0 };
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

  // 2. Classify the new records: TAC of every debit.
  const fresh: JournalRecord[] = [];
  const status = new Map<number, RecordStatus>();
  const reason = new Map<number, string>();
  for (const r of records) {
    const stored = known.get(r.deviceSeq);
    if (stored !== undefined) {
      stats.retried++;
      (stored === 'quarantined' ? quarantined : acknowledged).push(r.deviceSeq);
      continue;
    }
    fresh.push(r);
    if (r.cardAction === 'debit' && !verifyRecordTac(deps.keys, r)) {
      status.set(r.deviceSeq, 'quarantined');
      reason.set(r.deviceSeq, 'tac-invalid');
    } else {
      status.set(r.deviceSeq, 'accepted');
    }
  }

  // 3. Claim each verified debit's (card, offline ATC): the unique key finds clones and duplicates.
  const debits = fresh.filter((r) => r.cardAction === 'debit' && status.get(r.deviceSeq) === 'accepted');
  const claimed = new Set<number>();
  // Inserted in card order: the keys (card, ATC) and (card, digest) then go into their B-trees
  // in order, touching each page once, instead of at random across a city's cards.
  for (const part of chunks(byCard(debits), DEBIT_ROWS_PER_INSERT)) {
    const rows = await tx.all<{ device_seq: number | bigint }>(
      `INSERT INTO card_debits (card_no, offline_atc, digest, device_id, device_seq) VALUES ${valuesList(part.length, 5)}
       ON CONFLICT DO NOTHING RETURNING device_seq`,
      part.flatMap((r) => [r.cardNo, r.offlineAtc, digestOf(r), deviceId, r.deviceSeq]),
    );
    for (const row of rows) claimed.add(Number(row.device_seq));
  }
  const clonedCards = new Set<string>();
  for (const r of debits) {
    if (claimed.has(r.deviceSeq)) continue;
    const existing = await tx.get<{ digest: string }>('SELECT digest FROM card_debits WHERE card_no = ? AND offline_atc = ?', [r.cardNo, r.offlineAtc]);
    if (existing !== undefined && existing.digest === digestOf(r)) {
      // The same tap uploaded again under another sequence number: stored, never applied twice.
      status.set(r.deviceSeq, 'duplicate');
    } else if ((await tx.get('SELECT offline_atc FROM card_debits WHERE card_no = ? AND digest = ?', [r.cardNo, digestOf(r)])) !== undefined) {
      // The TAC does not cover the offline ATC: this tap is already counted under another ATC.
      // The copy is quarantined (never cleared) and the device flagged; the card is not at fault.
      status.set(r.deviceSeq, 'quarantined');
      reason.set(r.deviceSeq, 'tac-replayed');
      await recordAnomaly(tx, 'tac-replayed', r.cardNo, r.offlineAtc, deviceId, r.deviceSeq, 'a debit already counted under another offline ATC', nowMs);
    } else {
      status.set(r.deviceSeq, 'quarantined');
      reason.set(r.deviceSeq, 'atc-conflict');
      clonedCards.add(r.cardNo);
      stats.clones++;
      await recordAnomaly(tx, 'cloned-card', r.cardNo, r.offlineAtc, deviceId, r.deviceSeq, 'two different debits at one offline ATC', nowMs);
    }
  }

  // 4. Store every new record (in card order, for the journal's (card, ATC) index).
  for (const part of chunks(byCard(fresh), JOURNAL_ROWS_PER_INSERT)) {
    const params: (string | number | null)[] = [];
    for (const r of part) {
      params.push(
        deviceId, r.deviceSeq, status.get(r.deviceSeq) ?? 'accepted', reason.get(r.deviceSeq) ?? null, r.cardNo, r.cardAction, r.operator,
        r.deviceKind, r.resultCode, r.transactionType, r.amountFen, r.balanceBeforeFen, r.balanceAfterFen, r.offlineAtc, r.onlineAtc,
        r.terminalId.toUpperCase(), r.tsn, r.date, r.time, r.tac.toUpperCase(), r.place, r.line, r.occurredAtMs, nowMs,
      );
    }
    await tx.run(`INSERT INTO journal_records ${JOURNAL_COLUMNS} VALUES ${valuesList(part.length, 24)}`, params);
  }
  for (const r of fresh) {
    stats.stored++;
    (status.get(r.deviceSeq) === 'quarantined' ? quarantined : acknowledged).push(r.deviceSeq);
  }
  const badTacs = fresh.filter((r) => reason.get(r.deviceSeq) === 'tac-invalid' || reason.get(r.deviceSeq) === 'tac-replayed');
  stats.quarantined = quarantined.length;
  for (const r of badTacs) {
    if (reason.get(r.deviceSeq) !== 'tac-invalid') continue;
    await recordAnomaly(tx, 'tac-invalid', r.cardNo, r.offlineAtc, deviceId, r.deviceSeq, 'TAC does not verify: quarantined', nowMs);
  }

  // 5. Money: group the applied debits per card and per operator.
  const applied = debits.filter((r) => status.get(r.deviceSeq) === 'accepted');
  const perCard = new Map<string, JournalRecord[]>();
  for (const r of applied) {
    const list = perCard.get(r.cardNo);
    if (list === undefined) perCard.set(r.cardNo, [r]);
    else list.push(r);
  }
  const cardNos = [...perCard.keys()].sort();
  const refunded = new Set<string>();
  const chains = new Map<string, { next: number; max: number }>();
  const withPendingLoads = new Set<string>();
  for (const part of chunks(cardNos, CHUNK)) {
    const marks = placeholders(part.length);
    for (const row of await tx.all<{ card_no: string }>(`SELECT card_no FROM refunds WHERE status = 'paid' AND card_no IN (${marks})`, part)) refunded.add(row.card_no);
    for (const row of await tx.all<{ card_no: string; next_atc: number | bigint; max_atc: number | bigint }>(
      `SELECT card_no, next_atc, max_atc FROM card_chains WHERE card_no IN (${marks})`,
      part,
    )) {
      chains.set(row.card_no, { next: Number(row.next_atc), max: Number(row.max_atc) });
    }
    // Pending loads, and teller voids whose MAC2 the card may still have used (loads.ts).
    for (const row of await tx.all<{ card_no: string }>(`SELECT DISTINCT l.card_no FROM loads l WHERE l.card_no IN (${marks}) AND ${OPEN_TO_CARD_EVIDENCE_SQL}`, part)) {
      withPendingLoads.add(row.card_no);
    }
  }

  const revenue = new Map<string, number>();
  const writeOff = new Map<string, number>();
  let purseDebitFen = 0;
  const chainRows: (string | number)[][] = [];
  const accountRows: (string | number)[][] = [];
  for (const cardNo of cardNos) {
    const list = perCard.get(cardNo) as JournalRecord[];
    let spentFen = 0;
    for (const r of list) {
      spentFen += r.amountFen;
      if (refunded.has(cardNo)) writeOff.set(r.operator, (writeOff.get(r.operator) ?? 0) + r.amountFen);
      else revenue.set(r.operator, (revenue.get(r.operator) ?? 0) + r.amountFen);
    }
    const chain = await advanceChain(tx, cardNo, chains.get(cardNo) ?? { next: 0, max: -1 }, list);
    if (chain.max >= chain.next) {
      stats.gaps++;
      await recordAnomaly(tx, 'atc-gap', cardNo, chain.next, '', 0, `offline ATC ${chain.next} not yet uploaded (highest seen ${chain.max})`, nowMs);
    }
    chainRows.push([cardNo, chain.next, chain.max]);
    // A refunded card's balance was paid out: its late taps no longer move the shadow balance.
    const shadowDeltaFen = refunded.has(cardNo) ? 0 : -spentFen;
    if (!refunded.has(cardNo)) purseDebitFen += spentFen;
    // A purchase read the card's online ATC: every credit below it has happened.
    let lastCreditAtc = -1;
    for (const r of list) if (r.onlineAtc - 1 > lastCreditAtc) lastCreditAtc = r.onlineAtc - 1;
    accountRows.push([cardNo, shadowDeltaFen, chain.next - 1, lastCreditAtc, nowMs]);
  }
  // Multi-row upserts: one statement per few hundred cards instead of two per card.
  for (const part of chunks(chainRows, UPSERT_ROWS)) {
    await tx.run(
      `INSERT INTO card_chains (card_no, next_atc, max_atc) VALUES ${valuesList(part.length, 3)}
       ON CONFLICT (card_no) DO UPDATE SET next_atc = excluded.next_atc, max_atc = excluded.max_atc`,
      part.flat(),
    );
  }
  for (const part of chunks(accountRows, UPSERT_ROWS)) {
    await tx.run(
      `INSERT INTO card_accounts (card_no, shadow_balance_fen, last_offline_atc, last_online_atc, updated_ms) VALUES ${valuesList(part.length, 5)}
       ON CONFLICT (card_no) DO UPDATE SET shadow_balance_fen = card_accounts.shadow_balance_fen + excluded.shadow_balance_fen,
         last_offline_atc = excluded.last_offline_atc,
         last_online_atc = CASE WHEN excluded.last_online_atc > card_accounts.last_online_atc THEN excluded.last_online_atc ELSE card_accounts.last_online_atc END,
         updated_ms = excluded.updated_ms`,
      part.flat(),
    );
  }
  for (const [cardNo, list] of perCard) {
    if (!withPendingLoads.has(cardNo)) continue;
    await resolvePendingLoads(
      tx,
      cardNo,
      { kind: 'purchases', records: list.map((r) => ({ onlineAtc: r.onlineAtc, offlineAtc: r.offlineAtc, balanceBeforeFen: r.balanceBeforeFen })) },
      nowMs,
    );
  }
  if (applied.length > 0) {
    const entries: LedgerEntry[] = [{ account: ACCOUNTS.cardPurse, amountFen: purseDebitFen }];
    let writtenOffFen = 0;
    for (const [operator, amountFen] of revenue) entries.push({ account: revenueAccount(operator), amountFen: -amountFen });
    for (const [operator, amountFen] of writeOff) {
      entries.push({ account: revenueAccount(operator), amountFen: -amountFen });
      writtenOffFen += amountFen;
    }
    entries.push({ account: ACCOUNTS.lateTapWriteOff, amountFen: writtenOffFen });
    await postTransfer(tx, { kind: 'sync-debits', reference: `${deviceId}#${applied[0].deviceSeq}`, atMs: nowMs, entries });
    if (writtenOffFen > 0) {
      for (const [cardNo, list] of perCard) {
        if (!refunded.has(cardNo)) continue;
        const amountFen = list.reduce((sum, r) => sum + r.amountFen, 0);
        await tx.run('UPDATE refunds SET written_off_fen = written_off_fen + ? WHERE card_no = ?', [amountFen, cardNo]);
      }
    }
  }

  // 6. Clones are blacklisted before the delta is read, so this very response carries them.
  for (const cardNo of clonedCards) {
    const listed = await tx.get<{ reason: string }>('SELECT reason FROM blacklist_current WHERE card_no = ?', [cardNo]);
    if (listed?.reason !== 'cloned') await deps.blacklist.add(tx, cardNo, 'cloned', nowMs);
  }

  // 7. Device state: watermark, drained version (for refunds), flags.
  const state = await updateDeviceState(tx, deviceId, request, fresh, badTacs.length, nowMs);
  const delta = await deps.blacklist.deltaSince(tx, request.blacklistVersion, LIMITS.blacklistDeltaPage);
  const fareTable = deps.fareTableFor === undefined ? null : await deps.fareTableFor(tx, request.fareTableVersion);
  // Clock skew as measured now: the device's clock when it made the request minus ours when we
  // ingest it (positive = the device runs ahead). Includes the request's transit time, which is
  // small next to the skews that matter (GET /v1/ops/devices/clock-skew lists those).
  const clockSkewMs = request.deviceTimeMs - nowMs;
  await tx.run(
    `UPDATE devices SET last_sync_ms = ?, watermark = ?, blacklist_version = ?, fare_table_version = ?,
       clock_skew_ms = ?, clock_skew_measured_ms = ?,
       flagged = CASE WHEN ? > 0 THEN 1 ELSE flagged END,
       flag_reason = CASE WHEN ? > 0 THEN 'tac-invalid' ELSE flag_reason END
     WHERE device_id = ?`,
    [nowMs, state.watermark, delta.version, fareTable?.version ?? request.fareTableVersion, clockSkewMs, nowMs, badTacs.length, badTacs.length, deviceId],
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
      watermark: state.watermark,
      serverTimeMs: nowMs,
    },
    stats,
  };
}

/** Moves the card's contiguous-ATC head over the new ATCs and any earlier pending ones. */
async function advanceChain(tx: Tx, cardNo: string, chain: { next: number; max: number }, list: readonly JournalRecord[]): Promise<{ next: number; max: number }> {
  const atcs = new Set<number>();
  let max = chain.max;
  for (const r of list) {
    atcs.add(r.offlineAtc);
    if (r.offlineAtc > max) max = r.offlineAtc;
  }
  let next = chain.next;
  while (atcs.has(next)) next++;
  if (chain.max >= chain.next) {
    // Records uploaded earlier wait above a gap: walk them too (only cards that had a gap pay this).
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
  }
  return { next, max };
}

async function recordAnomaly(tx: Tx, kind: string, cardNo: string, atc: number, deviceId: string, deviceSeq: number, detail: string, nowMs: number): Promise<void> {
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
  const drainedVersion = drained ? Math.max(Number(row?.drained_blacklist_version ?? 0), request.blacklistVersion) : Number(row?.drained_blacklist_version ?? 0);
  const drainedMs = drained ? nowMs : Number(row?.drained_ms ?? 0);
  await tx.run(
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
