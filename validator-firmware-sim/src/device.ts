/**
 * The validator device: one SQLite file, a software PSAM, and the tap loop
 * (DOMAIN.md section 6, ARCHITECTURE habit 1):
 *
 *   read card -> prefetch (blacklist answer, fare table in force, this card's oldest torn
 *   purchase) -> core executeTap (synchronous; the DEBIT's write-ahead intent is made durable
 *   just before the card is debited) -> journal commit (one transaction: journal rows, device
 *   sequence, pending purchases) -> gate result.
 *
 * A tap is acknowledged (the result returned, the gate opens) only after its journal commit,
 * which runs with synchronous=FULL. Everything here is synchronous: a tap never interleaves
 * with another tap or with a blacklist batch (those yield between batches).
 *
 * Crash safety, SIGKILL at any point:
 * - before the intent: nothing happened on the card; the rider taps again;
 * - between intent and journal commit: the card may have been debited; the intent is the
 *   pending purchase and the card's next tap settles it (recovered -> journaled once, or
 *   not debited -> dropped);
 * - after the commit: the tap is in the journal; sync uploads it (idempotent by deviceSeq).
 * Device sequence and pending rows change only in the commit transaction; TSNs come from a
 * block reserved durably before use, so neither ever repeats after a restart.
 */
import { statSync } from 'node:fs';
import {
  LIMITS,
  TAP_RESULT,
  TAP_RESULT_MESSAGE,
  executeTap,
  isAcceptedResult,
  parseCardView,
  parseFareTablesJson,
  selectFareTables,
  SW,
  type CardPort,
  type FareTables,
  type JournalRecord,
  type PendingPurchase,
  type TapDecision,
  type TapResultCode,
} from '#core';
import { profileToDeviceConfig, type DeviceProfile } from './device-profile.ts';
import { IntentRecordingCard } from './intent-recording-card.ts';
import { makePsam, type PsamKeys } from './psam-file.ts';
import type { SoftwarePsam } from './psam.ts';
import { BlacklistStore } from './storage/blacklist-store.ts';
import { ConfigStore } from './storage/config-store.ts';
import { checkpointDeviceDb, openDeviceDb, type DeviceDatabase } from './storage/device-db.ts';
import { DeviceStateStore, type DeviceState } from './storage/device-state-store.ts';
import { FareTableStore } from './storage/fare-table-store.ts';
import { JournalStore, journalLevel, type JournalLevel } from './storage/journal-store.ts';
import { PendingStore } from './storage/pending-store.ts';

export const PROFILE_KEY = 'profile';
/**
 * Superseded fare tables a device keeps besides the one in force and every announced one (a
 * margin for a clock set back a little). Tables in force or announced are never pruned: with
 * versions announced for later dates, "the newest N" could drop the one in force.
 */
export const SUPERSEDED_FARE_TABLES_KEPT = 1;
export const GATEWAY_KEY = 'gateway';
export const CLOCK_SKEW_KEY = 'clock-skew';

/**
 * This device's clock against the gateway's, as the latest sync measured it (NTP-style: the
 * midpoint of the request's send and answer times minus the gateway's serverTimeMs). Kept for
 * `status` and the maintenance crew; the device does not step its own clock (the gateway
 * records the same skew from SyncRequest.deviceTimeMs and lists devices over its threshold).
 */
export interface ClockSkew {
  /** Device clock minus gateway clock, ms (positive = this device runs ahead). */
  skewMs: number;
  /** Device time when measured. */
  measuredAtMs: number;
  /** Request-to-answer time of that sync: the measurement is good to about half of it. */
  roundTripMs: number;
}

export interface GatewayLink {
  url: string;
  /** The device credential (Bearer token) the gateway returned at registration. */
  credential: string;
}

export type DeviceTapStatus = 'accepted' | 'refused' | 'journal-full' | 'no-fare-table';

export interface DeviceTapResult {
  status: DeviceTapStatus;
  /** Core tap result code (null when the device refused before talking to the card). */
  resultCode: TapResultCode | null;
  resultName: string;
  display: string;
  cardNo: string | null;
  chargeFen: number;
  /** Effective balance after the tap as the card reported it (null: not known). */
  balanceAfterFen: number | null;
  /** Device sequences committed by this tap (0..2: a recovered torn purchase, then this tap). */
  deviceSeqs: number[];
  recovered: boolean;
  journalLevel: JournalLevel;
  decision: TapDecision | null;
}

export interface OpenDeviceOptions {
  psamKeys: PsamKeys;
  /** Page cache for the device database (MiB). */
  cacheMiB?: number;
  /**
   * A fare table already parsed from exactly this JSON (a fleet of devices in one process shares
   * one parse of the network instead of one per device): used for an installed row whose JSON is
   * the same string; any other row is parsed as before.
   */
  sharedFareTables?: { json: string; tables: FareTables };
}

