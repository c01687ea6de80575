/**
 * Prometheus metrics of one gateway instance (GET /metrics, operators only; docs/operations.md
 * lists every metric and the alert to set on it).
 *
 * - Each instance has its own `Registry` (tests build many gateways in one process; prom-client's
 *   global default registry is never used). The process metrics (`collectDefaultMetrics`: CPU,
 *   memory, event-loop lag, GC, handles) describe the process, not an instance, so they live in
 *   one registry per process, created on first use, and every instance's scrape appends them.
 * - Request metrics are labelled by the matched route TEMPLATE (`/v1/cards/:cardNo`), never the
 *   raw URL (which can hold a card number); a request no route matched is `unmatched`.
 * - Business counters (loads, sync records) are incremented by the routes after their
 *   transaction committed, from what the services report (idempotent replays count nothing).
 * - Gauges read from the store (reconciliation, refunds, devices, blacklist, old pending loads)
 *   come from one periodic job (`refresh`, every `intervalMs`, timer unref'd, cleared on close)
 *   and are cached: a scrape never touches the database. They appear after the job's first
 *   successful run (gateway_store_metrics_refresh_timestamp_seconds is 0 until then).
 *   The PostgreSQL pool gauges are read from the pool's in-memory counters at scrape time.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { GatewayContext } from '../http/gateway-context.ts';
import { reconcile } from '../services/ledger.ts';
import type { IngestStats } from '../services/sync-ingest.ts';
import type { PendingResolution } from '../services/loads.ts';
import type { Tx } from '../store/store-port.ts';

/** Default period of the store job (reconciliation and the other store gauges). */
export const DEFAULT_METRICS_REFRESH_MS = 60_000;
/** A pending load older than this is counted by gateway_loads_pending_stale. */
export const PENDING_LOAD_STALE_MS = 10 * 60 * 1000;
/** Route label of a request no route matched (never its raw URL). */
export const UNMATCHED_ROUTE = 'unmatched';

const PREFIX = 'gateway_';
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

let processRegistry: Registry | null = null;

