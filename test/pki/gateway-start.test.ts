/**
 * `npm start` and `npm run gateway -- pki ...` as an operator runs them (issue 9, issue 14.4): the
 * operator creates the device CA with `pki init` (its private keys in the secrets folder), the
 * gateway then loads it and serves sync only on the mutual-TLS device port;
 * a device enrols with a code from the gateway CLI, syncs over mutual TLS, is revoked from the
 * CLI and refused at its next sync. Real processes, ephemeral ports, a fresh temp folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { pack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYNC_PROTOCOL_VERSION } from '#core';
import { CA_CERT_FILE, CA_KEY_FILE, SERVER_KEY_FILE } from '#gateway/pki/device-ca';
import { enrolWithCode } from '#validator/pki/enrolment';
import { createMtlsFetch } from '#validator/pki/mtls-fetch';
import type { DeviceIdentity } from '#validator/pki/device-identity';

const ROOT = join(import.meta.dirname, '..', '..');
const ADMIN = 'pki-start-admin-token-0123456789';

let dir: string;
let env: NodeJS.ProcessEnv;
let gateway: ChildProcess | null = null;
const output: string[] = [];
let mainUrl = '';
let deviceUrl = '';
let initAnswer: { created: boolean; caFingerprintSha256: string };

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'gateway/src/cli.ts'), ...args], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pki-start-'));
  env = {
    ...process.env,
    PORT: '0',
    HOST: '127.0.0.1',
    DEVICE_PORT: '0',
    GATEWAY_DB: join(dir, 'var', 'gateway.db'),
    GATEWAY_SECRETS_DIR: join(dir, 'secrets'),
    GATEWAY_ADMIN_TOKEN: ADMIN,
    LOG_LEVEL: 'info',
  };
  delete env.GATEWAY_DATABASE_URL;
  delete env.GATEWAY_PKI_DIR;
  delete env.GATEWAY_DEVICE_PKI;
  delete env.GATEWAY_KEY_FILE;
  delete env.GATEWAY_CONFIG_FILE;
  const init = await runCli(['pki', 'init']);
  if (init.code !== 0) throw new Error(`pki init failed: ${init.stderr}`);
  initAnswer = JSON.parse(init.stdout) as { created: boolean; caFingerprintSha256: string };
  gateway = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'gateway/src/main.ts')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${output.join('')}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output.push(chunk.toString('utf8'));
      const text = output.join('');
      const main = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
      const device = /"deviceUrl":"(https:\/\/127\.0\.0\.1:\d+)"/.exec(text);
      if (main && device) {
        clearTimeout(timer);
        mainUrl = main[1];
        deviceUrl = device[1];
        resolve();
      }
    };
    gateway!.stdout!.on('data', onData);
    gateway!.stderr!.on('data', onData);
    gateway!.once('exit', (code) => reject(new Error(`gateway exited ${code}:\n${output.join('')}`)));
  });
}, 40_000);

afterAll(async () => {
  if (gateway && gateway.exitCode === null) {
    await new Promise<void>((resolve) => {
      gateway!.once('exit', () => resolve());
      gateway!.kill('SIGTERM');
    });
  }
  rmSync(dir, { recursive: true, force: true });
});

async function sync(identity: DeviceIdentity): Promise<{ status: number; code?: string }> {
  const fetchFn = createMtlsFetch(identity, { keepAlive: false });
  const res = await fetchFn(`${deviceUrl}/v1/devices/${identity.deviceId}/sync`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-msgpack' },
    body: pack({
      protocolVersion: SYNC_PROTOCOL_VERSION,
      deviceId: identity.deviceId,
      records: [],
      blacklistVersion: 0,
      fareTableVersion: 0,
      deviceTimeMs: Date.now(),
    }),
  });
  const text = Buffer.from(await res.arrayBuffer());
  return { status: res.status, code: res.status === 200 ? undefined : (JSON.parse(text.toString('utf8')) as { code: string }).code };
}

describe('npm start with the embedded default', () => {
  it('loads the CA made by pki init, enrols with a CLI code, syncs over mutual TLS only, revokes from the CLI', async () => {
    expect(initAnswer.created).toBe(true);
    // Private keys in the secrets folder (0600), certificates in the PKI folder.
    expect(statSync(join(dir, 'secrets', CA_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'secrets', SERVER_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'secrets')).mode & 0o777).toBe(0o700);
    expect(existsSync(join(dir, 'var', 'pki', CA_CERT_FILE))).toBe(true);
    expect(existsSync(join(dir, 'var', 'pki', CA_KEY_FILE))).toBe(false);
    expect(output.join('')).toContain('device CA loaded');
    expect(output.join('')).toContain(initAnswer.caFingerprintSha256);

    const registered = await fetch(`${mainUrl}/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ deviceId: 'BUS-7-1', kind: 'bus-validator', line: '7' }),
    });
    expect(registered.status).toBe(201);
    const credential = ((await registered.json()) as { credential: string }).credential;

    const enrol = await runCli(['pki', 'enrol', 'BUS-7-1']);
    expect(enrol.code).toBe(0);
    const code = (JSON.parse(enrol.stdout) as { enrolmentCode: string }).enrolmentCode;
    const identity = await enrolWithCode({ dir: join(dir, 'bus-7-1'), gatewayUrl: mainUrl, deviceId: 'BUS-7-1', enrolmentCode: code });
    expect(identity.deviceUrl).toBe(deviceUrl);
    expect(await sync(identity)).toEqual({ status: 200, code: undefined });

    const viaMain = await fetch(`${mainUrl}/v1/devices/BUS-7-1/sync`, {
      method: 'POST',
      headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/x-msgpack' },
      body: pack({}),
    });
    expect(viaMain.status).toBe(403);
    expect((await viaMain.json()) as { code: string; deviceUrl: string }).toMatchObject({ code: 'sync-requires-device-tls', deviceUrl });

    const status = await runCli(['pki', 'status']);
    expect(JSON.parse(status.stdout).certificates).toEqual({ active: 1 });

    const revoke = await runCli(['pki', 'revoke', 'BUS-7-1', '--reason', 'stolen']);
    expect(revoke.code).toBe(0);
    expect(JSON.parse(revoke.stdout)).toMatchObject({ revokedSerials: [identity.serial], credentialsRevoked: 1 });
    expect(await sync(identity)).toEqual({ status: 403, code: 'client-certificate-revoked' });

    const list = await runCli(['pki', 'list', '--device', 'BUS-7-1']);
    expect(JSON.parse(list.stdout.trim())).toMatchObject({ serial: identity.serial, status: 'revoked', revokedReason: 'stolen' });

    const logs = output.join('');
    expect(logs).not.toContain('PRIVATE KEY');
    expect(logs).not.toContain(code);
    expect(logs).not.toContain(credential);
  }, 60_000);

  it('the gateway CLI fails on unknown devices (exit 1) and refuses unknown commands (usage, exit 2)', async () => {
    const unknown = await runCli(['pki', 'enrol', 'NOPE']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim()).toBe('gateway: device NOPE is not registered (POST /v1/devices)');
    expect((await runCli(['frobnicate'])).code).toBe(2);
  }, 30_000);

  it('SIGTERM closes the main API and the device listener, then the store; exit 0', async () => {
    const exited = new Promise<number | null>((resolve) => gateway!.once('exit', (code) => resolve(code)));
    gateway!.kill('SIGTERM');
    expect(await exited).toBe(0);
    const logs = output.join('');
    expect(logs).toContain('shutdown: main API and device listener closed');
    expect(logs).toContain('shutdown complete');
    const port = Number(new URL(deviceUrl).port);
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', () => resolve(true));
    });
    expect(refused).toBe(true);
  }, 30_000);
});
