/**
 * The device blacklist in SQLite: card -> (reason, version), at least 10 million cards.
 *
 * Layout (measured in bench/blacklist-lookup.bench.ts): the card number is the table's
 * INTEGER PRIMARY KEY (the rowid B-tree, the fastest point lookup SQLite has); 16 decimal
 * digits exceed 2^53, so numbers above Number.MAX_SAFE_INTEGER are bound as BigInt. The
 * lookup is one prepared statement with `.pluck()`.
 *
 * In front of the table sits an exact in-memory index of the listed cards and their reasons
 * (blacklist-index.ts, 5 bytes per card), built from the table at start: once it is ready a
 * lookup never reaches SQLite, listed or not. Deltas committed since the build started live in
 * an overlay map consulted first; the table stays the source of truth (the index is derived,
 * dropped and rebuilt from it whenever in doubt).
 *
 * Deltas from the gateway are validated whole first (a corrupted entry refuses the whole
 * delta with no change), then applied in batches of LIMITS.blacklistApplyBatch, each batch
 * its own short transaction, yielding to the event loop between batches so a tap waits at
 * most one batch (DOMAIN.md section 6; the device must never stall a gate).
 */
import type { Statement } from 'better-sqlite3';
import { LIMITS, isCardNo as isCoreCardNo, type BlacklistDeltaEntry, type BlacklistReason } from '#core';
import { checkpointDeviceDb, type DeviceDatabase } from './device-db.ts';
import { type BlacklistIndex, BlacklistIndexBuilder, indexCode, type IndexBuffers, UNKNOWN_REASON_CODE } from './blacklist-index.ts';

/** Stable storage codes of the reasons (never renumber). */
const REASON_CODES: Readonly<Record<BlacklistReason, number>> = {
  'temporary-loss': 1,
  'formal-loss': 2,
  replaced: 3,
  refunded: 4,
  cloned: 5,
  cancelled: 6,
  // 7 is also the in-memory index's code for a reason this firmware does not know: lookup() reads
  // such a card's reason from the table (blacklist-index.ts UNKNOWN_REASON_CODE).
  exchanged: 7,
};
const REASONS_BY_CODE: readonly (BlacklistReason | undefined)[] = (() => {
  const out: (BlacklistReason | undefined)[] = [];
  for (const [reason, code] of Object.entries(REASON_CODES)) out[code] = reason as BlacklistReason;
  return out;
})();

export type BlacklistAnswer = { listed: false } | { listed: true; reason: BlacklistReason };

const NOT_LISTED: BlacklistAnswer = Object.freeze({ listed: false });
const LISTED: Readonly<Record<BlacklistReason, BlacklistAnswer>> = Object.freeze(
  Object.fromEntries(Object.keys(REASON_CODES).map((r) => [r, Object.freeze({ listed: true, reason: r })])) as Record<BlacklistReason, BlacklistAnswer>,
);

/**
 * 16 digits (legacy) or 19 starting 31 (T-Union, issue 18). Both fit an SQLite INTEGER key
 * without overlapping: legacy numbers are below 10^16, T-Union ones at or above 3.1 * 10^18
 * (below 2^63).
 */
export function isCardNo(value: unknown): value is string {
  return isCoreCardNo(value);
}

/** First integer key of the 19-digit range: the compact index holds only the keys below it. */
const TUNION_KEY_FLOOR = '10000000000000000';

/** The card number as an SQLite integer key: a JS number when exact, else a BigInt. */
export function cardKey(cardNo: string): number | bigint {
  const n = Number(cardNo);
  return n <= Number.MAX_SAFE_INTEGER ? n : BigInt(cardNo);
}

export interface BlacklistDelta {
  entries: readonly BlacklistDeltaEntry[];
  /** Version the list reaches once every entry is applied (SyncResponse.blacklistVersion). */
  toVersion: number;
}

