/**
 * Picks the store from configuration: PostgreSQL when a database URL is set (several
 * gateway instances; it wins over the SQLite path), else the embedded SQLite file.
 */
import { SqliteStore } from './sqlite-store.ts';
import type { Store } from './store-port.ts';

export interface StoreConfig {
  sqlitePath: string;
  /** GATEWAY_DATABASE_URL: postgres://user@host:port/database[?schema=name] */
  databaseUrl?: string;
  /**
   * PostgreSQL schema for this gateway's tables (created on start). Defaults to `?schema=` in
   * the URL, then GATEWAY_DATABASE_SCHEMA, then the server's default search_path.
   */
  databaseSchema?: string;
  clock?: () => number;
}

export async function createStore(config: StoreConfig): Promise<Store> {
  if (config.databaseUrl) {
    // Loaded lazily so the embedded default never loads the pg driver.
    const { createPostgresStore, parseDatabaseUrl } = await import('./postgres-store.ts');
    const schema = config.databaseSchema || parseDatabaseUrl(config.databaseUrl).schema || process.env.GATEWAY_DATABASE_SCHEMA || undefined;
    return createPostgresStore({ connectionString: config.databaseUrl, schema, clock: config.clock });
  }
  return new SqliteStore({ path: config.sqlitePath, clock: config.clock });
}
