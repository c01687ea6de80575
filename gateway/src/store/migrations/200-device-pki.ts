/**
 * Device PKI (issue 9): one row per issued device certificate (serial, device, validity,
 * revocation) and one-time enrolment codes, stored only as SHA-256 hashes (like bearer tokens).
 * Ids 200-299 belong to the device PKI.
 */
import type { Migration } from '../migrate.ts';

const SHARED = `
CREATE TABLE device_certificates (
  serial TEXT PRIMARY KEY,
  device_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  fingerprint TEXT NOT NULL UNIQUE,
  not_before_ms BIGINT NOT NULL,
  not_after_ms BIGINT NOT NULL,
  issued_ms BIGINT NOT NULL,
  issued_via TEXT NOT NULL CHECK (issued_via IN ('enrolment', 'credential', 'renewal')),
  revoked_ms BIGINT,
  revoked_by TEXT,
  revoked_reason TEXT
);
CREATE INDEX device_certificates_device ON device_certificates (device_id, not_after_ms);

CREATE TABLE device_enrolments (
  code_hash TEXT PRIMARY KEY,
  device_id TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL,
  used_ms BIGINT,
  used_serial TEXT,
  cancelled_ms BIGINT
);
CREATE INDEX device_enrolments_device ON device_enrolments (device_id);
`;

export const migration200DevicePki: Migration = {
  id: 200,
  name: 'device-pki',
  sqlite: SHARED,
  postgres: SHARED,
};