/** The process metrics, collected once per process whatever the number of gateway instances. */
function processMetrics(): Registry {
  if (processRegistry === null) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** What the store job reads, in one read-only transaction (a consistent snapshot). */
export interface StoreSnapshot {
  discrepancyFen: number;
  postingsBalanceFen: number;
  unbalancedPostings: number;
  /** Pending loads in the ledger minus pending loads in the loads table (0 when they agree). */
  pendingLoadsMismatchFen: number;
  refundsWaiting: number;
  refundsOverdue: number;
  refundsPaid: number;
  devices: number;
  devicesStale: number;
  devicesFlagged: number;
  blacklistVersion: number;
  blacklistSize: number;
  pendingLoadsStale: number;
  pendingLoadsStaleFen: number;
}

function num(value: unknown): number {
  return value === null || value === undefined ? 0 : Number(value);
}

export async function readStoreSnapshot(tx: Tx, nowMs: number, staleWindowMs: number): Promise<StoreSnapshot> {
  const books = await reconcile(tx);
  const refunds = await tx.get(
    `SELECT SUM(CASE WHEN status = 'waiting' THEN 1 ELSE 0 END) AS waiting,
            SUM(CASE WHEN status = 'waiting' AND deadline_ms <= ? THEN 1 ELSE 0 END) AS overdue,
            SUM(CASE WHEN status = 'paid' THEN 1 ELSE 0 END) AS paid
       FROM refunds`,
    [nowMs],
  );
  // The same predicate as GET /v1/ops/devices/stale (services/devices.ts staleDevices).
  const cutoff = nowMs - staleWindowMs;
  const devices = await tx.get(
    `SELECT COUNT(*) AS total,
            SUM(CASE WHEN (last_sync_ms IS NOT NULL AND last_sync_ms < ?) OR (last_sync_ms IS NULL AND registered_ms < ?) THEN 1 ELSE 0 END) AS stale,
            SUM(CASE WHEN flagged <> 0 THEN 1 ELSE 0 END) AS flagged
       FROM devices`,
    [cutoff, cutoff],
  );
  const version = await tx.get("SELECT value FROM counters WHERE name = 'blacklist_version'");
  const listed = await tx.get('SELECT COUNT(*) AS n FROM blacklist_current');
  const pending = await tx.get("SELECT COUNT(*) AS n, SUM(amount_fen) AS fen FROM loads WHERE status = 'pending' AND created_ms < ?", [
    nowMs - PENDING_LOAD_STALE_MS,
  ]);
  return {
    discrepancyFen: books.discrepancyFen,
    postingsBalanceFen: books.postingsBalanceFen,
    unbalancedPostings: books.unbalancedPostings,
    pendingLoadsMismatchFen: books.pendingLoadsLedgerFen - books.pendingLoadsFen,
    refundsWaiting: num(refunds?.waiting),
    refundsOverdue: num(refunds?.overdue),
    refundsPaid: num(refunds?.paid),
    devices: num(devices?.total),
    devicesStale: num(devices?.stale),
    devicesFlagged: num(devices?.flagged),
    blacklistVersion: num(version?.value),
    blacklistSize: num(listed?.n),
    pendingLoadsStale: num(pending?.n),
    pendingLoadsStaleFen: num(pending?.fen),
  };
}

type SnapshotGauge = { gauge: Gauge; read: (s: StoreSnapshot) => number };

export interface GatewayMetricsOptions {
  /** Period of the store job in ms; 0 = no timer (refresh() only). Default 60 s. */
  intervalMs?: number;
  /** Reports a failed store job (it never throws out of the timer). */
  onRefreshError?: (error: unknown) => void;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly contentType = this.registry.contentType;
  private readonly requests: Counter<'method' | 'route' | 'status_code'>;
  private readonly latency: Histogram<'method' | 'route' | 'status_code'>;
  /** Label children by "method route status": prom-client hashes labels on every call otherwise. */
  private readonly requestChildren = new Map<string, { count: Counter.Internal; latency: Histogram.Internal<'method' | 'route' | 'status_code'> }>();
  private readonly loadsAuthorised: Counter<'payment_source'>;
  private readonly loadsConfirmed: Counter<'resolution'>;
  private readonly loadsVoided: Counter<'resolution'>;
  private readonly syncRecords: Counter<'outcome'>;
  private readonly syncBatchesRefused: Counter;
  private readonly refreshFailures: Counter;
  private readonly refreshTimestamp: Gauge;
  private readonly refreshDuration: Gauge;
  private readonly snapshotGauges: SnapshotGauge[] = [];
  private snapshot: StoreSnapshot | null = null;
  private running: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly context: Pick<GatewayContext, 'store' | 'clock' | 'policies'>,
    private readonly options: GatewayMetricsOptions = {},
  ) {
    processMetrics();
    const registers = [this.registry];
    this.requests = new Counter({
      name: `${PREFIX}http_requests_total`,
      help: 'HTTP requests answered, by method, route template (unmatched: no route) and status code',
      labelNames: ['method', 'route', 'status_code'] as const,
      registers,
    });
    this.latency = new Histogram({
      name: `${PREFIX}http_request_duration_seconds`,
      help: 'Time from receiving the request to sending the answer, by method, route template and status code',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.loadsAuthorised = new Counter({
      name: `${PREFIX}loads_authorised_total`,
      help: 'Loads authorised (MAC2 issued, payment taken, load pending), by payment source; idempotent replays excluded',
      labelNames: ['payment_source'] as const,
      registers,
    });
    this.loadsConfirmed = new Counter({
      name: `${PREFIX}loads_confirmed_total`,
      help: 'Loads confirmed (the card was credited), by proof: tac, next-load, card-log, purchase-chain, void-reversed',
      labelNames: ['resolution'] as const,
      registers,
    });
    this.loadsVoided = new Counter({
      name: `${PREFIX}loads_voided_total`,
      help: 'Loads voided (payment returned), by how: teller-void, next-load, card-log',
      labelNames: ['resolution'] as const,
      registers,
    });
    this.syncRecords = new Counter({
      name: `${PREFIX}sync_records_total`,
      help: 'Journal records stored by validator syncs: accepted (applied), rejected (quarantined), duplicate (an exact copy, not applied); retries of records already stored are not counted',
      labelNames: ['outcome'] as const,
      registers,
    });
    this.syncBatchesRefused = new Counter({
      name: `${PREFIX}sync_batches_refused_total`,
      help: 'Sync requests refused whole before anything was stored (undecodable or malformed batch)',
      registers,
    });
    for (const outcome of ['accepted', 'rejected', 'duplicate']) this.syncRecords.inc({ outcome }, 0);
    this.refreshFailures = new Counter({ name: `${PREFIX}store_metrics_refresh_failures_total`, help: 'Store metrics jobs that failed', registers });
    this.refreshTimestamp = new Gauge({
      name: `${PREFIX}store_metrics_refresh_timestamp_seconds`,
      help: 'When the store metrics job last succeeded (gateway clock, epoch seconds; 0: never)',
      registers,
    });
    this.refreshDuration = new Gauge({
      name: `${PREFIX}store_metrics_refresh_duration_seconds`,
      help: 'How long the last successful store metrics job took',
      registers,
    });
    // Registered at the first successful job: before it they are absent, never a reassuring 0.
    const cached = (name: string, help: string, read: (s: StoreSnapshot) => number) => {
      this.snapshotGauges.push({ gauge: new Gauge({ name: `${PREFIX}${name}`, help: `${help} (store job, cached)`, registers: [] }), read });
    };
    cached('ledger_discrepancy_fen', 'Card liability in the ledger minus the sum of shadow balances, fen: 0 when the books agree', (s) => s.discrepancyFen);
    cached('ledger_postings_balance_fen', 'Sum of every ledger entry, fen: 0 when every posting balances', (s) => s.postingsBalanceFen);
    cached('ledger_unbalanced_postings', 'Postings whose entries do not sum to zero', (s) => s.unbalancedPostings);
    cached('ledger_pending_loads_mismatch_fen', 'Pending loads in the ledger minus pending loads in the loads table, fen', (s) => s.pendingLoadsMismatchFen);
    cached('refunds_waiting', 'Refunds requested and not yet paid', (s) => s.refundsWaiting);
    cached('refunds_overdue', 'Refunds not paid by their deadline (end of the second natural day)', (s) => s.refundsOverdue);
    cached('refunds_paid', 'Refunds paid, all time', (s) => s.refundsPaid);
    cached('devices', 'Registered validators', (s) => s.devices);
    cached('devices_stale', 'Validators not synced within the stale window (policy deviceStaleWindowMs)', (s) => s.devicesStale);
    cached('devices_flagged', 'Validators flagged for uploading a record with a bad TAC', (s) => s.devicesFlagged);
    cached('blacklist_version', 'Current blacklist version', (s) => s.blacklistVersion);
    cached('blacklist_size', 'Cards listed on the blacklist', (s) => s.blacklistSize);
    cached('loads_pending_stale', 'Loads pending for more than 10 minutes', (s) => s.pendingLoadsStale);
    cached('loads_pending_stale_fen', 'Money held by loads pending for more than 10 minutes, fen', (s) => s.pendingLoadsStaleFen);

    const store = context.store;
    if (typeof store.poolStats === 'function') {
      const pool = () => store.poolStats?.() ?? { total: 0, idle: 0, waiting: 0, max: 0 };
      new Gauge({
        name: `${PREFIX}pg_pool_connections_in_use`,
        help: 'PostgreSQL connections checked out of the pool',
        registers,
        collect() {
          const stats = pool();
          this.set(stats.total - stats.idle);
        },
      });
      new Gauge({
        name: `${PREFIX}pg_pool_waiting`,
        help: 'Callers waiting for a PostgreSQL connection (the pool is exhausted)',
        registers,
        collect() {
          this.set(pool().waiting);
        },
      });
      new Gauge({
        name: `${PREFIX}pg_pool_connections_idle`,
        help: 'PostgreSQL connections open and idle',
        registers,
        collect() {
          this.set(pool().idle);
        },
      });
      new Gauge({
        name: `${PREFIX}pg_pool_connections_max`,
        help: 'PostgreSQL pool size limit',
        registers,
        collect() {
          this.set(pool().max);
        },
      });
    }
  }

  /** One answered request. `route` is the template, or undefined when no route matched. */
  observeRequest(method: string, route: string | undefined, statusCode: number, seconds: number): void {
    const template = route ?? UNMATCHED_ROUTE;
    const key = `${method} ${template} ${statusCode}`;
    let children = this.requestChildren.get(key);
    if (children === undefined) {
      const labels = { method, route: template, status_code: String(statusCode) };
      children = { count: this.requests.labels(labels), latency: this.latency.labels(labels) };
      this.requestChildren.set(key, children);
    }
    children.count.inc();
    children.latency.observe(seconds);
  }

  loadAuthorised(paymentSource: string): void {
    this.loadsAuthorised.inc({ payment_source: paymentSource });
  }

  loadConfirmed(resolution: string, count = 1): void {
    if (count > 0) this.loadsConfirmed.inc({ resolution }, count);
  }

  loadVoided(resolution: string, count = 1): void {
    if (count > 0) this.loadsVoided.inc({ resolution }, count);
  }

  /** Loads settled by card evidence (`proof`: next-load, card-log, purchase-chain). */
  loadsSettled(settled: PendingResolution | undefined, proof: string): void {
    if (settled === undefined) return;
    this.loadConfirmed(proof, settled.confirmed.length);
    this.loadVoided(proof, settled.voided.length);
    this.loadConfirmed('void-reversed', settled.reinstated.length);
  }

  syncBatch(stats: IngestStats): void {
    if (stats.accepted > 0) this.syncRecords.inc({ outcome: 'accepted' }, stats.accepted);
    if (stats.rejected > 0) this.syncRecords.inc({ outcome: 'rejected' }, stats.rejected);
    if (stats.duplicates > 0) this.syncRecords.inc({ outcome: 'duplicate' }, stats.duplicates);
    this.loadConfirmed('purchase-chain', stats.loadsConfirmed);
    this.loadConfirmed('void-reversed', stats.loadsReinstated);
  }

  syncBatchRefused(): void {
    this.syncBatchesRefused.inc();
  }

  /** The last store snapshot (null before the first successful job). */
  get lastSnapshot(): StoreSnapshot | null {
    return this.snapshot;
  }

  /**
   * Runs the store job now (a run in progress is joined, not doubled) and caches its gauges.
   * Rejects when the job fails; the gauges then keep their previous values.
   */
  refresh(): Promise<void> {
    if (this.running !== null) return this.running;
    const run = this.runRefresh().finally(() => {
      this.running = null;
    });
    this.running = run;
    return run;
  }

  private async runRefresh(): Promise<void> {
    const { store, clock, policies } = this.context;
    const started = performance.now();
    const nowMs = clock();
    try {
      const snapshot = await store.transaction((tx) => readStoreSnapshot(tx, nowMs, policies.deviceStaleWindowMs), { readOnly: true });
      if (this.snapshot === null) for (const { gauge } of this.snapshotGauges) this.registry.registerMetric(gauge);
      this.snapshot = snapshot;
      for (const { gauge, read } of this.snapshotGauges) gauge.set(read(snapshot));
      this.refreshTimestamp.set(nowMs / 1000);
      this.refreshDuration.set((performance.now() - started) / 1000);
    } catch (error) {
      this.refreshFailures.inc();
      throw error;
    }
  }

  /** Starts the periodic store job (no-op when intervalMs is 0). */
  start(): void {
    const intervalMs = this.options.intervalMs ?? DEFAULT_METRICS_REFRESH_MS;
    if (!(intervalMs > 0) || this.timer !== null) return;
    this.timer = setInterval(() => this.tick(), intervalMs);
    this.timer.unref();
  }

  /** One timer run: errors go to onRefreshError, never thrown. */
  tick(): void {
    this.refresh().catch((error: unknown) => this.options.onRefreshError?.(error));
  }

  /** Stops the timer and waits for a job in progress (so the store can be closed after). */
  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  /** The Prometheus text exposition: this instance's metrics, then the process metrics. */
  async scrape(): Promise<string> {
    const own = await this.registry.metrics();
    const process = await processMetrics().metrics();
    return `${own.endsWith('\n') ? own : `${own}\n`}${process}`;
  }
}
