/**
 * The gateway process's lifecycle (issue 14.2 and 14.4), end to end with real processes
 * (`tsx gateway/src/main.ts`) in a temporary working directory:
 *
 * - SIGTERM while a real load (POST /v1/loads from a simulated card) is in flight: the listener
 *   closes at once, the load is answered whole (201 with its MAC2), the process exits 0; after a
 *   restart the card is credited with that MAC2 and the load confirmed, and the books reconcile.
 * - A second signal exits at once (130 after SIGINT); a request that outlives the grace period is
 *   cut and the process still exits 0.
 * - Start refusals change nothing: a wrong configuration value or a secret file others can read
 *   is one line per problem, exit 1, and no new file. `npm start` never creates a device CA.
 * - Logs: JSON, ISO-8601 `time`, request ids (a safe incoming X-Request-Id is kept and echoed).
 * - GATEWAY_DEVICE_PKI=off runs no device listener even when a CA exists.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CardSimulator, completeLoad, hexToBytes, parseCardImage } from '#core';
import { COUNTER_TERMINAL_ID, loadRequestFromCard } from '#validator/rider/issue-cards';
import { seededRandom } from '../purse/fixtures.ts';
import { cleanEnv, type GatewayProcess, runGatewayCli, runGatewayToEnd, startGateway } from './support/gateway-process.ts';

const ADMIN = 'lifecycle-admin-token-0123456789abcdef';
const dirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gw-lifecycle-'));
  dirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const env = (extra: Record<string, string> = {}) =>
  cleanEnv({ PORT: '0', HOST: '127.0.0.1', DEVICE_PORT: '0', GATEWAY_ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'info', ...extra });

async function api<T = Record<string, unknown>>(
  gw: GatewayProcess,
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; json: T }> {
  const res = await fetch(`${gw.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as T };
}

/** An HTTP/1.1 request written by hand on a raw socket, so the test decides when its body ends. */
class HeldRequest {
  readonly socket: Socket;
  private received = '';
  readonly closed: Promise<void>;
  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d) => (this.received += d.toString('utf8')));
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }
  static async open(port: number, path: string, headers: Record<string, string>, body: string, sentBytes: number): Promise<HeldRequest> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const request = new HeldRequest(socket);
    const head = [`POST ${path} HTTP/1.1`, 'host: 127.0.0.1', 'content-type: application/json', `content-length: ${Buffer.byteLength(body)}`];
    for (const [name, value] of Object.entries(headers)) head.push(`${name}: ${value}`);
    socket.write(`${head.join('\r\n')}\r\n\r\n${body.slice(0, sentBytes)}`);
    request.rest = body.slice(sentBytes);
    return request;
  }
  private rest = '';
  finish(): void {
    this.socket.write(this.rest);
  }
  /** The whole answer once the server has sent it: status and parsed JSON body. */
  async answer(): Promise<{ status: number; headers: string; json: Record<string, unknown> }> {
    for (let i = 0; i < 200; i++) {
      const split = this.received.indexOf('\r\n\r\n');
      if (split > 0) {
        const headers = this.received.slice(0, split);
        const length = Number(/content-length: (\d+)/i.exec(headers)?.[1] ?? -1);
        const body = this.received.slice(split + 4);
        if (length >= 0 && Buffer.byteLength(body) >= length) {
          return { status: Number(headers.split(' ')[1]), headers, json: JSON.parse(body) as Record<string, unknown> };
        }
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`no complete answer: ${this.received}`);
  }
}

function portRefuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

