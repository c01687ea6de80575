/**
 * Device certificate records and one-time enrolment codes (store side of issue 9).
 *
 * Enrolment codes are 32 random bytes (base64url) shown once to the operator and stored only as
 * SHA-256 hashes, like bearer tokens. A code is consumed in the same transaction that records
 * the certificate it paid for, so a refused CSR leaves the code usable and nothing recorded.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Tx } from '../store/store-port.ts';

export const ENROLMENT_CODE_BYTES = 32;
export const ENROLMENT_CODE_PATTERN = '^[A-Za-z0-9_-]{43}$';

export type IssuedVia = 'enrolment' | 'credential' | 'renewal';
export type CertificateStatus = 'active' | 'expired' | 'not-yet-valid' | 'revoked';

export interface DeviceCertificateRecord {
  serial: string;
  deviceId: string;
  kind: string;
  fingerprint: string;
  notBeforeMs: number;
  notAfterMs: number;
  issuedMs: number;
  issuedVia: IssuedVia;
  revokedMs: number | null;
  revokedBy: string | null;
  revokedReason: string | null;
}

type Raw = Record<string, string | number | bigint | null>;
const textOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

function recordFromRow(r: Raw): DeviceCertificateRecord {
  return {
    serial: String(r.serial),
    deviceId: String(r.device_id),
    kind: String(r.kind),
    fingerprint: String(r.fingerprint),
    notBeforeMs: Number(r.not_before_ms),
    notAfterMs: Number(r.not_after_ms),
    issuedMs: Number(r.issued_ms),
    issuedVia: String(r.issued_via) as IssuedVia,
    revokedMs: r.revoked_ms === null ? null : Number(r.revoked_ms),
    revokedBy: textOrNull(r.revoked_by),
    revokedReason: textOrNull(r.revoked_reason),
  };
}

export function certificateStatus(record: DeviceCertificateRecord, nowMs: number): CertificateStatus {
  if (record.revokedMs !== null) return 'revoked';
  if (nowMs < record.notBeforeMs) return 'not-yet-valid';
  if (nowMs > record.notAfterMs) return 'expired';
  return 'active';
}

export function hashEnrolmentCode(code: string): string {
  return createHash('sha256').update(code, 'utf8').digest('hex');
}

export async function insertCertificate(tx: Tx, record: Omit<DeviceCertificateRecord, 'revokedMs' | 'revokedBy' | 'revokedReason'>): Promise<void> {
  await tx.run(
    `INSERT INTO device_certificates (serial, device_id, kind, fingerprint, not_before_ms, not_after_ms, issued_ms, issued_via)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    [record.serial, record.deviceId, record.kind, record.fingerprint, record.notBeforeMs, record.notAfterMs, record.issuedMs, record.issuedVia],
  );
}

export async function findCertificate(tx: Tx, serial: string): Promise<DeviceCertificateRecord | null> {
  const row = await tx.get<Raw>('SELECT * FROM device_certificates WHERE serial = ?', [serial.toLowerCase()]);
  return row ? recordFromRow(row) : null;
}

export async function certificatesOf(tx: Tx, deviceId: string, limit = 100): Promise<DeviceCertificateRecord[]> {
  const rows = await tx.all<Raw>('SELECT * FROM device_certificates WHERE device_id = ? ORDER BY issued_ms DESC, serial LIMIT ?', [deviceId, limit]);
  return rows.map(recordFromRow);
}

/** Every certificate, newest first within each device, paged by device id. */
export async function listCertificates(tx: Tx, afterDeviceId: string, limit: number): Promise<DeviceCertificateRecord[]> {
  const rows = await tx.all<Raw>('SELECT * FROM device_certificates WHERE device_id > ? ORDER BY device_id, issued_ms DESC, serial LIMIT ?', [
    afterDeviceId,
    limit,
  ]);
  return rows.map(recordFromRow);
}

