/**
 * Holders (issue 16; DOMAIN.md section 7): one record per person, found by a keyed HMAC of the ID
 * number (the social security number). The number itself is never stored, logged or answered:
 * it arrives in a request body, is turned into its HMAC here and forgotten. The key is held like
 * the other secrets (secrets.ts holder-id-key), never in the database.
 *
 * The holder keeps the name and birth date given at the first issue (a later card may carry
 * another spelling on the card itself; changing a holder's name is the exchange flow). Listings
 * show the name masked (`maskName`); the card view shows the card's own holder name as before.
 *
 * The service password reset at a counter (seed q. 16, q. 6-8): with the holder's ID number
 * matching the card's holder, the password goes back to the initial rule (last 6 characters of
 * the ID number), a change is forced at the next sign-in, a locked login is unlocked and the
 * card's app sessions end.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ApiError, registerErrorCodes } from '../http/problem.ts';
import type { Tx } from '../store/store-port.ts';
import { type CardRow, findCard, requireCard } from './cards.ts';

registerErrorCodes({
  'holder-not-found': { status: 404, title: 'No holder with this ID number' },
  'id-number-mismatch': { status: 403, title: "The ID number is not the card holder's" },
  'holder-not-recorded': { status: 409, title: "The card's holder was not recorded at issue; the ID number cannot be checked" },
});

/** Domain separation: the key serves only this HMAC, version 1. */
const HMAC_CONTEXT = 'transit-holder-id/1\n';

/** The holder's lookup key: HMAC-SHA256 of the ID number under the holder key, hex. */
export function holderIdHmac(key: Uint8Array, idNumber: string): string {
  return createHmac('sha256', key).update(HMAC_CONTEXT).update(idNumber.trim().toUpperCase()).digest('hex');
}

/**
 * A name as listings and logs show it: the first character of each word, the rest `*`
 * ('张三' → '张*', '王小明' → '王**', 'Wang Fang' → 'W*** F***'); a one-character name gets one `*`.
 */
export function maskName(name: string): string {
  return name
    .trim()
    .split(/(\s+)/)
    .map((part) => {
      if (part === '' || /^\s+$/.test(part)) return part;
      const chars = [...part];
      return chars[0] + '*'.repeat(Math.max(1, chars.length - 1));
    })
    .join('');
}

/**
 * The birth date a resident ID number carries (characters 7-14, YYYYMMDD) when it is a calendar
 * date between 1900 and 2099; null otherwise.
 */
export function birthDateFromIdNumber(idNumber: string): number | null {
  const m = /^[0-9]{6}((?:19|20)[0-9]{2})([0-9]{2})([0-9]{2})/.exec(idNumber);
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return null;
  return y * 10_000 + mo * 100 + d;
}

export interface HolderRow {
  id: number;
  name: string;
  birthDate: number | null;
  createdBy: string;
  createdMs: number;
  updatedMs: number;
}

type Raw = Record<string, string | number | bigint | null>;

function holderFromRow(r: Raw): HolderRow {
  return {
    id: Number(r.id),
    name: String(r.name),
    birthDate: r.birth_date === null ? null : Number(r.birth_date),
    createdBy: String(r.created_by),
    createdMs: Number(r.created_ms),
    updatedMs: Number(r.updated_ms),
  };
}

export async function findHolderByHmac(tx: Tx, idHmac: string): Promise<HolderRow | null> {
  const row = await tx.get<Raw>('SELECT id, name, birth_date, created_by, created_ms, updated_ms FROM holders WHERE id_hmac = ?', [idHmac]);
  return row ? holderFromRow(row) : null;
}

/** The holder with this ID number's HMAC, created with `name` and `birthDate` when there is none. */
export async function findOrCreateHolder(
  tx: Tx,
  input: { idHmac: string; name: string; birthDate: number | null },
  actor: string,
  nowMs: number,
): Promise<HolderRow> {
  // ON CONFLICT: two first cards of one holder issued at once make one holder.
  await tx.run(
    `INSERT INTO holders (id_hmac, name, birth_date, created_by, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (id_hmac) DO NOTHING`,
    [input.idHmac, input.name, input.birthDate, actor, nowMs, nowMs],
  );
  return (await findHolderByHmac(tx, input.idHmac))!;
}

