import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type BlacklistAnswer,
  CardSimulator,
  deviceConfig,
  type DeviceConfig,
  executeTap,
  type JournalRecord,
  NOT_LISTED,
  type PendingPurchase,
  quoteSubwayFare,
  stationCode,
  TAP_RESULT,
} from '#core';
import { effective, makeCard, makeCardImage, makeIssuer, makePsam, seededRandom } from '../purse/fixtures.ts';
import { FARES, wed } from './fixtures.ts';

const issuer = makeIssuer();
const net = FARES.subway;
const 花园桥 = stationCode(net, '花园桥');
const 潞城 = stationCode(net, '潞城');
const entry = deviceConfig({ deviceId: 'GATE-IN', kind: 'subway-entry', stationCode: 花园桥 });
const exit = deviceConfig({ deviceId: 'GATE-OUT', kind: 'subway-exit', stationCode: 潞城 });

function tap(
  card: CardSimulator,
  device: DeviceConfig,
  nowMs: number,
  opts: { seq?: number; pending?: PendingPurchase | null; blacklist?: BlacklistAnswer } = {},
) {
  return executeTap({
    card,
    psam: makePsam(issuer, undefined, (opts.seq ?? 1) * 10),
    device,
    blacklistLookup: () => opts.blacklist ?? NOT_LISTED,
    fares: FARES,
    nowMs,
    deviceSeq: opts.seq ?? 1,
    pending: opts.pending ?? null,
  });
}

