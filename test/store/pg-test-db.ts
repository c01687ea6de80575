/**
 * PostgreSQL for tests: the server on this machine (127.0.0.1:5432, trust auth, database
 * `test`; `.ci/run` starts it). Every test gets its own fresh schema and drops it afterwards,
 * so concurrent test files and repeated runs never see each other's rows.
 * TEST_DATABASE_URL overrides the server.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PostgresStore, type PostgresStoreOptions } from '#gateway/store/postgres-store';

export const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A new unique schema name (lower case, valid for `?schema=`). */
export function freshSchemaName(prefix = 'gwtest'): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/** Runs one statement on a short-lived connection (outside any store). */
export async function adminQuery(sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

export async function dropSchema(schema: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`bad schema name ${schema}`);
  await adminQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
}

/** Fails with a clear message when the server is not running (tests must not silently skip). */
export async function assertPostgresUp(): Promise<void> {
  try {
    await adminQuery('SELECT 1');
  } catch (error) {
    throw new Error(
      `PostgreSQL is not reachable at ${PG_URL} (start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start): ${(error as Error).message}`,
    );
  }
}

export function newPgStore(schema: string, options: Partial<PostgresStoreOptions> = {}): PostgresStore {
  return new PostgresStore({ connectionString: PG_URL, schema, ...options });
}
