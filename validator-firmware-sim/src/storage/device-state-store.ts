/**
 * The device's counters (one row): next device sequence, the TSN reservation, fare-table and
 * blacklist versions, the unacknowledged journal count and the sync watermark.
 *
 * TSN: the PSAM numbers every purchase with a 4-byte terminal serial that must never repeat
 * (it feeds the session key and the TAC). TSNs are reserved in blocks: the upper bound is
 * made durable before any TSN under it is used, and a restart starts at the bound, so a
 * crash skips at most one block and never reuses a number.
 */
import type { Statement } from 'better-sqlite3';
import type { DeviceDatabase } from './device-db.ts';

export interface DeviceState {
  deviceId: string;
  nextDeviceSeq: number;
  tsnReservedUntil: number;
  fareTableVersion: number;
  blacklistVersion: number;
  blacklistCount: number;
  unackedCount: number;
  watermark: number;
  lastSyncAtMs: number;
}

interface StateRow {
  device_id: string;
  next_device_seq: number;
  tsn_reserved_until: number;
  fare_table_version: number;
  blacklist_version: number;
  blacklist_count: number;
  unacked_count: number;
  watermark: number;
  last_sync_at_ms: number;
}

/** TSNs reserved per durable write. */
export const TSN_BLOCK = 1_000;
/** The TSN is 4 bytes on the card. */
export const TSN_MAX = 0xffff_ffff;

export class DeviceStateStore {
  private readonly readRow: Statement<[], StateRow>;
  private readonly reserve: Statement<[number]>;

  constructor(private readonly db: DeviceDatabase) {
    this.readRow = db.prepare('SELECT * FROM device_state WHERE id = 1');
    this.reserve = db.prepare('UPDATE device_state SET tsn_reserved_until = ? WHERE id = 1');
  }

  /** Creates the row once; a second call with the same device id is a no-op, another id is an error. */
  initialise(deviceId: string): DeviceState {
    const existing = this.readRow.get();
    if (existing !== undefined) {
      if (existing.device_id !== deviceId) throw new Error(`database belongs to device ${existing.device_id}, not ${deviceId}`);
      return toState(existing);
    }
    this.db
      .prepare(
        `INSERT INTO device_state (id, device_id, next_device_seq, tsn_reserved_until, fare_table_version, blacklist_version,
           blacklist_count, unacked_count, watermark, last_sync_at_ms) VALUES (1, ?, 1, 1, 0, 0, 0, 0, 0, 0)`,
      )
      .run(deviceId);
    return this.read();
  }

  isInitialised(): boolean {
    return this.readRow.get() !== undefined;
  }

  read(): DeviceState {
    const row = this.readRow.get();
    if (row === undefined) throw new Error('device_state is missing: run `validator init` first');
    return toState(row);
  }

  /**
   * Makes [from, from + TSN_BLOCK) usable: durably moves the bound before returning. Call
   * outside any transaction (it commits on its own).
   */
  reserveTsnBlock(from: number): number {
    const until = from + TSN_BLOCK;
    if (until > TSN_MAX) throw new Error('TSN space exhausted: the PSAM must be replaced');
    this.reserve.run(until);
    return until;
  }
}

function toState(row: StateRow): DeviceState {
  return {
    deviceId: row.device_id,
    nextDeviceSeq: row.next_device_seq,
    tsnReservedUntil: row.tsn_reserved_until,
    fareTableVersion: row.fare_table_version,
    blacklistVersion: row.blacklist_version,
    blacklistCount: row.blacklist_count,
    unackedCount: row.unacked_count,
    watermark: row.watermark,
    lastSyncAtMs: row.last_sync_at_ms,
  };
}