export interface InitDeviceOptions {
  profile: DeviceProfile;
  /** Initial fare tables (JSON as the gateway sends them); more arrive by sync. */
  fareTablesJson?: string;
  gateway?: GatewayLink;
  nowMs: number;
}

const RESULT_NAMES = new Map<number, string>(Object.entries(TAP_RESULT).map(([name, code]) => [code, name]));

/** Creates (or re-opens) a device database and stores the profile; idempotent for the same device id. */
export function initDevice(dbPath: string, options: InitDeviceOptions): DeviceState {
  const db = openDeviceDb(dbPath);
  try {
    new DeviceStateStore(db).initialise(options.profile.deviceId);
    const config = new ConfigStore(db);
    config.set(PROFILE_KEY, options.profile);
    if (options.gateway !== undefined) config.set(GATEWAY_KEY, options.gateway);
    if (options.fareTablesJson !== undefined) {
      const tables = parseFareTablesJson(options.fareTablesJson);
      new FareTableStore(db).install(tables.version, options.fareTablesJson, options.nowMs);
    }
    return new DeviceStateStore(db).read();
  } finally {
    db.close();
  }
}

/**
 * Versions that can never be in force again at or after `nowMs` (core's selectFareTables: the
 * latest effective date not after the tap wins, ties by version): some other table is already
 * in force and beats them. The newest `keep` of them are spared.
 */
export function supersededFareTables(tables: ReadonlyArray<{ version: number; effectiveFromMs: number }>, nowMs: number, keep: number): number[] {
  const inForce = selectFareTables(tables, nowMs);
  if (inForce === null) return [];
  const beaten = tables.filter(
    (t) => t !== inForce && (t.effectiveFromMs < inForce.effectiveFromMs || (t.effectiveFromMs === inForce.effectiveFromMs && t.version < inForce.version)),
  );
  beaten.sort((a, b) => b.effectiveFromMs - a.effectiveFromMs || b.version - a.version);
  return beaten.slice(keep).map((t) => t.version);
}

export class Device {
  readonly db: DeviceDatabase;
  readonly state: DeviceStateStore;
  readonly journal: JournalStore;
  readonly blacklist: BlacklistStore;
  readonly pending: PendingStore;
  readonly fareStore: FareTableStore;
  readonly config: ConfigStore;
  private profileValue: DeviceProfile;
  /** The core DeviceConfig of profileValue (rebuilt when the profile changes, not per tap). */
  private deviceConfigValue: ReturnType<typeof profileToDeviceConfig>;
  private readonly blacklistLookup = (cardNo: string) => this.blacklist.lookup(cardNo);
  private readonly psam: SoftwarePsam;
  private tsnReservedUntil: number;
  /** Parsed fare tables by version (parsing builds the network matrices: done once, off the tap path). */
  private readonly fareTables = new Map<number, FareTables>();
  private readonly advanceSeq;
  private closed = false;

  private constructor(db: DeviceDatabase, options: OpenDeviceOptions) {
    this.db = db;
    this.state = new DeviceStateStore(db);
    this.journal = new JournalStore(db);
    this.blacklist = new BlacklistStore(db);
    this.pending = new PendingStore(db);
    this.fareStore = new FareTableStore(db);
    this.config = new ConfigStore(db);
    this.profileValue = this.config.require<DeviceProfile>(PROFILE_KEY);
    const state = this.state.read();
    if (state.deviceId !== this.profileValue.deviceId) throw new Error('device profile and state disagree on the device id');
    this.deviceConfigValue = profileToDeviceConfig(this.profileValue);
    // Start at the reserved bound: every TSN below it may have reached a card before a crash.
    this.tsnReservedUntil = state.tsnReservedUntil;
    this.psam = makePsam(this.profileValue.terminalIdHex, options.psamKeys, state.tsnReservedUntil);
    // One device_state UPDATE per tap: the sequence and the unacknowledged count move together.
    this.advanceSeq = db.prepare(
      'UPDATE device_state SET next_device_seq = next_device_seq + ?, unacked_count = unacked_count + ? WHERE id = 1 AND next_device_seq = ?',
    );
    const shared = options.sharedFareTables;
    for (const row of db.prepare('SELECT version, json FROM fare_tables ORDER BY version').all() as { version: number; json: string }[]) {
      const same = shared !== undefined && shared.tables.version === row.version && shared.json === row.json;
      this.fareTables.set(row.version, same ? shared.tables : parseFareTablesJson(row.json));
    }
  }

