import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import type { JournalRecord } from '#core';
import { openDeviceDb, type DeviceDatabase } from '#validator/storage/device-db';
import { DeviceStateStore, TSN_BLOCK } from '#validator/storage/device-state-store';
import { encodeJournalRecord, JournalStore, journalLevel } from '#validator/storage/journal-store';
import { PendingStore } from '#validator/storage/pending-store';
import { FareTableStore } from '#validator/storage/fare-table-store';
import { MIGRATIONS } from '#validator/storage/migrations';
import { LIMITS } from '#core';
import { tempDir } from '../temp-db.ts';

function sampleRecord(deviceSeq: number, overrides: Partial<JournalRecord> = {}): JournalRecord {
  return {
    deviceId: 'dev-1',
    deviceSeq,
    deviceKind: 'subway-entry',
    operator: 'subway',
    resultCode: 0,
    cardNo: '1000000000000001',
    cardAction: 'debit',
    transactionType: 0x09,
    amountFen: 300,
    balanceBeforeFen: 1000,
    balanceAfterFen: 700,
    offlineAtc: deviceSeq,
    onlineAtc: 1,
    terminalId: '000000000001',
    tsn: deviceSeq,
    date: 20260115,
    time: 83000,
    tac: 'deadbeef',
    keyVersion: 1,
    algorithm: '3des',
    fareTableVersion: 1,
    place: 101,
    line: 0,
    occurredAtMs: 1_768_000_000_000 + deviceSeq,
    recovered: false,
    ...overrides,
  };
}

let tmp: ReturnType<typeof tempDir>;
let db: DeviceDatabase;
beforeEach(() => {
  tmp = tempDir();
  db = openDeviceDb(tmp.file('device.db'));
  new DeviceStateStore(db).initialise('dev-1');
});
afterEach(() => {
  db.close();
  tmp.cleanup();
});

describe('device database', () => {
  it('is WAL with synchronous=FULL and at the latest migration', () => {
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS[MIGRATIONS.length - 1].version);
  });

  it('re-opening runs no migration twice and keeps the data', () => {
    db.close();
    db = openDeviceDb(tmp.file('device.db'));
    expect(new DeviceStateStore(db).read().deviceId).toBe('dev-1');
  });

  it('refuses a database written by newer firmware', () => {
    db.pragma('user_version = 999');
    db.close();
    expect(() => openDeviceDb(tmp.file('device.db'))).toThrow(/newer than this firmware/);
    db = new Database(tmp.file('device.db'));
  });

  it('refuses to initialise a database for another device', () => {
    expect(() => new DeviceStateStore(db).initialise('dev-2')).toThrow(/belongs to device dev-1/);
  });

  it('reserves TSNs in durable blocks', () => {
    const state = new DeviceStateStore(db);
    expect(state.reserveTsnBlock(1)).toBe(1 + TSN_BLOCK);
    db.close();
    db = openDeviceDb(tmp.file('device.db'));
    expect(new DeviceStateStore(db).read().tsnReservedUntil).toBe(1 + TSN_BLOCK);
  });
});

