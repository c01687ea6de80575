/**
 * A card's history as the back office knows it (GET /v1/cards/{cardNo}/transactions): uploaded
 * journal records (`journal_records`) and loads (`loads`), newest first, in keyset pages.
 *
 * Order: time descending, then a unique key — source (a tap record before a load at the same
 * millisecond), then the tap's device id and sequence or the load's id — so every record has
 * exactly one place and a page ends at a precise record. The next page starts strictly after
 * that record's key (a row-value comparison), never at a timestamp: records that share a
 * millisecond are neither skipped nor repeated, however pages fall. The cursor is the last
 * record's key, opaque to clients (base64url of JSON).
 *
 * Each record says what happened (`result`): a tap record that debited the card is a purchase
 * (accepted; written off when the card's refund was already paid; quarantined when its TAC does
 * not verify), a tap record that debited nothing is a refused tap with its result code (never a
 * purchase), a load is accepted (confirmed), pending or voided. Duplicate uploads of a debit
 * already listed are left out.
 */
import { TAP_RESULT } from '#core';
import { ApiError } from '../http/problem.ts';
import type { Tx } from '../store/store-port.ts';

export type HistoryKind = 'purchase' | 'refused-tap' | 'load';
export type HistoryResult = 'accepted' | 'refused' | 'written-off' | 'quarantined' | 'pending' | 'voided';

export interface CardTransaction {
  /** Stable, unique id of the record: `tap:<deviceId>:<deviceSeq>` or `load:<id>`. */
  id: string;
  /** purchase: the card was debited (amount may be 0); refused-tap: a tap that debited nothing; load: a top-up. */
  kind: HistoryKind;
  result: HistoryResult;
  /** The tap result code and its name (core/src/tap/result-codes.ts); null for loads. */
  resultCode: number | null;
  resultName: string | null;
  atMs: number;
  amountFen: number;
  status: string;
  atc: number;
  balanceAfterFen: number | null;
  operator: string | null;
  deviceId: string | null;
  /** A recovered torn debit: when the later tap recovered it (atMs is the original transaction); else null. */
  recoveredAtMs: number | null;
}

/** The position after which a page starts: (time, source, text key, integer key), all descending. */
export interface HistoryKey {
  atMs: number;
  /** 1 = journal record, 0 = load. */
  source: 0 | 1;
  /** Device id of a journal record, '' for a load. */
  text: string;
  /** Device sequence of a journal record, id of a load. */
  seq: number;
}

export interface HistoryPage {
  transactions: CardTransaction[];
  /** Key of the last record when more records follow it, else null. */
  next: HistoryKey | null;
}

type Raw = Record<string, string | number | bigint | null>;

const RESULT_NAMES = new Map<number, string>(Object.entries(TAP_RESULT).map(([name, code]) => [code, name]));

function kindAndResult(r: Raw): { kind: HistoryKind; result: HistoryResult } {
  const status = String(r.status);
  if (Number(r.src) === 0) return { kind: 'load', result: status === 'confirmed' ? 'accepted' : status === 'voided' ? 'voided' : 'pending' };
  if (String(r.card_action) !== 'debit') return { kind: 'refused-tap', result: 'refused' };
  if (status === 'quarantined') return { kind: 'purchase', result: 'quarantined' };
  return { kind: 'purchase', result: Number(r.written_off) === 1 ? 'written-off' : 'accepted' };
}

export function encodeHistoryCursor(key: HistoryKey): string {
  return Buffer.from(JSON.stringify([key.atMs, key.source, key.text, key.seq]), 'utf8').toString('base64url');
}

