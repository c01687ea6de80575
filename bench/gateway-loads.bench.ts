/**
 * Gateway loads over HTTP on loopback with durable commit (issue 7): the authorise step,
 * POST /v1/loads, at 50 concurrent clients: >= 2,000 loads/s and p99 <= 20 ms; ratio to a
 * Fastify hello-world measured in the same run (autocannon for the HTTP load). The confirm step
 * (POST /v1/loads/{id}/confirm with the card's TAC) is measured separately.
 *
 * Setup (outside any timed run): a gateway SQLite file with one counter token and one card per
 * load (issued through the cards service with the real issuer key service); for every card a
 * genuine INITIALIZE FOR LOAD from a CardSimulator, i.e. a real MAC1, turned into a request body
 * with its own Idempotency-Key. One load per card: a card's next INIT is card evidence that
 * settles its earlier pending load, which would add a void to the measured work.
 *
 * The server runs in a child process (bench/support/loads-server.ts): buildGateway on the
 * SqliteStore file (WAL, synchronous=FULL, every request its own BEGIN IMMEDIATE ... COMMIT)
 * and the hello-world, both on 127.0.0.1:0; autocannon drives them from this process, as
 * clients on other machines would. Latencies are every response's own time (autocannon's
 * 'response' event, float ms), throughput = completed loads / wall time.
 *
 * After the authorise run, every returned MAC2 is credited on its card simulator and the TACs
 * are confirmed in a second run. Checksums: every authorise answered 201, every confirm 200, and
 * the database agrees: loads by status and the ledger's pending-loads and card-purse balances.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import Database from 'better-sqlite3';
import { CardSimulator, SW, transactionDateBytes, transactionTimeBytes } from '#core';
import { hashPassword } from '#gateway/auth/passwords';
import { issueToken } from '#gateway/auth/tokens';
import { issueCard } from '#gateway/services/cards';
import { organisationForLegacyBranch } from '#gateway/services/organisations';
import { SqliteStore } from '#gateway/store/sqlite-store';
import { makeIssuer, seededRandom } from '#test/purse/fixtures';
import { loadRequestFromCard } from '#validator/rider/issue-cards';
import type { BenchContext, SuiteResult } from './harness.ts';

const CONNECTIONS = 50;
const LOAD_FEN = 5_000;
const COUNTER_TERMINAL = '0000000001B1';
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex').toUpperCase();

interface Prepared {
  card: CardSimulator;
  body: string;
  key: string;
}

interface Authorised {
  id: string;
  mac2: string;
  date: number;
  time: number;
}

interface HttpRun {
  latenciesMs: Float64Array;
  count: number;
  wallMs: number;
  statuses: Map<number, number>;
  errors: number;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/** Runs autocannon and keeps every response's latency (float ms) and status. */
async function drive(options: autocannon.Options): Promise<HttpRun> {
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  const t0 = performance.now();
  let lastResponseAt = t0;
  const instance = autocannon({ connections: CONNECTIONS, pipelining: 1, timeout: 30, ...options });
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTimeMs: number) => {
    latencies.push(responseTimeMs);
    statuses.set(statusCode, (statuses.get(statusCode) ?? 0) + 1);
    lastResponseAt = performance.now();
  });
  const result = await instance;
  // Up to the last response: autocannon settles on its next one-second tick, so the time to
  // the promise would round every run up to whole seconds (10,000 loads in 2.2 s read as 3 s).
  const wallMs = lastResponseAt - t0;
  const sorted = Float64Array.from(latencies).sort();
  return { latenciesMs: sorted, count: latencies.length, wallMs, statuses, errors: result.errors + result.timeouts };
}

function statusText(statuses: Map<number, number>): string {
  return [...statuses.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([s, n]) => `${s}:${n}`)
    .join(',');
}

