/**
 * Validator registry. An operator registers each device and receives its credential once
 * (stored only as a hash). The sync route (gateway-money) updates last_sync_ms, watermark,
 * blacklist_version and fare_table_version; devices silent for longer than a window are listed
 * for alerting.
 */
import type { Tx } from '../store/store-port.ts';
import { issueToken } from '../auth/tokens.ts';
import { ApiError } from '../http/problem.ts';

export const DEVICE_KINDS = ['subway-gate', 'bus-validator', 'pr-gate', 'park-gate'] as const;
export type DeviceKind = (typeof DEVICE_KINDS)[number];

export interface DeviceInput {
  deviceId: string;
  kind: DeviceKind;
  station?: string;
  line?: string;
  lot?: string;
  park?: string;
}

export interface Device {
  deviceId: string;
  kind: DeviceKind;
  station: string | null;
  line: string | null;
  lot: string | null;
  park: string | null;
  registeredMs: number;
  lastSyncMs: number | null;
  watermark: number;
  blacklistVersion: number;
  fareTableVersion: number;
  /** Device clock minus gateway clock at the latest sync (ms, positive = ahead); null before any. */
  clockSkewMs: number | null;
  /** Gateway time of that measurement. */
  clockSkewMeasuredMs: number | null;
  flagged: boolean;
  flagReason: string | null;
}

type Raw = Record<string, string | number | bigint | null>;
const text = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

function deviceFromRow(r: Raw): Device {
  return {
    deviceId: String(r.device_id),
    kind: String(r.kind) as DeviceKind,
    station: text(r.station),
    line: text(r.line),
    lot: text(r.lot),
    park: text(r.park),
    registeredMs: Number(r.registered_ms),
    lastSyncMs: r.last_sync_ms === null ? null : Number(r.last_sync_ms),
    watermark: Number(r.watermark),
    blacklistVersion: Number(r.blacklist_version),
    fareTableVersion: Number(r.fare_table_version),
    clockSkewMs: r.clock_skew_ms === null || r.clock_skew_ms === undefined ? null : Number(r.clock_skew_ms),
    clockSkewMeasuredMs: r.clock_skew_measured_ms === null || r.clock_skew_measured_ms === undefined ? null : Number(r.clock_skew_measured_ms),
    flagged: Number(r.flagged) === 1,
    flagReason: text(r.flag_reason),
  };
}

export async function registerDevice(tx: Tx, input: DeviceInput, actor: string, nowMs: number): Promise<{ device: Device; credential: string }> {
  const inserted = await tx.run(
    `INSERT INTO devices (device_id, kind, station, line, lot, park, registered_by, registered_ms)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id) DO NOTHING`,
    [input.deviceId, input.kind, input.station ?? null, input.line ?? null, input.lot ?? null, input.park ?? null, actor, nowMs],
  );
  if (inserted === 0) throw new ApiError('device-exists', `device ${input.deviceId} is registered`);
  const credential = await issueToken(tx, { role: 'device', subject: input.deviceId, label: `device ${input.deviceId}`, createdBy: actor, nowMs });
  return { device: (await findDevice(tx, input.deviceId))!, credential };
}

export async function findDevice(tx: Tx, deviceId: string): Promise<Device | null> {
  const row = await tx.get<Raw>('SELECT * FROM devices WHERE device_id = ?', [deviceId]);
  return row ? deviceFromRow(row) : null;
}

export async function listDevices(tx: Tx, afterDeviceId: string, limit: number): Promise<Device[]> {
  const rows = await tx.all<Raw>('SELECT * FROM devices WHERE device_id > ? ORDER BY device_id LIMIT ?', [afterDeviceId, limit]);
  return rows.map(deviceFromRow);
}

/** Devices whose last sync (or registration, if never synced) is older than the window. */
export async function staleDevices(tx: Tx, nowMs: number, windowMs: number, limit: number): Promise<Device[]> {
  const cutoff = nowMs - windowMs;
  const rows = await tx.all<Raw>(
    `SELECT * FROM devices
      WHERE (last_sync_ms IS NOT NULL AND last_sync_ms < ?) OR (last_sync_ms IS NULL AND registered_ms < ?)
      ORDER BY COALESCE(last_sync_ms, registered_ms), device_id LIMIT ?`,
    [cutoff, cutoff, limit],
  );
  return rows.map(deviceFromRow);
}

/**
 * Devices whose clock was more than `thresholdMs` off (either way) at their latest sync, worst
 * first. The measurement is a current state, not an event: it clears at the next sync with a
 * good clock. A device that has stopped syncing keeps its last measurement (see its
 * clockSkewMeasuredMs; the stale listing names it too).
 */
export async function clockSkewedDevices(tx: Tx, thresholdMs: number, limit: number): Promise<Device[]> {
  const rows = await tx.all<Raw>(
    `SELECT * FROM devices
      WHERE clock_skew_ms IS NOT NULL AND (clock_skew_ms > ? OR clock_skew_ms < ?)
      ORDER BY ABS(clock_skew_ms) DESC, device_id LIMIT ?`,
    [thresholdMs, -thresholdMs, limit],
  );
  return rows.map(deviceFromRow);
}

/** Flags a device (e.g. it uploaded a record with a forged TAC); used by the sync ingest. */
export async function flagDevice(tx: Tx, deviceId: string, reason: string): Promise<void> {
  await tx.run('UPDATE devices SET flagged = 1, flag_reason = ? WHERE device_id = ?', [reason.slice(0, 200), deviceId]);
}
