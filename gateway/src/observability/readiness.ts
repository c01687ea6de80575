/**
 * Readiness (GET /readyz): may a load balancer send this instance traffic? Four checks, run
 * together, each bounded by a short timeout:
 * - store: one trivial read-only round trip (`SELECT 1`);
 * - migrations: every schema migration this build knows is recorded in `schema_migrations`
 *   (expected version = the highest known migration id; a database ahead of the build is fine);
 * - keys: the issuer keys answer (see `checkIssuerKeys`; nothing secret leaves);
 * - lifecycle: the process is not shutting down (`lifecycle.shuttingDown`, set by main.ts on the
 *   first SIGTERM/SIGINT, so the balancer stops sending while in-flight requests finish).
 * Liveness (GET /healthz) is separate and touches none of this.
 */
import type { IssuerKeysPort } from '../keys/issuer-keys-port.ts';
import type { GatewayContext } from '../http/gateway-context.ts';
import { sortedMigrations } from '../store/migrate.ts';

export const READINESS_CHECKS = ['store', 'migrations', 'keys', 'lifecycle'] as const;
export type ReadinessCheckName = (typeof READINESS_CHECKS)[number];

export interface CheckResult {
  status: 'ok' | 'fail';
  detail: string;
}

export interface MigrationsCheckResult extends CheckResult {
  /** Highest migration id this build knows. */
  expected: number;
  /** Highest migration id recorded in the database (null: none, or unreadable). */
  current: number | null;
}

export interface Readiness {
  ready: boolean;
  checks: { store: CheckResult; migrations: MigrationsCheckResult; keys: CheckResult; lifecycle: CheckResult };
  failing: ReadinessCheckName[];
}

/** Default bound of each store check (a load balancer probes every few seconds). */
export const DEFAULT_READINESS_TIMEOUT_MS = 2_000;

/** The highest known migration id: what a database must have reached. */
export const EXPECTED_MIGRATION = Math.max(...sortedMigrations().map((m) => m.id));

/**
 * A key adapter may answer readiness itself (an HSM adapter: a ping to the HSM). Optional: the
 * software key service does not need it (see `checkIssuerKeys`). Must not return key material.
 */
export interface IssuerKeysHealth {
  checkKeys(): { ok: boolean; detail: string } | Promise<{ ok: boolean; detail: string }>;
}

function hasCheckKeys(keys: IssuerKeysPort): keys is IssuerKeysPort & IssuerKeysHealth {
  return typeof (keys as Partial<IssuerKeysHealth>).checkKeys === 'function';
}

const PROBE_CARD = { cardNo: '0000000000000000', algorithm: '3des' as const };
const PROBE_CHALLENGE = new Uint8Array(4);

/**
 * The keys answer: the adapter's own `checkKeys()` when it has one; otherwise one command MAC
 * under the current key version for a fixed dummy card (a few microseconds; it proves the
 * current master key set is loaded and usable). The MAC is only checked for its length and
 * never leaves this function; no key is read.
 */
export async function checkIssuerKeys(keys: IssuerKeysPort): Promise<CheckResult> {
  try {
    if (hasCheckKeys(keys)) {
      const answer = await keys.checkKeys();
      return { status: answer.ok ? 'ok' : 'fail', detail: answer.detail };
    }
    const version = keys.currentKeyVersion;
    if (!Number.isInteger(version) || version < 0 || version > 0xff) return { status: 'fail', detail: 'no current key version' };
    const mac = keys.unblockCommandMac({ ...PROBE_CARD, keyVersion: version }, PROBE_CHALLENGE);
    if (!(mac instanceof Uint8Array) || mac.length !== 4) return { status: 'fail', detail: `key version ${version} does not answer` };
    return { status: 'ok', detail: `key version ${version} answers` };
  } catch (error) {
    return { status: 'fail', detail: `the issuer keys do not answer: ${errorText(error)}` };
  }
}

function errorText(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 200);
}

/** Rejects after `ms` (the store call itself goes on; its result is dropped). */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function checkStore(context: Pick<GatewayContext, 'store'>, timeoutMs: number): Promise<CheckResult> {
  const { store } = context;
  try {
    await withTimeout(
      store.transaction((tx) => tx.get('SELECT 1 AS one'), { readOnly: true }),
      timeoutMs,
      store.dialect,
    );
    return { status: 'ok', detail: `${store.dialect} answers` };
  } catch (error) {
    return { status: 'fail', detail: `${store.dialect}: ${errorText(error)}` };
  }
}

async function checkMigrations(context: Pick<GatewayContext, 'store'>, timeoutMs: number): Promise<MigrationsCheckResult> {
  const expected = EXPECTED_MIGRATION;
  const known = sortedMigrations().map((m) => m.id);
  let applied: Set<number>;
  try {
    const rows = await withTimeout(
      context.store.transaction((tx) => tx.all<{ id: number | bigint }>('SELECT id FROM schema_migrations'), { readOnly: true }),
      timeoutMs,
      'schema_migrations',
    );
    applied = new Set(rows.map((row) => Number(row.id)));
  } catch (error) {
    return { status: 'fail', detail: `schema_migrations unreadable: ${errorText(error)}`, expected, current: null };
  }
  const current = applied.size === 0 ? null : Math.max(...applied);
  const missing = known.filter((id) => !applied.has(id));
  if (missing.length > 0) {
    return {
      status: 'fail',
      detail: `${missing.length} migration(s) not applied (first ${missing[0]}); expected ${expected}, database at ${current ?? 'none'}`,
      expected,
      current,
    };
  }
  return {
    status: 'ok',
    detail: current !== null && current > expected ? `database at ${current}, ahead of this build (${expected})` : `at ${expected}`,
    expected,
    current,
  };
}

export async function checkReadiness(
  context: Pick<GatewayContext, 'store' | 'keys' | 'lifecycle'>,
  timeoutMs = DEFAULT_READINESS_TIMEOUT_MS,
): Promise<Readiness> {
  const [store, migrations, keys] = await Promise.all([checkStore(context, timeoutMs), checkMigrations(context, timeoutMs), checkIssuerKeys(context.keys)]);
  const lifecycle: CheckResult = context.lifecycle.shuttingDown ? { status: 'fail', detail: 'shutting down' } : { status: 'ok', detail: 'serving' };
  const checks = { store, migrations, keys, lifecycle };
  const failing = READINESS_CHECKS.filter((name) => checks[name].status === 'fail');
  return { ready: failing.length === 0, checks, failing };
}