describe('graceful shutdown', () => {
  let dir: string;
  let gw: GatewayProcess;
  let card: CardSimulator;
  let cardNo: string;
  let counter: string;

  beforeAll(async () => {
    dir = tempDir();
    gw = await startGateway(dir, env());
    const issued = await api<{ card: { cardNo: string }; cardImage: string }>(gw, 'POST', '/v1/cards', ADMIN, {
      holderName: 'Shutdown Rider',
      socialSecurityNo: '11010119900307123X',
      profile: 'adult',
      algorithm: '3des',
    });
    expect(issued.status).toBe(201);
    cardNo = issued.json.card.cardNo;
    card = new CardSimulator(parseCardImage(hexToBytes(issued.json.cardImage)), seededRandom(0x5eed));
    const token = await api<{ token: string }>(gw, 'POST', '/v1/auth/tokens', ADMIN, { role: 'counter', label: 'teller', branchId: 'branch-01' });
    counter = token.json.token;
  }, 60_000);

  it('SIGTERM: the listener closes, the in-flight load is answered whole, exit 0; after a restart it is confirmed', async () => {
    // npm start never creates a device CA: no PKI folder, no device listener.
    expect(existsSync(join(dir, 'var', 'pki'))).toBe(false);
    expect(gw.output()).toContain('no device CA');
    const loadBody = JSON.stringify(loadRequestFromCard(card, cardNo, 5_000, COUNTER_TERMINAL_ID));
    const held = await HeldRequest.open(
      gw.port,
      '/v1/loads',
      { authorization: `Bearer ${counter}`, 'idempotency-key': 'shutdown-load-1', 'x-request-id': 'load-in-flight-1' },
      loadBody,
      40,
    );
    await gw.waitFor(/"reqId":"load-in-flight-1".*"incoming request"/);

    gw.child.kill('SIGTERM');
    await gw.waitFor(/shutdown: no new connections/);
    expect(gw.output()).toMatch(/"signal":"SIGTERM","graceSeconds":10,"openConnections":[1-9]/);
    // The listener is closed to new connections while the load is still in flight.
    expect(await portRefuses(gw.port)).toBe(true);
    expect(gw.child.exitCode).toBeNull();

    held.finish();
    const answer = await held.answer();
    expect(answer.status).toBe(201);
    expect(answer.headers).toMatch(/x-request-id: load-in-flight-1/i);
    expect(answer.json).toMatchObject({ cardNo, status: 'pending' });
    expect(answer.json.mac2).toMatch(/^[0-9A-F]{8}$/);
    await held.closed;

    expect(await gw.exited).toBe(0);
    const log = gw.output();
    for (const step of ['shutdown: main API and device listener closed', 'shutdown: store closed', 'shutdown complete']) expect(log).toContain(step);
    expect(log.indexOf('"statusCode":201')).toBeLessThan(log.indexOf('shutdown: store closed'));
    // A clean stop folds the WAL into the database.
    expect(existsSync(join(dir, 'var', 'gateway.db-wal'))).toBe(false);

    // The load was authorised whole: the card takes its MAC2 and the restarted gateway confirms it.
    const again = await startGateway(dir, env());
    try {
      const credit = completeLoad(card, hexToBytes(String(answer.json.mac2)), Number(answer.json.date), Number(answer.json.time));
      expect(credit.status).toBe('credited');
      if (credit.status !== 'credited') return;
      const confirm = await api(again, 'POST', `/v1/loads/${String(answer.json.id)}/confirm`, counter, {
        tac: Buffer.from(credit.tac).toString('hex').toUpperCase(),
      });
      expect(confirm.status).toBe(200);
      const books = await api<{ ok: boolean; cardLiabilityFen: number }>(again, 'GET', '/v1/ledger/reconciliation', ADMIN);
      expect(books.json).toMatchObject({ ok: true, cardLiabilityFen: 5_000 });
    } finally {
      again.child.kill('SIGTERM');
      expect(await again.exited).toBe(0);
    }
  }, 90_000);
});