export type BlacklistApplyResult =
  | {
      status: 'applied';
      /** Entries written (add or remove) and entries skipped as already applied (stale). */
      applied: number;
      skippedStale: number;
      batches: number;
      version: number;
      /** Longest single batch transaction (wall clock), ms: the longest a tap could have waited. */
      maxBatchMs: number;
      /** Longest single batch in CPU time (user + system), ms: the work itself, without preemption by other processes. */
      maxBatchCpuMs: number;
      /** Every batch's wall time, ms, in order. */
      batchMs: number[];
      /** Most entries written in one batch transaction (never above LIMITS.blacklistApplyBatch). */
      maxBatchEntries: number;
    }
  | { status: 'refused'; reason: 'corrupt-entry'; index: number; detail: string }
  | { status: 'refused'; reason: 'stale-version'; detail: string }
  | { status: 'refused'; reason: 'capacity-exceeded'; detail: string };

export interface ApplyOptions {
  batchSize?: number;
  /** Yields between batches; defaults to setImmediate so queued taps run in between. */
  yieldBetweenBatches?: () => Promise<void>;
}

/** A tap waits at most one batch: aim well under the 10 ms budget. */
const TARGET_BATCH_MS = 3;
const FIRST_BATCH = 128;
/** Delta entries checked per event-loop turn before any is applied (~0.5 ms warm). */
const VALIDATE_SLICE = 8_192;

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Page cache of a connection while an index build runs on it, KiB (see enterScanCache). */
const SCAN_CACHE_KIB = 1_024;

/** SQL function the index scan calls per row (registered once per connection). */
const FILL_FUNCTION = 'blacklist_index_add';

/** Where the connection's fill function puts the rows of the scan running now (synchronous: one at a time). */
interface IndexSink {
  target: BlacklistIndexBuilder | null;
  rows: number;
  lastHi: number;
  lastLo: number;
  /** Builds under way on this connection, and the page cache size they will give back. */
  builds: number;
  ownerCacheSize: number;
}

const sinks = new WeakMap<DeviceDatabase, IndexSink>();

function indexSink(db: DeviceDatabase): IndexSink {
  let sink = sinks.get(db);
  if (sink === undefined) {
    const s: IndexSink = { target: null, rows: 0, lastHi: -1, lastLo: -1, builds: 0, ownerCacheSize: 0 };
    db.function(FILL_FUNCTION, { deterministic: false, directOnly: true }, (hi: unknown, lo: unknown, reason: unknown) => {
      if (s.target === null || typeof hi !== 'number' || typeof lo !== 'number') return null;
      // The rows come in card order (the rowid), so the last row is the chunk's highest card.
      s.target.add(hi, lo, indexCode(reason));
      s.rows++;
      s.lastHi = hi;
      s.lastLo = lo;
      return null;
    });
    sinks.set(db, s);
    sink = s;
  }
  return sink;
}

/**
 * A sequential scan needs only the pages on its path, and once the index is built the
 * blacklist's pages are hardly read again: through the connection's full page cache the scan
 * of 10M cards left 16 MiB of leaf pages resident for good (RSS ~66 MB over the floor after
 * the build instead of ~52, measured). So while any build runs on a connection its page cache
 * is small, and the owner's size comes back when the last build ends. (Set once per build, not
 * per chunk: db.pragma() prepares a statement per call, and thousands of chunks left ~10 MB of
 * them to the collector.)
 */
function enterScanCache(db: DeviceDatabase): void {
  const sink = indexSink(db);
  if (sink.builds++ === 0) {
    sink.ownerCacheSize = db.pragma('cache_size', { simple: true }) as number;
    db.pragma(`cache_size = -${SCAN_CACHE_KIB}`);
  }
}

function leaveScanCache(db: DeviceDatabase): void {
  const sink = indexSink(db);
  if (sink.builds > 0 && --sink.builds === 0 && db.open) db.pragma(`cache_size = ${Math.trunc(sink.ownerCacheSize)}`);
}

/**
 * Overlay entries (cards changed by deltas since the index build started) above which the
 * index and overlay are dropped and rebuilt from the table: a Map entry with its 16-digit key
 * costs ~70 bytes, so 250,000 of them is ~17 MB next to the index's ~50 MB at 10M cards.
 */
