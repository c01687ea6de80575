/**
 * The validator CLI with a device certificate (issue 9): init registers the device, sync on the
 * main API is refused once the gateway has a device CA, `validator enrol` makes the key and CSR
 * and installs the certificate, taps then upload over mutual TLS, `validator renew` rotates the
 * key. Real processes for the validator, a real gateway with its device listener on loopback.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGateway } from '#gateway/app';
import { serializeKeyFile } from '#issuer/key-file';
import { ensureDeviceCa } from '#gateway/pki/device-ca';
import { startDeviceListener, type StartedDeviceListener } from '#gateway/pki/device-listener';
import { makeDevicePki } from '#gateway/pki/device-pki';
import { SqliteStore } from '#gateway/store/sqlite-store';
import { IDENTITY_FILE } from '#validator/pki/device-identity';
import { CardWallet } from '#validator/rider/card-wallet';
import { issueCardIntoWallet } from '#validator/rider/issue-cards';
import { seededRandom, testKeySets } from '../purse/fixtures.ts';
import { ISSUER } from '../validator/device-fixtures.ts';

const REPO = join(import.meta.dirname, '..', '..');
const CLI = join(REPO, 'validator-firmware-sim', 'src', 'cli.ts');
const ADMIN = 'pki-validator-cli-admin-0123456789';

function run(args: string[], stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

let dir: string;
let store: SqliteStore;
let app: FastifyInstance;
let listener: StartedDeviceListener;
let mainUrl: string;
let keyFile: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pki-validator-cli-'));
  store = new SqliteStore({ path: join(dir, 'gateway.db'), clock: Date.now });
  const pki = makeDevicePki(ensureDeviceCa(join(dir, 'pki')));
  app = await buildGateway({ store, keys: ISSUER, adminToken: ADMIN, devicePki: pki, policies: { lossExpiryIntervalMs: 0 } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  mainUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  listener = await startDeviceListener({ gateway: app.gateway, pki, host: '127.0.0.1', port: 0 });
  keyFile = join(dir, 'issuer-keys.json');
  writeFileSync(keyFile, serializeKeyFile({ currentKeyVersion: 1, keySets: testKeySets() }), { mode: 0o600 });
});

afterAll(async () => {
  await listener?.close();
  await app?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('validator CLI with a device certificate', () => {
  it('init, sync refused on the main API, enrol, tap, sync over mutual TLS, renew', async () => {
    const walletPath = join(dir, 'cards.db');
    const wallet = new CardWallet(walletPath);
    const card = (await issueCardIntoWallet(wallet, { gatewayUrl: mainUrl, operatorToken: ADMIN, amountFen: 5_000, random: seededRandom(0x9e11) })).cardNo;
    wallet.close();

    const db = join(dir, 'xidan-in.db');
    const init = await run([
      'init',
      '--db',
      db,
      '--device-id',
      'PKI-CLI-IN',
      '--kind',
      'subway-entry',
      '--station',
      '西单',
      '--gateway',
      mainUrl,
      '--operator-token',
      ADMIN,
      '--key-file',
      keyFile,
    ]);
    expect(init.code, init.stderr).toBe(0);

    // The gateway has a device CA: the bearer path is closed, the answer says where to go.
    const before = await run(['sync', '--db', db]);
    expect(before.code).toBe(1);
    expect(JSON.parse(before.stdout)).toMatchObject({ status: 'rejected' });
    expect(before.stdout).toContain('sync-requires-device-tls');

    const enrol = await run(['enrol', '--db', db]);
    expect(enrol.code, enrol.stderr).toBe(0);
    const enrolled = JSON.parse(enrol.stdout) as { serial: string; deviceUrl: string; deviceId: string };
    expect(enrolled).toMatchObject({ command: 'enrol', deviceId: 'PKI-CLI-IN', deviceUrl: listener.url });
    expect(statSync(join(`${db}.pki`, IDENTITY_FILE)).mode & 0o777).toBe(0o600);
    expect(enrol.stdout + enrol.stderr).not.toContain('PRIVATE KEY');

    const taps = join(dir, 'taps.jsonl');
    writeFileSync(taps, JSON.stringify({ card, at: '2026-11-25T08:00:00+08:00' }));
    const tapped = await run(['run', '--db', db, '--wallet', walletPath, '--taps', taps, '--no-sync']);
    expect(tapped.code, tapped.stderr).toBe(0);
    expect(tapped.stdout).toMatch(/ACCEPTED/);

    const synced = await run(['sync', '--db', db]);
    expect(synced.code, synced.stderr).toBe(0);
    expect(JSON.parse(synced.stdout)).toMatchObject({ status: 'drained', uploaded: 1, remainingUnacked: 0 });
    const rows = await store.transaction((tx) => tx.all('SELECT device_seq FROM journal_records WHERE device_id = ?', ['PKI-CLI-IN']));
    expect(rows).toHaveLength(1);

    const notDue = await run(['renew', '--db', db, '--if-due']);
    expect(JSON.parse(notDue.stdout)).toMatchObject({ renewed: false, serial: enrolled.serial });
    const renew = await run(['renew', '--db', db]);
    expect(renew.code, renew.stderr).toBe(0);
    const renewed = JSON.parse(renew.stdout) as { serial: string; renewed: boolean };
    expect(renewed.renewed).toBe(true);
    expect(renewed.serial).not.toBe(enrolled.serial);
    const again = await run(['sync', '--db', db]);
    expect(JSON.parse(again.stdout)).toMatchObject({ status: 'drained' });
  }, 60_000);
});