/** Creates a one-time enrolment code for a device; returns the clear code (shown once). */
export async function createEnrolmentCode(tx: Tx, deviceId: string, actor: string, nowMs: number, ttlMs: number): Promise<{ code: string; expiresMs: number }> {
  const code = randomBytes(ENROLMENT_CODE_BYTES).toString('base64url');
  const expiresMs = nowMs + ttlMs;
  // One open code per device: a new code cancels the previous one.
  await tx.run('UPDATE device_enrolments SET cancelled_ms = ? WHERE device_id = ? AND used_ms IS NULL AND cancelled_ms IS NULL', [nowMs, deviceId]);
  await tx.run('INSERT INTO device_enrolments (code_hash, device_id, created_by, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?)', [
    hashEnrolmentCode(code),
    deviceId,
    actor,
    nowMs,
    expiresMs,
  ]);
  return { code, expiresMs };
}

export type EnrolmentCodeCheck = 'usable' | 'unknown' | 'used' | 'expired' | 'cancelled' | 'other-device';

export async function checkEnrolmentCode(tx: Tx, code: string, deviceId: string, nowMs: number): Promise<EnrolmentCodeCheck> {
  const row = await tx.get<Raw>('SELECT device_id, expires_ms, used_ms, cancelled_ms FROM device_enrolments WHERE code_hash = ?', [hashEnrolmentCode(code)]);
  if (!row) return 'unknown';
  if (String(row.device_id) !== deviceId) return 'other-device';
  if (row.used_ms !== null) return 'used';
  if (row.cancelled_ms !== null) return 'cancelled';
  if (Number(row.expires_ms) <= nowMs) return 'expired';
  return 'usable';
}

/** Consumes a usable code; false when another request consumed it first. */
export async function consumeEnrolmentCode(tx: Tx, code: string, serial: string, nowMs: number): Promise<boolean> {
  const changed = await tx.run('UPDATE device_enrolments SET used_ms = ?, used_serial = ? WHERE code_hash = ? AND used_ms IS NULL AND cancelled_ms IS NULL', [
    nowMs,
    serial,
    hashEnrolmentCode(code),
  ]);
  return changed === 1;
}

export async function pendingEnrolmentOf(tx: Tx, deviceId: string, nowMs: number): Promise<{ createdMs: number; expiresMs: number } | null> {
  const row = await tx.get<Raw>(
    'SELECT created_ms, expires_ms FROM device_enrolments WHERE device_id = ? AND used_ms IS NULL AND cancelled_ms IS NULL AND expires_ms > ? ORDER BY created_ms DESC LIMIT 1',
    [deviceId, nowMs],
  );
  return row ? { createdMs: Number(row.created_ms), expiresMs: Number(row.expires_ms) } : null;
}

/**
 * Revokes a device (stolen validator): every unrevoked certificate, every open enrolment code
 * and every bearer credential of the device, so neither the certificate nor the old shared
 * secret opens the next sync. Returns the serials revoked now.
 */
export async function revokeDevice(
  tx: Tx,
  deviceId: string,
  actor: string,
  reason: string,
  nowMs: number,
): Promise<{ serials: string[]; credentialsRevoked: number }> {
  const rows = await tx.all<{ serial: string }>('SELECT serial FROM device_certificates WHERE device_id = ? AND revoked_ms IS NULL ORDER BY serial', [
    deviceId,
  ]);
  await tx.run('UPDATE device_certificates SET revoked_ms = ?, revoked_by = ?, revoked_reason = ? WHERE device_id = ? AND revoked_ms IS NULL', [
    nowMs,
    actor,
    reason.slice(0, 200),
    deviceId,
  ]);
  await tx.run('UPDATE device_enrolments SET cancelled_ms = ? WHERE device_id = ? AND used_ms IS NULL AND cancelled_ms IS NULL', [nowMs, deviceId]);
  const credentialsRevoked = await tx.run("UPDATE auth_tokens SET revoked_ms = ? WHERE role = 'device' AND subject = ? AND revoked_ms IS NULL", [
    nowMs,
    deviceId,
  ]);
  return { serials: rows.map((r) => String(r.serial)), credentialsRevoked };
}