export const OVERLAY_LIMIT = 250_000;

/** 'background' (default): the owner calls warmIndex() once; 'sync': built in the constructor; false: table only. */
export type BlacklistIndexMode = 'background' | 'sync' | false;

export interface BlacklistStoreOptions {
  index?: BlacklistIndexMode;
  /** Overlay size that triggers a drop and rebuild (tests use a small one). */
  overlayLimit?: number;
}

/** What the index is doing (device status, tests). */
export interface BlacklistIndexInfo {
  mode: BlacklistIndexMode;
  ready: boolean;
  building: boolean;
  entries: number;
  capacity: number;
  bytes: number;
  overlay: number;
  /** Builds completed, builds dropped (overlay overflow, bulk load), arrays grown during builds. */
  builds: number;
  drops: number;
  grows: number;
  /** The last build that failed (the store stays on the table), if any. */
  lastError: string | null;
}

export class BlacklistStore {
  private readonly lookupStatement: Statement<[number | bigint], number | undefined>;
  private readonly upsert: Statement<[number | bigint, number, number]>;
  private readonly remove: Statement<[number | bigint]>;
  private readonly readState: Statement<[], { blacklist_version: number; blacklist_count: number }>;
  private readonly writeState: Statement<[number, number]>;
  /** Deltas are applied one at a time (a second caller waits for the first). */
  private applying: Promise<unknown> = Promise.resolve();

  private readonly indexMode: BlacklistIndexMode;
  private readonly overlayLimit: number;
  /** The built index; non-null exactly when lookups answer from memory. */
  private index: BlacklistIndex | null = null;
  /**
   * Cards changed by committed delta batches since the current build started: card -> reason
   * code, 0 = removed. Consulted before the index (which never changes once built). Written
   * only after a batch's transaction commits, so it never says anything the table does not.
   */
  private readonly overlay = new Map<string, number>();
  /**
   * Listed 19-digit (T-Union) cards and their reason codes, read from the table when the index
   * is built (issue 18). The compact index is laid out for 16 digits; T-Union entries (home
   * cards with 19-digit numbers, other cities' cards of the national blocklist) are far fewer,
   * so a Map keyed by the number answers them: a get on a string the card already holds, no
   * allocation. Changes after the build go to the overlay like any other.
   */
  private tunion = new Map<string, number>();
  /** True while a build runs or the index is ready: committed changes go into the overlay. */
  private tracking = false;
  /** Bumped whenever the index is dropped: a build of an older generation stops. */
  private generation = 0;
  private builder: BlacklistIndexBuilder | null = null;
  /** This store's build holds the connection's small scan cache (enterScanCache). */
  private holdsScanCache = false;
  /** Entry arrays of a dropped index or build, reused by the next build. */
  private spare: IndexBuffers | null = null;
  private warming: Promise<void> | null = null;
  private rebuildAfterApply = false;
  private builds = 0;
  private drops = 0;
  private grows = 0;
  private lastError: string | null = null;

  constructor(
    private readonly db: DeviceDatabase,
    options: BlacklistStoreOptions = {},
  ) {
    this.lookupStatement = db.prepare('SELECT reason FROM blacklist WHERE card = ?').pluck() as Statement<[number | bigint], number | undefined>;
    this.upsert = db.prepare(
      'INSERT INTO blacklist (card, reason, version) VALUES (?, ?, ?) ON CONFLICT (card) DO UPDATE SET reason = excluded.reason, version = excluded.version',
    );
    this.remove = db.prepare('DELETE FROM blacklist WHERE card = ?');
    this.readState = db.prepare('SELECT blacklist_version, blacklist_count FROM device_state WHERE id = 1');
    this.writeState = db.prepare('UPDATE device_state SET blacklist_version = ?, blacklist_count = ? WHERE id = 1');
    this.indexMode = options.index ?? 'background';
    this.overlayLimit = options.overlayLimit ?? OVERLAY_LIMIT;
    if (!(Number.isSafeInteger(this.overlayLimit) && this.overlayLimit >= 0)) throw new RangeError('overlayLimit must be a non-negative integer');
    if (this.indexMode === 'sync') this.warmIndexSync();
  }