/** Decodes a cursor from a previous answer; anything else is 400 invalid-request. */
export function decodeHistoryCursor(cursor: string): HistoryKey {
  const refuse = () => new ApiError('invalid-request', 'cursor must be a nextCursor from a previous answer', { field: 'cursor' });
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw refuse();
  }
  if (!Array.isArray(parsed) || parsed.length !== 4) throw refuse();
  const [atMs, source, text, seq] = parsed as unknown[];
  if (!Number.isSafeInteger(atMs) || (atMs as number) < 0) throw refuse();
  if (source !== 0 && source !== 1) throw refuse();
  if (typeof text !== 'string' || text.length > 64 || (source === 0 && text !== '')) throw refuse();
  if (!Number.isSafeInteger(seq) || (seq as number) < 0) throw refuse();
  return { atMs: atMs as number, source, text, seq: seq as number };
}

/**
 * One page, newest first: records before `beforeMs` (exclusive) and, with `after`, strictly
 * after that key in the order. Reads one row more than `limit` to know whether more follow.
 */
export async function listCardTransactions(
  tx: Tx,
  cardNo: string,
  options: { beforeMs: number; after: HistoryKey | null; limit: number },
): Promise<HistoryPage> {
  const { beforeMs, after, limit } = options;
  // The key bound goes into both halves too, so each reads only the card's rows up to the cursor's time.
  const upToMs = after === null ? beforeMs : Math.min(beforeMs, after.atMs + 1);
  const keyFilter = after === null ? '' : 'WHERE (at_ms, src, k1, k2) < (?, ?, ?, ?)';
  const params: (string | number)[] = [cardNo, upToMs, cardNo, upToMs];
  if (after !== null) params.push(after.atMs, after.source, after.text, after.seq);
  params.push(limit + 1);
  const rows = await tx.all<Raw>(
    `SELECT at_ms, src, k1, k2, amount_fen, status, card_action, result_code, written_off, atc, balance_after_fen, operator, device_id, recovered_at_ms FROM (
       SELECT occurred_at_ms AS at_ms, 1 AS src, device_id AS k1, device_seq AS k2,
              amount_fen, status, card_action, result_code, written_off, offline_atc AS atc, balance_after_fen, operator, device_id, recovered_at_ms
         FROM journal_records WHERE card_no = ? AND occurred_at_ms < ? AND status <> 'duplicate'
       UNION ALL
       SELECT created_ms AS at_ms, 0 AS src, '' AS k1, id AS k2,
              amount_fen, status, NULL AS card_action, NULL AS result_code, 0 AS written_off, online_atc AS atc,
              CASE WHEN status = 'confirmed' THEN balance_before_fen + amount_fen ELSE NULL END AS balance_after_fen,
              NULL AS operator, NULL AS device_id, NULL AS recovered_at_ms
         FROM loads WHERE card_no = ? AND created_ms < ?
     ) AS t ${keyFilter}
     ORDER BY at_ms DESC, src DESC, k1 DESC, k2 DESC LIMIT ?`,
    params,
  );
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  const transactions = page.map((r) => ({
    id: Number(r.src) === 1 ? `tap:${String(r.k1)}:${Number(r.k2)}` : `load:${Number(r.k2)}`,
    ...kindAndResult(r),
    resultCode: r.result_code === null ? null : Number(r.result_code),
    resultName: r.result_code === null ? null : (RESULT_NAMES.get(Number(r.result_code)) ?? String(r.result_code)),
    atMs: Number(r.at_ms),
    amountFen: Number(r.amount_fen),
    status: String(r.status),
    atc: Number(r.atc),
    balanceAfterFen: r.balance_after_fen === null ? null : Number(r.balance_after_fen),
    operator: r.operator === null ? null : String(r.operator),
    deviceId: r.device_id === null ? null : String(r.device_id),
    recoveredAtMs: r.recovered_at_ms === null ? null : Number(r.recovered_at_ms),
  }));
  const last = page[page.length - 1];
  const next: HistoryKey | null =
    more && last !== undefined ? { atMs: Number(last.at_ms), source: Number(last.src) === 1 ? 1 : 0, text: String(last.k1), seq: Number(last.k2) } : null;
  return { transactions, next };
}
