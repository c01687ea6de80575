/**
 * Pending (possibly torn) purchases, one per card: the PendingPurchase the terminal needs to
 * finish the purchase when that card taps again (DOMAIN.md section 3, tearing). Stored in the
 * device database so recovery also works after a restart.
 */
import type { Statement } from 'better-sqlite3';
import { pack, unpack } from 'msgpackr';
import type { PendingPurchase } from '#core';
import type { DeviceDatabase } from './device-db.ts';

const BYTES_FIELDS = ['cardSerial', 'cardRandom'] as const;

export function encodePending(pending: PendingPurchase): Buffer {
  return pack(pending);
}

export function decodePending(bytes: Uint8Array): PendingPurchase {
  const value = unpack(bytes) as PendingPurchase;
  for (const field of BYTES_FIELDS) {
    if (!(value[field] instanceof Uint8Array)) throw new Error(`pending purchase field ${field} is not bytes`);
    // msgpackr returns Buffers; hand core plain Uint8Arrays with their own memory.
    value[field] = new Uint8Array(value[field]);
  }
  if (value.cappRecord !== null) value.cappRecord = new Uint8Array(value.cappRecord);
  if (!Number.isSafeInteger(value.offlineAtc) || !Number.isSafeInteger(value.tsn)) throw new Error('pending purchase counters are not integers');
  return value;
}

export class PendingStore {
  private readonly select: Statement<[string], { pending: Buffer }>;
  private readonly upsert: Statement<[string, number, Buffer, number]>;
  private readonly remove: Statement<[string, number]>;

  constructor(private readonly db: DeviceDatabase) {
    this.select = db.prepare('SELECT pending FROM pending_purchase WHERE card_no = ? ORDER BY offline_atc');
    this.upsert = db.prepare(
      `INSERT INTO pending_purchase (card_no, offline_atc, pending, created_at_ms) VALUES (?, ?, ?, ?)
       ON CONFLICT (card_no, offline_atc) DO UPDATE SET pending = excluded.pending, created_at_ms = excluded.created_at_ms`,
    );
    this.remove = db.prepare('DELETE FROM pending_purchase WHERE card_no = ? AND offline_atc = ?');
  }

  /** The card's pending purchases, oldest (lowest offline ATC) first. */
  forCard(cardNo: string): PendingPurchase[] {
    return this.select.all(cardNo).map((row) => decodePending(row.pending));
  }

  /** The oldest pending purchase of the card, the one its next tap settles. */
  oldest(cardNo: string): PendingPurchase | null {
    return this.forCard(cardNo)[0] ?? null;
  }

  put(cardNo: string, pending: PendingPurchase, nowMs: number): void {
    this.upsert.run(cardNo, pending.offlineAtc, encodePending(pending), nowMs);
  }

  clear(cardNo: string, offlineAtc: number): void {
    this.remove.run(cardNo, offlineAtc);
  }

  count(): number {
    return this.db.prepare('SELECT COUNT(*) FROM pending_purchase').pluck().get() as number;
  }
}