  /**
   * Builds the index from the table in chunks, yielding between them, so a device with 10M
   * listed cards starts answering taps at once (from the table) and answers from memory when
   * the scan ends. Deltas committed meanwhile go into the overlay. A failed build leaves the
   * store on the table (indexInfo.lastError says why); it never rejects.
   */
  warmIndex(chunkRows = 5_000): Promise<void> {
    if (this.indexMode === false || this.index !== null) return Promise.resolve();
    this.warming ??= (async () => {
      let generation = -1;
      let after: bigint | null = -1n;
      try {
        generation = this.startBuild();
        for (;;) {
          // The owner may close the database, or a drop may start a newer build, while the
          // scan is under way: stop quietly (lookups keep asking the table).
          if (!this.db.open || generation !== this.generation) return;
          after = this.scanChunk(after, chunkRows);
          if (after === null) break;
          await yieldToEventLoop();
        }
        if (generation === this.generation) this.finishBuild();
      } catch (error) {
        if (generation === -1 || generation === this.generation) this.failBuild(error);
      }
    })();
    return this.warming;
  }

  /** Builds the index in one go (benchmarks and tests); throws if the build fails. */
  warmIndexSync(): void {
    if (this.indexMode === false || this.index !== null) return;
    this.startBuild();
    try {
      let after: bigint | null = -1n;
      while (after !== null) after = this.scanChunk(after, 50_000);
      this.finishBuild();
    } catch (error) {
      this.failBuild(error);
      throw error;
    }
  }

  /** Starts a build (any earlier one is abandoned): empty overlay, arrays sized from the row count. */
  private startBuild(): number {
    this.abandonBuild();
    const generation = ++this.generation;
    this.overlay.clear();
    this.tracking = true;
    const count = this.state().blacklist_count;
    // A little slack for cards added behind a background build's cursor; pages never written
    // are never touched, so the slack costs address space rather than memory.
    const reuse = this.spare;
    this.spare = null;
    this.builder = new BlacklistIndexBuilder(count + (count >>> 4) + 1_024, reuse);
    enterScanCache(this.db);
    this.holdsScanCache = true;
    return generation;
  }

  private finishBuild(): void {
    // Read first: a row the index cannot hold fails the build before anything changes.
    const tunion = this.readTUnionEntries();
    const builder = this.builder as BlacklistIndexBuilder;
    this.builder = null;
    this.releaseScanCache();
    this.grows += builder.grows;
    this.index = builder.finish();
    this.tunion = tunion;
    this.builds++;
    this.lastError = null;
    this.warming = null;
  }

  private failBuild(error: unknown): void {
    this.lastError = error instanceof Error ? error.message : String(error);
    this.dropIndex();
  }

  /** Stops any build and keeps its arrays for the next one. */
  private abandonBuild(): void {
    if (this.builder !== null) {
      this.spare = this.builder.buffers();
      this.builder = null;
    }
    this.releaseScanCache();
  }

  private releaseScanCache(): void {
    if (!this.holdsScanCache) return;
    this.holdsScanCache = false;
    leaveScanCache(this.db);
  }

  /**
   * Back to the table: the index and overlay go (their arrays are kept for the next build, so
   * a rebuild never holds two copies), any running build stops at its next chunk.
   */
  private dropIndex(): void {
    if (this.index !== null) {
      this.spare = this.index.buffers();
      this.index = null;
      this.drops++;
    } else if (this.builder !== null) {
      this.drops++;
    }
    this.abandonBuild();
    this.overlay.clear();
    this.tunion = new Map();
    this.tracking = false;
    this.generation++;
    this.warming = null;
  }

