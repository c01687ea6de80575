/**
 * Picks the store from configuration: PostgreSQL when a database URL is set (several
 * gateway instances), else the embedded SQLite file.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SqliteStore } from './sqlite-store.ts';
import type { Store } from './store-port.ts';

export interface StoreConfig {
  sqlitePath: string;
  databaseUrl?: string;
  clock?: () => number;
}

export async function createStore(config: StoreConfig): Promise<Store> {
  if (config.databaseUrl) {
    const modulePath = fileURLToPath(new URL('./postgres-store.ts', import.meta.url));
    if (!existsSync(modulePath)) {
      throw new Error('GATEWAY_DATABASE_URL is set but the PostgreSQL store (gateway/src/store/postgres-store.ts) is not built yet; unset it to use SQLite');
    }
    // Loaded lazily so the embedded default never needs the pg driver.
    const module = (await import(modulePath)) as { createPostgresStore?: (options: { connectionString: string; clock?: () => number }) => Store | Promise<Store> };
    if (typeof module.createPostgresStore !== 'function') {
      throw new Error('gateway/src/store/postgres-store.ts must export createPostgresStore({ connectionString, clock })');
    }
    return module.createPostgresStore({ connectionString: config.databaseUrl, clock: config.clock });
  }
  return new SqliteStore({ path: config.sqlitePath, clock: config.clock });
}
