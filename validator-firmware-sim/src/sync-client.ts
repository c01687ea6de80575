/**
 * Validator <-> gateway sync (DOMAIN.md section 6; core/src/sync/sync-messages.ts).
 *
 * One round: the lowest unacknowledged journal rows (at most LIMITS.syncBatchRecords,
 * ascending deviceSeq) go up msgpack-encoded with the device's Bearer credential; the answer's
 * acknowledged and quarantined sequences are marked sent; its blacklist page is applied in
 * bounded batches; a newer fare table is stored; the watermark is recorded. Uploads are
 * idempotent at the gateway by (deviceId, deviceSeq), so a round cut off at any point
 * (request lost, answer lost, device killed before marking) is simply repeated.
 *
 * `drain()` repeats rounds until nothing is left to upload, no blacklist page is waiting and no
 * newer fare table came (the gateway sends one per answer: the one in force, then announced ones);
 * failures back off exponentially (bounded, with jitter from an injected random) so a fleet
 * coming back online does not hammer the gateway in lockstep. Taps never wait for sync.
 */
import { pack, unpack } from 'msgpackr';
import { LIMITS, SYNC_PROTOCOL_VERSION, type JournalRecord, type SyncRequest, type SyncResponse } from '#core';
import type { Device } from './device.ts';
import type { BlacklistApplyResult } from './storage/blacklist-store.ts';

export const MSGPACK = 'application/x-msgpack';

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  /** Failed rounds in a row before drain() gives up and reports 'offline' (taps go on regardless). */
  maxAttempts: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 60_000, maxAttempts: 8 };

export interface SyncClientOptions {
  device: Device;
  gatewayUrl: string;
  credential: string;
  fetch?: typeof fetch;
  clock?: () => number;
  /** Uniform [0, 1): jitter source (injected so tests are deterministic). */
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  backoff?: Partial<BackoffPolicy>;
  /** Records per upload, at most LIMITS.syncBatchRecords. */
  batchRecords?: number;
  /** Per-request timeout. */
  timeoutMs?: number;
  /** Acknowledged rows kept locally after upload (the rest are pruned). */
  keepAcknowledged?: number;
}

export type SyncRoundResult =
  | {
      ok: true;
      uploaded: number;
      acknowledged: number;
      quarantined: number;
      blacklist: BlacklistApplyResult | null;
      blacklistMore: boolean;
      fareTableInstalled: number | null;
      watermark: number;
      remainingUnacked: number;
      /** This device's clock minus the gateway's, measured by this round (null: the answer had no server time). */
      clockSkewMs: number | null;
    }
  | { ok: false; error: string; status: number | null; retryable: boolean };

export interface DrainResult {
  status: 'drained' | 'offline' | 'rejected';
  rounds: number;
  failures: number;
  uploaded: number;
  lastError: string | null;
  remainingUnacked: number;
}

/** Delay before retry `attempt` (1-based): equal jitter, min(max, base * 2^(attempt-1)) * [0.5, 1). */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

function isNumberArray(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((n) => Number.isSafeInteger(n));
}

/** Shape check of the gateway's answer: a malformed answer changes nothing on the device. */
export function checkSyncResponse(value: unknown): SyncResponse | string {
  if (value === null || typeof value !== 'object') return 'answer is not a map';
  const r = value as Partial<SyncResponse>;
  if (r.protocolVersion !== SYNC_PROTOCOL_VERSION) return `protocolVersion ${String(r.protocolVersion)} is not ${SYNC_PROTOCOL_VERSION}`;
  if (!isNumberArray(r.acknowledged) || !isNumberArray(r.quarantined)) return 'acknowledged/quarantined are not integer arrays';
  if (!Array.isArray(r.blacklist)) return 'blacklist is not an array';
  if (!Number.isSafeInteger(r.blacklistVersion) || typeof r.blacklistMore !== 'boolean') return 'blacklistVersion/blacklistMore malformed';
  if (!Number.isSafeInteger(r.watermark)) return 'watermark is not an integer';
  if (!Number.isSafeInteger(r.serverTimeMs) || (r.serverTimeMs as number) < 0) return 'serverTimeMs is not epoch ms';
  if (r.fareTable !== null && (typeof r.fareTable !== 'object' || !Number.isSafeInteger(r.fareTable?.version) || typeof r.fareTable?.json !== 'string')) {
    return 'fareTable malformed';
  }
  return r as SyncResponse;
}