  /** Every listed 19-digit card and its reason code (text keys: no BigInt, no rounding). */
  private readTUnionEntries(): Map<string, number> {
    const out = new Map<string, number>();
    const rows = this.db.prepare(`SELECT CAST(card AS TEXT) AS c, reason AS r FROM blacklist WHERE card >= ${TUNION_KEY_FLOOR}`).all() as {
      c: string;
      r: number;
    }[];
    for (const row of rows) {
      // Above the legacy range only T-Union numbers are cards: anything else is refused, never indexed.
      if (!isCardNo(row.c)) throw new RangeError(`blacklist index: card key ${row.c} out of range (neither 16 digits nor 19 starting 31)`);
      out.set(row.c, row.r);
    }
    return out;
  }

  /** Records a committed batch's changes (card, reason code or 0 = removed) in the overlay. */
  private noteCommitted(changes: readonly (string | number)[]): void {
    if (!this.tracking) return;
    for (let i = 0; i < changes.length; i += 2) this.overlay.set(changes[i] as string, changes[i + 1] as number);
    if (this.overlay.size > this.overlayLimit) {
      // Too many changes to keep beside the index: the table answers until a rebuild (after
      // this delta) has folded them into a new index.
      this.dropIndex();
      this.rebuildAfterApply = true;
    }
  }

  /**
   * One chunk of the index scan after the cursor `after` (a card key). The rows never come to
   * JavaScript: SQLite calls a registered function with each card's two exact 8-digit halves
   * and its reason (plain small integers, no BigInt, no row array), which appends it to the
   * index. So the scan of 10M cards makes next to no garbage. Only the cursor is a BigInt,
   * once per chunk. Returns the new cursor, or null at the end.
   */
  private scanChunk(after: bigint, limit: number): bigint | null {
    const sink = indexSink(this.db);
    this.scan ??= this.db
      .prepare(
        `SELECT count(${FILL_FUNCTION}(card / 100000000, card % 100000000, reason)) FROM (SELECT card, reason FROM blacklist WHERE card > ? AND card < ${TUNION_KEY_FLOOR} ORDER BY card LIMIT ?)`,
      )
      .pluck() as Statement<[bigint, number], number>;
    sink.target = this.builder;
    sink.rows = 0;
    sink.lastHi = -1;
    sink.lastLo = -1;
    try {
      this.scan.get(after, limit);
    } finally {
      sink.target = null;
    }
    if (sink.rows === 0) return null;
    const next = BigInt(sink.lastHi) * 100_000_000n + BigInt(sink.lastLo);
    // The scan only moves forward; anything else would loop for ever.
    if (next <= after) throw new Error(`blacklist index scan did not advance past ${after}`);
    return next;
  }

  private scan: Statement<[bigint, number], number> | undefined;

  /** True once lookups answer from the in-memory index; until then every lookup asks the table. */
  get indexIsReady(): boolean {
    return this.index !== null;
  }

  get indexInfo(): BlacklistIndexInfo {
    const index = this.index;
    const builder = this.builder;
    return {
      mode: this.indexMode,
      ready: index !== null,
      building: builder !== null,
      entries: index?.size ?? builder?.size ?? 0,
      capacity: index?.capacity ?? builder?.capacity ?? 0,
      bytes: index?.bytes ?? 0,
      overlay: this.overlay.size,
      builds: this.builds,
      drops: this.drops,
      grows: this.grows + (builder?.grows ?? 0),
      lastError: this.lastError,
    };
  }

