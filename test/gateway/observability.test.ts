/**
 * Health, readiness and metrics (issue 14.3) on real SQLite files (and PostgreSQL for the pool
 * gauges): liveness never touches the store; readiness names each failing check (shutting
 * down, store closed or hanging, migrations behind); /metrics is operator-only Prometheus text
 * whose counters move exactly once per committed event, whose request labels are route
 * templates (never a card number), and whose store gauges come from a cached job.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildGateway } from '#gateway/app';
import { SqliteStore } from '#gateway/store/sqlite-store';
import type { Store } from '#gateway/store/store-port';
import { MIGRATIONS } from '#gateway/store/migrations/index';
import { EXPECTED_MIGRATION } from '#gateway/observability/readiness';
import { IssuerKeyService } from '#issuer/issuer-key-service';
import { generateKeySet } from '#issuer/key-file';
import { makeHarness, type Harness } from './support/harness.ts';
import {
  counterHeaders,
  creditLoad,
  initLoad,
  issueCard,
  loadCard,
  makeValidator,
  START_MS,
  startMoneyGateway,
  startPgMoneyGateway,
  sync,
  syncRequest,
  tap,
  type MoneyHarness,
} from './money-fixtures.ts';
import { assertPostgresUp } from '../store/pg-test-db.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function harness(options: Parameters<typeof makeHarness>[0] = {}): Promise<Harness> {
  const h = await makeHarness(options);
  cleanups.push(() => h.close());
  return h;
}

async function money(options: Parameters<typeof startMoneyGateway>[0] = {}): Promise<MoneyHarness> {
  const h = await startMoneyGateway(options);
  cleanups.push(() => h.close());
  return h;
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict reader of the Prometheus text format 0.0.4: every line is a # HELP / # TYPE comment
 * or a sample `name{label="value",...} number`; label values unescape \\, \" and \n. Throws on
 * anything else, on a sample of a family without # TYPE, and on a repeated series.
 */
function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  const typed = new Map<string, string>();
  const seen = new Set<string>();
  const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) continue;
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type)) throw new Error(`bad TYPE line: ${line}`);
      typed.set(name, type);
      continue;
    }
    if (line.startsWith('#')) throw new Error(`unexpected comment: ${line}`);
    const name = NAME.exec(line)?.[0];
    if (name === undefined) throw new Error(`no metric name: ${line}`);
    let rest = line.slice(name.length);
    const labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      rest = rest.slice(1);
      while (!rest.startsWith('}')) {
        const m = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/.exec(rest);
        if (m === null) throw new Error(`bad labels: ${line}`);
        labels[m[1]] = m[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
        rest = rest.slice(m[0].length);
      }
      rest = rest.slice(1);
    }
    // Values as Prometheus reads them (Go strconv.ParseFloat: NaN and Inf case-insensitive;
    // prom-client writes an empty event-loop histogram's mean as "Nan").
    const m = /^ ([Nn][Aa][Nn]|[+-]Inf|[-+]?[0-9.]+(?:e[-+]?[0-9]+)?)(?: -?[0-9]+)?$/.exec(rest);
    if (m === null) throw new Error(`bad value: ${line}`);
    const family = [name, name.replace(/_(bucket|sum|count)$/, '')].find((n) => typed.has(n));
    if (family === undefined) throw new Error(`sample without # TYPE: ${line}`);
    const series = `${name}${JSON.stringify(labels)}`;
    if (seen.has(series)) throw new Error(`repeated series: ${series}`);
    seen.add(series);
    samples.push({ name, labels, value: /^nan$/i.test(m[1]) ? Number.NaN : Number(m[1].replace('Inf', 'Infinity')) });
  }
  return samples;
}

/** GET /metrics as the harness's operator (its admin token). */
async function scrape(h: { app: Harness['app']; admin: Record<string, string> }) {
  const res = await h.app.inject({ method: 'GET', url: '/metrics', headers: h.admin });
  expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
  expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  return { text: res.body, samples: parsePrometheus(res.body) };
}

/** Sum of a metric's samples whose labels include `labels`. */
function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);
}

