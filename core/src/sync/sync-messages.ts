/**
 * Validator <-> gateway sync messages (body `application/x-msgpack` both ways).
 * POST /v1/devices/{deviceId}/sync. Uploads are idempotent by (deviceId, deviceSeq).
 */
import type { JournalRecord } from '../tap/journal-record.ts';

export const SYNC_PROTOCOL_VERSION = 1;

export interface SyncRequest {
  protocolVersion: number;
  deviceId: string;
  /** Journal records not yet acknowledged, ascending deviceSeq, at most LIMITS.syncBatchRecords. */
  records: JournalRecord[];
  /** Highest blacklist version the device has applied. */
  blacklistVersion: number;
  /** Fare-table version the device runs. */
  fareTableVersion: number;
  /** Device clock when the request was made, epoch ms (the gateway measures skew). */
  deviceTimeMs: number;
  /**
   * True when the device holds unacknowledged journal records beyond this batch; false when
   * `records` is everything it has not had acknowledged (its journal is drained: refunds wait
   * for that). Explicit, because a batch's size says nothing: a device may send smaller batches
   * than the limit, and a last batch may be exactly the limit. Absent (older firmware): the
   * gateway falls back to "drained when the batch is shorter than LIMITS.syncBatchRecords".
   */
  journalMore?: boolean;
}

export interface BlacklistDeltaEntry {
  /** Blacklist version at which this change was made (strictly increasing). */
  version: number;
  cardNo: string;
  op: 'add' | 'remove';
  /** Why the card is listed; only final reasons make a validator lock the card. */
  reason: BlacklistReason;
}

/**
 * 'exchanged' (issue 16): the card was handed in at its issuing bank for a new one (broken card,
 * change of name or ID number, seed q. 22-23); final, like 'refunded'.
 */
export type BlacklistReason = 'temporary-loss' | 'formal-loss' | 'replaced' | 'refunded' | 'cloned' | 'cancelled' | 'exchanged';

/** Reasons that are final: a validator that meets such a card locks it (DOMAIN.md section 2). */
export const FINAL_BLACKLIST_REASONS: ReadonlySet<BlacklistReason> = new Set(['formal-loss', 'replaced', 'refunded', 'cloned', 'cancelled', 'exchanged']);

export interface SyncResponse {
  protocolVersion: number;
  /** deviceSeq values stored now or earlier (a retry is acknowledged again, never applied twice). */
  acknowledged: number[];
  /** deviceSeq values kept aside (bad TAC, malformed): acknowledged for transport, never cleared. */
  quarantined: number[];
  /** Blacklist changes after the request's blacklistVersion, ascending, at most one page. */
  blacklist: BlacklistDeltaEntry[];
  /** Version reached after applying `blacklist`, and whether more pages wait. */
  blacklistVersion: number;
  blacklistMore: boolean;
  /** A newer fare table for the device when one is in force (opaque JSON text + version), else null. */
  fareTable: { version: number; json: string } | null;
  /** Highest deviceSeq the gateway holds for this device with no gap below it. */
  watermark: number;
  serverTimeMs: number;
}
