/**
 * Card issuance and lifecycle at the back office: personalisation through the issuer key
 * port, the card's account row (shadow balance maintained by the money side), the service
 * password, function opening, replacement after a formal loss, cancellation (seed q. 33-35)
 * and the counter unblock of a locked card.
 *
 * The social security number is used once, to derive the initial service password (its last
 * 6 characters, seed q. 16), and is neither stored nor returned nor logged.
 */
import { encodeCardImage, encodeFunctions, makeCardNo, type CardImage, type CipherAlgorithm, type HolderProfile, type CardGeneration } from '#core';
import type { IssuerKeysPort } from '../keys/issuer-keys-port.ts';
import type { Tx } from '../store/store-port.ts';
import { ApiError } from '../http/problem.ts';
import { DEFAULT_ISSUING_BANK } from './partner-banks.ts';
import { addBlacklistEntry, blacklistListing, expireTemporaryLosses, type CardStatus } from './blacklist.ts';
import { forfeitLostCardBalance } from './lost-card-balances.ts';

export interface CardRow {
  cardNo: string;
  issuerCode: string;
  generation: CardGeneration;
  profile: HolderProfile;
  algorithm: CipherAlgorithm;
  keyVersion: number;
  expiryDate: number;
  overdraftLimitFen: number;
  transitOpened: boolean;
  suburbanOpened: boolean;
  holderName: string;
  status: CardStatus;
  replaces: string | null;
  replacedBy: string | null;
  issuedBy: string;
  branchId: string | null;
  issuedMs: number;
  updatedMs: number;
  /** The holder record (services/holders.ts); null for cards issued before holders were kept. */
  holderId: number | null;
  /** The issuing partner bank (services/partner-banks.ts), fixed at issue. */
  issuingBank: string;
  /** When the social-security functions were enabled (q14); null until then. Transit never waits for it. */
  enabledMs: number | null;
  /** When the social-security function was cancelled (q33, a service point); null while it is in force. */
  socialSecurityCancelledMs: number | null;
}

export interface CardAccount {
  shadowBalanceFen: number;
  lastOfflineAtc: number;
  lastOnlineAtc: number;
  status: string;
  updatedMs: number;
}

type Raw = Record<string, string | number | bigint | null>;

function cardFromRow(r: Raw): CardRow {
  return {
    cardNo: String(r.card_no),
    issuerCode: String(r.issuer_code),
    generation: Number(r.generation) as CardGeneration,
    profile: String(r.profile) as HolderProfile,
    algorithm: String(r.algorithm) as CipherAlgorithm,
    keyVersion: Number(r.key_version),
    expiryDate: Number(r.expiry_date),
    overdraftLimitFen: Number(r.overdraft_limit_fen),
    transitOpened: Number(r.transit_opened) === 1,
    suburbanOpened: Number(r.suburban_opened) === 1,
    holderName: String(r.holder_name),
    status: String(r.status) as CardStatus,
    replaces: r.replaces === null ? null : String(r.replaces),
    replacedBy: r.replaced_by === null ? null : String(r.replaced_by),
    issuedBy: String(r.issued_by),
    branchId: r.branch_id === null ? null : String(r.branch_id),
    issuedMs: Number(r.issued_ms),
    updatedMs: Number(r.updated_ms),
    holderId: r.holder_id === null || r.holder_id === undefined ? null : Number(r.holder_id),
    issuingBank: String(r.issuing_bank),
    enabledMs: r.enabled_ms === null || r.enabled_ms === undefined ? null : Number(r.enabled_ms),
    socialSecurityCancelledMs:
      r.social_security_cancelled_ms === null || r.social_security_cancelled_ms === undefined ? null : Number(r.social_security_cancelled_ms),
  };
}

export async function findCard(tx: Tx, cardNo: string): Promise<CardRow | null> {
  const row = await tx.get<Raw>('SELECT * FROM cards WHERE card_no = ?', [cardNo]);
  return row ? cardFromRow(row) : null;
}

/** The card or a 404 problem. Runs the temporary-loss expiry first so the status is current. */
export async function requireCard(tx: Tx, cardNo: string, nowMs: number): Promise<CardRow> {
  await expireTemporaryLosses(tx, nowMs);
  const card = await findCard(tx, cardNo);
  if (!card) throw new ApiError('card-not-found', `no card ${cardNo}`);
  return card;
}

/**
 * Enables the card's social-security functions (q14; the holder, an agent or a guardian, checked
 * by the caller). Idempotent: a card already enabled keeps its first time. A replaced card is
 * `409 card-replaced`, a card in a final state or whose social-security function was cancelled
 * `409 card-not-active`. Transit never depends on it.
 */
