/** The validator CLI as a user runs it: spawned with tsx, against a loopback gateway. */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serializeKeyFile } from '#issuer/key-file';
import { CardWallet } from '#validator/rider/card-wallet';
import { readCardFile, writeCardFile } from '#validator/rider/card-file';
import { testKeySets } from '../purse/fixtures.ts';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from './gateway-fixture.ts';
import { tempDir } from './temp-db.ts';

const REPO = join(import.meta.dirname, '..', '..');
const CLI = join(REPO, 'validator-firmware-sim', 'src', 'cli.ts');

function run(args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

let gw: TestGateway;
let tmp: ReturnType<typeof tempDir>;
let keyFile: string;
beforeAll(async () => {
  gw = await startTestGateway();
  tmp = tempDir('validator-cli-');
  keyFile = tmp.file('issuer-keys.json');
  writeFileSync(keyFile, serializeKeyFile({ currentKeyVersion: 1, keySets: testKeySets() }), { mode: 0o600 });
});
afterAll(async () => {
  await gw.close();
  tmp.cleanup();
});

describe('validator CLI', () => {
  it('--help documents every command and the tap stream format', async () => {
    const { code, stdout } = await run(['--help']);
    expect(code).toBe(0);
    for (const word of ['init', 'run', 'sync', 'status', 'wallet', '--taps', '--station', '--line', '--lot', '--park', '--gateway', '"tear"', 'durable'])
      expect(stdout).toContain(word);
  });

  it('exits 2 with a clear message on a usage error', async () => {
    const none = await run([]);
    expect(none.code).toBe(2);
    const badStation = await run([
      'init',
      '--db',
      tmp.file('x.db'),
      '--device-id',
      'X-1',
      '--kind',
      'subway-entry',
      '--station',
      '不存在站',
      '--key-file',
      keyFile,
    ]);
    expect(badStation.code).toBe(2);
    expect(badStation.stderr).toMatch(/not in the subway network/);
    // A missing device database is a failed job naming the file (exit 1), not a usage error.
    const noDb = await run(['status', '--db', tmp.file('missing.db')]);
    expect(noDb.code).toBe(1);
    expect(noDb.stderr).toMatch(/missing\.db: no such device database \(run "validator init" first\)/);
  });

  it('init at a named station, a scripted stream of taps (entry, exit, torn, recovered), sync, status', async () => {
    const walletPath = tmp.file('cards.db');
    const wallet = new CardWallet(walletPath);
    const card = await gw.issueLoadedCard(wallet, 5_000);
    const poor = await gw.issueLoadedCard(wallet, 0);
    wallet.close();
    const entryDb = tmp.file('xidan-in.db');
    const exitDb = tmp.file('guomao-out.db');
    const common = ['--gateway', gw.url, '--operator-token', ADMIN_TOKEN, '--key-file', keyFile];
    const a = await run(['init', '--db', entryDb, '--device-id', 'CLI-XIDAN-IN', '--kind', 'subway-entry', '--station', '西单', ...common]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/initialised CLI-XIDAN-IN \(subway-entry at 西单\).*registered/);
    const b = await run(['init', '--db', exitDb, '--device-id', 'CLI-GUOMAO-OUT', '--kind', 'subway-exit', '--station', '国贸', ...common]);
    expect(b.code, b.stderr).toBe(0);

    const inStream = tmp.file('in.jsonl');
    writeFileSync(
      inStream,
      [`# morning`, JSON.stringify({ card, at: '2026-11-25T08:00:00+08:00' }), JSON.stringify({ card: poor, at: '2026-11-25T08:00:10+08:00' })].join('\n'),
    );
    const entered = await run(['run', '--db', entryDb, '--wallet', walletPath, '--taps', inStream, '--no-sync']);
    expect(entered.code, entered.stderr).toBe(0);
    const inLines = entered.stdout.trim().split('\n');
    expect(inLines[0]).toMatch(new RegExp(`^tap 0  ACCEPTED  card ${card}  fare 0.00  balance 50.00  seq 1`));
    expect(inLines[1]).toMatch(new RegExp(`^tap 1  REFUSED   INSUFFICIENT_BALANCE  card ${poor}`));

    const outStream = tmp.file('out.jsonl');
    writeFileSync(
      outStream,
      [JSON.stringify({ card, at: '2026-11-25T08:30:00+08:00', tear: 'after-write' }), JSON.stringify({ card, at: '2026-11-25T08:30:03+08:00' })].join('\n'),
    );
    const exited = await run(['run', '--db', exitDb, '--wallet', walletPath, '--taps', outStream, '--no-sync']);
    expect(exited.code, exited.stderr).toBe(0);
    const outLines = exited.stdout.trim().split('\n');
    expect(outLines[0]).toMatch(/^tap 0 {2}REFUSED {3}CARD_REMOVED/);
    expect(outLines[1]).toMatch(
      /^tap 1 {2}ACCEPTED {2}TORN_TRANSACTION_RECOVERED {2}card \d{16} {2}fare \d+\.\d\d {2}balance \d+\.\d\d {2}seq 1 {2}\(torn purchase recovered\)/,
    );

    for (const db of [entryDb, exitDb]) {
      const synced = await run(['sync', '--db', db]);
      expect(synced.code, synced.stderr).toBe(0);
      expect(JSON.parse(synced.stdout)).toMatchObject({ status: 'drained', remainingUnacked: 0 });
    }
    const status = await run(['status', '--db', exitDb]);
    expect(JSON.parse(status.stdout)).toMatchObject({ deviceId: 'CLI-GUOMAO-OUT', nextDeviceSeq: 2, unackedCount: 0, watermark: 1, pendingPurchases: 0 });
    const check = new CardWallet(walletPath);
    const image = check.image(card);
    check.close();
    expect(await gw.shadowBalanceFen(card)).toBe(image.balanceFen - image.overdraftUsedFen);
  });

  it('reads taps interactively from standard input', async () => {
    const walletPath = tmp.file('cards-interactive.db');
    const wallet = new CardWallet(walletPath);
    const card = await gw.issueLoadedCard(wallet, 5_000);
    wallet.close();
    const busDb = tmp.file('bus.db');
    expect((await run(['init', '--db', busDb, '--device-id', 'CLI-BUS-1', '--kind', 'bus', '--line', '1', '--key-file', keyFile])).code).toBe(0);
    const session = await run(['run', '--db', busDb, '--wallet', walletPath, '--no-sync'], `${card}\nnot-a-card\nstatus\nquit\n`);
    expect(session.code, session.stderr).toBe(0);
    expect(session.stdout).toMatch(new RegExp(`tap 0  ACCEPTED  card ${card}  fare 1.00  balance 49.00`));
    expect(session.stderr).toMatch(/not a tap/);
    expect(session.stdout).toMatch(/"nextDeviceSeq":2/);
  });

  it('takes a card kept in its own image file and writes its new state back', async () => {
    const walletPath = tmp.file('cards-file.db');
    const wallet = new CardWallet(walletPath);
    const card = await gw.issueLoadedCard(wallet, 5_000);
    const cardFile = tmp.file('alice.card');
    writeCardFile(cardFile, wallet.image(card));
    wallet.close();
    const parkDb = tmp.file('park.db');
    expect((await run(['init', '--db', parkDb, '--device-id', 'CLI-PARK-101', '--kind', 'park-gate', '--park', '101', '--key-file', keyFile])).code).toBe(0);
    const stream = tmp.file('park.jsonl');
    writeFileSync(stream, `${JSON.stringify({ cardImage: cardFile, at: '2026-11-25T10:00:00+08:00' })}\n`);
    const visit = await run(['run', '--db', parkDb, '--taps', stream, '--no-sync', '--json']);
    expect(visit.code, visit.stderr).toBe(0);
    const result = JSON.parse(visit.stdout.trim());
    expect(result).toMatchObject({ tap: 0, status: 'accepted', chargeFen: 1_000, balanceAfterFen: 4_000, deviceSeqs: [1] });
    const image = readCardFile(cardFile).image;
    expect(image.balanceFen - image.overdraftUsedFen).toBe(4_000);
  });
});
