/**
 * Makes validator databases in a child process (the city-scale run's setup): `initDevice` (the
 * validator's own migrations, profile and gateway link) and the fare table installed through the
 * device's FareTableStore, as `validator init` does. Each database's creation waits on a few
 * durable commits; a few processes at once overlap those waits.
 *
 * IPC in: one DeviceMakerData; out: { done: 1 } per device, then { finished: true }.
 */
import { initDevice } from '#validator/device';
import type { DeviceProfile } from '#validator/device-profile';
import { openDeviceDb } from '#validator/storage/device-db';
import { FareTableStore } from '#validator/storage/fare-table-store';

export interface DeviceJob {
  dbPath: string;
  profile: DeviceProfile;
  gateway: { url: string; credential: string };
  nowMs: number;
}

export interface DeviceMakerData {
  fareTablesJson: string;
  fareTablesVersion: number;
  jobs: DeviceJob[];
}

process.on('disconnect', () => process.exit(0));
process.once('message', (data: DeviceMakerData) => {
  for (const job of data.jobs) {
    initDevice(job.dbPath, { profile: job.profile, gateway: job.gateway, nowMs: job.nowMs });
    const db = openDeviceDb(job.dbPath);
    try {
      new FareTableStore(db).install(data.fareTablesVersion, data.fareTablesJson, job.nowMs);
    } finally {
      db.close();
    }
    process.send?.({ done: 1 });
  }
  process.send?.({ finished: true }, () => process.disconnect?.());
});