export async function enableCard(tx: Tx, cardNo: string, nowMs: number): Promise<CardRow> {
  const card = await requireCard(tx, cardNo, nowMs);
  if (card.status === 'replaced') throw new ApiError('card-replaced', `card ${cardNo} was replaced by ${card.replacedBy}`);
  if (['cancelled', 'refunded', 'cloned', 'exchanged'].includes(card.status)) throw new ApiError('card-not-active', `card ${cardNo} is ${card.status}`);
  if (card.socialSecurityCancelledMs !== null) {
    throw new ApiError('card-not-active', `the social-security function of card ${cardNo} was cancelled: it cannot be enabled again`);
  }
  if (card.enabledMs !== null) return card;
  await tx.run('UPDATE cards SET enabled_ms = ?, updated_ms = ? WHERE card_no = ? AND enabled_ms IS NULL', [nowMs, nowMs, cardNo]);
  return (await findCard(tx, cardNo))!;
}

export async function findCardAccount(tx: Tx, cardNo: string): Promise<CardAccount | null> {
  const r = await tx.get<Raw>('SELECT shadow_balance_fen, last_offline_atc, last_online_atc, status, updated_ms FROM card_accounts WHERE card_no = ?', [
    cardNo,
  ]);
  if (!r) return null;
  return {
    shadowBalanceFen: Number(r.shadow_balance_fen),
    lastOfflineAtc: Number(r.last_offline_atc),
    lastOnlineAtc: Number(r.last_online_atc),
    status: String(r.status),
    updatedMs: Number(r.updated_ms),
  };
}

/**
 * The highest offline ATC of a verified debit the back office has received for the card
 * (card_chains.max_atc, written by sync ingest), or null before any. Not the contiguous head
 * (card_accounts.last_offline_atc = card_chains.next_atc - 1): validators upload late and in
 * any order, so debits above a not-yet-uploaded ATC are seen and cleared while the head waits.
 */
export async function highestOfflineAtcSeen(tx: Tx, cardNo: string): Promise<number | null> {
  const r = await tx.get<{ max_atc: number | bigint }>('SELECT max_atc FROM card_chains WHERE card_no = ?', [cardNo]);
  const atc = r === undefined ? -1 : Number(r.max_atc);
  return atc >= 0 ? atc : null;
}

export interface IssueCardInput {
  cardNo?: string;
  holderName: string;
  profile: HolderProfile;
  generation: CardGeneration;
  algorithm: CipherAlgorithm;
  expiryDate: number;
  overdraftLimitFen: number;
  transitOpened: boolean;
  suburbanOpened: boolean;
  /** scrypt hash of the initial service password, computed outside the transaction. */
  initialPasswordHash: string;
  /** Copy an existing credential (replacement keeps the holder's service password). */
  passwordMustChange?: boolean;
  replaces?: string | null;
  /** The holder record the card belongs to (default null: none recorded, as for cards issued before holders were kept). */
  holderId?: number | null;
  /** One of the 15 partner banks (services/partner-banks.ts), fixed at issue; default DEFAULT_ISSUING_BANK. */
  issuingBank?: string;
}

export interface IssuedCard {
  card: CardRow;
  image: CardImage;
  imageHex: string;
}

async function nextCardNo(tx: Tx, prefix: string): Promise<string> {
  await tx.run("INSERT INTO counters (name, value) VALUES ('card_sequence', 0) ON CONFLICT (name) DO NOTHING");
  for (let attempt = 0; attempt < 1_000; attempt++) {
    const row = await tx.get<{ value: number }>("UPDATE counters SET value = value + 1 WHERE name = 'card_sequence' RETURNING value");
    const cardNo = makeCardNo(prefix, Number(row!.value));
    // Explicitly numbered cards may already occupy a sequence number: skip them.
    if (!(await findCard(tx, cardNo))) return cardNo;
  }
  throw new Error('could not find a free card number');
}