export class SyncClient {
  private readonly device: Device;
  private readonly url: string;
  private readonly credential: string;
  private readonly fetchFn: typeof fetch;
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly backoff: BackoffPolicy;
  private readonly batchRecords: number;
  private readonly timeoutMs: number;
  private readonly keepAcknowledged: number;

  constructor(options: SyncClientOptions) {
    this.device = options.device;
    this.url = `${options.gatewayUrl.replace(/\/+$/, '')}/v1/devices/${encodeURIComponent(options.device.deviceId)}/sync`;
    this.credential = options.credential;
    this.fetchFn = options.fetch ?? fetch;
    this.clock = options.clock ?? Date.now;
    this.random = options.random ?? Math.random;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.backoff = { ...DEFAULT_BACKOFF, ...(options.backoff ?? {}) };
    this.batchRecords = options.batchRecords ?? LIMITS.syncBatchRecords;
    if (!Number.isSafeInteger(this.batchRecords) || this.batchRecords < 1 || this.batchRecords > LIMITS.syncBatchRecords) {
      throw new RangeError(`batchRecords must be 1..${LIMITS.syncBatchRecords}`);
    }
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.keepAcknowledged = options.keepAcknowledged ?? 10_000;
  }

  /** One request/answer. Never throws for network or gateway trouble: returns { ok: false }. */
  async syncOnce(): Promise<SyncRoundResult> {
    const state = this.device.state.read();
    const records: JournalRecord[] = this.device.journal.unacked(this.batchRecords);
    // Whether rows wait beyond this batch, asked of the journal itself (one indexed lookup),
    // never guessed from the batch size: a full batch may be the last one.
    const journalMore = records.length === this.batchRecords && this.device.journal.unacked(1, records[records.length - 1].deviceSeq).length > 0;
    const sentAtMs = this.clock();
    const request: SyncRequest = {
      protocolVersion: SYNC_PROTOCOL_VERSION,
      deviceId: this.device.deviceId,
      records,
      blacklistVersion: state.blacklistVersion,
      fareTableVersion: state.fareTableVersion,
      deviceTimeMs: sentAtMs,
      journalMore,
    };
    const body = pack(request);
    if (body.length > LIMITS.syncBodyBytes) throw new Error(`sync body ${body.length} bytes is over LIMITS.syncBodyBytes`);

    let answer: Response;
    try {
      answer = await this.fetchFn(this.url, {
        method: 'POST',
        headers: { 'content-type': MSGPACK, accept: MSGPACK, authorization: `Bearer ${this.credential}` },
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      return { ok: false, error: `gateway unreachable: ${(error as Error).message}`, status: null, retryable: true };
    }
    const bytes = Buffer.from(await answer.arrayBuffer().catch(() => new ArrayBuffer(0)));
    if (answer.status !== 200) {
      const detail = bytes.toString('utf8').slice(0, 300);
      // 4xx other than 408/429 will not heal by retrying the same batch (bad credential, unknown
      // device, a batch the gateway refuses): report it loudly, still bounded by the drain.
      const retryable = answer.status >= 500 || answer.status === 408 || answer.status === 429;
      return { ok: false, error: `gateway answered ${answer.status}: ${detail}`, status: answer.status, retryable };
    }
    let decoded: unknown;
    try {
      decoded = unpack(bytes);
    } catch (error) {
      return { ok: false, error: `answer is not msgpack: ${(error as Error).message}`, status: 200, retryable: true };
    }
    const response = checkSyncResponse(decoded);
    if (typeof response === 'string') return { ok: false, error: `malformed answer: ${response}`, status: 200, retryable: true };

    // Only what this request carried is marked: an answer naming other sequences is ignored.
    const sent = new Set(records.map((r) => r.deviceSeq));
    const acknowledged = response.acknowledged.filter((seq) => sent.has(seq));
    const quarantined = response.quarantined.filter((seq) => sent.has(seq));
    const nowMs = this.clock();
    this.device.journal.markAcknowledged(acknowledged, quarantined, response.watermark, nowMs);
    // The gateway stamped serverTimeMs between our send and its answer: our clock minus its, to
    // within half the round trip. Recorded for `status`; the gateway keeps its own measurement.
    let clockSkewMs: number | null = null;
    if (response.serverTimeMs > 0) {
      clockSkewMs = Math.round((sentAtMs + nowMs) / 2) - response.serverTimeMs;
      this.device.recordClockSkew({ skewMs: clockSkewMs, measuredAtMs: nowMs, roundTripMs: Math.max(0, nowMs - sentAtMs) });
    }

    let blacklist: BlacklistApplyResult | null = null;
    if (response.blacklist.length > 0 || response.blacklistVersion > state.blacklistVersion) {
      blacklist = await this.device.blacklist.applyDelta({ entries: response.blacklist, toVersion: response.blacklistVersion });
    }
    // "More pages wait" is the gateway's explicit word (never inferred from a page's length: a
    // page may be exactly the limit and the last). A "more" whose page moves nothing would have
    // drain() ask for the same page forever: refuse it loudly instead.
    if (response.blacklistMore && !(response.blacklistVersion > state.blacklistVersion)) {
      return {
        ok: false,
        error: `the gateway says more blacklist pages wait but its page does not pass version ${state.blacklistVersion}`,
        status: 200,
        retryable: false,
      };
    }
    let fareTableInstalled: number | null = null;
    if (response.fareTable !== null && response.fareTable.version > state.fareTableVersion) {
      try {
        if (this.device.installFareTable(response.fareTable.version, response.fareTable.json, nowMs)) fareTableInstalled = response.fareTable.version;
      } catch (error) {
        return { ok: false, error: `fare table ${response.fareTable.version} refused: ${(error as Error).message}`, status: 200, retryable: false };
      }
    }
    const watermark = response.watermark;
    if (this.keepAcknowledged >= 0)
      this.device.journal.pruneAcknowledged(Math.min(watermark + 1, this.device.state.read().nextDeviceSeq - this.keepAcknowledged));
    const remainingUnacked = this.device.state.read().unackedCount;
    this.device.maybeCheckpoint();
    return {
      ok: true,
      uploaded: records.length,
      acknowledged: acknowledged.length,
      quarantined: quarantined.length,
      blacklist,
      blacklistMore: response.blacklistMore && (blacklist === null || blacklist.status === 'applied'),
      fareTableInstalled,
      watermark,
      remainingUnacked,
      clockSkewMs,
    };
  }

  /**
   * Rounds until everything is uploaded and the blacklist is current. Backs off on failure;
   * gives up after `backoff.maxAttempts` failures in a row ('offline': call again later).
   */
  async drain(options: { maxRounds?: number } = {}): Promise<DrainResult> {
    const maxRounds = options.maxRounds ?? 10_000;
    let rounds = 0;
    let failures = 0;
    let uploaded = 0;
    let streak = 0;
    let lastError: string | null = null;
    while (rounds < maxRounds) {
      rounds++;
      const round = await this.syncOnce();
      if (round.ok) {
        streak = 0;
        uploaded += round.uploaded;
        if (round.blacklist !== null && round.blacklist.status === 'refused') {
          lastError = `blacklist delta refused: ${round.blacklist.reason}`;
          return { status: 'rejected', rounds, failures, uploaded, lastError, remainingUnacked: round.remainingUnacked };
        }
        // Go on while the journal still holds unacknowledged rows (its own count, not the batch
        // size) or the gateway said another blacklist page waits (blacklistMore).
        const progressed = round.acknowledged + round.quarantined > 0;
        if (round.uploaded > 0 && !progressed) {
          lastError = 'the gateway acknowledged none of the uploaded records';
          return { status: 'rejected', rounds, failures, uploaded, lastError, remainingUnacked: round.remainingUnacked };
        }
        // A fare table just installed: ask again, another announced one may wait (the gateway
        // sends one per answer; versions only go up, so this ends).
        if (round.remainingUnacked === 0 && !round.blacklistMore && round.fareTableInstalled === null) {
          return { status: 'drained', rounds, failures, uploaded, lastError, remainingUnacked: round.remainingUnacked };
        }
        continue;
      }
      failures++;
      streak++;
      lastError = round.error;
      if (!round.retryable) return { status: 'rejected', rounds, failures, uploaded, lastError, remainingUnacked: this.device.state.read().unackedCount };
      if (streak >= this.backoff.maxAttempts) break;
      await this.sleep(backoffDelayMs(streak, this.backoff, this.random));
    }
    return { status: 'offline', rounds, failures, uploaded, lastError, remainingUnacked: this.device.state.read().unackedCount };
  }
}