describe('executeTap', () => {
  it('entry (0-amount composite) then exit (distance fare) with full journal records', () => {
    const card = makeCard(issuer, { effectiveBalanceFen: 5_000 });
    const a = tap(card, entry, wed(80000), { seq: 1 });
    expect(a.decision.resultCode).toBe(TAP_RESULT.ACCEPTED);
    expect(a.journal).toHaveLength(1);
    expect(a.journal[0]).toMatchObject({
      cardAction: 'debit',
      transactionType: 0x09,
      amountFen: 0,
      balanceBeforeFen: 5_000,
      balanceAfterFen: 5_000,
      offlineAtc: 0,
      deviceSeq: 1,
      place: 花园桥,
      fareTableVersion: 3,
      date: 20261125,
      time: 80000,
      recovered: false,
    });
    expect(a.journal[0].tac).toMatch(/^[0-9a-fA-F]{8}$/);
    expect(card.image().trip).toMatchObject({ journey: 'subway', journeyPlace: 花园桥 });

    const b = tap(card, exit, wed(90000), { seq: 2 });
    const fare = quoteSubwayFare(net, '花园桥', '潞城').fareFen;
    expect(b.journal[0]).toMatchObject({
      cardAction: 'debit',
      amountFen: fare,
      balanceBeforeFen: 5_000,
      balanceAfterFen: 5_000 - fare,
      offlineAtc: 1,
      resultCode: TAP_RESULT.ACCEPTED,
    });
    expect(effective(card)).toBe(5_000 - fare);
    expect(card.image().trip).toMatchObject({ journey: 'none', monthRailSpendFen: fare });
    // The revenue split's inputs: the exit names its entry station and the overtime inside the
    // charge (none here); the entry carries neither.
    expect(b.journal[0]).toMatchObject({ journeyEntryPlace: 花园桥, overtimeFen: 0 });
    expect(a.journal[0]).toMatchObject({ journeyEntryPlace: 0, overtimeFen: 0 });
  });

  it('an exit after more than 4 hours journals the overtime fare inside its charge, for the exit line’s operator', () => {
    const card = makeCard(issuer, { effectiveBalanceFen: 5_000 });
    tap(card, entry, wed(80000), { seq: 1 });
    const late = tap(card, exit, wed(121000), { seq: 2 });
    const fare = quoteSubwayFare(net, '花园桥', '潞城').fareFen;
    expect(late.decision.resultCode).toBe(TAP_RESULT.OVERTIME_CHARGED);
    const overtime = FARES.subway.policy.overtimeFen;
    expect(overtime).toBe(300);
    expect(late.journal[0]).toMatchObject({ amountFen: fare + overtime, journeyEntryPlace: 花园桥, overtimeFen: overtime });
  });

  it('a refusal journals without touching the card', () => {
    const card = makeCard(issuer, { effectiveBalanceFen: 100 });
    const r = tap(card, entry, wed(80000));
    expect(r.decision.resultCode).toBe(TAP_RESULT.INSUFFICIENT_BALANCE);
    expect(r.journal).toEqual([expect.objectContaining({ cardAction: 'none', amountFen: 0, tac: '', resultCode: TAP_RESULT.INSUFFICIENT_BALANCE })]);
    expect(card.image().offlineAtc).toBe(0);
  });

  it('a final blacklisting locks the card; the next gate refuses it with no list at all', () => {
    const card = makeCard(issuer, { effectiveBalanceFen: 5_000 });
    const r = tap(card, entry, wed(80000), { blacklist: { listed: true, reason: 'formal-loss' } });
    expect(r.decision).toMatchObject({ resultCode: TAP_RESULT.BLACKLISTED_AND_LOCKED, accepted: false });
    expect(r.journal[0].cardAction).toBe('block');
    expect(card.image().locked).toBe(true);
    expect(tap(card, entry, wed(80100)).decision.resultCode).toBe(TAP_RESULT.CARD_LOCKED);
  });

  it('a temporary loss is refused and not locked', () => {
    const card = makeCard(issuer, { effectiveBalanceFen: 5_000 });
    const r = tap(card, entry, wed(80000), { blacklist: { listed: true, reason: 'temporary-loss' } });
    expect(r.decision.resultCode).toBe(TAP_RESULT.BLACKLISTED);
    expect(card.image().locked).toBe(false);
  });

  it('torn after the debit: card-removed, then the re-tap recovers the proof and charges nothing more', () => {
    const card = makeCard(issuer, { effectiveBalanceFen: 5_000 });
    tap(card, entry, wed(80000), { seq: 1 });
    card.tearAt({ command: 'debitForPurchase', moment: 'after-write' });
    const torn = tap(card, exit, wed(90000), { seq: 2 });
    expect(torn.decision.resultCode).toBe(TAP_RESULT.CARD_REMOVED);
    expect(torn.journal).toEqual([]);
    expect(torn.pendingAfter).not.toBeNull();
    card.reset();
    const fare = quoteSubwayFare(net, '花园桥', '潞城').fareFen;
    const again = tap(card, exit, wed(90005), { seq: 2, pending: torn.pendingAfter });
    expect(again.decision).toMatchObject({ resultCode: TAP_RESULT.TORN_TRANSACTION_RECOVERED, accepted: true });
    expect(again.journal).toEqual([expect.objectContaining({ recovered: true, amountFen: fare, cardAction: 'debit', offlineAtc: 1 })]);
    expect(again.pendingAfter).toBeNull();
    expect(effective(card)).toBe(5_000 - fare);
  });

  it('torn before the debit: the re-tap finds nothing debited and charges once', () => {
    const card = makeCard(issuer, { effectiveBalanceFen: 5_000 });
    tap(card, entry, wed(80000), { seq: 1 });
    card.tearAt({ command: 'debitForPurchase', moment: 'before-write' });
    const torn = tap(card, exit, wed(90000), { seq: 2 });
    card.reset();
    const again = tap(card, exit, wed(90005), { seq: 2, pending: torn.pendingAfter });
    const fare = quoteSubwayFare(net, '花园桥', '潞城').fareFen;
    expect(again.decision.resultCode).toBe(TAP_RESULT.ACCEPTED);
    expect(again.journal).toEqual([expect.objectContaining({ recovered: false, amountFen: fare })]);
    expect(effective(card)).toBe(5_000 - fare);
  });

  it('an old recovered purchase is journaled and the current tap is decided afresh', () => {
    const card = makeCard(issuer, { effectiveBalanceFen: 5_000 });
    card.tearAt({ command: 'debitForPurchase', moment: 'after-write' });
    const torn = tap(card, entry, wed(80000), { seq: 1 });
    card.reset();
    // Next day at the same entry gate: the old entry is stale, so it is settled at the max fare.
    const later = tap(card, entry, wed(80000) + 86_400_000, { seq: 5, pending: torn.pendingAfter });
    expect(later.journal.map((j) => [j.deviceSeq, j.recovered, j.resultCode])).toEqual([
      [5, true, TAP_RESULT.TORN_TRANSACTION_RECOVERED],
      [6, false, TAP_RESULT.ACCEPTED],
    ]);
    expect(later.journal[1].amountFen).toBe(net.maxFareFromFen[花园桥]);
  });

  it("a re-tap after the 5-minute window still completes a recovered purchase that is the card's latest (no second charge, no refusal of a paid tap)", () => {
    // Ticketed park: the torn purchase paid the ticket; the gate stayed shut.
    const gate = deviceConfig({ deviceId: 'PARK', kind: 'park-gate', parkId: 101 });
    const card = makeCard(issuer, { effectiveBalanceFen: 5_000 });
    card.tearAt({ command: 'debitForPurchase', moment: 'after-write' });
    const torn = tap(card, gate, wed(100000), { seq: 1 });
    expect(torn.decision.resultCode).toBe(TAP_RESULT.CARD_REMOVED);
    card.reset();
    const again = tap(card, gate, wed(100600), { seq: 2, pending: torn.pendingAfter });
    expect(again.decision).toMatchObject({ resultCode: TAP_RESULT.TORN_TRANSACTION_RECOVERED, accepted: true });
    expect(again.journal).toEqual([expect.objectContaining({ recovered: true, amountFen: 1_000 })]);
    expect(effective(card)).toBe(4_000);

    // Subway exit: the torn exit paid and closed the journey; the rider is still inside.
    const rider = makeCard(issuer, { effectiveBalanceFen: 5_000 });
    tap(rider, entry, wed(80000), { seq: 3 });
    rider.tearAt({ command: 'debitForPurchase', moment: 'after-write' });
    const tornExit = tap(rider, exit, wed(90000), { seq: 4 });
    rider.reset();
    const retap = tap(rider, exit, wed(91000), { seq: 5, pending: tornExit.pendingAfter });
    expect(retap.decision).toMatchObject({ resultCode: TAP_RESULT.TORN_TRANSACTION_RECOVERED, accepted: true });
    expect(retap.journal).toHaveLength(1);
    expect(effective(rider)).toBe(5_000 - quoteSubwayFare(net, '花园桥', '潞城').fareFen);
  });

  it('a park visit writes the pass record through the composite purchase', () => {
    const gate = deviceConfig({ deviceId: 'PARK', kind: 'park-gate', parkId: 1 });
    expect(tap(makeCard(issuer), gate, wed(100000)).decision.resultCode).toBe(TAP_RESULT.NO_VALID_PASS);
    const image = makeCardImage(issuer, { effectiveBalanceFen: 0 });
    image.parkPasses[1] = { year: 2026, visits: 2, lastParkId: 0, lastEntryTime: 0 };
    const card = new CardSimulator(image, seededRandom());
    const r = tap(card, gate, wed(100000));
    expect(r.decision.accepted).toBe(true);
    expect(r.journal[0]).toMatchObject({ cardAction: 'debit', amountFen: 0, place: 1, operator: 'park' });
    expect(card.image().parkPasses[1]).toMatchObject({ year: 2026, visits: 3, lastParkId: 1 });
    expect(tap(card, gate, wed(100100)).decision.resultCode).toBe(TAP_RESULT.ANTI_PASSBACK);
  });

  const devices: DeviceConfig[] = [
    entry,
    exit,
    deviceConfig({ deviceId: 'IN2', kind: 'subway-entry', stationCode: 潞城 }),
    deviceConfig({ deviceId: 'OUT2', kind: 'subway-exit', stationCode: 花园桥 }),
    deviceConfig({ deviceId: 'BUS801', kind: 'bus', busLine: 801, busStop: 0 }),
    deviceConfig({ deviceId: 'BUS801b', kind: 'bus', busLine: 801, busStop: 6 }),
    deviceConfig({ deviceId: 'BUS1', kind: 'bus', busLine: 1, busStop: 0 }),
    deviceConfig({ deviceId: 'PR-IN', kind: 'pr-entry', lotId: 1 }),
    deviceConfig({ deviceId: 'PR-OUT', kind: 'pr-exit', lotId: 1 }),
  ];

  it('property: over random tap sequences with tears, the balance changes by exactly the journal amounts and money never appears', () => {
    let paidDebits = 0;
    let recovered = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 20_000 }),
        fc.array(
          fc.record({
            device: fc.integer({ min: 0, max: devices.length - 1 }),
            gapMs: fc.integer({ min: 1_000, max: 3 * 3_600_000 }),
            tear: fc.constantFrom(null, 'before-write', 'after-write', null, null, null),
          }),
          { minLength: 1, maxLength: 25 },
        ),
        (startFen, steps) => {
          const card = makeCard(issuer, { effectiveBalanceFen: startFen });
          let now = wed(60000);
          let seq = 1;
          let pending: PendingPurchase | null = null;
          const journal: JournalRecord[] = [];
          for (const step of steps) {
            now += step.gapMs;
            if (step.tear) card.tearAt({ command: 'debitForPurchase', moment: step.tear as 'before-write' | 'after-write' });
            const r = tap(card, devices[step.device], now, { seq, pending });
            card.tearAt(null);
            card.reset();
            seq += r.journal.length;
            pending = r.pendingAfter;
            journal.push(...r.journal);
            for (const j of r.journal) {
              expect(j.amountFen).toBeGreaterThanOrEqual(0);
              if (j.cardAction === 'debit') expect(j.balanceBeforeFen - j.balanceAfterFen).toBe(j.amountFen);
              else expect(j.amountFen).toBe(0);
            }
          }
          // Settle a last torn purchase so the journal is complete.
          if (pending) {
            const r = tap(card, devices[0], now + 1_000, { seq, pending });
            journal.push(...r.journal);
          }
          const debited = journal.filter((j) => j.cardAction === 'debit').reduce((s, j) => s + j.amountFen, 0);
          paidDebits += journal.filter((j) => j.cardAction === 'debit' && j.amountFen > 0).length;
          recovered += journal.filter((j) => j.recovered).length;
          expect(effective(card)).toBe(startFen - debited);
          expect(effective(card)).toBeLessThanOrEqual(startFen);
          expect(effective(card)).toBeGreaterThanOrEqual(-card.image().overdraftLimitFen);
          // Device sequence numbers are strictly increasing and ATCs are never reused by debits.
          const seqs = journal.map((j) => j.deviceSeq);
          expect(new Set(seqs).size).toBe(seqs.length);
          const atcs = journal.filter((j) => j.cardAction === 'debit').map((j) => j.offlineAtc);
          expect(new Set(atcs).size).toBe(atcs.length);
          expect(card.image().offlineAtc).toBe(atcs.length);
        },
      ),
      { numRuns: 150 },
    );
    // The sequences really exercise charges and recoveries.
    expect(paidDebits).toBeGreaterThan(100);
    expect(recovered).toBeGreaterThan(5);
  });
});