export async function issueCard(
  tx: Tx,
  keys: IssuerKeysPort,
  input: IssueCardInput,
  actor: { subject: string; branchId: string | null },
  nowMs: number,
  issuerCode: string,
  cardNoPrefix: string,
): Promise<IssuedCard> {
  if (input.generation !== 3 && (input.transitOpened || input.suburbanOpened)) {
    throw new ApiError('generation-not-supported', 'only third-generation cards carry the transit functions'); // seed q. 24
  }
  if (input.suburbanOpened && !input.transitOpened) {
    throw new ApiError('invalid-request', 'suburban rail needs the transit function');
  }
  let cardNo = input.cardNo;
  if (cardNo !== undefined) {
    if (await findCard(tx, cardNo)) throw new ApiError('card-exists', `card ${cardNo} exists`);
  } else {
    cardNo = await nextCardNo(tx, cardNoPrefix);
  }
  const image = keys.personalizeCard({
    cardNo,
    issuerCode,
    generation: input.generation,
    profile: input.profile,
    algorithm: input.algorithm,
    expiryDate: input.expiryDate,
    overdraftLimitFen: input.overdraftLimitFen,
    transitOpened: input.transitOpened,
    suburbanOpened: input.suburbanOpened,
  });
  await tx.run(
    `INSERT INTO cards (card_no, issuer_code, generation, profile, algorithm, key_version, expiry_date, overdraft_limit_fen,
       transit_opened, suburban_opened, holder_name, status, replaces, replaced_by, issued_by, branch_id, issued_ms, updated_ms, holder_id, issuing_bank)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, NULL, ?, ?, ?, ?, ?, ?)`,
    [
      cardNo,
      issuerCode,
      input.generation,
      input.profile,
      input.algorithm,
      image.keyVersion,
      input.expiryDate,
      input.overdraftLimitFen,
      input.transitOpened ? 1 : 0,
      input.suburbanOpened ? 1 : 0,
      input.holderName,
      input.replaces ?? null,
      actor.subject,
      actor.branchId,
      nowMs,
      nowMs,
      input.holderId ?? null,
      input.issuingBank ?? DEFAULT_ISSUING_BANK,
    ],
  );
  await tx.run(
    `INSERT INTO card_accounts (card_no, shadow_balance_fen, last_offline_atc, last_online_atc, status, updated_ms)
     VALUES (?, ?, -1, -1, 'open', ?) ON CONFLICT (card_no) DO NOTHING`,
    [cardNo, image.balanceFen - image.overdraftUsedFen, nowMs],
  );
  await tx.run('INSERT INTO app_credentials (card_no, password_hash, must_change, failed_count, locked_until_ms, updated_ms) VALUES (?, ?, ?, 0, 0, ?)', [
    cardNo,
    input.initialPasswordHash,
    input.passwordMustChange === false ? 0 : 1,
    nowMs,
  ]);
  const card = (await findCard(tx, cardNo))!;
  return { card, image, imageHex: Buffer.from(encodeCardImage(image)).toString('hex').toUpperCase() };
}

/** Statuses after which nothing can bring the card back (DOMAIN.md section 5). */
export const FINAL_CARD_STATUSES: ReadonlySet<CardStatus> = new Set(['formal-loss', 'replaced', 'refunded', 'cloned', 'cancelled', 'exchanged']);

export interface ReplaceCardResult {
  oldCard: CardRow;
  issued: IssuedCard;
}

/**
 * Replacement after a formal loss (seed q. 19): a new card of the same generation for the same
 * holder; the old card is blacklisted 'replaced' forever, and its loss report ends. The lost
 * card's balance is never refunded nor carried over (q. 46: the value was on the chip): with the
 * replacement's issue it moves to the forfeited lost-card balances account (lost-card-balances.ts).
 */
export async function replaceCard(
  tx: Tx,
  keys: IssuerKeysPort,
  oldCardNo: string,
  options: { algorithm?: CipherAlgorithm; expiryDate: number; cardNoPrefix: string; issuerCode: string },
  actor: { subject: string; branchId: string | null },
  nowMs: number,
): Promise<ReplaceCardResult> {
  const old = await requireCard(tx, oldCardNo, nowMs);
  if (old.status === 'replaced') throw new ApiError('card-replaced', `card ${oldCardNo} was already replaced by ${old.replacedBy}`);
  if (old.status !== 'formal-loss') {
    throw new ApiError('formal-loss-required', `card ${oldCardNo} is ${old.status}; replacement needs a formal loss report first`);
  }
  const credential = await tx.get<{ password_hash: string; must_change: number }>('SELECT password_hash, must_change FROM app_credentials WHERE card_no = ?', [
    oldCardNo,
  ]);
  const issued = await issueCard(
    tx,
    keys,
    {
      holderName: old.holderName,
      profile: old.profile,
      // "新补新、旧补旧" (seed q. 19): the replacement is of the same generation.
      generation: old.generation,
      algorithm: options.algorithm ?? old.algorithm,
      expiryDate: options.expiryDate,
      overdraftLimitFen: old.overdraftLimitFen,
      transitOpened: old.transitOpened,
      suburbanOpened: old.suburbanOpened,
      initialPasswordHash: credential!.password_hash,
      passwordMustChange: Number(credential!.must_change) === 1,
      replaces: oldCardNo,
      // The same holder, and the same issuing bank: a replacement is made by the card's bank.
      holderId: old.holderId,
      issuingBank: old.issuingBank,
    },
    actor,
    nowMs,
    options.issuerCode,
    options.cardNoPrefix,
  );
  await addBlacklistEntry(tx, oldCardNo, 'replaced', nowMs);
  await tx.run('UPDATE cards SET replaced_by = ?, updated_ms = ? WHERE card_no = ?', [issued.card.cardNo, nowMs, oldCardNo]);
  await tx.run("UPDATE loss_reports SET ended_ms = ?, end_reason = 'replaced' WHERE card_no = ? AND ended_ms IS NULL", [nowMs, oldCardNo]);
  await forfeitLostCardBalance(tx, oldCardNo, 'replacement', nowMs);
  // Old app sessions die with the card.
  await tx.run("UPDATE auth_tokens SET revoked_ms = ? WHERE role = 'app' AND subject = ? AND revoked_ms IS NULL", [nowMs, oldCardNo]);
  return { oldCard: (await findCard(tx, oldCardNo))!, issued };
}

