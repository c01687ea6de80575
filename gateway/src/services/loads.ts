/**
 * Loads (top-ups), DOMAIN.md section 3 "Load (top-up, online)".
 *
 * Life of a load:
 *   authorise (POST /v1/loads): MAC1 verified, payment taken, MAC2 issued → 'pending'
 *   confirm   (POST /v1/loads/{id}/confirm with the card's TAC)         → 'confirmed'
 *   void      (a teller, before the card was credited, or card evidence) → 'voided'
 *   reinstate (card proof that a teller-voided load was credited after all) → 'confirmed',
 *             resolution 'void-reversed'
 * A pending load is never voided on a timer alone: a card that was credited would then be
 * paid twice. Card evidence decides it (resolvePendingLoads): the online ATC of the card's
 * next load, its log read at a counter, or its next uploaded purchases.
 *
 * A teller void cannot take back the MAC2 already handed out: the terminal may still complete
 * CREDIT FOR LOAD with it. So a teller-voided load stays open to card evidence: a TAC that
 * verifies, or evidence that the card's online ATC moved past the load's, reinstates it (the
 * card holds the money, so the payer owes it again: a 'load-void-reversed' anomaly tells the
 * branch to re-charge). Only the newest load at its (card, online ATC) can be credited: a later
 * INIT at the same ATC ended the old session, so evidence about that ATC is the later load's.
 * Loads voided by card evidence are final (the card itself showed the session ended).
 *
 * Ledger (debit +, credit -):
 *   authorise: payment:<source> +A, liability:pending-loads -A   (money received, not yet on a card)
 *   confirm:   liability:pending-loads +A, liability:card-purse -A (now owed to the cardholder)
 *   void:      liability:pending-loads +A, payment:<source> -A     (money returned)
 *   reinstate: payment:<source> +A, liability:card-purse -A        (the returned money is owed
 *              back by the payer; the card holds it)
 */
import { createHash } from 'node:crypto';
import type { Tx } from '../store/store-port.ts';
import type { IssuerKeysPort } from '../keys/issuer-keys-port.ts';
import { LIMITS, TRANSACTION_TYPE, formatYuan, loadTacData, type CipherAlgorithm } from '#core';
import { ACCOUNTS, paymentAccount, postNewTransfer, postTransfer, type PaymentSource } from './ledger.ts';
import { addShadowBalance, readCardMoney, type CardMoneyState } from './card-money.ts';
import { beijingDateTime } from './money-time.ts';

export const PENDING_LOADS_ACCOUNT = 'liability:pending-loads';
/** Posting kind and money_anomalies kind of a reinstated teller void. */
export const VOID_REVERSED = 'load-void-reversed';

export type LoadStatus = 'pending' | 'confirmed' | 'voided';
export type LoadResolution = 'tac' | 'next-load' | 'card-log' | 'purchase-chain' | 'teller-void' | 'void-reversed';
/** How the card proved a credit. */
type CreditProof = 'tac' | 'next-load' | 'card-log' | 'purchase-chain';

/**
 * Loads card evidence may still decide, for a query on `loads l`: pending ones, and teller
 * voids that are the newest load at their (card, online ATC) (their MAC2 may still be used).
 */
export const OPEN_TO_CARD_EVIDENCE_SQL = `(l.status = 'pending' OR (l.status = 'voided' AND l.resolution = 'teller-void'
  AND NOT EXISTS (SELECT 1 FROM loads o WHERE o.card_no = l.card_no AND o.online_atc = l.online_atc AND o.id > l.id)))`;

/** Who asks: counter tokens carry their branch, app tokens the cardholder's session. */
export interface MoneyCaller {
  role: 'operator' | 'counter' | 'app' | 'holder' | 'device';
  /** Stable identity of the caller for idempotency keys and audit, e.g. 'counter:branch-07'. */
  scope: string;
  /** Branch or service point for teller reports ('app' for the app, 'operator' for operators). */
  branch: string;
}

export interface LoadRequest {
  cardNo: string;
  amountFen: number;
  paymentSource: PaymentSource;
  /** The card's INITIALIZE FOR LOAD answer. */
  onlineAtc: number;
  cardRandom: Uint8Array;
  balanceBeforeFen: number;
  mac1: Uint8Array;
  keyVersion: number;
  algorithm: CipherAlgorithm;
  terminalId: Uint8Array;
}

