/**
 * The production path as an operator takes it (issue 14): a copy of the repository in a temporary
 * folder (never the tree this suite runs from), `npm ci --omit=dev` there from the local npm
 * cache, the compiled build, `npm start` of the compiled gateway with only `dependencies`
 * installed, readiness, metrics, a real top-up over HTTP, and SIGTERM sent to the npm process
 * while a load request is in flight: the load finishes whole, both ports close, no process of the
 * group is left, and a restarted gateway finds the load and confirms it.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CardSimulator, parseCardImage, SW, transactionDateBytes, transactionTimeBytes } from '#core';
import { projectRoot } from '#tools/shared-data';
import { COUNTER_TERMINAL_ID, loadRequestFromCard } from '#validator/rider/issue-cards';

const ROOT = projectRoot();
const SHARED = join(ROOT, '..', 'shared');
const ADMIN = 'production-path-admin-token-0123456789';
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

let base: string;
let copy: string;
let env: NodeJS.ProcessEnv;
/** Process groups of every `npm start`: a test that fails half-way must not leave a gateway running. */
const startedGroups: number[] = [];

/** The files of the repository as a clone has them (tracked plus new, not ignored), copied one by one. */
function copyRepository(to: string): void {
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const file of files) {
    const from = join(ROOT, file);
    if (!existsSync(from)) continue; // deleted in the work tree, not yet committed
    mkdirSync(dirname(join(to, file)), { recursive: true });
    cpSync(from, join(to, file));
  }
}