/**
 * Cancellation (seed q. 33-35): the card ends for good, blacklisted 'cancelled'. Any purse
 * balance stays on the card account for the refund path (gateway-money) to settle.
 */
export async function cancelCard(tx: Tx, cardNo: string, nowMs: number): Promise<CardRow> {
  const card = await requireCard(tx, cardNo, nowMs);
  if (card.status === 'cancelled') return card;
  if (card.status === 'replaced') throw new ApiError('card-replaced', `card ${cardNo} was replaced by ${card.replacedBy}`);
  if (FINAL_CARD_STATUSES.has(card.status)) throw new ApiError('card-not-active', `card ${cardNo} is ${card.status}`);
  await tx.run("UPDATE loss_reports SET ended_ms = ?, end_reason = 'cancelled' WHERE card_no = ? AND ended_ms IS NULL", [nowMs, cardNo]);
  await addBlacklistEntry(tx, cardNo, 'cancelled', nowMs);
  await tx.run("UPDATE auth_tokens SET revoked_ms = ? WHERE role = 'app' AND subject = ? AND revoked_ms IS NULL", [nowMs, cardNo]);
  return (await findCard(tx, cardNo))!;
}

export interface AuthorisedWrite {
  kind: 'functions' | 'park-pass-current' | 'park-pass-previous';
  recordHex: string;
  macHex: string;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex').toUpperCase();
}

/** Opens the transit and/or suburban functions (seed q. 15, 44) and authorises the card write. */
export async function openFunctions(
  tx: Tx,
  keys: IssuerKeysPort,
  cardNo: string,
  request: { transit: boolean; suburban: boolean; challenge: Uint8Array },
  nowMs: number,
): Promise<{ card: CardRow; write: AuthorisedWrite }> {
  const card = await requireCard(tx, cardNo, nowMs);
  if (card.status !== 'active') throw new ApiError('card-not-active', `card ${cardNo} is ${card.status}`);
  if (card.generation !== 3) throw new ApiError('generation-not-supported', 'only third-generation cards carry the transit functions'); // seed q. 24
  const transitOpened = card.transitOpened || request.transit || request.suburban;
  const suburbanOpened = card.suburbanOpened || request.suburban;
  await tx.run('UPDATE cards SET transit_opened = ?, suburban_opened = ?, updated_ms = ? WHERE card_no = ?', [
    transitOpened ? 1 : 0,
    suburbanOpened ? 1 : 0,
    nowMs,
    cardNo,
  ]);
  const record = encodeFunctions({ transitOpened, suburbanOpened });
  const mac = keys.recordWriteMac(card, request.challenge, 'functions', record);
  return { card: (await findCard(tx, cardNo))!, write: { kind: 'functions', recordHex: hex(record), macHex: hex(mac) } };
}

/**
 * APPLICATION UNBLOCK at a counter with the card present: only an active card (a lifted
 * temporary loss, or a card locked in error). Replaced, formally lost, refunded, cloned or
 * cancelled cards stay locked for ever.
 */
export async function authoriseUnblock(
  tx: Tx,
  keys: IssuerKeysPort,
  cardNo: string,
  challenge: Uint8Array,
  nowMs: number,
): Promise<{ card: CardRow; macHex: string }> {
  const card = await requireCard(tx, cardNo, nowMs);
  if (card.status === 'replaced') throw new ApiError('card-replaced', `card ${cardNo} was replaced and can never be unblocked`); // seed q. 21
  const listing = await blacklistListing(tx, cardNo);
  if (card.status !== 'active' || listing) {
    throw new ApiError('unblock-refused', `card ${cardNo} is ${card.status}; only an active card can be unblocked`);
  }
  return { card, macHex: hex(keys.unblockCommandMac(card, challenge)) };
}