export interface LoadView {
  id: string;
  cardNo: string;
  amountFen: number;
  paymentSource: PaymentSource;
  status: LoadStatus;
  resolution: LoadResolution | null;
  onlineAtc: number;
  balanceBeforeFen: number;
  terminalId: string;
  /** MAC2 and the date/time it covers: what CREDIT FOR LOAD needs. */
  mac2: string;
  date: number;
  time: number;
  branch: string;
  createdMs: number;
  resolvedMs: number | null;
}

/** Business refusals, stable codes (the routes map them to HTTP in one table). */
export type LoadRefusalCode =
  | 'card-not-found'
  | 'card-not-active'
  | 'counter-load-step'
  | 'load-amount-out-of-range'
  | 'balance-cap-exceeded'
  | 'mac1-invalid'
  | 'load-init-replayed'
  | 'load-init-stale'
  | 'load-not-found'
  | 'load-not-pending'
  | 'tac-invalid';

export type LoadOutcome =
  /** `settled`: earlier loads of the card this call decided (authorise: the new INIT is evidence for them). */
  { ok: true; load: LoadView; settled?: PendingResolution } | { ok: false; code: LoadRefusalCode; detail: string };

interface LoadRow {
  [column: string]: string | number | bigint | null;
  id: number | bigint;
  card_no: string;
  amount_fen: number | bigint;
  payment_source: string;
  caller_scope: string;
  branch: string;
  terminal_id: string;
  online_atc: number | bigint;
  balance_before_fen: number | bigint;
  key_version: number | bigint;
  algorithm: string;
  load_date: number | bigint;
  load_time: number | bigint;
  mac2: string;
  status: string;
  resolution: string | null;
  created_ms: number | bigint;
  resolved_ms: number | bigint | null;
}