async function startServer(dbPath: string, durable = true): Promise<{ child: ChildProcess; gateway: string; hello: string; synchronous: number }> {
  // BENCH_LOADS_SERVER: another server script with the same protocol (e.g. to try a patched store).
  const script = process.env.BENCH_LOADS_SERVER ?? join(import.meta.dirname, 'support', 'loads-server.ts');
  const args = [...process.execArgv, script, dbPath, ...(durable ? [] : ['--not-durable'])];
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`loads server exited with ${code} before listening`)));
  });
  lines.close();
  const { gateway, hello, synchronous } = JSON.parse(first) as { gateway: string; hello: string; synchronous: number };
  return { child, gateway, hello, synchronous };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdin?.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

export default async function suite(ctx: BenchContext): Promise<SuiteResult> {
  const measured = ctx.pick(10_000, 2_000);
  const warmup = ctx.pick(1_000, 1_000);
  const helloSeconds = ctx.pick(3, 1);
  const confirms = ctx.pick(3_000, 150);
  // Diagnostic (full mode only): the same loads with synchronous=OFF. Not a ceiling: without an
  // fsync to wait for, the event loop never lets requests pile up, so groups stay at 1-3 loads
  // and each pays its own BEGIN/COMMIT and WAL pages (it measured below the durable run).
  const notDurable = ctx.pick(4_000, 0);
  // setupRequest also runs once per connection for the request each connection holds at the end.
  const spare = CONNECTIONS * 2;
  // Quick mode re-measures a run that misses its (loosened) p99 budget, as the harness does for
  // every timed task in quick mode (ctx.retries): on a shared CI box one stall of the disk or a
  // neighbour in a 2,000-request run moves the p99. Full mode measures once.
  const retryRuns = ctx.quick ? ctx.retries : 0;
  const LOADS_BUDGET = { p99Us: 20_000, minOpsPerSec: 2_000 };

  const dir = mkdtempSync(join(tmpdir(), 'bench-gateway-loads-'));
  const dbPath = join(dir, 'gateway.db');
  const issuer = makeIssuer();
  const nowMs = Date.now();

  // Cards, token and request bodies, built before the server starts.
  const store = new SqliteStore({ path: dbPath });
  await store.migrate();
  // A counter token belongs to an organisation (channel rules, issue 16): a branch of the cards' issuing bank.
  const token = await store.transaction(async (tx) => {
    const organisation = await organisationForLegacyBranch(tx, 'branch-01', undefined, 'bench', nowMs);
    return issueToken(tx, {
      role: 'counter',
      subject: 'bench-teller',
      branchId: 'branch-01',
      organisationId: organisation.id,
      staffRole: 'teller',
      label: 'bench teller',
      createdBy: 'bench',
      nowMs,
    });
  });
  const passwordHash = await hashPassword('123456');
  const total = warmup + measured * (1 + retryRuns) + notDurable + spare * 2;
  const prepared: Prepared[] = [];
  for (let from = 0; from < total; from += 2_000) {
    const images = await store.transaction(async (tx) => {
      const out = [];
      for (let i = from; i < Math.min(from + 2_000, total); i++) {
        const issued = await issueCard(
          tx,
          issuer,
          {
            holderName: 'Bench Rider',
            profile: 'adult',
            generation: 3,
            algorithm: '3des',
            expiryDate: 20361231,
            overdraftLimitFen: 2_000,
            transitOpened: true,
            suburbanOpened: false,
            initialPasswordHash: passwordHash,
          },
          { subject: 'bench', branchId: 'branch-01' },
          nowMs,
          '1000',
          '1000',
        );
        out.push(issued.image);
      }
      return out;
    });
    for (const image of images) {
      const i = prepared.length;
      const card = new CardSimulator(image, seededRandom(0x5eed + i));
      const body = JSON.stringify(loadRequestFromCard(card, image.cardNo, LOAD_FEN, COUNTER_TERMINAL));
      prepared.push({ card, body, key: `bench-load-${i}` });
    }
  }
  await store.close();

  const server = await startServer(dbPath);
  const authorised = new Map<number, Authorised>();
  let next = 0;
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const loadRequests = (limit: number): autocannon.Request[] => [
    {
      method: 'POST',
      path: '/v1/loads',
      setupRequest: (request, context) => {
        if (next >= limit) throw new Error('ran out of prepared loads');
        const i = next++;
        context.i = i;
        return { ...request, headers: { ...headers, 'idempotency-key': prepared[i].key }, body: prepared[i].body };
      },
      onResponse: (status, body, context) => {
        if (status === 201) {
          const load = JSON.parse(body) as Authorised;
          authorised.set(context.i as number, { id: load.id, mac2: load.mac2, date: load.date, time: load.time });
        }
      },
    },
  ];

  let hello: HttpRun;
  let loads: HttpRun;
  let confirm: HttpRun;
  let warm: HttpRun;
  let fast: HttpRun | null = null;
  const missed: HttpRun[] = [];
  try {
    // Warm-up: JIT, statement cache, page cache, connection set-up.
    await drive({ url: server.hello, duration: 0.5 });
    warm = await drive({ url: server.gateway, amount: warmup, requests: loadRequests(total) });
    // The floor: Fastify hello-world, same clients, same process layout.
    hello = await drive({ url: server.hello, duration: helloSeconds });
    // The authorise step.
    loads = await drive({ url: server.gateway, amount: measured, requests: loadRequests(total) });
    while (missed.length < retryRuns && percentile(loads.latenciesMs, 0.99) * 1000 > LOADS_BUDGET.p99Us * ctx.looseness) {
      process.stderr.write(`  gateway-loads › authorise p99 ${Math.round(percentile(loads.latenciesMs, 0.99))} ms missed its budget, measuring again\n`);
      missed.push(loads);
      loads = await drive({ url: server.gateway, amount: measured, requests: loadRequests(total) });
    }

    // Confirm, measured separately: credit each card with its MAC2 (outside the run), then POST the TACs.
    const confirmBodies: { path: string; body: string }[] = [];
    for (const [i, load] of authorised) {
      if (confirmBodies.length === confirms) break;
      const credit = prepared[i].card.creditForLoad(transactionDateBytes(load.date), transactionTimeBytes(load.time), Buffer.from(load.mac2, 'hex'));
      if (credit.sw !== SW.success) throw new Error(`CREDIT FOR LOAD refused the gateway's MAC2: ${credit.sw.toString(16)}`);
      confirmBodies.push({ path: `/v1/loads/${load.id}/confirm`, body: JSON.stringify({ tac: hex(credit.data.slice(0, 4)) }) });
    }
    let c = 0;
    confirm = await drive({
      url: server.gateway,
      amount: confirmBodies.length,
      requests: [
        {
          method: 'POST',
          setupRequest: (request) => {
            const item = confirmBodies[c++ % confirmBodies.length];
            return { ...request, headers, path: item.path, body: item.body };
          },
        },
      ],
    });
  } finally {
    await stopServer(server.child);
  }
  if (notDurable > 0) {
    const diag = await startServer(dbPath, false);
    try {
      if (diag.synchronous !== 0) throw new Error('the diagnostic server did not switch synchronous off');
      fast = await drive({ url: diag.gateway, amount: notDurable, requests: loadRequests(total) });
    } finally {
      await stopServer(diag.child);
    }
  }

  const report = (name: string, run: HttpRun, extra: { floor?: boolean; budget?: { p99Us?: number; minOpsPerSec?: number } } = {}) =>
    ctx.report({
      name,
      samples: run.count,
      medianUs: percentile(run.latenciesMs, 0.5) * 1000,
      p99Us: percentile(run.latenciesMs, 0.99) * 1000,
      meanUs: (run.latenciesMs.reduce((s, v) => s + v, 0) / run.count) * 1000,
      opsPerSec: run.count / (run.wallMs / 1000),
      ...extra,
    });
  const helloResult = report(`floor: Fastify hello-world GET / (${CONNECTIONS} connections)`, hello, { floor: true });
  const loadsResult = report(`POST /v1/loads authorise, durable commit (${CONNECTIONS} connections)`, loads, { budget: LOADS_BUDGET });
  report(`POST /v1/loads/{id}/confirm, durable commit (${CONNECTIONS} connections)`, confirm);
  if (fast !== null) report(`diagnostic: POST /v1/loads with synchronous=OFF (NOT durable; small groups)`, fast);
  ctx.metric('loads per second (authorise)', Math.round(loadsResult.opsPerSec), 'loads/s', { min: 2_000 });
  ctx.metric('hello-world requests per second', Math.round(helloResult.opsPerSec), 'req/s');
  ctx.metric('hello-world req/s ÷ loads/s', Math.round((helloResult.opsPerSec / loadsResult.opsPerSec) * 10) / 10, 'x');

  // The database agrees with what the clients saw.
  const db = new Database(dbPath, { readonly: true });
  const byStatus = new Map(
    (db.prepare('SELECT status, COUNT(*) AS n FROM loads GROUP BY status').all() as { status: string; n: number }[]).map((r) => [r.status, r.n]),
  );
  const balance = (account: string) =>
    Number((db.prepare('SELECT COALESCE(SUM(amount_fen), 0) AS b FROM ledger_entries WHERE account = ?').get(account) as { b: number }).b);
  const pendingFen = balance('liability:pending-loads');
  const purseFen = balance('liability:card-purse');
  db.close();
  rmSync(dir, { recursive: true, force: true });

  const runs = [warm, ...missed, loads, ...(fast === null ? [] : [fast])];
  const authorisedCount = runs.reduce((n, run) => n + run.count, 0);
  const confirmedCount = confirm.count;
  ctx.checksum(
    'authorise answers (status:count), warm-up + measured',
    statusText(runs.reduce((all, run) => mergeStatuses(all, run.statuses), new Map<number, number>())),
    `201:${warmup + measured * (1 + missed.length) + notDurable}`,
  );
  ctx.checksum('confirm answers (status:count)', statusText(confirm.statuses), `200:${confirms}`);
  ctx.checksum('connection errors and timeouts', runs.reduce((n, run) => n + run.errors, 0) + confirm.errors + hello.errors, 0);
  ctx.checksum(
    'loads in the database: pending/confirmed',
    `${byStatus.get('pending') ?? 0}/${byStatus.get('confirmed') ?? 0}`,
    `${authorisedCount - confirmedCount}/${confirmedCount}`,
  );
  ctx.checksum(
    'ledger: pending-loads and card-purse balances (fen)',
    `${pendingFen}/${purseFen}`,
    `${-(authorisedCount - confirmedCount) * LOAD_FEN}/${-confirmedCount * LOAD_FEN}`,
  );
  ctx.note(
    `Server in a child process (gateway on a SQLite file, WAL, synchronous=FULL; the store groups the transactions waiting at once into one BEGIN IMMEDIATE..COMMIT, one fsync per group); autocannon ${CONNECTIONS} connections from the parent; ` +
      `${measured.toLocaleString('en-US')} loads, each a different card with a genuine MAC1 and its own Idempotency-Key` +
      (missed.length > 0
        ? `; measured ${missed.length + 1} times (quick-mode retry; earlier p99s ${missed.map((run) => `${Math.round(percentile(run.latenciesMs, 0.99))} ms`).join(', ')})`
        : '') +
      '.',
  );
  return ctx.result();
}

function mergeStatuses(a: Map<number, number>, b: Map<number, number>): Map<number, number> {
  const out = new Map(a);
  for (const [s, n] of b) out.set(s, (out.get(s) ?? 0) + n);
  return out;
}