function value(samples: Sample[], name: string): number {
  const found = samples.filter((s) => s.name === name);
  expect(found, name).toHaveLength(1);
  return found[0].value;
}

describe('GET /healthz: liveness only', () => {
  it('answers 200 without a credential and without touching the store (closed store: still 200)', async () => {
    const h = await harness();
    const res = await h.request('GET', '/healthz');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', store: 'sqlite' });
    await h.store.close();
    const after = await h.request('GET', '/healthz');
    expect(after.statusCode).toBe(200);
    expect(after.json()).toEqual({ status: 'ok', store: 'sqlite' });
  });
});

describe('GET /readyz: readiness', () => {
  it('is 200 with every check, then 503 naming lifecycle once shutting down', async () => {
    const h = await harness();
    const ok = await h.request('GET', '/readyz');
    expect(ok.statusCode).toBe(200);
    const body = ok.json();
    expect(body.status).toBe('ready');
    expect(Object.keys(body.checks).sort()).toEqual(['keys', 'lifecycle', 'migrations', 'store']);
    for (const check of Object.values(body.checks) as Array<{ status: string }>) expect(check.status).toBe('ok');
    expect(body.checks.migrations).toMatchObject({ expected: EXPECTED_MIGRATION, current: EXPECTED_MIGRATION });
    // Nothing about the keys but whether they answer.
    expect(JSON.stringify(body.checks.keys)).not.toMatch(/[0-9A-F]{16}/i);

    h.app.gateway.lifecycle.shuttingDown = true;
    const down = await h.request('GET', '/readyz');
    expect(down.statusCode).toBe(503);
    expect(down.headers['content-type']).toContain('application/problem+json');
    const problem = down.json();
    expect(problem).toMatchObject({ status: 503, code: 'not-ready', failing: ['lifecycle'], instance: '/readyz' });
    expect(problem.type).toMatch(/not-ready$/);
    expect(problem.detail).toContain('lifecycle');
    expect(problem.checks.store.status).toBe('ok');
    // Liveness is unaffected: the process still answers.
    expect((await h.request('GET', '/healthz')).statusCode).toBe(200);
  });

  it('is 503 naming the store when the store is closed', async () => {
    const h = await harness();
    await h.store.close();
    const res = await h.request('GET', '/readyz');
    expect(res.statusCode).toBe(503);
    const problem = res.json();
    expect(problem.failing).toContain('store');
    expect(problem.checks.store).toMatchObject({ status: 'fail' });
    expect(problem.checks.store.detail).toContain('closed');
    expect(problem.checks.keys.status).toBe('ok');
    expect(problem.checks.lifecycle.status).toBe('ok');
  });

  it('is 503 naming the store when it does not answer within the timeout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'readyz-hang-'));
    const real = new SqliteStore({ path: join(dir, 'gateway.db') });
    let hang = false;
    const store: Store = {
      dialect: real.dialect,
      migrate: () => real.migrate(),
      close: () => real.close(),
      transaction: (fn, options) => (hang ? new Promise(() => {}) : real.transaction(fn, options)),
    };
    const app = await buildGateway({
      store,
      keys: IssuerKeyService.fromKeySets(new Map([[1, generateKeySet()]])),
      readinessTimeoutMs: 50,
      policies: { lossExpiryIntervalMs: 0 },
    });
    cleanups.push(async () => {
      await app.close();
      await real.close();
      rmSync(dir, { recursive: true, force: true });
    });
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    hang = true;
    const started = Date.now();
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(res.statusCode).toBe(503);
    expect(res.json().failing).toEqual(['store', 'migrations']);
    expect(res.json().checks.store.detail).toContain('did not answer within 50 ms');
  });

  it('is 503 naming the migrations when the database is behind (migrate: false on a fresh file, then part of the list)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'readyz-migrations-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const keys = IssuerKeyService.fromKeySets(new Map([[1, generateKeySet()]]));
    const fresh = new SqliteStore({ path: join(dir, 'fresh.db') });
    const app = await buildGateway({ store: fresh, keys, migrate: false, policies: { lossExpiryIntervalMs: 0 } });
    cleanups.push(async () => {
      await app.close();
      await fresh.close();
    });
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    const problem = res.json();
    expect(problem.failing).toEqual(['migrations']);
    expect(problem.checks.migrations).toMatchObject({ status: 'fail', expected: EXPECTED_MIGRATION, current: null });
    // Liveness does not care.
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);

    // A database migrated by an older build: every migration but the last.
    const olderList = MIGRATIONS.slice(0, -1);
    const older = new SqliteStore({ path: join(dir, 'older.db'), migrations: olderList });
    await older.migrate();
    const olderApp = await buildGateway({ store: older, keys, migrate: false, policies: { lossExpiryIntervalMs: 0 } });
    cleanups.push(async () => {
      await olderApp.close();
      await older.close();
    });
    const behind = await olderApp.inject({ method: 'GET', url: '/readyz' });
    expect(behind.statusCode).toBe(503);
    expect(behind.json().checks.migrations).toMatchObject({ status: 'fail', expected: EXPECTED_MIGRATION, current: olderList[olderList.length - 1].id });
    expect(behind.json().checks.migrations.detail).toContain(`first ${EXPECTED_MIGRATION}`);
  });
});