function toView(row: LoadRow): LoadView {
  return {
    id: String(row.id),
    cardNo: row.card_no,
    amountFen: Number(row.amount_fen),
    paymentSource: row.payment_source as PaymentSource,
    status: row.status as LoadStatus,
    resolution: (row.resolution as LoadResolution | null) ?? null,
    onlineAtc: Number(row.online_atc),
    balanceBeforeFen: Number(row.balance_before_fen),
    terminalId: row.terminal_id,
    mac2: row.mac2,
    date: Number(row.load_date),
    time: Number(row.load_time),
    branch: row.branch,
    createdMs: Number(row.created_ms),
    resolvedMs: row.resolved_ms === null ? null : Number(row.resolved_ms),
  };
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex').toUpperCase();

/**
 * A card takes money only while it is in service and on no blacklist (a temporary loss too:
 * the holder unblocks first). Lost, replaced, refunded, cloned and cancelled cards never do.
 */
export function cardAcceptsLoads(card: CardMoneyState): boolean {
  return card.blacklistReason === null && card.cardStatus === 'active';
}

export async function getLoad(tx: Tx, id: string): Promise<LoadView | undefined> {
  if (!/^[1-9][0-9]{0,15}$/.test(id)) return undefined;
  const row = await tx.get<LoadRow>('SELECT * FROM loads WHERE id = ?', [Number(id)]);
  return row === undefined ? undefined : toView(row);
}

/**
 * Locks the card of load `id` (a load's card never changes), for a transaction that then reads
 * and decides the load (confirm, void); nothing when there is no such load.
 */
export async function lockLoadCard(tx: Tx, id: string): Promise<void> {
  if (!/^[1-9][0-9]{0,15}$/.test(id)) return;
  const row = await tx.get<{ card_no: string }>('SELECT card_no FROM loads WHERE id = ?', [Number(id)]);
  if (row !== undefined) await tx.lockCards([row.card_no]);
}

/**
 * What authorizeLoad reads before it decides: the card, a load already made with this INIT, the
 * card's open loads, and the id the new load will have (Tx.reserveId).
 */
export interface LoadReads {
  card: CardMoneyState | undefined;
  replayed: unknown;
  open: LoadRow[];
  loadId: number;
}

/**
 * The reads of authorizeLoad, sent together (PostgreSQL pipelines them: one round trip, not
 * four). The caller holds the card's lock, so they see one state of the card and the reserved
 * id is above every load of the card already committed. Reads only (a reserved id that is not
 * used is a gap): a caller may start them before it knows it will authorise
 * (withIdempotency's prefetch).
 */
export async function readLoadState(tx: Tx, request: Pick<LoadRequest, 'cardNo' | 'onlineAtc' | 'cardRandom'>): Promise<LoadReads> {
  const [card, replayed, open, loadId] = await Promise.all([
    readCardMoney(tx, request.cardNo),
    tx.get('SELECT id FROM loads WHERE card_no = ? AND online_atc = ? AND card_random = ?', [request.cardNo, request.onlineAtc, hex(request.cardRandom)]),
    openLoads(tx, request.cardNo),
    tx.reserveId('loads'),
  ]);
  return { card, replayed, open, loadId };
}

/**
 * Authorises a load: card evidence first settles this card's earlier pending loads (the new
 * INIT's online ATC says whether they were credited), then the rules, then MAC1 → MAC2.
 * `reads`: readLoadState's answer when the caller already sent it in this transaction.
 */
export async function authorizeLoad(
  tx: Tx,
  keys: IssuerKeysPort,
  caller: MoneyCaller,
  request: LoadRequest,
  nowMs: number,
  reads?: LoadReads,
): Promise<LoadOutcome> {
  const { card, replayed, open, loadId } = reads ?? (await readLoadState(tx, request));
  if (card === undefined) return { ok: false, code: 'card-not-found', detail: 'no such card' };
  if (!cardAcceptsLoads(card)) return { ok: false, code: 'card-not-active', detail: `card is ${card.blacklistReason ?? card.cardStatus}` };
  if (request.amountFen < LIMITS.minLoadFen || request.amountFen > LIMITS.maxLoadFen) {
    return { ok: false, code: 'load-amount-out-of-range', detail: `a load is between ${LIMITS.minLoadFen} and ${LIMITS.maxLoadFen} fen` };
  }
  if (caller.role === 'counter' && request.amountFen % LIMITS.counterLoadStepFen !== 0) {
    return { ok: false, code: 'counter-load-step', detail: `counter loads are whole multiples of ${LIMITS.counterLoadStepFen / 100} yuan` };
  }
  // The card's own INITIALIZE balance is authoritative for the cap; overdraft used (if any) only lowers the result.
  if (request.balanceBeforeFen + request.amountFen > LIMITS.balanceCapFen) {
    return { ok: false, code: 'balance-cap-exceeded', detail: `the balance would exceed ${LIMITS.balanceCapFen / 100} yuan` };
  }
  // A card's INIT is evidence only when it is the card's live session: never an answer already
  // used (same random), never one older than a credit we know of (the online ATC only grows).
  if (replayed !== undefined) return { ok: false, code: 'load-init-replayed', detail: 'this INITIALIZE FOR LOAD answer was already used: read the card again' };
  if (request.onlineAtc <= card.lastOnlineAtc) {
    return { ok: false, code: 'load-init-stale', detail: `the card has already made credit ${card.lastOnlineAtc}: this INITIALIZE answer is old` };
  }
  const { date, time } = beijingDateTime(nowMs);
  const mac2 = keys.authorizeLoad({
    cardNo: request.cardNo,
    keyVersion: request.keyVersion,
    algorithm: request.algorithm,
    cardRandom: request.cardRandom,
    onlineAtc: request.onlineAtc,
    balanceBeforeFen: request.balanceBeforeFen,
    amountFen: request.amountFen,
    terminalId: request.terminalId,
    mac1: request.mac1,
    date,
    time,
  });
  if (mac2 === null) return { ok: false, code: 'mac1-invalid', detail: 'the card MAC1 does not verify' };
  // A genuine INIT answer is card evidence for earlier pending loads of this card (rule a).
  const settled = await resolvePendingLoads(tx, request.cardNo, { kind: 'next-load', onlineAtc: request.onlineAtc }, nowMs, open);
  const row: LoadRow = {
    id: loadId,
    card_no: request.cardNo,
    amount_fen: request.amountFen,
    payment_source: request.paymentSource,
    caller_scope: caller.scope,
    branch: caller.branch,
    terminal_id: hex(request.terminalId),
    online_atc: request.onlineAtc,
    balance_before_fen: request.balanceBeforeFen,
    key_version: request.keyVersion,
    algorithm: request.algorithm,
    load_date: date,
    load_time: time,
    mac2: hex(mac2),
    status: 'pending',
    resolution: null,
    created_ms: nowMs,
    resolved_ms: null,
  };
  // Writes only, the id reserved with the reads: the insert, the posting and its entries go
  // out together and nobody waits for them (PostgreSQL pipelines them behind the answer and
  // the commit: a load is two round trips). A failure fails the next awaited statement or the
  // commit, and the whole transaction with it.
  await tx.write(
    `INSERT INTO loads (id, card_no, amount_fen, payment_source, caller_scope, branch, terminal_id, online_atc, balance_before_fen,
       key_version, algorithm, load_date, load_time, mac2, status, resolution, tac, created_ms, resolved_ms, card_random)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', NULL, NULL, ?, NULL, ?)`,
    [
      loadId,
      row.card_no,
      row.amount_fen,
      row.payment_source,
      row.caller_scope,
      row.branch,
      row.terminal_id,
      row.online_atc,
      row.balance_before_fen,
      row.key_version,
      row.algorithm,
      row.load_date,
      row.load_time,
      row.mac2,
      nowMs,
      hex(request.cardRandom),
    ],
  );
  await postNewTransfer(tx, {
    kind: 'load-authorise',
    reference: String(loadId),
    atMs: nowMs,
    entries: [
      { account: paymentAccount(request.paymentSource), amountFen: request.amountFen },
      { account: PENDING_LOADS_ACCOUNT, amountFen: -request.amountFen },
    ],
  });
  return { ok: true, load: toView(row), settled };
}

async function markConfirmed(tx: Tx, load: LoadView, resolution: LoadResolution, tac: string | null, nowMs: number): Promise<LoadView> {
  const changed = await tx.run("UPDATE loads SET status = 'confirmed', resolution = ?, tac = ?, resolved_ms = ? WHERE id = ? AND status = 'pending'", [
    resolution,
    tac,
    nowMs,
    Number(load.id),
  ]);
  if (changed !== 1) throw new Error(`load ${load.id} was not pending`);
  await addShadowBalance(tx, load.cardNo, load.amountFen);
  await tx.run('UPDATE card_accounts SET last_online_atc = ?, updated_ms = ? WHERE card_no = ? AND last_online_atc < ?', [
    load.onlineAtc,
    nowMs,
    load.cardNo,
    load.onlineAtc,
  ]);
  await postTransfer(tx, {
    kind: 'load-confirm',
    reference: load.id,
    atMs: nowMs,
    entries: [
      { account: PENDING_LOADS_ACCOUNT, amountFen: load.amountFen },
      { account: ACCOUNTS.cardPurse, amountFen: -load.amountFen },
    ],
  });
  return { ...load, status: 'confirmed', resolution, resolvedMs: nowMs };
}

async function markVoided(tx: Tx, load: LoadView, resolution: LoadResolution, nowMs: number): Promise<LoadView> {
  const changed = await tx.run("UPDATE loads SET status = 'voided', resolution = ?, resolved_ms = ? WHERE id = ? AND status = 'pending'", [
    resolution,
    nowMs,
    Number(load.id),
  ]);
  if (changed !== 1) throw new Error(`load ${load.id} was not pending`);
  await postTransfer(tx, {
    kind: 'load-void',
    reference: load.id,
    atMs: nowMs,
    entries: [
      { account: PENDING_LOADS_ACCOUNT, amountFen: load.amountFen },
      { account: paymentAccount(load.paymentSource), amountFen: -load.amountFen },
    ],
  });
  return { ...load, status: 'voided', resolution, resolvedMs: nowMs };
}

/** A teller-voided load the card may still have been credited with (see the file comment). */
async function voidMayBeReversed(tx: Tx, load: LoadView): Promise<boolean> {
  if (load.status !== 'voided' || load.resolution !== 'teller-void') return false;
  const later = await tx.get('SELECT id FROM loads WHERE card_no = ? AND online_atc = ? AND id > ?', [load.cardNo, load.onlineAtc, Number(load.id)]);
  return later === undefined;
}

/**
 * The card proved a teller-voided load credited: reinstate it once (the status guard and the
 * unique posting make a second proof a no-op for the caller that checks the status first).
 * The payment went back to the payer at the void; the card holds the money: the books owe it
 * to the cardholder again and the payer owes it back (anomaly for the branch to re-charge).
 */
async function markVoidReversed(tx: Tx, load: LoadView, proof: CreditProof, tac: string | null, nowMs: number): Promise<LoadView> {
  const changed = await tx.run(
    "UPDATE loads SET status = 'confirmed', resolution = 'void-reversed', tac = ?, resolved_ms = ? WHERE id = ? AND status = 'voided' AND resolution = 'teller-void'",
    [tac, nowMs, Number(load.id)],
  );
  if (changed !== 1) throw new Error(`load ${load.id} was not a teller void`);
  await addShadowBalance(tx, load.cardNo, load.amountFen);
  await tx.run('UPDATE card_accounts SET last_online_atc = ?, updated_ms = ? WHERE card_no = ? AND last_online_atc < ?', [
    load.onlineAtc,
    nowMs,
    load.cardNo,
    load.onlineAtc,
  ]);
  const posted = await postTransfer(tx, {
    kind: VOID_REVERSED,
    reference: load.id,
    atMs: nowMs,
    entries: [
      { account: paymentAccount(load.paymentSource), amountFen: load.amountFen },
      { account: ACCOUNTS.cardPurse, amountFen: -load.amountFen },
    ],
  });
  if (!posted) throw new Error(`load ${load.id}: void reversal already posted`);
  // money_anomalies is keyed like a device record; a load has none: device_id names the load.
  await tx.run(
    `INSERT INTO money_anomalies (kind, card_no, atc, device_id, device_seq, detail, at_ms) VALUES (?, ?, ?, ?, 0, ?, ?)
     ON CONFLICT (kind, card_no, atc, device_id, device_seq) DO NOTHING`,
    [
      VOID_REVERSED,
      load.cardNo,
      load.onlineAtc,
      `load:${load.id}`,
      `load ${load.id} (${formatYuan(load.amountFen)} yuan, ${load.paymentSource}, branch ${load.branch}) was voided by a teller and its payment returned, ` +
        `but the card was credited with its MAC2 (proof: ${proof}): reinstated; re-charge the payer`,
      nowMs,
    ],
  );
  return { ...load, status: 'confirmed', resolution: 'void-reversed', resolvedMs: nowMs };
}

/**
 * Confirms a load with the card's TAC over newBalance(4) || onlineATC(2) || amount(4) || 02 ||
 * terminalId(6) || date(4) || time(3). `newBalanceFen` defaults to balance before + amount; a
 * card that repaid an overdraft reports its own new balance, which the TAC then authenticates.
 * Confirming an already confirmed load with a TAC that verifies answers the load again.
 */
export async function confirmLoad(
  tx: Tx,
  keys: IssuerKeysPort,
  id: string,
  proof: { tac: Uint8Array; newBalanceFen?: number },
  nowMs: number,
): Promise<LoadOutcome> {
  const load = await getLoad(tx, id);
  if (load === undefined) return { ok: false, code: 'load-not-found', detail: `no load ${id}` };
  const row = await tx.get<{ key_version: number | bigint; algorithm: string }>('SELECT key_version, algorithm FROM loads WHERE id = ?', [Number(id)]);
  const newBalanceFen = proof.newBalanceFen ?? load.balanceBeforeFen + load.amountFen;
  const data = loadTacData({
    balanceAfterFen: newBalanceFen,
    onlineAtc: load.onlineAtc,
    amountFen: load.amountFen,
    terminalId: load.terminalId,
    date: load.date,
    time: load.time,
  });
  const valid = keys.verifyTac({
    cardNo: load.cardNo,
    keyVersion: Number(row?.key_version),
    algorithm: row?.algorithm as CipherAlgorithm,
    data,
    tac: proof.tac,
  });
  if (!valid) return { ok: false, code: 'tac-invalid', detail: 'the load TAC does not verify' };
  if (load.status === 'confirmed') return { ok: true, load };
  if (await voidMayBeReversed(tx, load)) return { ok: true, load: await markVoidReversed(tx, load, 'tac', hex(proof.tac), nowMs) };
  if (load.status !== 'pending') return { ok: false, code: 'load-not-pending', detail: `load is ${load.status}` };
  return { ok: true, load: await markConfirmed(tx, load, 'tac', hex(proof.tac), nowMs) };
}

/**
 * A teller voids a load that never reached the card: allowed only while pending, and only
 * because no card evidence exists yet (a load with a TAC or any later evidence is decided:
 * evidence settles pending loads in the transaction it arrives in, so such a load is no longer
 * pending). The payment goes back to its source. The MAC2 stays usable on the card: should the
 * card be credited with it after all, its proof reinstates the load (markVoidReversed).
 */
export async function voidLoad(tx: Tx, id: string, nowMs: number): Promise<LoadOutcome> {
  const load = await getLoad(tx, id);
  if (load === undefined) return { ok: false, code: 'load-not-found', detail: `no load ${id}` };
  if (load.status !== 'pending') return { ok: false, code: 'load-not-pending', detail: `load is ${load.status}` };
  return { ok: true, load: await markVoided(tx, load, 'teller-void', nowMs) };
}

/** Card evidence about pending loads (DOMAIN.md section 3, tearing). */
export type LoadEvidence =
  /** INITIALIZE FOR LOAD of the card's next load (MAC1 verified): its online ATC. */
  | { kind: 'next-load'; onlineAtc: number }
  /**
   * The card read at a counter: its current online ATC and its log (load records, type 02,
   * with their online ATC and amount). Reading the card ends any open load session, so an
   * unchanged online ATC proves the pending credit never happened and never can.
   */
  | { kind: 'card-log'; onlineAtc: number; loads: Array<{ atc: number; amountFen: number }> }
  /**
   * Verified purchases uploaded by validators: the online ATC each one read from the card,
   * and its effective balance before. An online ATC above the pending load's proves the credit.
   */
  | { kind: 'purchases'; records: Array<{ onlineAtc: number; offlineAtc: number; balanceBeforeFen: number }> };

export interface PendingResolution {
  confirmed: string[];
  voided: string[];
  /** Teller-voided loads the evidence proves credited: reinstated ('void-reversed'). */
  reinstated: string[];
}

/**
 * Settles this card's pending loads from card evidence, and reinstates a teller-voided load
 * the evidence proves credited. Returns what changed. Evidence that proves nothing (e.g. a
 * purchase made before the load, seeing the same online ATC) leaves a load pending: only the
 * card can say, and it will at its next load or counter visit.
 */
/** The card's loads card evidence may still decide, in the order resolvePendingLoads decides them. */
function openLoads(tx: Tx, cardNo: string): Promise<LoadRow[]> {
  return tx.all<LoadRow>(`SELECT l.* FROM loads l WHERE l.card_no = ? AND ${OPEN_TO_CARD_EVIDENCE_SQL} ORDER BY l.online_atc, l.id`, [cardNo]);
}

/** `open`: the card's open loads when the caller already read them under the card's lock (openLoads). */
export async function resolvePendingLoads(tx: Tx, cardNo: string, evidence: LoadEvidence, nowMs: number, open?: LoadRow[]): Promise<PendingResolution> {
  const rows = open ?? (await openLoads(tx, cardNo));
  const result: PendingResolution = { confirmed: [], voided: [], reinstated: [] };
  for (const row of rows) {
    const load = toView(row);
    const decision = decide(load, evidence);
    if (load.status === 'voided') {
      // Already voided and its money returned: only a proven credit changes anything.
      if (decision === 'credited') {
        await markVoidReversed(tx, load, resolutionOf(evidence), null, nowMs);
        result.reinstated.push(load.id);
      }
    } else if (decision === 'credited') {
      await markConfirmed(tx, load, resolutionOf(evidence), null, nowMs);
      result.confirmed.push(load.id);
    } else if (decision === 'not-credited') {
      await markVoided(tx, load, resolutionOf(evidence), nowMs);
      result.voided.push(load.id);
    }
  }
  return result;
}

function resolutionOf(evidence: LoadEvidence): CreditProof {
  if (evidence.kind === 'next-load') return 'next-load';
  if (evidence.kind === 'card-log') return 'card-log';
  return 'purchase-chain';
}

function decide(load: LoadView, evidence: LoadEvidence): 'credited' | 'not-credited' | 'unknown' {
  switch (evidence.kind) {
    case 'next-load':
      // The online ATC increments exactly once per credit: moved past ours → ours was credited;
      // the same value → it was not, and the new INIT replaced the old load session for good.
      if (evidence.onlineAtc > load.onlineAtc) return 'credited';
      if (evidence.onlineAtc === load.onlineAtc) return 'not-credited';
      return 'unknown';
    case 'card-log': {
      const logged = evidence.loads.some((entry) => entry.atc === load.onlineAtc && entry.amountFen === load.amountFen);
      if (logged || evidence.onlineAtc > load.onlineAtc) return 'credited';
      if (evidence.onlineAtc === load.onlineAtc) return 'not-credited';
      return 'unknown';
    }
    case 'purchases':
      // A purchase that read an online ATC past ours happened after our credit. The same online
      // ATC proves nothing by itself (the purchase may predate the load), so it decides nothing.
      return evidence.records.some((record) => record.onlineAtc > load.onlineAtc) ? 'credited' : 'unknown';
  }
}

/** Stable hash of a parsed request, for the idempotency table. */
export function requestHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

export type IdempotentOutcome<T> = { kind: 'fresh'; statusCode: number; body: T } | { kind: 'replay'; statusCode: number; body: T } | { kind: 'conflict' };

/**
 * Runs `work` at most once per (scope, key), inside the caller's transaction. The key row is
 * claimed first (INSERT ... ON CONFLICT DO NOTHING on the primary key), so a concurrent twin
 * either waits (SQLite serialises writers) or fails serialisation and is retried (PostgreSQL),
 * and then finds the stored first answer. Same key with a different request hash → conflict.
 * Results of `work` (success or business refusal) are stored as the first answer.
 * `guard` (optional) runs once the claim is answered, before the replay or the work: a check
 * the caller would otherwise make before claiming (its reads sent with the claim, so it costs
 * no round trip of its own). When it throws, the transaction rolls back and the claim with it,
 * exactly as if it had thrown first.
 */
export async function withIdempotency<T, P = undefined>(
  tx: Tx,
  scope: string,
  key: string,
  hash: string,
  nowMs: number,
  work: (prefetched: P) => Promise<{ statusCode: number; body: T }>,
  prefetch?: () => Promise<P>,
  guard?: () => Promise<void>,
): Promise<IdempotentOutcome<T>> {
  const claiming = tx.run(
    "INSERT INTO idempotency_keys (scope, idem_key, request_hash, status_code, response_json, created_ms) VALUES (?, ?, ?, 0, '', ?) ON CONFLICT (scope, idem_key) DO NOTHING",
    [scope, key, hash, nowMs],
  );
  // `prefetch` (reads only) goes out behind the claim without waiting for it: on PostgreSQL the
  // claim and the reads are one round trip; a replay just drops what it read.
  const prefetching = prefetch?.();
  prefetching?.catch(() => undefined);
  const claimed = await claiming;
  if (guard !== undefined) await guard();
  if (claimed !== 1) {
    const existing = await tx.get<{ request_hash: string; status_code: number | bigint; response_json: string }>(
      'SELECT request_hash, status_code, response_json FROM idempotency_keys WHERE scope = ? AND idem_key = ?',
      [scope, key],
    );
    if (existing === undefined || existing.response_json === '') throw new Error('idempotency key row without its answer');
    if (existing.request_hash !== hash) return { kind: 'conflict' };
    return { kind: 'replay', statusCode: Number(existing.status_code), body: JSON.parse(existing.response_json) as T };
  }
  const outcome = await work((await prefetching) as P);
  await tx.write('UPDATE idempotency_keys SET status_code = ?, response_json = ? WHERE scope = ? AND idem_key = ?', [
    outcome.statusCode,
    JSON.stringify(outcome.body),
    scope,
    key,
  ]);
  return { kind: 'fresh', ...outcome };
}

export const LOAD_TRANSACTION_TYPE = TRANSACTION_TYPE.load;