function run(command: string, args: string[], cwd: string, timeoutMs: number): string {
  return execFileSync(command, args, { cwd, env, encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
}

interface Started {
  child: ChildProcess;
  output: string[];
  mainUrl: string;
  deviceUrl: string | null;
}

/** `npm start` in its own process group; resolves when the main API (and the device listener, when a CA exists) listen. */
function npmStart(expectDeviceListener: boolean): Promise<Started> {
  const child = spawn('npm', ['start'], { cwd: copy, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  if (child.pid !== undefined) startedGroups.push(child.pid);
  const output: string[] = [];
  return new Promise((resolve, reject) => {
    let mainUrl = '';
    let deviceUrl: string | null = null;
    const timer = setTimeout(() => reject(new Error(`the built gateway did not start:\n${output.join('')}`)), 120_000);
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      output.push(text);
      for (const m of text.matchAll(/Server listening at (https?:\/\/[0-9.]+:[0-9]+)/g)) {
        if (m[1].startsWith('https:')) deviceUrl = m[1];
        else mainUrl = m[1];
      }
      if (mainUrl && (deviceUrl || !expectDeviceListener)) {
        clearTimeout(timer);
        resolve({ child, output, mainUrl, deviceUrl });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited ${code} before listening:\n${output.join('')}`));
    });
  });
}

async function json(url: string, token: string | null, body?: unknown, extraHeaders: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...extraHeaders },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : text };
}

function portRefuses(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'production-path-'));
  copy = join(base, 'transit-purse-core');
  // The clone's neighbour: ../shared, read-only data (the subway network).
  symlinkSync(SHARED, join(base, 'shared'));
  copyRepository(copy);
  env = {
    ...process.env,
    HOST: '127.0.0.1',
    PORT: '0',
    DEVICE_PORT: '0',
    GATEWAY_ADMIN_TOKEN: ADMIN,
    LOG_LEVEL: 'info',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
  };
  for (const name of Object.keys(env)) {
    if (
      (name.startsWith('GATEWAY_') && name !== 'GATEWAY_ADMIN_TOKEN') ||
      name === 'SUBWAY_NETWORK_CSV' ||
      name.startsWith('npm_package_') ||
      name === 'npm_lifecycle_event'
    )
      delete env[name];
  }
  // Production installs dependencies only, from the local cache where it has them.
  run('npm', ['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund'], copy, 1_200_000);
  // The build emits plain JavaScript; its typecheck is the suite's own `npm run typecheck`, and the
  // compiler is this tree's (dev dependencies are not installed in the copy).
  // (--noCheck emits without type information, so the node types, a dev dependency, are not needed.)
  writeFileSync(join(copy, 'tsconfig.emit-only.json'), JSON.stringify({ extends: './tsconfig.build.json', compilerOptions: { types: [] } }));
  run(process.execPath, [TSC, '-p', 'tsconfig.emit-only.json', '--noCheck'], copy, 180_000);
  run(process.execPath, ['tools/build/write-dist-package.mjs'], copy, 30_000);
}, 1_800_000);

afterAll(() => {
  for (const pgid of startedGroups) {
    if (!groupAlive(pgid)) continue;
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (base) rmSync(base, { recursive: true, force: true });
});

describe('production: dependencies only, compiled JavaScript, npm start, SIGTERM', () => {
  it('installs no development dependency and runs no TypeScript', () => {
    for (const dev of ['tsx', 'vitest', 'typescript', '@biomejs/biome', 'fast-check', 'tinybench'])
      expect(existsSync(join(copy, 'node_modules', dev)), dev).toBe(false);
    const start = JSON.parse(readFileSync(join(copy, 'package.json'), 'utf8')).scripts.start as string;
    expect(start).toMatch(/^exec node dist\//);
    expect(existsSync(join(copy, 'dist', 'gateway', 'src', 'main.js'))).toBe(true);
  });

  it('every CLI runs from the build and answers --help', () => {
    for (const cli of ['dist/gateway/src/cli.js', 'dist/validator-firmware-sim/src/cli.js', 'dist/demo/city-day.js']) {
      const out = run(process.execPath, [cli, '--help'], copy, 30_000);
      expect(out, cli).toMatch(/usage/i);
    }
  }, 120_000);

  it('serves, is ready, exports metrics, finishes an in-flight load on SIGTERM through npm, leaves no process, and the load survives', async () => {
    // The device CA exists only when an operator creates it; then the device listener runs too.
    run(process.execPath, ['dist/gateway/src/cli.js', 'pki', 'init'], copy, 60_000);
    const first = await npmStart(true);
    const pgid = first.child.pid!;
    const { mainUrl } = first;
    expect(first.deviceUrl).not.toBeNull();

    const ready = await json(`${mainUrl}/readyz`, null);
    expect(ready.status, JSON.stringify(ready.body)).toBe(200);
    const metrics = await fetch(`${mainUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await metrics.text()).toMatch(/^# HELP /m);

    // A card from the issuer, and a counter to top it up.
    const issued = await json(`${mainUrl}/v1/cards`, ADMIN, { holderName: 'Prod Rider', socialSecurityNo: '11010119900307123X', profile: 'adult' });
    expect(issued.status).toBe(201);
    const cardNo = issued.body.card.cardNo as string;
    const card = new CardSimulator(parseCardImage(Uint8Array.from(Buffer.from(issued.body.cardImage, 'hex'))), () => new Uint8Array([1, 2, 3, 4]));
    const counter = await json(`${mainUrl}/v1/auth/tokens`, ADMIN, { role: 'counter', label: 'production test counter', branchId: 'branch-01' });
    expect(counter.status).toBe(201);
    const counterToken = counter.body.token as string;

    // The load request goes out in two halves: SIGTERM arrives between them, with the request in flight.
    const loadBody = JSON.stringify(loadRequestFromCard(card, cardNo, 5_000, COUNTER_TERMINAL_ID));
    const { hostname, port } = new URL(mainUrl);
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        {
          host: hostname,
          port: Number(port),
          method: 'POST',
          path: '/v1/loads',
          headers: {
            authorization: `Bearer ${counterToken}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(loadBody),
            'idempotency-key': `prod-${cardNo}`,
          },
        },
        (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      req.write(loadBody.slice(0, 40));
      setTimeout(() => {
        process.kill(pgid, 'SIGTERM'); // to npm itself, as a supervisor would
        setTimeout(() => req.end(loadBody.slice(40)), 500);
      }, 200);
    });
    const exited = new Promise<number | null>((resolve) => first.child.on('exit', (code) => resolve(code)));
    const load = await answer;
    expect(load.status, load.body).toBe(201);
    const authorised = JSON.parse(load.body);
    expect(authorised.status).toBe('pending');
    expect(await exited).toBe(0);
    const deadline = Date.now() + 15_000;
    while (groupAlive(pgid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(groupAlive(pgid), 'a process of the npm start group is still running').toBe(false);
    expect(await portRefuses(mainUrl)).toBe(true);
    expect(await portRefuses(first.deviceUrl!)).toBe(true);
    expect(first.output.join('')).not.toContain(ADMIN);

    // Restarted, the gateway has the load, pending, with its MAC2; the card takes it and it is confirmed.
    const second = await npmStart(true);
    try {
      const stored = await json(`${second.mainUrl}/v1/loads/${authorised.id}`, counterToken);
      expect(stored.status).toBe(200);
      expect(stored.body.status).toBe('pending');
      expect(stored.body.amount).toBe('50.00');
      const credit = card.creditForLoad(transactionDateBytes(authorised.date), transactionTimeBytes(authorised.time), Buffer.from(authorised.mac2, 'hex'));
      expect(credit.sw).toBe(SW.success);
      const confirmed = await json(`${second.mainUrl}/v1/loads/${authorised.id}/confirm`, counterToken, {
        tac: Buffer.from(credit.data.slice(0, 4)).toString('hex').toUpperCase(),
      });
      expect(confirmed.status).toBe(200);
      expect(confirmed.body.status).toBe('confirmed');
    } finally {
      process.kill(second.child.pid!, 'SIGTERM');
      await new Promise((resolve) => second.child.on('exit', resolve));
    }
  }, 300_000);
});