  static open(dbPath: string, options: OpenDeviceOptions): Device {
    const db = openDeviceDb(dbPath, { cacheMiB: options.cacheMiB });
    try {
      const device = new Device(db, options);
      // The blacklist index builds in the background; lookups use the table meanwhile.
      void device.blacklist.warmIndex();
      return device;
    } catch (error) {
      db.close();
      throw error;
    }
  }

  get profile(): DeviceProfile {
    return this.profileValue;
  }

  get deviceId(): string {
    return this.profileValue.deviceId;
  }

  gatewayLink(): GatewayLink | undefined {
    return this.config.get<GatewayLink>(GATEWAY_KEY);
  }

  setGatewayLink(link: GatewayLink): void {
    this.config.set(GATEWAY_KEY, link);
  }

  /** Records the clock skew measured by the latest sync (see ClockSkew). */
  recordClockSkew(skew: ClockSkew): void {
    this.config.set(CLOCK_SKEW_KEY, skew);
  }

  /** The clock skew measured by the latest sync; null before the first one. */
  clockSkew(): ClockSkew | null {
    return this.config.get<ClockSkew>(CLOCK_SKEW_KEY) ?? null;
  }

  /** A bus validator moves: the stop index comes from the bus's location system. */
  setBusStop(stop: number): void {
    if (!Number.isInteger(stop) || stop < 0) throw new RangeError(`bus stop must be a non-negative integer, got ${stop}`);
    this.profileValue = { ...this.profileValue, busStop: stop };
    this.deviceConfigValue = profileToDeviceConfig(this.profileValue);
    this.config.set(PROFILE_KEY, this.profileValue);
  }

  /** The fare table in force at `nowMs` (null: none yet). */
  faresAt(nowMs: number): FareTables | null {
    return selectFareTables([...this.fareTables.values()], nowMs);
  }

  /** Stores and parses a fare table from sync; returns true when it is new. Parsing throws on a malformed table (nothing stored). */
  installFareTable(version: number, json: string, nowMs: number): boolean {
    const tables = parseFareTablesJson(json);
    if (tables.version !== version) throw new Error(`fare table says version ${tables.version}, sync said ${version}`);
    const installed = this.fareStore.install(version, json, nowMs);
    if (installed) {
      this.fareTables.set(version, tables);
      // Never the version just installed (device_state names it), whatever the dates say.
      const dropped = supersededFareTables([...this.fareTables.values()], nowMs, SUPERSEDED_FARE_TABLES_KEPT).filter((v) => v !== version);
      this.fareStore.remove(dropped);
      for (const v of dropped) this.fareTables.delete(v);
    }
    return installed;
  }

  /**
   * One tap of one card. Synchronous; returns only after the journal commit is durable.
   * `card` is the reader's view of the card in the field.
   */
  tap(card: CardPort, nowMs: number): DeviceTapResult {
    if (this.closed) throw new Error('device is closed');
    const state = this.state.read();
    const level = journalLevel(state.unackedCount);
    // Room for the worst case (a recovered purchase and this tap) or no tap at all: refuse
    // clearly before the card is touched rather than lose a record.
    if (state.unackedCount + 2 > LIMITS.journalCapacity)
      return this.deviceRefusal('journal-full', 'JOURNAL_FULL', '设备存储已满 请走人工通道 / Device journal full: use the staffed gate', 'full');
    const fares = this.faresAt(nowMs);
    if (fares === null) return this.deviceRefusal('no-fare-table', 'NO_FARE_TABLE', TAP_RESULT_MESSAGE[TAP_RESULT.DEVICE_CONFIG_ERROR], level);

    // A purchase takes one TSN: make sure it lies inside the durable reservation.
    if (this.psam.tsn >= this.tsnReservedUntil) this.tsnReservedUntil = this.state.reserveTsnBlock(this.psam.tsn);

    // Prefetch this card's oldest torn purchase (needs the card number: a keyless read).
    let cardNo: string | null = null;
    const view = card.readCardView();
    if (view.sw === SW.success) {
      try {
        cardNo = parseCardView(view.data).cardNo;
      } catch {
        cardNo = null;
      }
    }
    const pendingBefore = cardNo === null ? null : this.pending.oldest(cardNo);

    const reader = new IntentRecordingCard(card, (intentCardNo, intent) => this.pending.put(intentCardNo, intent, nowMs));
    const execution = executeTap({
      card: reader,
      psam: this.psam,
      device: this.deviceConfigValue,
      blacklistLookup: this.blacklistLookup,
      fares,
      nowMs,
      deviceSeq: state.nextDeviceSeq,
      pending: pendingBefore,
    });

    // Pending purchases are filed under the card number read this tap (a 19-digit T-Union number
    // cannot be rebuilt from the 8-byte diversifier a purchase carries).
    this.commit(state.nextDeviceSeq, execution.journal, cardNo, pendingBefore, reader.currentCardNo, reader.intent, execution.pendingAfter, nowMs);

    const records = execution.journal;
    const last: JournalRecord | undefined = records[records.length - 1];
    const code = execution.decision.resultCode;
    return {
      status: isAcceptedResult(code) ? 'accepted' : 'refused',
      resultCode: code,
      resultName: RESULT_NAMES.get(code) ?? String(code),
      display: execution.decision.display,
      cardNo: last?.cardNo ?? cardNo,
      chargeFen: records.reduce((sum, r) => sum + (r.cardAction === 'debit' ? r.amountFen : 0), 0),
      balanceAfterFen: last === undefined ? null : last.balanceAfterFen,
      deviceSeqs: records.map((r) => r.deviceSeq),
      recovered: records.some((r) => r.recovered),
      journalLevel: journalLevel(state.unackedCount + records.length),
      decision: execution.decision,
    };
  }