/** The holder's cards, oldest first: the history of the holder's cards. */
export async function holderCards(tx: Tx, holderId: number): Promise<CardRow[]> {
  const rows = await tx.all<{ card_no: string }>('SELECT card_no FROM cards WHERE holder_id = ? ORDER BY issued_ms, card_no', [holderId]);
  const cards: CardRow[] = [];
  for (const r of rows) cards.push((await findCard(tx, String(r.card_no)))!);
  return cards;
}

/** Search by ID number: the holder and their cards, or `404 holder-not-found`. */
export async function searchHolder(tx: Tx, idHmac: string): Promise<{ holder: HolderRow; cards: CardRow[] }> {
  const holder = await findHolderByHmac(tx, idHmac);
  if (!holder) throw new ApiError('holder-not-found', 'no holder with this ID number');
  return { holder, cards: await holderCards(tx, holder.id) };
}

/** Card statuses where nobody signs in any more: a reset has nothing to reset. */
const ENDED_STATUSES = new Set(['replaced', 'cancelled', 'refunded', 'cloned', 'exchanged']);

/**
 * Resets the card's service password to `initialPasswordHash` (the initial rule, hashed by the
 * caller outside the transaction) when `idHmac` is the card's holder's: must change at the next
 * sign-in, failures and lockout cleared, the card's app sessions revoked.
 */
export async function resetServicePassword(
  tx: Tx,
  cardNo: string,
  idHmac: string,
  initialPasswordHash: string,
  nowMs: number,
): Promise<{ card: CardRow; wasLocked: boolean }> {
  return setServicePassword(tx, cardNo, idHmac, initialPasswordHash, true, nowMs);
}

/**
 * Sets the card's service password at a counter (q16, q37: the holder with ID, an agent with the
 * holder's written authorisation, or a minor's guardian) when `idHmac` is the card's holder's:
 * `mustChange` true for a reset to the initial rule, false for a password the holder chose.
 * Failures and lockout are cleared and the card's app sessions revoked either way.
 */
export async function setServicePassword(
  tx: Tx,
  cardNo: string,
  idHmac: string,
  passwordHash: string,
  mustChange: boolean,
  nowMs: number,
): Promise<{ card: CardRow; wasLocked: boolean }> {
  const card = await requireCard(tx, cardNo, nowMs);
  const row = await tx.get<{ id_hmac: string | null }>('SELECT h.id_hmac FROM cards c LEFT JOIN holders h ON h.id = c.holder_id WHERE c.card_no = ?', [cardNo]);
  const recorded = row?.id_hmac ?? null;
  if (recorded === null) {
    throw new ApiError('holder-not-recorded', `card ${cardNo} was issued before holders were recorded: its holder's ID number cannot be checked`);
  }
  const a = Buffer.from(recorded, 'hex');
  const b = Buffer.from(idHmac, 'hex');
  if (a.length !== b.length || !timingSafeEqual(a, b)) throw new ApiError('id-number-mismatch', "the ID number is not the card holder's");
  if (card.status === 'replaced') throw new ApiError('card-replaced', `card ${cardNo} was replaced by ${card.replacedBy}`);
  if (ENDED_STATUSES.has(card.status)) throw new ApiError('card-not-active', `card ${cardNo} is ${card.status}`);
  const credential = await tx.get<{ locked_until_ms: number | bigint }>('SELECT locked_until_ms FROM app_credentials WHERE card_no = ?', [cardNo]);
  const wasLocked = credential !== undefined && Number(credential.locked_until_ms) > nowMs;
  if (credential === undefined) {
    await tx.run('INSERT INTO app_credentials (card_no, password_hash, must_change, failed_count, locked_until_ms, updated_ms) VALUES (?, ?, ?, 0, 0, ?)', [
      cardNo,
      passwordHash,
      mustChange ? 1 : 0,
      nowMs,
    ]);
  } else {
    await tx.run('UPDATE app_credentials SET password_hash = ?, must_change = ?, failed_count = 0, locked_until_ms = 0, updated_ms = ? WHERE card_no = ?', [
      passwordHash,
      mustChange ? 1 : 0,
      nowMs,
      cardNo,
    ]);
  }
  await tx.run("UPDATE auth_tokens SET revoked_ms = ? WHERE role = 'app' AND subject = ? AND revoked_ms IS NULL", [nowMs, cardNo]);
  return { card, wasLocked };
}
