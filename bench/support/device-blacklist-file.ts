/**
 * A device database holding an N-card blacklist, built once and cached under os.tmpdir().
 *
 * The cache key carries the device schema (a hash of every migration's SQL) as well as the
 * size: a file built by an older schema (e.g. before pending_purchase was keyed by offline ATC)
 * would open without error (user_version is unchanged) and then fail, or worse, measure another
 * layout. The cards are blacklist-lookup.bench.ts's grid (listedCard / unlistedCard), so probes
 * are shared between the suites.
 */
import { createHash } from 'node:crypto';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlacklistStore } from '#validator/storage/blacklist-store';
import { openDeviceDb } from '#validator/storage/device-db';
import { DeviceStateStore } from '#validator/storage/device-state-store';
import { MIGRATIONS } from '#validator/storage/migrations';
import { listedCard } from '../blacklist-lookup.bench.ts';

/** The device id the cached files are initialised with. */
export const BLACKLIST_DEVICE_ID = 'bench-device';

export function deviceSchemaTag(): string {
  const hash = createHash('sha256');
  for (const m of MIGRATIONS) hash.update(`${m.version}\n${m.sql}\n`);
  return hash.digest('hex').slice(0, 10);
}

export function deviceBlacklistPath(size: number): string {
  return join(tmpdir(), `transit-device-blacklist-${deviceSchemaTag()}-${size}.db`);
}

/**
 * The cached file's path, built first if missing (outside any timed loop): the store's own
 * bulkLoad (sorted keys, prepared upsert, 100k rows per transaction, no fsync per row).
 */
export function cachedDeviceBlacklist(size: number): string {
  const file = deviceBlacklistPath(size);
  if (existsSync(file)) return file;
  const building = `${file}.building-${process.pid}`;
  const db = openDeviceDb(building);
  try {
    new DeviceStateStore(db).initialise(BLACKLIST_DEVICE_ID);
    // No index while building: the device builds its own at start-up.
    const list = new BlacklistStore(db, { index: false });
    function* entries() {
      for (let i = 0; i < size; i++) yield { cardNo: listedCard(i, size), reason: 'formal-loss' as const, version: 1 + (i % 1000) };
    }
    const loaded = list.bulkLoad(entries());
    if (loaded !== size || list.count !== size) throw new Error(`built ${loaded} rows (count ${list.count}), expected ${size}`);
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
  renameSync(building, file);
  rmSync(`${building}-wal`, { force: true });
  rmSync(`${building}-shm`, { force: true });
  return file;
}