describe('GET /metrics', () => {
  it('is operator-only: 401 without a token, 403 for a counter, 200 Prometheus text for an operator', async () => {
    const h = await harness();
    const anonymous = await h.request('GET', '/metrics');
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers['content-type']).toContain('application/problem+json');
    const counter = await h.counterToken();
    const forbidden = await h.request('GET', '/metrics', { token: counter });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json().code).toBe('forbidden');
    const { samples, text } = await scrape(h);
    // This instance's metrics and the process metrics, each family once.
    expect(text).toContain('# TYPE gateway_http_requests_total counter');
    expect(text).toContain('# TYPE gateway_http_request_duration_seconds histogram');
    expect(text).toContain('# TYPE process_cpu_user_seconds_total counter');
    expect(text).toContain('# TYPE nodejs_eventloop_lag_seconds gauge');
    expect(text.match(/# TYPE process_cpu_user_seconds_total /g)).toHaveLength(1);
    // The refused scrapes above are counted by their route template.
    expect(total(samples, 'gateway_http_requests_total', { method: 'GET', route: '/metrics', status_code: '401' })).toBe(1);
    expect(total(samples, 'gateway_http_requests_total', { method: 'GET', route: '/metrics', status_code: '403' })).toBe(1);
    expect(total(samples, 'gateway_http_request_duration_seconds_count', { route: '/metrics', status_code: '403' })).toBe(1);
    // SQLite has no pool: no pool gauges.
    expect(text).not.toContain('gateway_pg_pool');
    // Store gauges before the first job run: absent, never a reassuring 0.
    expect(text).not.toContain('gateway_ledger_discrepancy_fen');
    expect(value(samples, 'gateway_store_metrics_refresh_timestamp_seconds')).toBe(0);
  });

  it('two gateways in one process keep their own counts', async () => {
    const a = await harness();
    const b = await harness();
    await a.request('GET', '/healthz');
    await a.request('GET', '/healthz');
    const sa = (await scrape(a)).samples;
    const sb = (await scrape(b)).samples;
    expect(total(sa, 'gateway_http_requests_total', { route: '/healthz' })).toBe(2);
    expect(total(sb, 'gateway_http_requests_total', { route: '/healthz' })).toBe(0);
  });

  it('counts a genuine load authorised and confirmed exactly once; a replayed authorisation counts nothing', async () => {
    const h = await money({ metricsRefreshIntervalMs: 0 });
    const counter = await counterHeaders(h);
    const { cardNo, card } = await issueCard(h);
    const before = (await scrape(h)).samples;
    await loadCard(h, counter, card, cardNo, 5_000, 'load-1');
    const after = (await scrape(h)).samples;
    const moved = (name: string) => total(after, name) - total(before, name);
    expect(moved('gateway_loads_authorised_total')).toBe(1);
    expect(total(after, 'gateway_loads_authorised_total', { payment_source: 'cash' })).toBe(1);
    expect(moved('gateway_loads_confirmed_total')).toBe(1);
    expect(total(after, 'gateway_loads_confirmed_total', { resolution: 'tac' })).toBe(1);
    expect(moved('gateway_loads_voided_total')).toBe(0);

    // Authorise another, replay its Idempotency-Key, then void it at the counter.
    const body = initLoad(card, cardNo, 3_000);
    const first = await h.app.inject({ method: 'POST', url: '/v1/loads', headers: { ...counter, 'idempotency-key': 'load-2' }, payload: body });
    expect(first.statusCode).toBe(201);
    const replay = await h.app.inject({ method: 'POST', url: '/v1/loads', headers: { ...counter, 'idempotency-key': 'load-2' }, payload: body });
    expect(replay.headers['idempotent-replayed']).toBe('true');
    const voided = await h.app.inject({ method: 'POST', url: `/v1/loads/${first.json().id}/void`, headers: counter });
    expect(voided.statusCode).toBe(200);
    // Confirming the first load again (same TAC) changes nothing and counts nothing.
    const last = (await scrape(h)).samples;
    expect(total(last, 'gateway_loads_authorised_total') - total(after, 'gateway_loads_authorised_total')).toBe(1);
    expect(total(last, 'gateway_loads_voided_total', { resolution: 'teller-void' })).toBe(1);
    expect(total(last, 'gateway_loads_confirmed_total')).toBe(1);
  });

  it('counts a confirm repeated with the same TAC once', async () => {
    const h = await money({ metricsRefreshIntervalMs: 0 });
    const counter = await counterHeaders(h);
    const { cardNo, card } = await issueCard(h);
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/loads',
      headers: { ...counter, 'idempotency-key': 'k' },
      payload: initLoad(card, cardNo, 2_000),
    });
    const load = res.json();
    const tac = creditLoad(card, load);
    for (let i = 0; i < 2; i++) {
      const confirm = await h.app.inject({ method: 'POST', url: `/v1/loads/${load.id}/confirm`, headers: counter, payload: { tac } });
      expect(confirm.statusCode).toBe(200);
    }
    expect(total((await scrape(h)).samples, 'gateway_loads_confirmed_total')).toBe(1);
  });

  it('counts sync records accepted once (a retried batch counts nothing) and refused batches', async () => {
    const h = await money({ metricsRefreshIntervalMs: 0 });
    const counter = await counterHeaders(h);
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 5_000, 'load-1');
    const v = await makeValidator(h, 'GATE-OBS-1', 1);
    const records = [tap(v, card, cardNo, 300, START_MS + 60_000), tap(v, card, cardNo, 400, START_MS + 120_000)];
    expect((await sync(h, v, syncRequest(v, records))).status).toBe(200);
    expect((await sync(h, v, syncRequest(v, records))).status).toBe(200);
    expect((await sync(h, v, Buffer.from([0xc1]))).status).toBe(400);
    const { samples } = await scrape(h);
    expect(total(samples, 'gateway_sync_records_total', { outcome: 'accepted' })).toBe(2);
    expect(total(samples, 'gateway_sync_records_total', { outcome: 'rejected' })).toBe(0);
    expect(total(samples, 'gateway_sync_batches_refused_total')).toBe(1);
  });

  it('labels requests by route template: a card number never appears in the scrape', async () => {
    const h = await money({ metricsRefreshIntervalMs: 0 });
    const { cardNo } = await issueCard(h);
    expect((await h.app.inject({ method: 'GET', url: `/v1/cards/${cardNo}`, headers: h.admin })).statusCode).toBe(200);
    expect((await h.app.inject({ method: 'GET', url: `/v1/cards/${cardNo}/transactions?limit=5`, headers: h.admin })).statusCode).toBe(200);
    expect((await h.app.inject({ method: 'GET', url: `/v1/no-such-route/${cardNo}`, headers: h.admin })).statusCode).toBe(404);
    const { text, samples } = await scrape(h);
    expect(text).not.toContain(cardNo);
    expect(total(samples, 'gateway_http_requests_total', { method: 'GET', route: '/v1/cards/:cardNo', status_code: '200' })).toBe(1);
    expect(total(samples, 'gateway_http_requests_total', { route: '/v1/cards/:cardNo/transactions' })).toBe(1);
    expect(total(samples, 'gateway_http_requests_total', { route: 'unmatched', status_code: '404' })).toBe(1);
    for (const s of samples.filter((x) => x.name.startsWith('gateway_http_'))) {
      expect(s.labels.route === 'unmatched' || s.labels.route.startsWith('/'), s.labels.route).toBe(true);
      expect(s.labels.route).not.toMatch(/[0-9]{6}/);
    }
  });

  it('serves the reconciliation discrepancy from the cached job: 0 on balanced books, unchanged until the job runs again', async () => {
    const h = await money({ metricsRefreshIntervalMs: 0 });
    const counter = await counterHeaders(h);
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 5_000, 'load-1');
    await h.app.gatewayMetrics.refresh();
    const balanced = (await scrape(h)).samples;
    expect(value(balanced, 'gateway_ledger_discrepancy_fen')).toBe(0);
    expect(value(balanced, 'gateway_ledger_postings_balance_fen')).toBe(0);
    expect(value(balanced, 'gateway_ledger_unbalanced_postings')).toBe(0);
    expect(value(balanced, 'gateway_ledger_pending_loads_mismatch_fen')).toBe(0);
    expect(value(balanced, 'gateway_store_metrics_refresh_timestamp_seconds')).toBe(h.now.ms / 1000);

    // The books go wrong behind the gateway's back: a shadow balance 1.23 yuan too high.
    await h.store.transaction((tx) => tx.run('UPDATE card_accounts SET shadow_balance_fen = shadow_balance_fen + 123 WHERE card_no = ?', [cardNo]));
    try {
      const cached = (await scrape(h)).samples;
      expect(value(cached, 'gateway_ledger_discrepancy_fen')).toBe(0);
      await h.app.gatewayMetrics.refresh();
      expect(value((await scrape(h)).samples, 'gateway_ledger_discrepancy_fen')).toBe(-123);
    } finally {
      await h.store.transaction((tx) => tx.run('UPDATE card_accounts SET shadow_balance_fen = shadow_balance_fen - 123 WHERE card_no = ?', [cardNo]));
    }
  });

  it('reports stale devices, the blacklist and loads pending for more than 10 minutes from the job', async () => {
    const h = await money({ metricsRefreshIntervalMs: 0 });
    const counter = await counterHeaders(h);
    const { cardNo, card } = await issueCard(h);
    const other = await issueCard(h);
    await makeValidator(h, 'GATE-OBS-2', 2);
    const pending = await h.app.inject({
      method: 'POST',
      url: '/v1/loads',
      headers: { ...counter, 'idempotency-key': 'p' },
      payload: initLoad(card, cardNo, 2_000),
    });
    expect(pending.statusCode).toBe(201);
    const loss = await h.app.inject({ method: 'POST', url: `/v1/cards/${other.cardNo}/loss-reports`, headers: h.admin, payload: { kind: 'formal' } });
    expect(loss.statusCode).toBe(201);

    await h.app.gatewayMetrics.refresh();
    let samples = (await scrape(h)).samples;
    expect(value(samples, 'gateway_devices')).toBe(1);
    expect(value(samples, 'gateway_devices_stale')).toBe(0);
    expect(value(samples, 'gateway_loads_pending_stale')).toBe(0);
    expect(value(samples, 'gateway_blacklist_size')).toBe(1);
    expect(value(samples, 'gateway_blacklist_version')).toBe(1);
    expect(value(samples, 'gateway_refunds_waiting')).toBe(0);

    h.now.ms += 25 * 60 * 60 * 1000;
    await h.app.gatewayMetrics.refresh();
    samples = (await scrape(h)).samples;
    expect(value(samples, 'gateway_devices_stale')).toBe(1);
    expect(value(samples, 'gateway_loads_pending_stale')).toBe(1);
    expect(value(samples, 'gateway_loads_pending_stale_fen')).toBe(2_000);
    // Settle the pending load so the books close balanced (card evidence: the credit never happened).
    const evidence = await h.app.inject({
      method: 'POST',
      url: `/v1/cards/${cardNo}/log-evidence`,
      headers: counter,
      payload: { onlineAtc: pending.json().onlineAtc, log: [] },
    });
    expect(evidence.json().voided).toEqual([pending.json().id]);
    expect(total((await scrape(h)).samples, 'gateway_loads_voided_total', { resolution: 'card-log' })).toBe(1);
  });

  it('runs the job on a timer (first run at listen), cleared on close; one loopback HTTP scrape with a bearer token', async () => {
    const h = await money({ metricsRefreshIntervalMs: 25 });
    const address = await h.app.listen({ port: 0, host: '127.0.0.1' });
    const metrics = h.app.gatewayMetrics;
    for (let i = 0; i < 100 && metrics.lastSnapshot === null; i++) await new Promise((r) => setTimeout(r, 10));
    expect(metrics.lastSnapshot).not.toBeNull();
    expect((await fetch(`${address}/healthz`)).status).toBe(200);
    const ready = await fetch(`${address}/readyz`);
    expect(ready.status, await ready.clone().text()).toBe(200);
    expect((await fetch(`${address}/metrics`)).status).toBe(401);
    const res = await fetch(`${address}/metrics`, { headers: h.admin });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const samples = parsePrometheus(await res.text());
    expect(value(samples, 'gateway_ledger_discrepancy_fen')).toBe(0);
    expect(total(samples, 'gateway_http_requests_total', { route: '/readyz', status_code: '200' })).toBe(1);

    await h.app.close();
    const last = metrics.lastSnapshot;
    await new Promise((r) => setTimeout(r, 100));
    expect(metrics.lastSnapshot).toBe(last);
  });

  it('is in the OpenAPI document with /readyz, both with summaries and response schemas (text/plain for metrics)', async () => {
    const h = await harness();
    const doc = (await h.request('GET', '/openapi.json')).json();
    const metrics = doc.paths['/metrics'].get;
    expect(metrics.summary).toMatch(/Prometheus/);
    expect(metrics.responses['200'].content['text/plain'].schema).toEqual({ type: 'string' });
    expect(metrics.security).toEqual([{ bearerAuth: [] }]);
    const readyz = doc.paths['/readyz'].get;
    expect(readyz.summary).toMatch(/Readiness/);
    expect(readyz.responses['200'].content['application/json'].schema.properties.checks.required).toEqual(['store', 'migrations', 'keys', 'lifecycle']);
    // 503 is a problem like every error (the shared Problem schema); its members failing and checks are described.
    expect(readyz.responses['503'].content['application/problem+json'].schema).toEqual({ $ref: '#/components/schemas/Problem' });
    expect(readyz.description).toMatch(/failing/);
    expect(doc.paths['/healthz'].get.summary).toMatch(/^Liveness/);
  });
});

describe('GET /metrics on PostgreSQL', () => {
  it('shows the pool gauges', async () => {
    await assertPostgresUp();
    const h = await startPgMoneyGateway();
    cleanups.push(() => h.close());
    const counter = await counterHeaders(h);
    const { cardNo, card } = await issueCard(h);
    await loadCard(h, counter, card, cardNo, 5_000, 'pg-load');
    await h.app.gatewayMetrics.refresh();
    const { samples } = await scrape(h);
    expect(value(samples, 'gateway_pg_pool_connections_max')).toBe(10);
    expect(value(samples, 'gateway_pg_pool_connections_in_use')).toBeGreaterThanOrEqual(0);
    expect(value(samples, 'gateway_pg_pool_connections_idle')).toBeGreaterThanOrEqual(1);
    expect(value(samples, 'gateway_pg_pool_waiting')).toBe(0);
    expect(value(samples, 'gateway_ledger_discrepancy_fen')).toBe(0);
    expect(total(samples, 'gateway_loads_confirmed_total')).toBe(1);
    const ready = await h.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().checks.store.detail).toBe('postgres answers');
  });
});