  /** The hot path of every tap. `cardNo` must be 16 digits, or 19 starting 31 (the tap engine read it from the card). */
  lookup(cardNo: string): BlacklistAnswer {
    const index = this.index;
    if (index !== null) {
      let code = this.overlay.size === 0 ? undefined : this.overlay.get(cardNo);
      if (code === undefined && cardNo.length !== 16) code = this.tunion.get(cardNo) ?? 0;
      if (code === undefined) {
        code = index.find(cardNo);
        // The index's 3 bits hold 7 for 'exchanged' and for any code it does not know: the table says which.
        if (code === UNKNOWN_REASON_CODE) code = this.lookupStatement.get(cardKey(cardNo)) ?? 0;
      }
      if (code === 0) return NOT_LISTED;
      const reason = REASONS_BY_CODE[code];
      return reason === undefined ? LISTED['temporary-loss'] : LISTED[reason];
    }
    const code = this.lookupStatement.get(cardKey(cardNo));
    if (code === undefined) return NOT_LISTED;
    const reason = REASONS_BY_CODE[code];
    // A code this firmware does not know is still a listed card: refuse it as a formal loss
    // would be too strong (it locks), so treat it as temporary (refuse without locking).
    return reason === undefined ? LISTED['temporary-loss'] : LISTED[reason];
  }

  get version(): number {
    return this.state().blacklist_version;
  }

  get count(): number {
    return this.state().blacklist_count;
  }

  private state(): { blacklist_version: number; blacklist_count: number } {
    const row = this.readState.get();
    if (row === undefined) throw new Error('device_state is missing: the device was not initialised');
    return row;
  }

  /** Checks a whole delta without writing: returns the first problem or null. */
  static validate(delta: BlacklistDelta): { index: number; detail: string } | null {
    const head = BlacklistStore.validateHead(delta);
    if (head !== null) return head;
    return BlacklistStore.validateSlice(delta, 0, delta.entries.length);
  }

  private static validateHead(delta: BlacklistDelta): { index: number; detail: string } | null {
    if (!Array.isArray(delta.entries)) return { index: -1, detail: 'entries is not an array' };
    if (!Number.isSafeInteger(delta.toVersion) || delta.toVersion < 0) return { index: -1, detail: `toVersion ${String(delta.toVersion)} is not a version` };
    return null;
  }

  /** Entries [from, to): each well formed, versions never going backwards (from the entry before `from`). */
  private static validateSlice(delta: BlacklistDelta, from: number, to: number): { index: number; detail: string } | null {
    let previous = from > 0 ? (delta.entries[from - 1] as BlacklistDeltaEntry).version : -1;
    for (let i = from; i < to; i++) {
      const entry = delta.entries[i] as Partial<BlacklistDeltaEntry> | null;
      if (entry === null || typeof entry !== 'object') return { index: i, detail: 'entry is not an object' };
      if (!isCardNo(entry.cardNo)) return { index: i, detail: `cardNo ${JSON.stringify(entry.cardNo)} is not 16 digits nor 19 starting 31` };
      if (entry.op !== 'add' && entry.op !== 'remove') return { index: i, detail: `op ${JSON.stringify(entry.op)} is not add/remove` };
      // Own keys only: `in` also finds Object.prototype's names ('constructor', '__proto__', ...).
      if (entry.op === 'add' && (typeof entry.reason !== 'string' || !Object.hasOwn(REASON_CODES, entry.reason))) {
        return { index: i, detail: `reason ${JSON.stringify(entry.reason)} is unknown` };
      }
      if (!Number.isSafeInteger(entry.version) || (entry.version as number) < 1)
        return { index: i, detail: `version ${String(entry.version)} is not a version` };
      // The contract says strictly increasing; equal versions are tolerated (a set operation
      // applied twice is harmless), a version going backwards is corruption.
      if ((entry.version as number) < previous) return { index: i, detail: `version ${entry.version} goes backwards after ${previous}` };
      if ((entry.version as number) > delta.toVersion)
        return { index: i, detail: `version ${entry.version} is above the delta's toVersion ${delta.toVersion}` };
      previous = entry.version as number;
    }
    return null;
  }

  /** Applies a versioned delta in bounded batches; serialised with any other apply. */
  applyDelta(delta: BlacklistDelta, options: ApplyOptions = {}): Promise<BlacklistApplyResult> {
    const run = this.applying
      .then(() => this.applyNow(delta, options))
      .finally(() => {
        // The overlay overflowed during this delta: rebuild now that the table holds all of it.
        if (this.rebuildAfterApply) {
          this.rebuildAfterApply = false;
          void this.warmIndex();
        }
      });
    this.applying = run.catch(() => undefined);
    return run;
  }

