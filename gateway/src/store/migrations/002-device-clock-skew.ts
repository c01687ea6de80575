/**
 * Each device's clock skew as measured at its latest sync: deviceTimeMs of the SyncRequest
 * minus the gateway clock when the batch was ingested (positive = the device runs ahead), and
 * when that was. NULL until the device's first sync after this migration. Validators stamp
 * every tap with their own clock, and fares depend on it (early-entry before 07:00, the 4-hour
 * limit, the natural month of the rail discount, fare-table effective dates), so operators
 * list devices whose skew is over a threshold (GET /v1/ops/devices/clock-skew).
 */
import type { Migration } from '../migrate.ts';

const common = `
ALTER TABLE devices ADD COLUMN clock_skew_ms BIGINT;
ALTER TABLE devices ADD COLUMN clock_skew_measured_ms BIGINT;
`;

export const migration002DeviceClockSkew: Migration = {
  id: 2,
  name: 'device-clock-skew',
  sqlite: common,
  postgres: common,
};