  /** The journal commit: one transaction, durable (synchronous=FULL) before the tap is acknowledged. */
  private commit(
    firstSeq: number,
    records: readonly JournalRecord[],
    cardNo: string | null,
    pendingBefore: PendingPurchase | null,
    intentCardNo: string | null,
    intent: PendingPurchase | null,
    pendingAfter: PendingPurchase | null,
    nowMs: number,
  ): void {
    records.forEach((record, i) => {
      if (record.deviceSeq !== firstSeq + i) throw new Error(`journal record ${i} has deviceSeq ${record.deviceSeq}, expected ${firstSeq + i}`);
    });
    this.db
      .transaction(() => {
        this.stageRecordsInTransaction(records, firstSeq);
        if (pendingBefore !== null && cardNo !== null) this.pending.clear(cardNo, pendingBefore.offlineAtc);
        if (intent !== null && intentCardNo !== null) this.pending.clear(intentCardNo, intent.offlineAtc);
        // A torn purchase belongs to the card this tap read (executeTap made it from that card's view).
        const afterCardNo = intentCardNo ?? cardNo;
        if (pendingAfter !== null) {
          if (afterCardNo === null) throw new Error('a torn purchase without the card number it belongs to');
          this.pending.put(afterCardNo, pendingAfter, nowMs);
        }
      })
      .immediate();
  }

  /**
   * A tap's journal rows and the device_state move that goes with them (sequence and
   * unacknowledged count in one UPDATE), inside the caller's open transaction: the journal part
   * of every tap commit (also what bench/validator-exit-tap.bench.ts stages per tap).
   */
  stageRecordsInTransaction(records: readonly JournalRecord[], firstSeq: number): void {
    this.journal.insertRowsInTransaction(records);
    if (records.length > 0 && this.advanceSeq.run(records.length, records.length, firstSeq).changes !== 1) {
      throw new Error('device sequence moved under the tap (two writers?)');
    }
  }

  private deviceRefusal(status: DeviceTapStatus, name: string, display: string, level: JournalLevel): DeviceTapResult {
    return {
      status,
      resultCode: null,
      resultName: name,
      display,
      cardNo: null,
      chargeFen: 0,
      balanceAfterFen: null,
      deviceSeqs: [],
      recovered: false,
      journalLevel: level,
      decision: null,
    };
  }

  /** Copies the WAL into the database when the device is idle (never inside a tap). */
  checkpoint(): ReturnType<typeof checkpointDeviceDb> {
    return checkpointDeviceDb(this.db);
  }

  /**
   * Checkpoints only when the WAL has grown past `walBytes` (default 4 MiB): call between taps.
   * The device turns SQLite's automatic checkpoint off (it would run inside a tap's commit), so
   * the owner of the loop must call this; a checkpoint of 4 MiB takes a few ms to tens of ms.
   */
  maybeCheckpoint(walBytes = 4 * 1024 * 1024): ReturnType<typeof checkpointDeviceDb> | null {
    let size = 0;
    try {
      size = statSync(`${this.db.name}-wal`).size;
    } catch {
      return null;
    }
    return size >= walBytes ? checkpointDeviceDb(this.db) : null;
  }

  status(): DeviceState & {
    journalLevel: JournalLevel;
    pendingPurchases: number;
    fareTableVersions: number[];
    tsnNext: number;
    blacklistIndexReady: boolean;
    clockSkew: ClockSkew | null;
  } {
    const state = this.state.read();
    return {
      ...state,
      journalLevel: journalLevel(state.unackedCount),
      pendingPurchases: this.pending.count(),
      fareTableVersions: [...this.fareTables.keys()],
      tsnNext: this.psam.tsn,
      blacklistIndexReady: this.blacklist.indexIsReady,
      clockSkew: this.clockSkew(),
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