describe('signals and the grace period', () => {
  it('a second signal exits at once (130 after SIGINT), without waiting for the held request', async () => {
    const gw = await startGateway(tempDir(), env());
    const held = await HeldRequest.open(gw.port, '/v1/auth/tokens', { authorization: `Bearer ${ADMIN}` }, '{"role":"counter","label":"x"}', 5);
    await gw.waitFor(/"url":"\/v1\/auth\/tokens".*"incoming request"/);
    gw.child.kill('SIGTERM');
    await gw.waitFor(/shutdown: no new connections/);
    const before = Date.now();
    gw.child.kill('SIGINT');
    expect(await gw.exited).toBe(130);
    expect(Date.now() - before).toBeLessThan(3_000);
    expect(gw.output()).toContain('second signal: exiting at once');
    expect(gw.output()).not.toContain('shutdown complete');
    held.socket.destroy();
  }, 60_000);

  it('a request that outlives GATEWAY_SHUTDOWN_GRACE_S is cut, and the gateway still stops cleanly (exit 0)', async () => {
    const gw = await startGateway(tempDir(), env({ GATEWAY_SHUTDOWN_GRACE_S: '1' }));
    const held = await HeldRequest.open(gw.port, '/v1/auth/tokens', { authorization: `Bearer ${ADMIN}` }, '{"role":"counter","label":"x"}', 5);
    await gw.waitFor(/"url":"\/v1\/auth\/tokens".*"incoming request"/);
    const before = Date.now();
    gw.child.kill('SIGTERM');
    expect(await gw.exited).toBe(0);
    expect(Date.now() - before).toBeGreaterThanOrEqual(900);
    expect(Date.now() - before).toBeLessThan(8_000);
    expect(gw.output()).toMatch(/"openConnections":1,"msg":"shutdown: grace period over, closing the remaining connections"/);
    expect(gw.output()).toContain('shutdown complete');
    await held.closed;
  }, 60_000);
});

