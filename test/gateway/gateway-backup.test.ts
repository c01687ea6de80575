/**
 * `npm run gateway -- backup --to FILE` (issue 14, backups): SQLite's online backup API copies the
 * database while a gateway holds it open and keeps writing; the copy passes integrity_check and has
 * what was committed before it began. Refusals: an existing target (never overwritten), no --to
 * (usage, exit 2), PostgreSQL (pg_dump is the tool there), a missing database.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanEnv, runGatewayCli } from './support/gateway-process.ts';
import { ADMIN_TOKEN, makeHarness, SSN } from './support/harness.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gw-backup-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('gateway backup', () => {
  it('copies a live database consistently, checks the copy, and never overwrites', async () => {
    const h = await makeHarness();
    const { app, dir } = h;
    const dbPath = join(dir, 'gateway.db');
    try {
      for (let i = 0; i < 5; i++) {
        const res = await app.inject({
          method: 'POST',
          url: '/v1/cards',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
          payload: { holderName: `Backup ${i}`, socialSecurityNo: SSN, profile: 'adult' },
        });
        expect(res.statusCode).toBe(201);
      }
      const env = cleanEnv({ GATEWAY_DB: dbPath, GATEWAY_SECRETS_DIR: join(dir, 'secrets') });
      const target = join(dir, 'copy.db');
      // The gateway keeps writing while the copy is taken.
      const writes = (async () => {
        for (let i = 0; i < 5; i++)
          await app.inject({
            method: 'POST',
            url: '/v1/cards',
            headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
            payload: { holderName: `During ${i}`, socialSecurityNo: SSN, profile: 'adult' },
          });
      })();
      const result = await runGatewayCli(['backup', '--to', target], dir, env);
      await writes;
      expect(result.code, result.stderr).toBe(0);
      const report = JSON.parse(result.stdout);
      expect(report).toMatchObject({ to: target, integrity: 'ok' });
      expect(report.pages).toBeGreaterThan(0);
      const copy = new Database(target, { readonly: true });
      const cards = (copy.prepare('SELECT COUNT(*) AS n FROM cards').get() as { n: number }).n;
      copy.close();
      expect(cards).toBeGreaterThanOrEqual(5);
      expect(cards).toBeLessThanOrEqual(10);

      // A second backup to the same file is refused and leaves the first copy as it was.
      const again = await runGatewayCli(['backup', '--to', target], dir, env);
      expect(again.code).toBe(1);
      expect(again.stderr.trim().split('\n')).toHaveLength(1);
      expect(again.stderr).toContain('never overwrites');
    } finally {
      await h.close();
    }
  }, 60_000);

  it('refuses without --to (exit 2), on PostgreSQL and without a database (exit 1, one line)', async () => {
    const dir = tempDir();
    const noTo = await runGatewayCli(['backup'], dir, cleanEnv({ GATEWAY_DB: join(dir, 'gateway.db') }));
    expect(noTo.code).toBe(2);
    expect(noTo.stderr.split('\n')[0]).toBe('gateway: backup needs --to FILE');
    const missing = await runGatewayCli(['backup', '--to', join(dir, 'x.db')], dir, cleanEnv({ GATEWAY_DB: join(dir, 'nope.db') }));
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe(`gateway: ${join(dir, 'nope.db')}: no such database (GATEWAY_DB)`);
    const pg = await runGatewayCli(['backup', '--to', join(dir, 'x.db')], dir, cleanEnv({ GATEWAY_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test' }));
    expect(pg.code).toBe(1);
    expect(pg.stderr).toContain('use pg_dump');
    expect(existsSync(join(dir, 'x.db'))).toBe(false);
    writeFileSync(join(dir, 'keep.txt'), 'x');
    const help = await runGatewayCli(['backup', '--help'], dir, cleanEnv());
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: npm run gateway -- backup --to FILE');
  }, 60_000);
});
