/**
 * Fare tables the device holds, by version (opaque JSON as the gateway sends it; the tap
 * engine's codec parses it). The device runs the version in device_state.fare_table_version.
 */
import type { DeviceDatabase } from './device-db.ts';

export class FareTableStore {
  constructor(private readonly db: DeviceDatabase) {}

  /** Stores a version and makes it current, if it is newer than the current one. Returns true when installed. */
  install(version: number, json: string, nowMs: number): boolean {
    if (!Number.isSafeInteger(version) || version < 1) throw new RangeError(`fare table version ${version} is not a version`);
    return this.db
      .transaction(() => {
        const current = this.db.prepare('SELECT fare_table_version FROM device_state WHERE id = 1').pluck().get() as number | undefined;
        if (current === undefined) throw new Error('device_state is missing');
        if (version <= current) return false;
        this.db.prepare('INSERT INTO fare_tables (version, json, installed_at_ms) VALUES (?, ?, ?) ON CONFLICT (version) DO NOTHING').run(version, json, nowMs);
        this.db.prepare('UPDATE device_state SET fare_table_version = ? WHERE id = 1').run(version);
        return true;
      })
      .immediate();
  }

  current(): { version: number; json: string } | null {
    const row = this.db.prepare('SELECT f.version, f.json FROM fare_tables f JOIN device_state s ON s.id = 1 AND f.version = s.fare_table_version').get() as
      | { version: number; json: string }
      | undefined;
    return row ?? null;
  }

  /** Deletes these versions (the device decides which can never be in force again). */
  remove(versions: readonly number[]): number {
    if (versions.length === 0) return 0;
    const statement = this.db.prepare('DELETE FROM fare_tables WHERE version = ?');
    return this.db.transaction(() => versions.reduce((n, v) => n + statement.run(v).changes, 0))();
  }
}