describe('executeTap with a MAC2 the PSAM rejects', () => {
  it('keeps the gate shut but journals whatever the card debited, with its TAC', () => {
    const card = makeCard(issuer, { effectiveBalanceFen: 5_000 });
    tap(card, entry, wed(80000), { seq: 1 });
    // A card whose MAC2 is garbled on the way out (a clone or a faulty chip).
    const garbling = new Proxy(card, {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver);
        if (name !== 'debitForPurchase') return typeof value === 'function' ? value.bind(target) : value;
        return (...args: Parameters<CardSimulator['debitForPurchase']>) => {
          const response = target.debitForPurchase(...args);
          const data = new Uint8Array(response.data);
          data[7] ^= 0xff;
          return { sw: response.sw, data };
        };
      },
    });
    const before = effective(card);
    const r = executeTap({
      card: garbling,
      psam: makePsam(issuer, undefined, 20),
      device: exit,
      blacklistLookup: () => NOT_LISTED,
      fares: FARES,
      nowMs: wed(90000),
      deviceSeq: 2,
      pending: null,
    });
    expect(r.decision.resultCode).toBe(TAP_RESULT.MAC_FAILURE);
    expect(r.decision.accepted).toBe(false);
    const debited = before - effective(card);
    expect(debited).toBeGreaterThan(0);
    // The card moved money: the journal must say so, so the back office can clear or quarantine it.
    expect(r.journal).toHaveLength(1);
    expect(r.journal[0]).toMatchObject({
      cardAction: 'debit',
      amountFen: debited,
      balanceBeforeFen: before,
      balanceAfterFen: before - debited,
      resultCode: TAP_RESULT.MAC_FAILURE,
    });
    expect(r.journal[0].tac).toMatch(/^[0-9A-Fa-f]{8}$/);
  });
});

