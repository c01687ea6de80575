/**
 * Proof that several gateway instances on one PostgreSQL database apply every operation exactly
 * once (issue 6). Three REAL gateway processes (`tsx gateway/src/main.ts`, as `npm start` runs
 * it) start at the same moment on a fresh schema (so their migration runs race too), then
 * are hammered over loopback HTTP at the same time with: the same Idempotency-Key loads, the
 * same load confirmations, the same sync batches from a device, refunds of the same card, loss
 * reports of the same card, and the payout job. Every card, MAC1, MAC2 and TAC is genuine: card
 * simulators, software PSAMs and the issuer keys from the key file the gateways share.
 * Then the database is counted directly and each instance's reconciliation must say "0.00".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pack, unpack } from 'msgpackr';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CardSimulator, parseCardImage, type SyncResponse } from '#core';
import { issuerKeyServiceFromFile } from '#issuer/key-file';
import type { IssuerKeyService } from '#issuer/issuer-key-service';
import { MIGRATIONS } from '#gateway/store/migrations/index';
import { creditLoad, initLoad, syncRequest, tap, type Validator } from './money-fixtures.ts';
import { makePsam, seededRandom } from '../purse/fixtures.ts';
import { serviceAvailable } from '../support/services.ts';
import { assertPostgresUp, dropSchema, freshSchemaName, PG_URL } from '../store/pg-test-db.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = join(ROOT, 'node_modules/.bin/tsx');
const ADMIN = 'multi-instance-admin-token-0123456789';
const INSTANCES = 3;

interface Instance {
  child: ChildProcess;
  baseUrl: string;
  output: string[];
}

let schema = '';
let dir = '';
let issuer: IssuerKeyService;
const instances: Instance[] = [];

/** Starts one gateway process and resolves with its base URL once it listens (PORT=0: the OS picks). */
function startGateway(index: number): Promise<Instance> {
  const child = spawn(TSX, ['gateway/src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      GATEWAY_DATABASE_URL: `${PG_URL}?schema=${schema}`,
      GATEWAY_DB: join(dir, `unused-${index}.db`),
      GATEWAY_KEY_FILE: join(dir, 'issuer-keys.json'),
      GATEWAY_ADMIN_TOKEN: ADMIN,
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway ${index} did not start:\n${output.join('')}`)), 30_000);
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output.push(text);
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output.join(''));
      if (match) {
        clearTimeout(timer);
        resolve({ child, baseUrl: match[1], output });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway ${index} exited with ${code}:\n${output.join('')}`));
    });
  });
}

function stopGateway(instance: Instance): Promise<void> {
  return new Promise((resolve) => {
    if (instance.child.exitCode !== null) return resolve();
    const timer = setTimeout(() => instance.child.kill('SIGKILL'), 5_000);
    instance.child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    instance.child.kill('SIGTERM');
  });
}

interface Reply {
  status: number;
  json: any;
  raw: Buffer;
}

/** One HTTP call to instance `i` (round-robin callers pass a counter). */
async function call(
  i: number,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; json?: unknown; body?: Buffer } = {},
): Promise<Reply> {
  const instance = instances[i % instances.length];
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  let body: string | Buffer | undefined;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.body !== undefined) {
    body = options.body;
  }
  const res = await fetch(`${instance.baseUrl}${path}`, { method, headers, body });
  const raw = Buffer.from(await res.arrayBuffer());
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, json: type.includes('json') ? JSON.parse(raw.toString('utf8')) : undefined, raw };
}

/** `copies` identical calls spread over every instance, all in flight at once. */
function hammer(copies: number, method: string, path: string, options: Parameters<typeof call>[3]): Promise<Reply[]> {
  return Promise.all(Array.from({ length: copies }, (_, i) => call(i, method, path, options)));
}

const admin = { authorization: `Bearer ${ADMIN}` };

async function query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

async function countOf(sql: string, params: unknown[] = []): Promise<number> {
  return Number((await query<{ n: string }>(sql, params))[0].n);
}

const POSTGRES_UP = serviceAvailable('postgres', 'gateway processes on one PostgreSQL database');

beforeAll(async () => {
  if (!POSTGRES_UP) return;
  await assertPostgresUp();
  schema = freshSchemaName('multi');
  dir = mkdtempSync(join(tmpdir(), 'pg-multi-'));
  // The key file the gateways share (created here, mode 0600); the PSAMs need the same keys.
  issuer = issuerKeyServiceFromFile(join(dir, 'issuer-keys.json'));
  // All three at once: their migration runs race on the empty schema.
  const started = await Promise.allSettled(Array.from({ length: INSTANCES }, (_, i) => startGateway(i)));
  for (const s of started) if (s.status === 'fulfilled') instances.push(s.value);
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}, 60_000);

