import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LIMITS, SW, TAP_RESULT, defaultFareTablesSpec, effectiveBalanceFen, encodeFareTablesJson, type CardPort } from '#core';
import { SUBWAY_CSV } from '../fare/subway-data.ts';
import type { Device } from '#validator/device';
import type { CardWallet } from '#validator/rider/card-wallet';
import { MORNING_MS, closeSubwayGates, createDevice, issueCards, openDevice, openSubwayGates, profile, type SubwayGates, 花园桥 } from './device-fixtures.ts';

let tmp: SubwayGates['tmp'];
let wallet: CardWallet;
let entry: Device;
let exit: Device;
const MIN = 60_000;

beforeEach(() => {
  ({ tmp, wallet, entry, exit } = openSubwayGates());
});
afterEach(() => closeSubwayGates({ tmp, wallet, entry, exit }));

/** A card wrapper that dies (throws, as a killed process would stop) right after a command. */
function dyingAfter(card: CardPort, command: 'debitForPurchase'): CardPort {
  return new Proxy(card, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop === command && typeof value === 'function') {
        return (...args: unknown[]) => {
          (value as (...a: unknown[]) => unknown).apply(target, args);
          throw new Error('power cut');
        };
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('Device tap loop', () => {
  it('enters and exits: the journal holds one durable row per tap, the card pays the fare once', () => {
    const [card] = issueCards(wallet, 1, 5_000);
    const a = entry.tap(wallet.present(card), MORNING_MS);
    expect(a).toMatchObject({ status: 'accepted', resultCode: TAP_RESULT.ACCEPTED, chargeFen: 0, deviceSeqs: [1], cardNo: card });
    const b = exit.tap(wallet.present(card), MORNING_MS + 40 * MIN);
    expect(b.status).toBe('accepted');
    expect(b.chargeFen).toBeGreaterThan(0);
    expect(b.balanceAfterFen).toBe(5_000 - b.chargeFen);
    expect(effectiveBalanceFen(wallet.image(card))).toBe(5_000 - b.chargeFen);
    // Durable: a fresh connection after close sees the rows.
    exit.close();
    const reopened = openDevice(tmp.file('exit.db'));
    const rows = reopened.journal.all();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ deviceSeq: 1, cardNo: card, cardAction: 'debit', amountFen: b.chargeFen, deviceId: 'GATE-OUT-1' });
    expect(rows[0].tac).toMatch(/^[0-9a-f]{8}$/i);
    expect(reopened.status()).toMatchObject({ nextDeviceSeq: 2, unackedCount: 1 });
    exit = reopened;
  });

  it('a torn DEBIT leaves a pending purchase that survives a restart and is recovered exactly once', () => {
    const [card] = issueCards(wallet, 1, 5_000);
    entry.tap(wallet.present(card), MORNING_MS);
    const torn = wallet.present(card);
    torn.simulator.tearAt({ command: 'debitForPurchase', moment: 'after-write' });
    const first = exit.tap(torn, MORNING_MS + 30 * MIN);
    expect(first).toMatchObject({ status: 'refused', resultCode: TAP_RESULT.CARD_REMOVED, deviceSeqs: [] });
    const charged = 5_000 - effectiveBalanceFen(wallet.image(card));
    expect(charged).toBeGreaterThan(0);
    expect(exit.pending.count()).toBe(1);
    exit.close();
    exit = openDevice(tmp.file('exit.db'));
    const again = exit.tap(wallet.present(card), MORNING_MS + 31 * MIN);
    expect(again).toMatchObject({ status: 'accepted', resultCode: TAP_RESULT.TORN_TRANSACTION_RECOVERED, recovered: true, chargeFen: charged });
    expect(exit.pending.count()).toBe(0);
    // Nothing more was charged; the journal holds the debit once.
    expect(5_000 - effectiveBalanceFen(wallet.image(card))).toBe(charged);
    const debits = exit.journal.all().filter((r) => r.cardAction === 'debit');
    expect(debits).toHaveLength(1);
    expect(debits[0]).toMatchObject({ recovered: true, amountFen: charged });
  });

  it('a crash after the card debited but before the journal commit is recovered from the write-ahead intent', () => {
    const [card] = issueCards(wallet, 1, 5_000);
    entry.tap(wallet.present(card), MORNING_MS);
    expect(() => exit.tap(dyingAfter(wallet.present(card), 'debitForPurchase'), MORNING_MS + 30 * MIN)).toThrow('power cut');
    const charged = 5_000 - effectiveBalanceFen(wallet.image(card));
    expect(charged).toBeGreaterThan(0);
    expect(exit.journal.all()).toHaveLength(0);
    exit.close();
    exit = openDevice(tmp.file('exit.db'));
    expect(exit.pending.count()).toBe(1);
    const again = exit.tap(wallet.present(card), MORNING_MS + 32 * MIN);
    expect(again).toMatchObject({ status: 'accepted', recovered: true, chargeFen: charged });
    expect(exit.journal.all().filter((r) => r.cardAction === 'debit')).toHaveLength(1);
    expect(5_000 - effectiveBalanceFen(wallet.image(card))).toBe(charged);
  });

  it('an intent whose DEBIT never reached the card is dropped and the tap proceeds normally', () => {
    const [card] = issueCards(wallet, 1, 5_000);
    entry.tap(wallet.present(card), MORNING_MS);
    const lost = wallet.present(card);
    lost.simulator.tearAt({ command: 'debitForPurchase', moment: 'before-write' });
    expect(exit.tap(lost, MORNING_MS + 30 * MIN).resultCode).toBe(TAP_RESULT.CARD_REMOVED);
    expect(effectiveBalanceFen(wallet.image(card))).toBe(5_000);
    const again = exit.tap(wallet.present(card), MORNING_MS + 31 * MIN);
    expect(again.status).toBe('accepted');
    expect(again.recovered).toBe(false);
    expect(exit.pending.count()).toBe(0);
    expect(exit.journal.all().filter((r) => r.cardAction === 'debit')).toHaveLength(1);
  });

  it('TSNs and device sequences never repeat across restarts', () => {
    const cards = issueCards(wallet, 6, 5_000);
    const tsns: number[] = [];
    for (let round = 0; round < 3; round++) {
      for (const card of cards.slice(round * 2, round * 2 + 2)) {
        const result = entry.tap(wallet.present(card), MORNING_MS + round * MIN);
        expect(result.status).toBe('accepted');
      }
      entry.close();
      entry = openDevice(tmp.file('entry.db'));
    }
    const rows = entry.journal.all();
    for (const r of rows) tsns.push(r.tsn);
    expect(rows.map((r) => r.deviceSeq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(new Set(tsns).size).toBe(6);
    for (let i = 1; i < tsns.length; i++) expect(tsns[i]).toBeGreaterThan(tsns[i - 1]);
  });

  it('refuses without touching the card when the journal is full, and raises the alarm before', () => {
    const [a, b] = issueCards(wallet, 2, 5_000);
    entry.db.prepare('UPDATE device_state SET unacked_count = ?').run(LIMITS.journalAlarmAt);
    const alarmed = entry.tap(wallet.present(a), MORNING_MS);
    expect(alarmed).toMatchObject({ status: 'accepted', journalLevel: 'alarm' });
    entry.db.prepare('UPDATE device_state SET unacked_count = ?').run(LIMITS.journalCapacity - 1);
    const atcBefore = wallet.image(b).offlineAtc;
    const full = entry.tap(wallet.present(b), MORNING_MS + MIN);
    expect(full).toMatchObject({ status: 'journal-full', resultCode: null, deviceSeqs: [], journalLevel: 'full' });
    expect(full.display).toMatch(/full/);
    expect(wallet.image(b).offlineAtc).toBe(atcBefore);
  });

  it('refuses when no fare table is in force', () => {
    const bare = createDevice(tmp.file('bare.db'), profile('GATE-BARE', 'subway-entry', { stationCode: 花园桥 }), null);
    const [card] = issueCards(wallet, 1);
    expect(bare.tap(wallet.present(card), MORNING_MS).status).toBe('no-fare-table');
    bare.close();
  });

  it('locks a card on a formal loss and refuses a temporary loss without locking', async () => {
    const [lost, temp] = issueCards(wallet, 2);
    await entry.blacklist.applyDelta({
      entries: [
        { version: 1, cardNo: lost, op: 'add', reason: 'formal-loss' },
        { version: 2, cardNo: temp, op: 'add', reason: 'temporary-loss' },
      ],
      toVersion: 2,
    });
    expect(entry.tap(wallet.present(lost), MORNING_MS)).toMatchObject({ status: 'refused', resultCode: TAP_RESULT.BLACKLISTED_AND_LOCKED });
    expect(wallet.image(lost).locked).toBe(true);
    expect(entry.tap(wallet.present(temp), MORNING_MS)).toMatchObject({ status: 'refused', resultCode: TAP_RESULT.BLACKLISTED });
    expect(wallet.image(temp).locked).toBe(false);
    expect(entry.journal.all().map((r) => r.cardAction)).toEqual(['block', 'none']);
  });

  it('a bus validator on a flat line charges at boarding', () => {
    const bus = createDevice(tmp.file('bus.db'), profile('BUS-1', 'bus', { busLine: 1, busStop: 0 }));
    const [card] = issueCards(wallet, 1, 1_000);
    const result = bus.tap(wallet.present(card), MORNING_MS);
    expect(result.status).toBe('accepted');
    expect(result.chargeFen).toBeGreaterThan(0);
    expect(effectiveBalanceFen(wallet.image(card))).toBe(1_000 - result.chargeFen);
    bus.close();
  });

  it('an unreadable card produces no journal row', () => {
    const broken: CardPort = new Proxy(wallet.present(issueCards(wallet, 1)[0]), {
      get(target, prop, receiver) {
        if (prop === 'readCardView') return () => ({ sw: SW.conditionsNotSatisfied, data: new Uint8Array(0) });
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    expect(entry.tap(broken, MORNING_MS)).toMatchObject({ status: 'refused', resultCode: TAP_RESULT.CARD_READ_ERROR, deviceSeqs: [] });
    expect(entry.journal.all()).toHaveLength(0);
  });

  it('keeps the WAL bounded: no automatic checkpoint inside taps, maybeCheckpoint between them', () => {
    const cards = issueCards(wallet, 4, 5_000);
    for (let i = 0; i < 8; i++) entry.tap(wallet.present(cards[i % 4]), MORNING_MS + i * 60 * MIN);
    expect(entry.db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    expect(entry.maybeCheckpoint(1 << 30)).toBeNull();
    const done = entry.maybeCheckpoint(1);
    expect(done).not.toBeNull();
    expect(done!.checkpointedFrames).toBe(done!.walFrames);
  });

  it('P+R gates: entry records the stay, exit charges the lot rate; a park gate sells a ticket at a ticketed park', () => {
    const prIn = createDevice(tmp.file('pr-in.db'), profile('PR-1-IN', 'pr-entry', { lotId: 1 }));
    const prOut = createDevice(tmp.file('pr-out.db'), profile('PR-1-OUT', 'pr-exit', { lotId: 1 }));
    const park = createDevice(tmp.file('park.db'), profile('PARK-101', 'park-gate', { parkId: 101 }));
    const [driver, visitor] = issueCards(wallet, 2, 10_000);
    expect(prIn.tap(wallet.present(driver), MORNING_MS)).toMatchObject({ status: 'accepted', chargeFen: 0 });
    const out = prOut.tap(wallet.present(driver), MORNING_MS + 150 * MIN);
    expect(out.status).toBe('accepted');
    expect(out.chargeFen).toBeGreaterThan(0);
    expect(effectiveBalanceFen(wallet.image(driver))).toBe(10_000 - out.chargeFen);
    const visit = park.tap(wallet.present(visitor), MORNING_MS);
    expect(visit).toMatchObject({ status: 'accepted', chargeFen: 1_000 });
    expect(park.journal.all()[0]).toMatchObject({ deviceKind: 'park-gate', operator: 'park', place: 101, amountFen: 1_000 });
    for (const d of [prIn, prOut, park]) d.close();
  });

  it('installs newer fare tables, keeps the newest three, and uses the one in force by date', () => {
    for (const [version, fromMs] of [
      [2, 0],
      [3, 0],
      [4, 0],
      [5, MORNING_MS + 24 * 60 * MIN],
    ] as const) {
      expect(entry.installFareTable(version, encodeFareTablesJson(defaultFareTablesSpec(SUBWAY_CSV, version, fromMs)), MORNING_MS)).toBe(true);
    }
    expect(entry.installFareTable(4, encodeFareTablesJson(defaultFareTablesSpec(SUBWAY_CSV, 4, 0)), MORNING_MS)).toBe(false);
    expect(entry.status().fareTableVersions.sort()).toEqual([3, 4, 5]);
    // Version 5 is announced for tomorrow: today the device runs 4.
    expect(entry.faresAt(MORNING_MS)?.version).toBe(4);
    expect(entry.faresAt(MORNING_MS + 25 * 60 * MIN)?.version).toBe(5);
    const [card] = issueCards(wallet, 1);
    entry.tap(wallet.present(card), MORNING_MS);
    expect(entry.journal.all()[0].fareTableVersion).toBe(4);
  });
});