describe('logs', () => {
  it('JSON lines with ISO-8601 time and request ids; a safe X-Request-Id is kept and echoed, an unsafe one replaced', async () => {
    // With a device CA made by pki init, GATEWAY_DEVICE_PKI=off still runs no device listener.
    const dir = tempDir();
    expect((await runGatewayCli(['pki', 'init'], dir, env())).code).toBe(0);
    const gw = await startGateway(dir, env({ GATEWAY_DEVICE_PKI: 'off' }));
    try {
      expect(gw.output()).toContain('device PKI off (GATEWAY_DEVICE_PKI=off)');
      expect(gw.output()).not.toContain('https://');
      const kept = await fetch(`${gw.url}/healthz`, { headers: { 'x-request-id': 'lb-7f3a.0001' } });
      expect(kept.headers.get('x-request-id')).toBe('lb-7f3a.0001');
      const replaced = await fetch(`${gw.url}/healthz`, { headers: { 'x-request-id': `bad id <script>${'x'.repeat(80)}` } });
      const generated = replaced.headers.get('x-request-id') ?? '';
      expect(generated).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      const missing = await fetch(`${gw.url}/v1/cards/1000000000000016`, { headers: { authorization: `Bearer ${ADMIN}` } });
      expect(missing.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      await gw.waitFor(new RegExp(`"reqId":"${generated}".*"request completed"`));
      // Card numbers are masked in the log.
      const cardLine = await gw.waitFor(/"reqId":"([0-9a-f-]{36})","req":\{"method":"GET","url":"\/v1\/cards\/1000\*{8}0016"/);
      expect(missing.headers.get('x-request-id')).toBe(cardLine[1]);
      await gw.waitFor(new RegExp(`"reqId":"${cardLine[1]}".*"request completed"`));
      const lines = gw
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'));
      expect(lines.length).toBeGreaterThan(5);
      for (const line of lines) {
        const entry = JSON.parse(line) as { time: string; level: number };
        expect(entry.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      }
      expect(gw.output()).toContain('"reqId":"lb-7f3a.0001"');
      expect(gw.output()).not.toContain('<script>');
      expect(gw.output()).not.toContain('1000000000000016');
      expect(gw.output()).not.toContain(ADMIN);
    } finally {
      gw.child.kill('SIGTERM');
      await gw.exited;
    }
  }, 60_000);
});

describe('a refused start changes nothing', () => {
  it('wrong configuration values in an empty folder: one line each naming the variable, exit 1, the folder stays empty', async () => {
    const dir = tempDir();
    const result = await runGatewayToEnd(
      dir,
      env({ PORT: '80a', GATEWAY_SHUTDOWN_GRACE_S: '-1', GATEWAY_DEVICE_PKI: 'maybe', GATEWAY_ADMIN_TOKEN: 'short', GATEWAY_SECRET_DIR: 'x' }),
    );
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toEqual([
      'gateway: warning: unknown variable GATEWAY_SECRET_DIR is ignored (did you mean GATEWAY_SECRETS_DIR?)',
      'gateway failed to start: PORT must be a whole number 0..65535 (a TCP port), got "80a"',
      'gateway failed to start: GATEWAY_ADMIN_TOKEN must be 16..256 characters of [A-Za-z0-9._~+/=-]',
      'gateway failed to start: GATEWAY_SHUTDOWN_GRACE_S must be a whole number 0..600 (seconds), got "-1"',
      'gateway failed to start: GATEWAY_DEVICE_PKI must be auto, on or off, got "maybe"',
    ]);
    expect(readdirSync(dir)).toEqual([]);
  }, 30_000);

  it('a secret file others can read: one line, exit 1, nothing created', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'var', 'secrets'), { recursive: true, mode: 0o700 });
    chmodSync(join(dir, 'var', 'secrets'), 0o700);
    writeFileSync(join(dir, 'var', 'secrets', 'admin-token'), 'readable-by-all-0123456789\n', { mode: 0o644 });
    chmodSync(join(dir, 'var', 'secrets', 'admin-token'), 0o644);
    const result = await runGatewayToEnd(dir, env({ GATEWAY_ADMIN_TOKEN: '' }));
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      `gateway failed to start: ${join(dir, 'var', 'secrets', 'admin-token')} is readable by group or others (mode 644): run chmod 600 ${join(dir, 'var', 'secrets', 'admin-token')}`,
    );
    expect(readdirSync(join(dir, 'var'))).toEqual(['secrets']);
    expect(readdirSync(join(dir, 'var', 'secrets'))).toEqual(['admin-token']);

    chmodSync(join(dir, 'var', 'secrets', 'admin-token'), 0o600);
    chmodSync(join(dir, 'var', 'secrets'), 0o750);
    const folder = await runGatewayToEnd(dir, env({ GATEWAY_ADMIN_TOKEN: '' }));
    expect(folder.code).toBe(1);
    expect(folder.stderr.trim()).toMatch(/^gateway failed to start: secrets folder .* is open to group or others \(mode 750\): run chmod 700 /);
    expect(readdirSync(join(dir, 'var'))).toEqual(['secrets']);
  }, 30_000);

  it('a start that fails after validation (port taken) removes the files it created', async () => {
    const dir = tempDir();
    const first = await startGateway(tempDir(), env());
    try {
      const result = await runGatewayToEnd(dir, env({ PORT: String(first.port), GATEWAY_ADMIN_TOKEN: '' }));
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('EADDRINUSE');
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      first.child.kill('SIGTERM');
      await first.exited;
    }
  }, 60_000);

  it('GATEWAY_DEVICE_PKI=on without a device CA refuses to start, naming the files and pki init', async () => {
    const dir = tempDir();
    const result = await runGatewayToEnd(dir, env({ GATEWAY_DEVICE_PKI: 'on' }));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^gateway failed to start: no device CA \(.*device-ca\.key\.pem, .*device-ca\.cert\.pem\): run "npm run gateway -- pki init"\n$/,
    );
    expect(readdirSync(dir)).toEqual([]);
  }, 30_000);
});
