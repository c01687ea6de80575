/**
 * vitest globalSetup: probes the services suites may need (test/support/services.ts) once per
 * run. With CI=true a missing service fails the whole run here, before any test, with the
 * command that starts it; elsewhere the suites that need it skip.
 */
import { accessSync, constants } from 'node:fs';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { PG_URL } from '../store/pg-test-db.ts';

async function probePostgres(): Promise<{ up: boolean; where: string; why: string }> {
  const where = PG_URL.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return { up: true, where, why: '' };
  } catch (error) {
    return { up: false, where, why: (error as Error).message || String(error) };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Debian's Chromium (the console's browser suites drive it with playwright-core); CHROMIUM_PATH overrides. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function probeChromium(): { up: boolean; where: string; why: string } {
  try {
    accessSync(CHROMIUM_PATH, constants.X_OK);
    return { up: true, where: CHROMIUM_PATH, why: '' };
  } catch (error) {
    return { up: false, where: CHROMIUM_PATH, why: (error as Error).message };
  }
}

export default async function setup(project: TestProject): Promise<void> {
  const postgres = await probePostgres();
  if (!postgres.up && process.env.CI === 'true') {
    throw new Error(
      `CI=true needs PostgreSQL at ${postgres.where} (${postgres.why}); start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`,
    );
  }
  const chromium = probeChromium();
  if (!chromium.up && process.env.CI === 'true') {
    throw new Error(`CI=true needs Chromium at ${chromium.where} (${chromium.why}); install it: apt-get install -y chromium fonts-noto-cjk`);
  }
  project.provide('services', { postgres, chromium });
}
