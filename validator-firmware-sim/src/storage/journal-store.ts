/**
 * The device journal: every tap's JournalRecord, msgpack-encoded, keyed by device sequence.
 * Rows stay unacknowledged until the gateway's sync answer lists their sequence; the count
 * of unacknowledged rows is bounded (LIMITS.journalCapacity) with an alarm before it.
 */
import type { Statement } from 'better-sqlite3';
import { pack, unpack } from 'msgpackr';
import { LIMITS, type JournalRecord } from '#core';
import type { DeviceDatabase } from './device-db.ts';
import { JOURNAL_ENTRY_MAX_BYTES, flatRecordMatches, writeFlatRecord } from './journal-codec.ts';

/** Reused encoding buffer (SQLite copies a bound blob): a JournalRecord has 25 entries, room for 31. */
const SCRATCH = Buffer.allocUnsafeSlow(3 + 31 * JOURNAL_ENTRY_MAX_BYTES);
/**
 * SCRATCH's first n bytes, one view per length, made the first time a row of that length is
 * written: a tap binds an existing view instead of allocating one (rows of a device come in a
 * handful of lengths). Views share SCRATCH's memory, so each shows the row just written.
 */
const SCRATCH_VIEWS: Array<Buffer | undefined> = new Array<Buffer | undefined>(SCRATCH.length + 1).fill(undefined);
function scratchView(length: number): Buffer {
  let view = SCRATCH_VIEWS[length];
  if (view === undefined) {
    view = SCRATCH.subarray(0, length);
    SCRATCH_VIEWS[length] = view;
  }
  return view;
}

export type JournalLevel = 'ok' | 'alarm' | 'full';

export function journalLevel(unacked: number): JournalLevel {
  if (unacked >= LIMITS.journalCapacity) return 'full';
  if (unacked >= LIMITS.journalAlarmAt) return 'alarm';
  return 'ok';
}

/** The record's msgpack bytes (what msgpackr's pack writes; a fresh Buffer). */
export function encodeJournalRecord(record: JournalRecord): Buffer {
  const length = writeFlatRecord(SCRATCH, record);
  return length < 0 ? pack(record) : Buffer.from(SCRATCH.subarray(0, length));
}

export function decodeJournalRecord(bytes: Uint8Array): JournalRecord {
  const record = unpack(bytes) as JournalRecord;
  if (record === null || typeof record !== 'object' || !Number.isSafeInteger(record.deviceSeq) || typeof record.cardNo !== 'string') {
    throw new Error('journal row does not decode to a JournalRecord');
  }
  return record;
}

export class JournalStore {
  private readonly insert: Statement<[number, string, number, number, number, Buffer]>;
  private readonly selectUnacked: Statement<[number, number], { record: Buffer }>;
  private readonly ack: Statement<[number]>;
  private readonly quarantine: Statement<[number]>;
  private readonly bumpUnacked: Statement<[number]>;

  constructor(private readonly db: DeviceDatabase) {
    this.insert = db.prepare('INSERT INTO journal (device_seq, card_no, result_code, amount_fen, occurred_at_ms, record) VALUES (?, ?, ?, ?, ?, ?)');
    this.selectUnacked = db.prepare('SELECT record FROM journal WHERE acked = 0 AND device_seq > ? ORDER BY device_seq LIMIT ?');
    this.ack = db.prepare('UPDATE journal SET acked = 1 WHERE device_seq = ? AND acked = 0');
    this.quarantine = db.prepare('UPDATE journal SET quarantined = 1 WHERE device_seq = ?');
    this.bumpUnacked = db.prepare('UPDATE device_state SET unacked_count = unacked_count + ? WHERE id = 1');
  }

  /**
   * Inserts records; must run inside the caller's transaction (the tap commit). Checks each
   * record before it is written and reads it back (assertions in pairs).
   */
  appendInTransaction(records: readonly JournalRecord[]): void {
    this.insertRowsInTransaction(records);
    if (records.length > 0) this.bumpUnacked.run(records.length);
  }