describe('JournalStore', () => {
  it('appends inside a transaction only, and round-trips records', () => {
    const journal = new JournalStore(db);
    expect(() => journal.appendInTransaction([sampleRecord(1)])).toThrow(/outside a transaction/);
    db.transaction(() => journal.appendInTransaction([sampleRecord(1), sampleRecord(2, { cardNo: '9999999999999999' })]))();
    expect(journal.get(2)?.record).toEqual(sampleRecord(2, { cardNo: '9999999999999999' }));
    expect(new DeviceStateStore(db).read().unackedCount).toBe(2);
  });

  it('rows of different lengths written one after another through the reused buffer each keep their own bytes', () => {
    // The encoder reuses one buffer and one view per row length (issue 19): a longer row, then a
    // shorter one, then the longer length again must each be stored as packed, not as the
    // buffer's later contents.
    const journal = new JournalStore(db);
    const lengths = ['', 'x'.repeat(40), 'ab', 'x'.repeat(40), 'y'.repeat(39), ''];
    const records = lengths.map((tac, i) => sampleRecord(i + 1, { tac, cardNo: `10000000000000${String(i).padStart(2, '0')}` }));
    db.transaction(() => journal.appendInTransaction(records)).immediate();
    const stored = db.prepare('SELECT record FROM journal ORDER BY device_seq').pluck().all() as Buffer[];
    expect(stored.map((b) => b.length)).toEqual(records.map((r) => encodeJournalRecord(r).length));
    expect(stored.map((b) => Buffer.compare(b, encodeJournalRecord(records[stored.indexOf(b)])))).toEqual(records.map(() => 0));
    expect(journal.all()).toEqual(records);
  });

  it('a duplicate device sequence is refused by the primary key', () => {
    const journal = new JournalStore(db);
    db.transaction(() => journal.appendInTransaction([sampleRecord(1)]))();
    expect(() => db.transaction(() => journal.appendInTransaction([sampleRecord(1)]))()).toThrow(/UNIQUE|PRIMARY/);
    expect(journal.counts().total).toBe(1);
  });

  it('acknowledges idempotently, pages unacked rows ascending, prunes only acknowledged rows', () => {
    const journal = new JournalStore(db);
    db.transaction(() => journal.appendInTransaction([1, 2, 3, 4, 5].map((n) => sampleRecord(n))))();
    expect(journal.unacked(2).map((r) => r.deviceSeq)).toEqual([1, 2]);
    expect(journal.markAcknowledged([1, 2], [3], 3, 10)).toBe(3);
    expect(journal.markAcknowledged([1, 2], [3], 3, 11)).toBe(0);
    expect(journal.unacked(10).map((r) => r.deviceSeq)).toEqual([4, 5]);
    const state = new DeviceStateStore(db).read();
    expect(state.unackedCount).toBe(2);
    expect(state.watermark).toBe(3);
    expect(journal.get(3)?.quarantined).toBe(true);
    expect(journal.pruneAcknowledged(100)).toBe(3);
    expect(journal.counts()).toEqual({ total: 2, unacked: 2, quarantined: 0 });
  });

  it('levels: ok below the alarm, alarm from LIMITS.journalAlarmAt, full at capacity', () => {
    expect(journalLevel(LIMITS.journalAlarmAt - 1)).toBe('ok');
    expect(journalLevel(LIMITS.journalAlarmAt)).toBe('alarm');
    expect(journalLevel(LIMITS.journalCapacity)).toBe('full');
  });
});

describe('PendingStore and FareTableStore', () => {
  it('keeps a pending purchase per card across a reopen', () => {
    const pending = {
      cardSerial: new Uint8Array([0x10, 0, 0, 0, 0, 0, 0, 1]),
      keyVersion: 1,
      algorithm: 'sm4' as const,
      amountFen: 300,
      transactionType: 9,
      offlineAtc: 7,
      balanceBeforeFen: 1000,
      cardRandom: new Uint8Array([1, 2, 3, 4]),
      tsn: 55,
      date: 20260101,
      time: 120000,
      cappRecord: new Uint8Array([9, 9]),
    };
    new PendingStore(db).put('1000000000000001', pending, 1);
    db.close();
    db = openDeviceDb(tmp.file('device.db'));
    const store = new PendingStore(db);
    store.put('1000000000000001', { ...pending, offlineAtc: 3 }, 2);
    const back = store.oldest('1000000000000001');
    expect(back).toEqual({ ...pending, offlineAtc: 3 });
    expect(back?.cardRandom.constructor).toBe(Uint8Array);
    expect(store.forCard('1000000000000001').map((p) => p.offlineAtc)).toEqual([3, 7]);
    store.clear('1000000000000001', 3);
    store.clear('1000000000000001', 7);
    expect(store.oldest('1000000000000001')).toBeNull();
  });

  it('installs only newer fare tables', () => {
    const fares = new FareTableStore(db);
    expect(fares.current()).toBeNull();
    expect(fares.install(2, '{"v":2}', 1)).toBe(true);
    expect(fares.install(1, '{"v":1}', 2)).toBe(false);
    expect(fares.install(2, '{"v":"other"}', 3)).toBe(false);
    expect(fares.current()).toEqual({ version: 2, json: '{"v":2}' });
  });
});