  private async applyNow(delta: BlacklistDelta, options: ApplyOptions): Promise<BlacklistApplyResult> {
    const batchSize = options.batchSize ?? LIMITS.blacklistApplyBatch;
    if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > LIMITS.blacklistApplyBatch) {
      throw new RangeError(`batchSize must be 1..${LIMITS.blacklistApplyBatch}`);
    }
    const pause = options.yieldBetweenBatches ?? yieldToEventLoop;
    const head = BlacklistStore.validateHead(delta);
    if (head !== null) return { status: 'refused', reason: 'corrupt-entry', index: head.index, detail: head.detail };
    const start = this.state();
    // The whole delta is checked before anything is applied (a corrupt entry refuses it all),
    // in slices with a yield between them: walking 100,000 entries at once held the event loop
    // ~20 ms (cold), and a tap arriving then would have waited for it.
    const fresh: BlacklistDeltaEntry[] = [];
    let adds = 0;
    for (let from = 0; from < delta.entries.length; from += VALIDATE_SLICE) {
      if (from > 0) await pause();
      const to = Math.min(from + VALIDATE_SLICE, delta.entries.length);
      const problem = BlacklistStore.validateSlice(delta, from, to);
      if (problem !== null) return { status: 'refused', reason: 'corrupt-entry', index: problem.index, detail: problem.detail };
      // Entries at or below the device's version were applied before (a repeated page).
      for (let i = from; i < to; i++) {
        const entry = delta.entries[i];
        if (entry.version <= start.blacklist_version) continue;
        fresh.push(entry);
        if (entry.op === 'add') adds++;
      }
    }
    if (delta.toVersion < start.blacklist_version) {
      return { status: 'refused', reason: 'stale-version', detail: `delta reaches ${delta.toVersion}, device already has ${start.blacklist_version}` };
    }
    const skippedStale = delta.entries.length - fresh.length;
    if (start.blacklist_count + adds > LIMITS.blacklistCapacity && adds > 0) {
      // Upper bound (some adds may replace existing entries): checked exactly per batch below too.
      const exactAdds = fresh.filter((e) => e.op === 'add' && this.lookupStatement.get(cardKey(e.cardNo)) === undefined).length;
      if (start.blacklist_count + exactAdds > LIMITS.blacklistCapacity) {
        return { status: 'refused', reason: 'capacity-exceeded', detail: `${start.blacklist_count} + ${exactAdds} > ${LIMITS.blacklistCapacity}` };
      }
    }
    let maxBatchMs = 0;
    let maxBatchCpuMs = 0;
    let maxBatchEntries = 0;
    const batchMs: number[] = [];
    let batches = 0;
    // The batch's changes as (card, code or 0 = removed) pairs: they reach the overlay only
    // once the batch's transaction has committed (a rolled-back batch changes no answer).
    let changes: (string | number)[] = [];
    const applyBatch = this.db.transaction((from: number, to: number) => {
      changes = [];
      let { blacklist_count: count } = this.state();
      for (let i = from; i < to; i++) {
        const entry = fresh[i];
        const key = cardKey(entry.cardNo);
        const existed = this.lookupStatement.get(key) !== undefined;
        if (entry.op === 'add') {
          this.upsert.run(key, REASON_CODES[entry.reason], entry.version);
          changes.push(entry.cardNo, REASON_CODES[entry.reason]);
          if (!existed) count++;
        } else if (existed) {
          this.remove.run(key);
          changes.push(entry.cardNo, 0);
          count--;
        }
      }
      // The version recorded is the highest one whose entries are all applied: when the
      // batch splits entries of equal version, record one less so a crash re-applies them.
      const last = fresh[to - 1].version;
      const next = to < fresh.length ? fresh[to].version : Infinity;
      const reached = to === fresh.length ? delta.toVersion : next === last ? last - 1 : last;
      this.writeState.run(Math.max(reached, this.state().blacklist_version), count);
    });
    // Adaptive batch size: start small (cold statements and JIT make the first batches the
    // slowest), double while a batch stays well under the target, halve when it overshoots.
    // LIMITS.blacklistApplyBatch (or options.batchSize) is the ceiling.
    let size = Math.min(FIRST_BATCH, batchSize);
    for (let from = 0; from < fresh.length; ) {
      if (batches > 0) await pause();
      const to = Math.min(from + size, fresh.length);
      maxBatchEntries = Math.max(maxBatchEntries, to - from);
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      // Blacklist batches commit without their own fsync (synchronous=NORMAL for this one
      // transaction): a power cut loses the batch and its version bump together, and the
      // next sync downloads it again. The WAL is sequential, so the next tap's FULL commit
      // makes these frames durable too. Money (the journal) always commits with FULL.
      this.db.pragma('synchronous = NORMAL');
      try {
        applyBatch.immediate(from, to);
        // Committed (a failed batch threw above, rolled back): now the index may say so.
        this.noteCommitted(changes);
      } finally {
        this.db.pragma('synchronous = FULL');
      }
      const ms = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const cpuMs = (cpu.user + cpu.system) / 1000;
      maxBatchCpuMs = Math.max(maxBatchCpuMs, cpuMs);
      batchMs.push(ms);
      maxBatchMs = Math.max(maxBatchMs, ms);
      batches++;
      from = to;
      // Judged on the larger of wall and process CPU time: wall stretches when other processes
      // hold the cores, CPU when the collector's helper threads work alongside the batch.
      const cost = Math.max(ms, cpuMs);
      if (cost < TARGET_BATCH_MS / 2) size = Math.min(size * 2, batchSize);
      else if (cost > TARGET_BATCH_MS) size = Math.max(Math.floor(size / 2), 1);
    }
    if (fresh.length === 0 && delta.toVersion > start.blacklist_version) {
      this.db.prepare('UPDATE device_state SET blacklist_version = ? WHERE id = 1').run(delta.toVersion);
    }
    return { status: 'applied', applied: fresh.length, skippedStale, batches, version: this.version, maxBatchMs, maxBatchCpuMs, batchMs, maxBatchEntries };
  }

  /**
   * Loads a large list in one go (device provisioning and the benchmark): sorted keys, one
   * transaction per `batchSize`. Not for the tap path. The index is dropped for the load and
   * rebuilt from the table after it (at once in 'sync' mode, in the background otherwise if it
   * was built or being built).
   */
  bulkLoad(entries: Iterable<{ cardNo: string; reason: BlacklistReason; version: number }>, batchSize = 100_000): number {
    let pending: { cardNo: string; reason: BlacklistReason; version: number }[] = [];
    let total = 0;
    let maxVersion = this.version;
    const flush = this.db.transaction((rows: typeof pending) => {
      let count = this.state().blacklist_count;
      for (const row of rows) {
        const key = cardKey(row.cardNo);
        if (this.lookupStatement.get(key) === undefined) count++;
        this.upsert.run(key, REASON_CODES[row.reason], row.version);
        if (row.version > maxVersion) maxVersion = row.version;
      }
      this.writeState.run(maxVersion, count);
    });
    const rebuild = this.indexMode === 'sync' || this.tracking;
    this.dropIndex();
    try {
      for (const entry of entries) {
        if (!isCardNo(entry.cardNo)) throw new RangeError(`bulkLoad: bad card number ${entry.cardNo}`);
        pending.push(entry);
        if (pending.length >= batchSize) {
          flush.immediate(pending);
          checkpointDeviceDb(this.db);
          total += pending.length;
          pending = [];
        }
      }
      if (pending.length > 0) {
        flush.immediate(pending);
        total += pending.length;
      }
      checkpointDeviceDb(this.db, 'TRUNCATE');
    } finally {
      if (rebuild && this.db.open) {
        if (this.indexMode === 'sync') this.warmIndexSync();
        else void this.warmIndex();
      }
    }
    return total;
  }
}