afterAll(async () => {
  await Promise.all(instances.map(stopGateway));
  if (schema) await dropSchema(schema);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!POSTGRES_UP)(`${INSTANCES} gateway processes on one PostgreSQL database`, () => {
  it('apply every operation exactly once under concurrent identical requests, and the books balance', async () => {
    expect(instances).toHaveLength(INSTANCES);
    expect(new Set(instances.map((i) => i.baseUrl)).size).toBe(INSTANCES);
    // Racing migrations: each applied once.
    expect(await countOf('SELECT COUNT(*) AS n FROM schema_migrations')).toBe(MIGRATIONS.length);

    const counterToken = await call(0, 'POST', '/v1/auth/tokens', { headers: admin, json: { role: 'counter', label: 'teller', branchId: 'branch-01' } });
    expect(counterToken.status).toBe(201);
    const counter = { authorization: `Bearer ${counterToken.json.token}` };

    // Cards A, B, C, issued on different instances.
    const cards: Array<{ cardNo: string; card: CardSimulator }> = [];
    for (let i = 0; i < 3; i++) {
      const res = await call(i, 'POST', '/v1/cards', {
        headers: admin,
        json: { holderName: 'Rider', socialSecurityNo: '11010119900307123X', profile: 'adult', algorithm: i === 1 ? 'sm4' : '3des' },
      });
      expect(res.status).toBe(201);
      const image = parseCardImage(Uint8Array.from(Buffer.from(res.json.cardImage, 'hex')));
      cards.push({ cardNo: res.json.card.cardNo, card: new CardSimulator(image, seededRandom(0xabc + i)) });
    }
    const [a, b, c] = cards;

    // 1. Loads: every card's load sent 9 times with one Idempotency-Key, all 27 in flight at once.
    const loadBodies = cards.map(({ card, cardNo }) => initLoad(card, cardNo, 5_000));
    const loadAnswers = await Promise.all(
      loadBodies.map((body, k) => hammer(9, 'POST', '/v1/loads', { headers: { ...counter, 'idempotency-key': `load-${k}` }, json: body })),
    );
    for (const answers of loadAnswers) {
      expect(answers.map((r) => r.status)).toEqual(new Array(9).fill(201));
      expect(new Set(answers.map((r) => r.json.id)).size).toBe(1);
    }
    // Confirm each load 6 times at once with the card's genuine TAC.
    await Promise.all(
      cards.map(async ({ card }, k) => {
        const load = loadAnswers[k][0].json;
        const tac = creditLoad(card, load);
        const confirms = await hammer(6, 'POST', `/v1/loads/${load.id}/confirm`, { headers: counter, json: { tac } });
        expect(confirms.map((r) => r.status)).toEqual(new Array(6).fill(200));
      }),
    );
    expect(await countOf('SELECT COUNT(*) AS n FROM loads')).toBe(3);
    expect(await countOf("SELECT COUNT(*) AS n FROM loads WHERE status = 'confirmed'")).toBe(3);
    expect(await countOf("SELECT COUNT(*) AS n FROM ledger_postings WHERE kind = 'load-confirm'")).toBe(3);

    // 2. Sync: two validators; each uploads its batch 6 times at once across the instances.
    const validators: Validator[] = [];
    for (const [i, deviceId] of ['gate-m1', 'gate-m2'].entries()) {
      const res = await call(i, 'POST', '/v1/devices', { headers: admin, json: { deviceId, kind: 'subway-gate', station: 'S1' } });
      expect(res.status).toBe(201);
      const terminalId = Uint8Array.of(0x20, 0x26, 0, 0, 0, 0x31 + i);
      validators.push({ deviceId, psam: makePsam(issuer, terminalId, 1), seq: 0, headers: { authorization: `Bearer ${res.json.credential}` } });
    }
    const t0 = Date.now() - 60 * 60 * 1000;
    const fares: Record<string, number> = { [a.cardNo]: 0, [b.cardNo]: 0, [c.cardNo]: 0 };
    const batches = validators.map((v, vi) =>
      cards.flatMap(({ card, cardNo }, ci) =>
        [1, 2].map((n) => {
          const amountFen = 100 * (vi + 1) + 10 * ci + n;
          fares[cardNo] += amountFen;
          return tap(v, card, cardNo, amountFen, t0 + 60_000 * (vi * 10 + ci * 2 + n));
        }),
      ),
    );
    const syncAnswers = await Promise.all(
      validators.map((v, vi) =>
        hammer(6, 'POST', `/v1/devices/${v.deviceId}/sync`, {
          headers: { ...v.headers, 'content-type': 'application/x-msgpack' },
          body: pack(syncRequest(v, batches[vi])),
        }),
      ),
    );
    for (const [vi, answers] of syncAnswers.entries()) {
      for (const r of answers) {
        expect(r.status).toBe(200);
        const response = unpack(r.raw) as SyncResponse;
        expect(response.acknowledged).toEqual(batches[vi].map((rec) => rec.deviceSeq));
        expect(response.quarantined).toEqual([]);
        expect(response.watermark).toBe(batches[vi].length);
      }
    }
    const taps = batches.flat().length;
    expect(await countOf('SELECT COUNT(*) AS n FROM journal_records')).toBe(taps);
    expect(await countOf('SELECT COUNT(*) AS n FROM card_debits')).toBe(taps);
    expect(await countOf("SELECT COUNT(*) AS n FROM ledger_postings WHERE kind = 'sync-debits'")).toBe(2);
    // The two devices' batches race, so a card's later ATCs may land before its earlier ones:
    // an 'atc-gap' anomaly is then noted while the gap is open. Nothing else may be flagged,
    // and once both batches are in, every card's chain is whole (ATC 0..3, none missing).
    expect(await countOf("SELECT COUNT(*) AS n FROM money_anomalies WHERE kind <> 'atc-gap'")).toBe(0);
    for (const { cardNo } of cards) {
      const [chain] = await query<{ next_atc: string; max_atc: string }>('SELECT next_atc, max_atc FROM card_chains WHERE card_no = $1', [cardNo]);
      expect([Number(chain.next_atc), Number(chain.max_atc)]).toEqual([4, 3]);
    }
    for (const { cardNo } of cards) {
      const [row] = await query<{ shadow_balance_fen: string }>('SELECT shadow_balance_fen FROM card_accounts WHERE card_no = $1', [cardNo]);
      expect(Number(row.shadow_balance_fen)).toBe(5_000 - fares[cardNo]);
    }

    // 3. Refunds of card C, requested 6 times at once; loss reports of card B, 6 at once.
    const destination = { destinationAccount: '6222020200112233445', destinationName: 'Rider' };
    const [refundAnswers, lossAnswers] = await Promise.all([
      hammer(6, 'POST', `/v1/cards/${c.cardNo}/refunds`, { headers: counter, json: destination }),
      hammer(6, 'POST', `/v1/cards/${b.cardNo}/loss-reports`, { headers: counter, json: { kind: 'formal' } }),
    ]);
    expect(refundAnswers.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 201]);
    expect(new Set(refundAnswers.map((r) => r.json.id)).size).toBe(1);
    expect(lossAnswers.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
    const refundId = refundAnswers[0].json.id as string;

    // The devices drain after downloading the blacklist (each sync sent to every instance at once),
    // then every instance runs the payout job at the same time.
    const version = Number((await query<{ v: string }>('SELECT MAX(version) AS v FROM blacklist_log'))[0].v);
    await Promise.all(
      validators.map((v) =>
        hammer(3, 'POST', `/v1/devices/${v.deviceId}/sync`, {
          headers: { ...v.headers, 'content-type': 'application/x-msgpack' },
          body: pack(syncRequest(v, [], version)),
        }),
      ),
    );
    const jobs = await hammer(6, 'POST', '/v1/ops/jobs/run', { headers: admin, json: {} });
    expect(jobs.every((r) => r.status === 200)).toBe(true);
    const refund = await call(1, 'GET', `/v1/refunds/${refundId}`, { headers: counter });
    expect(refund.json).toMatchObject({ status: 'paid', paidFen: 5_000 - fares[c.cardNo] });

    expect(await countOf('SELECT COUNT(*) AS n FROM refunds')).toBe(1);
    expect(await countOf("SELECT COUNT(*) AS n FROM ledger_postings WHERE kind = 'refund-paid'")).toBe(1);
    expect(await countOf('SELECT COUNT(*) AS n FROM loss_reports WHERE card_no = $1', [b.cardNo])).toBe(1);
    expect(await countOf("SELECT COUNT(*) AS n FROM blacklist_log WHERE op = 'add'")).toBe(2);
    // The blacklist delta log has no holes (versions 1..n): validators never skip an entry.
    const versions = await query<{ version: string }>('SELECT version FROM blacklist_log ORDER BY version');
    expect(versions.map((r) => Number(r.version))).toEqual(versions.map((_, i) => i + 1));

    // 4. The books: every instance reports a zero discrepancy; every posting sums to zero.
    for (let i = 0; i < INSTANCES; i++) {
      const rec = await call(i, 'GET', '/v1/ledger/reconciliation', { headers: admin });
      expect(rec.status).toBe(200);
      expect(rec.json).toMatchObject({ ok: true, discrepancy: '0.00' });
    }
    expect(await countOf('SELECT COUNT(*) AS n FROM (SELECT posting_id FROM ledger_entries GROUP BY posting_id HAVING SUM(amount_fen) <> 0) AS u')).toBe(0);
    const [bank] = await query<{ s: string }>("SELECT SUM(amount_fen) AS s FROM ledger_entries WHERE account = 'bank:refund-payouts'");
    expect(Number(bank.s)).toBe(-(5_000 - fares[c.cardNo]));
  }, 60_000);
});