  /**
   * appendInTransaction without the unacknowledged-count update: for a caller that moves
   * device_state.unacked_count by records.length itself, in the same transaction (the device's
   * tap commit folds it into its one device_state UPDATE).
   */
  insertRowsInTransaction(records: readonly JournalRecord[]): void {
    if (!this.db.inTransaction) throw new Error('JournalStore.appendInTransaction outside a transaction');
    for (const record of records) {
      if (!Number.isSafeInteger(record.deviceSeq) || record.deviceSeq < 1) throw new Error(`bad deviceSeq ${record.deviceSeq}`);
      if (!Number.isSafeInteger(record.amountFen) || record.amountFen < 0) throw new Error(`bad amountFen ${record.amountFen}`);
      // Written into the reused buffer and checked by reading the bytes back (see
      // journal-codec.ts); a record that writer does not handle goes through msgpackr.
      const length = writeFlatRecord(SCRATCH, record);
      let bytes: Buffer;
      if (length >= 0) {
        if (!flatRecordMatches(SCRATCH, length, record)) throw new Error('journal record does not survive its own encoding');
        bytes = scratchView(length);
      } else {
        bytes = pack(record);
        const back = decodeJournalRecord(bytes);
        if (back.deviceSeq !== record.deviceSeq || back.amountFen !== record.amountFen || back.cardNo !== record.cardNo) {
          throw new Error('journal record does not survive its own encoding');
        }
      }
      this.insert.run(record.deviceSeq, record.cardNo, record.resultCode, record.amountFen, record.occurredAtMs, bytes);
    }
  }

  /** Up to `limit` unacknowledged records with deviceSeq > afterSeq, ascending. */
  unacked(limit: number, afterSeq = 0): JournalRecord[] {
    return this.selectUnacked.all(afterSeq, limit).map((row) => decodeJournalRecord(row.record));
  }

  /** Marks sequences acknowledged (idempotent); returns how many rows changed state. */
  markAcknowledged(acknowledged: readonly number[], quarantined: readonly number[], watermark: number, nowMs: number): number {
    return this.db
      .transaction(() => {
        let changed = 0;
        for (const seq of acknowledged) changed += this.ack.run(seq).changes;
        for (const seq of quarantined) {
          changed += this.ack.run(seq).changes;
          this.quarantine.run(seq);
        }
        this.db
          .prepare('UPDATE device_state SET unacked_count = unacked_count - ?, watermark = MAX(watermark, ?), last_sync_at_ms = ? WHERE id = 1')
          .run(changed, watermark, nowMs);
        return changed;
      })
      .immediate();
  }

  /** Deletes acknowledged rows below `beforeSeq` (space reclaim); unacknowledged rows are never pruned. */
  pruneAcknowledged(beforeSeq: number): number {
    return this.db.prepare('DELETE FROM journal WHERE acked = 1 AND device_seq < ?').run(beforeSeq).changes;
  }

  get(deviceSeq: number): { record: JournalRecord; acked: boolean; quarantined: boolean } | undefined {
    const row = this.db.prepare('SELECT record, acked, quarantined FROM journal WHERE device_seq = ?').get(deviceSeq) as
      | { record: Buffer; acked: number; quarantined: number }
      | undefined;
    return row === undefined ? undefined : { record: decodeJournalRecord(row.record), acked: row.acked === 1, quarantined: row.quarantined === 1 };
  }

  all(): JournalRecord[] {
    return (this.db.prepare('SELECT record FROM journal ORDER BY device_seq').all() as { record: Buffer }[]).map((r) => decodeJournalRecord(r.record));
  }

  counts(): { total: number; unacked: number; quarantined: number } {
    return this.db
      .prepare('SELECT COUNT(*) AS total, COALESCE(SUM(acked = 0), 0) AS unacked, COALESCE(SUM(quarantined), 0) AS quarantined FROM journal')
      .get() as { total: number; unacked: number; quarantined: number };
  }
}