describe('executeTap with a torn purchase the card can no longer prove', () => {
  it('reports it once and lets the card through the rest of the decision instead of refusing it forever', () => {
    const card = makeCard(issuer, { effectiveBalanceFen: 5_000 });
    tap(card, entry, wed(80000), { seq: 1 });
    card.tearAt({ command: 'debitForPurchase', moment: 'after-write' });
    const torn = tap(card, exit, wed(90000), { seq: 2 });
    expect(torn.pendingAfter).not.toBeNull();
    const afterTear = effective(card);
    // The card's proofs are gone (e.g. rotated away by later use, or a rebuilt secure element).
    const forgetful = new CardSimulator(card.image(), seededRandom(7));
    const again = tap(forgetful, exit, wed(90005), { seq: 2, pending: torn.pendingAfter });
    expect(again.pendingAfter).toBeNull();
    expect(again.decision.resultCode).not.toBe(TAP_RESULT.CARD_REMOVED);
    expect(again.journal[0]).toMatchObject({
      resultCode: TAP_RESULT.TORN_TRANSACTION_UNPROVABLE,
      cardAction: 'none',
      amountFen: 0,
      offlineAtc: 1,
      tsn: torn.pendingAfter!.tsn,
    });
    // Nothing more is charged by the re-tap.
    expect(effective(forgetful)).toBe(afterTear);
  });
});
