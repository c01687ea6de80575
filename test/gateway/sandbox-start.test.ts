/**
 * The sandbox's start refusals, as real processes (`tsx gateway/src/main.ts` in a folder of the
 * test's own): GATEWAY_SANDBOX=1 refuses a real key file, a database it did not create and
 * PostgreSQL; a gateway without it refuses a sandbox database and sandbox keys. Each: exit 1, one
 * line on stderr naming the cause, and not a byte changed in the folder.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { markSandboxDatabase } from '#gateway/sandbox/sandbox-db';
import { SqliteStore } from '#gateway/store/sqlite-store';
import { loadOrCreateDevKeyFile, loadOrCreateSandboxKeyFile } from '#issuer/key-file';
import { cleanEnv, runGatewayToEnd } from './support/gateway-process.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-start-'));
  dirs.push(dir);
  return dir;
}

/** Every path under `dir` with its mode and, for files, a hash of the content. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (path: string, rel: string): void => {
    for (const name of readdirSync(path).sort()) {
      const full = join(path, name);
      const stat = statSync(full);
      const key = `${rel}${name}`;
      if (stat.isDirectory()) {
        out[key] = `dir ${(stat.mode & 0o777).toString(8)}`;
        walk(full, `${key}/`);
      } else {
        out[key] = `file ${(stat.mode & 0o777).toString(8)} ${createHash('sha256').update(readFileSync(full)).digest('hex')} ${stat.mtimeMs}`;
      }
    }
  };
  walk(dir, '');
  return out;
}

async function makeDatabase(path: string, sandbox: boolean): Promise<void> {
  mkdirSync(join(path, '..'), { recursive: true });
  const store = new SqliteStore({ path });
  if (sandbox) await markSandboxDatabase(store, Date.now());
  await store.migrate();
  await store.close();
}

const LOCAL = { PORT: '0', GATEWAY_DEVICE_PKI: 'off', LOG_LEVEL: 'warn', GATEWAY_SECRETS_DIR: 'var/secrets', GATEWAY_DB: 'var/db/gateway.db' };

/** Starts the gateway in `cwd` and expects a refusal: exit 1, one line matching `line`, nothing changed. */
async function expectRefused(cwd: string, env: Record<string, string>, line: RegExp): Promise<void> {
  const before = snapshot(cwd);
  const result = await runGatewayToEnd(cwd, cleanEnv({ ...LOCAL, ...env }));
  const lines = result.stderr.trim().split('\n');
  expect(result.code, result.stderr + result.stdout).toBe(1);
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^gateway failed to start: /);
  expect(lines[0]).toMatch(line);
  expect(snapshot(cwd)).toEqual(before);
}

describe('GATEWAY_SANDBOX=1 starts only on what the sandbox created', () => {
  it('refuses a real issuer key file', async () => {
    const cwd = folder();
    loadOrCreateDevKeyFile(join(cwd, 'var/secrets/issuer-keys.json'));
    await expectRefused(cwd, { GATEWAY_SANDBOX: '1' }, /GATEWAY_SANDBOX=1 refuses the key file .*issuer-keys\.json: it holds real issuer keys/);
  });

  it('refuses a database it did not create', async () => {
    const cwd = folder();
    await makeDatabase(join(cwd, 'var/db/gateway.db'), false);
    await expectRefused(cwd, { GATEWAY_SANDBOX: '1' }, /GATEWAY_SANDBOX=1 refuses the database .*gateway\.db: it was not created by the sandbox/);
  });

  it('refuses its own database when the sandbox keys its cards were made with are gone', async () => {
    const cwd = folder();
    await makeDatabase(join(cwd, 'var/db/gateway.db'), true);
    await expectRefused(
      cwd,
      { GATEWAY_SANDBOX: '1' },
      /GATEWAY_SANDBOX=1 refuses the database .*gateway\.db: its cards were made with sandbox keys, and the key file .* is gone/,
    );
  });

  it('refuses PostgreSQL (GATEWAY_DATABASE_URL)', async () => {
    const cwd = folder();
    await expectRefused(
      cwd,
      { GATEWAY_SANDBOX: '1', GATEWAY_DATABASE_URL: 'postgres://gw:secret@127.0.0.1:1/gateway' },
      /GATEWAY_SANDBOX=1 runs only on a SQLite file the sandbox created, never on PostgreSQL: unset GATEWAY_DATABASE_URL/,
    );
    expect(snapshot(cwd)).toEqual({});
  });

  it('a value other than 0 or 1 is a configuration error naming the variable', async () => {
    const cwd = folder();
    await expectRefused(cwd, { GATEWAY_SANDBOX: 'yes' }, /GATEWAY_SANDBOX must be 1 \(sandbox\) or 0, got "yes"/);
  });
});

describe('a gateway without GATEWAY_SANDBOX=1 refuses what the sandbox created', () => {
  it('refuses a sandbox database', async () => {
    const cwd = folder();
    await makeDatabase(join(cwd, 'var/db/gateway.db'), true);
    await expectRefused(cwd, {}, /the database .*gateway\.db was created by the sandbox: only a sandbox \(GATEWAY_SANDBOX=1\) runs on it/);
  });

  it('refuses sandbox keys', async () => {
    const cwd = folder();
    loadOrCreateSandboxKeyFile(join(cwd, 'var/secrets/issuer-keys.json'));
    await expectRefused(
      cwd,
      { GATEWAY_SANDBOX: '0' },
      /the key file .*issuer-keys\.json holds sandbox keys: only a sandbox \(GATEWAY_SANDBOX=1\) runs on them/,
    );
  });
});
