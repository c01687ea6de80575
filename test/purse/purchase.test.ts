import { describe, expect, it } from 'vitest';
import {
  SW,
  SW_NO_RESPONSE,
  bytesToHex,
  cardSerialFromCardNo,
  emptyTripRecord,
  encodeParkPass,
  encodeTripRecord,
  purchaseTacData,
  recoverPurchase,
  runPurchase,
  type CardPort,
  type CardResponse,
  type PurchaseRequest,
} from '#core';
import { ALGORITHMS, OTHER_TERMINAL_ID, TEST_CARD_NO, TERMINAL_ID, effective, makeCard, makeIssuer, makePsam } from './fixtures.ts';

const TRIP = encodeTripRecord({ ...emptyTripRecord(), journey: 'subway', journeyPlace: 123, journeyTime: 1_768_433_445, monthKey: 202601 });

function request(overrides: Partial<PurchaseRequest> = {}, algorithm: '3des' | 'sm4' = '3des'): PurchaseRequest {
  return {
    cardSerial: cardSerialFromCardNo(TEST_CARD_NO),
    keyVersion: 1,
    algorithm,
    amountFen: 300,
    transactionType: 0x09,
    cappRecord: TRIP,
    date: 20260115,
    time: 73045,
    ...overrides,
  };
}

describe.each(ALGORITHMS)('purchase protocol (%s)', (algorithm) => {
  it('debits, moves the ATC once, writes the log and the trip atomically, and yields a TAC the issuer verifies', () => {
    const issuer = makeIssuer();
    const card = makeCard(issuer, { algorithm, effectiveBalanceFen: 5_000 });
    const psam = makePsam(issuer, TERMINAL_ID, 41);
    const outcome = runPurchase(card, psam, request({}, algorithm));
    expect(outcome.status).toBe('debited');
    if (outcome.status !== 'debited') return;
    expect(outcome.balanceAfterFen).toBe(4_700);
    expect(outcome.pending.tsn).toBe(41);
    expect(psam.tsn).toBe(42);
    const image = card.image();
    expect(image.balanceFen).toBe(4_700);
    expect(image.offlineAtc).toBe(1);
    expect(image.onlineAtc).toBe(0);
    expect(image.trip.journeyPlace).toBe(123);
    expect(image.log[0]).toEqual({ atc: 0, overdraftFen: 0, amountFen: 300, type: 0x09, terminalId: '112233445566', date: 20260115, time: 73045 });
    const data = purchaseTacData({ amountFen: 300, transactionType: 0x09, terminalId: bytesToHex(TERMINAL_ID), tsn: 41, date: 20260115, time: 73045 });
    expect(issuer.verifyTac({ cardNo: TEST_CARD_NO, keyVersion: 1, algorithm, data, tac: outcome.tac })).toBe(true);
    // The TAC binds every field: another TSN does not verify.
    const other = purchaseTacData({ amountFen: 300, transactionType: 0x09, terminalId: bytesToHex(TERMINAL_ID), tsn: 42, date: 20260115, time: 73045 });
    expect(issuer.verifyTac({ cardNo: TEST_CARD_NO, keyVersion: 1, algorithm, data: other, tac: outcome.tac })).toBe(false);
  });

  it('a plain purchase (06) without a CAPP record, and a zero-amount composite purchase', () => {
    const issuer = makeIssuer();
    const card = makeCard(issuer, { algorithm, effectiveBalanceFen: 1_000 });
    const psam = makePsam(issuer);
    const plain = runPurchase(card, psam, request({ transactionType: 0x06, cappRecord: null }, algorithm));
    expect(plain.status).toBe('debited');
    const zero = runPurchase(card, psam, request({ amountFen: 0 }, algorithm));
    expect(zero.status).toBe('debited');
    expect(card.image().offlineAtc).toBe(2);
    expect(effective(card)).toBe(700);
    expect(card.image().log.map((r) => r.type)).toEqual([0x09, 0x06]);
  });

  it('draws the balance first, then the overdraft; refuses (9401 at INITIALIZE) beyond the overdraft limit', () => {
    const issuer = makeIssuer();
    const card = makeCard(issuer, { algorithm, effectiveBalanceFen: 200 });
    const psam = makePsam(issuer);
    const first = runPurchase(card, psam, request({ amountFen: 500 }, algorithm));
    expect(first.status).toBe('debited');
    expect(card.image()).toMatchObject({ balanceFen: 0, overdraftUsedFen: 300 });
    expect(card.image().log[0].overdraftFen).toBe(300);
    const before = card.image();
    const refused = runPurchase(card, psam, request({ amountFen: 1_701 }, algorithm));
    expect(refused).toEqual({ status: 'refused', sw: SW.insufficientBalance, reason: 'insufficient-balance' });
    expect(card.image()).toEqual(before);
    const exact = runPurchase(card, psam, request({ amountFen: 1_700 }, algorithm));
    expect(exact.status).toBe('debited');
    expect(effective(card)).toBe(-2_000);
  });

  it('a locked card refuses purchase (6A81) and nothing changes', () => {
    const issuer = makeIssuer();
    const card = makeCard(issuer, { algorithm, effectiveBalanceFen: 5_000, locked: true });
    const before = card.image();
    expect(runPurchase(card, makePsam(issuer), request({}, algorithm))).toEqual({ status: 'refused', sw: SW.applicationBlocked, reason: 'blocked' });
    expect(card.image()).toEqual(before);
  });

  it('a tampered MAC1 answers 9302 and changes nothing; the session is gone afterwards', () => {
    const issuer = makeIssuer();
    const card = makeCard(issuer, { algorithm, effectiveBalanceFen: 5_000 });
    const psam = makePsam(issuer);
    const init = card.initializeForPurchase(1, 300, TERMINAL_ID, true);
    expect(init.sw).toBe(SW.success);
    expect(card.updateCappDataCache(TRIP).sw).toBe(SW.success);
    const before = card.image();
    const random = init.data.slice(11, 15);
    const date = Uint8Array.of(0x20, 0x26, 0x01, 0x15);
    const time = Uint8Array.of(0x07, 0x30, 0x45);
    const { tsn, mac1 } = psam.beginPurchase({
      cardSerial: cardSerialFromCardNo(TEST_CARD_NO),
      keyVersion: 1,
      algorithm,
      cardRandom: random,
      offlineAtc: 0,
      amountFen: 300,
      transactionType: 0x09,
      date,
      time,
    });
    for (let byte = 0; byte < 4; byte++) {
      const bad = new Uint8Array(mac1);
      bad[byte] ^= 0x01;
      const again = card.initializeForPurchase(1, 300, TERMINAL_ID, true);
      expect(again.sw).toBe(SW.success);
      // Fresh random each INIT: a MAC for the old session is wrong too, but flip a bit to be sure.
      expect(card.debitForPurchase(tsn, date, time, bad).sw).toBe(SW.macError);
      expect(card.image()).toEqual(before);
    }
    expect(card.debitForPurchase(tsn, date, time, mac1).sw).toBe(SW.conditionsNotSatisfied);
  });

  it('a card personalised under other master keys (a clone) is refused with a MAC error', () => {
    const genuine = makeIssuer();
    const forger = makeIssuer(2); // same card number, keys of version 2 but the card claims its own version
    const clone = makeCard(forger, { algorithm, effectiveBalanceFen: 5_000 });
    const image = clone.image();
    // The clone claims key version 1 (the genuine PSAM's), but holds version-2 keys.
    const lying = makeCardFromImage({ ...image, keyVersion: 1 });
    const outcome = runPurchase(lying, makePsam(genuine), request({}, algorithm));
    expect(outcome).toMatchObject({ status: 'refused', sw: SW.macError, reason: 'mac-error' });
    expect(lying.image().offlineAtc).toBe(0);
  });

  it('refuses a card whose key version the PSAM does not hold (key-unsupported)', () => {
    const issuer = makeIssuer(2);
    const card = makeCard(issuer, { algorithm, effectiveBalanceFen: 5_000 });
    const oldPsam = makePsam(makeIssuerWithVersions([1]));
    expect(runPurchase(card, oldPsam, request({}, algorithm))).toMatchObject({ status: 'refused', reason: 'key-unsupported' });
    expect(card.image().offlineAtc).toBe(0);
  });

  it('a MAC2 that the PSAM rejects is reported as mac2-invalid', () => {
    const issuer = makeIssuer();
    const card = makeCard(issuer, { algorithm, effectiveBalanceFen: 5_000 });
    const corrupting: CardPort = new Proxy(card, {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver);
        if (name !== 'debitForPurchase') return typeof value === 'function' ? value.bind(target) : value;
        return (...args: Parameters<CardPort['debitForPurchase']>): CardResponse => {
          const response = target.debitForPurchase(...args);
          const data = new Uint8Array(response.data);
          data[7] ^= 0xff;
          return { sw: response.sw, data };
        };
      },
    });
    expect(runPurchase(corrupting, makePsam(issuer), request({}, algorithm)).status).toBe('mac2-invalid');
  });

  it('commands out of order answer 6985 and change nothing', () => {
    const issuer = makeIssuer();
    const card = makeCard(issuer, { algorithm, effectiveBalanceFen: 5_000 });
    const before = card.image();
    const date = Uint8Array.of(0x20, 0x26, 0x01, 0x15);
    const time = Uint8Array.of(0x07, 0x30, 0x45);
    expect(card.debitForPurchase(1, date, time, new Uint8Array(4)).sw).toBe(SW.conditionsNotSatisfied);
    expect(card.updateCappDataCache(TRIP).sw).toBe(SW.conditionsNotSatisfied);
    expect(card.creditForLoad(date, time, new Uint8Array(4)).sw).toBe(SW.conditionsNotSatisfied);
    expect(card.initializeForPurchase(1, 100, TERMINAL_ID, false).sw).toBe(SW.success);
    expect(card.updateCappDataCache(TRIP).sw).toBe(SW.conditionsNotSatisfied); // not a composite INIT
    expect(card.creditForLoad(date, time, new Uint8Array(4)).sw).toBe(SW.conditionsNotSatisfied);
    expect(card.initializeForPurchase(1, 100, TERMINAL_ID, true).sw).toBe(SW.success);
    expect(card.updateCappDataCache(TRIP).sw).toBe(SW.success);
    expect(card.updateCappDataCache(TRIP).sw).toBe(SW.conditionsNotSatisfied); // once per session
    expect(card.initializeForPurchase(2, 100, TERMINAL_ID, true).sw).toBe(SW.keyIndexUnsupported);
    expect(card.image()).toEqual(before);
  });

  it('a park-pass visit rides the CAPP cache into the slot of the same year', () => {
    const issuer = makeIssuer();
    const image = makeCardImageWithPass(issuer, algorithm);
    const card = makeCardFromImage(image);
    const visit = encodeParkPass({ year: 2026, visits: 4, lastParkId: 9, lastEntryTime: 1_768_433_445 });
    expect(runPurchase(card, makePsam(issuer), request({ amountFen: 0, cappRecord: visit }, algorithm)).status).toBe('debited');
    expect(card.image().parkPasses[1]).toEqual({ year: 2026, visits: 4, lastParkId: 9, lastEntryTime: 1_768_433_445 });
    const wrongYear = encodeParkPass({ year: 2030, visits: 1, lastParkId: 9, lastEntryTime: 1 });
    expect(runPurchase(card, makePsam(issuer), request({ amountFen: 0, cappRecord: wrongYear }, algorithm))).toMatchObject({
      status: 'refused',
      sw: SW.recordNotFound,
    });
  });
});

describe.each(ALGORITHMS)('purchase tearing and recovery (%s)', (algorithm) => {
  for (const moment of ['before-write', 'after-write'] as const) {
    it(`DEBIT torn ${moment}: recovery decides by the ATC; no double debit, no lost debit`, () => {
      const issuer = makeIssuer();
      const card = makeCard(issuer, { algorithm, effectiveBalanceFen: 5_000 });
      const psam = makePsam(issuer);
      card.tearAt({ command: 'debitForPurchase', moment });
      const torn = runPurchase(card, psam, request({}, algorithm));
      expect(torn.status).toBe('torn');
      if (torn.status !== 'torn') return;
      const debited = moment === 'after-write';
      expect(card.image().offlineAtc).toBe(debited ? 1 : 0);
      expect(effective(card)).toBe(debited ? 4_700 : 5_000);
      expect(card.image().trip.journeyPlace).toBe(debited ? 123 : 0);
      // The session is gone: DEBIT again without INITIALIZE is refused.
      expect(card.debitForPurchase(torn.pending.tsn, Uint8Array.of(0x20, 0x26, 0x01, 0x15), Uint8Array.of(0, 0, 0), new Uint8Array(4)).sw).toBe(
        SW.conditionsNotSatisfied,
      );

      const recovery = recoverPurchase(card, psam, torn.pending);
      if (debited) {
        expect(recovery.status).toBe('debited');
        if (recovery.status !== 'debited') return;
        const data = purchaseTacData({
          amountFen: 300,
          transactionType: 0x09,
          terminalId: bytesToHex(TERMINAL_ID),
          tsn: torn.pending.tsn,
          date: 20260115,
          time: 73045,
        });
        expect(issuer.verifyTac({ cardNo: TEST_CARD_NO, keyVersion: 1, algorithm, data, tac: recovery.tac })).toBe(true);
      } else {
        expect(recovery).toEqual({ status: 'not-debited' });
        expect(runPurchase(card, psam, request({}, algorithm)).status).toBe('debited'); // redo
      }
      // Either way exactly one debit happened.
      expect(card.image().offlineAtc).toBe(1);
      expect(effective(card)).toBe(4_700);
      expect(card.image().log).toHaveLength(1);
    });

    it(`DEBIT torn ${moment}, then the card used elsewhere before recovery`, () => {
      const issuer = makeIssuer();
      const card = makeCard(issuer, { algorithm, effectiveBalanceFen: 5_000 });
      const psam = makePsam(issuer);
      card.tearAt({ command: 'debitForPurchase', moment });
      const torn = runPurchase(card, psam, request({}, algorithm));
      if (torn.status !== 'torn') throw new Error('expected a tear');
      expect(runPurchase(card, makePsam(issuer, OTHER_TERMINAL_ID, 900), request({ amountFen: 100 }, algorithm)).status).toBe('debited');
      const recovery = recoverPurchase(card, psam, torn.pending);
      expect(recovery.status).toBe(moment === 'after-write' ? 'debited' : 'not-debited');
    });
  }

  it('DEBIT torn before-write, then a plain (06) purchase elsewhere: the log shows the ATC went to another terminal', () => {
    const issuer = makeIssuer();
    const card = makeCard(issuer, { algorithm, effectiveBalanceFen: 5_000 });
    const psam = makePsam(issuer);
    card.tearAt({ command: 'debitForPurchase', moment: 'before-write' });
    const torn = runPurchase(card, psam, request({}, algorithm));
    if (torn.status !== 'torn') throw new Error('expected a tear');
    const elsewhere = runPurchase(card, makePsam(issuer, OTHER_TERMINAL_ID, 5), request({ transactionType: 0x06, cappRecord: null }, algorithm));
    expect(elsewhere.status).toBe('debited');
    // No 09 proof exists at that ATC; the log's record at that ATC is the other terminal's.
    expect(card.getTransactionProve(0x09, torn.pending.offlineAtc).sw).toBe(SW.recordNotFound);
    expect(recoverPurchase(card, psam, torn.pending)).toEqual({ status: 'not-debited' });
  });

  it('a tear at INITIALIZE or UPDATE CAPP DATA CACHE is a refusal: nothing was debited', () => {
    const issuer = makeIssuer();
    const card = makeCard(issuer, { algorithm, effectiveBalanceFen: 5_000 });
    const psam = makePsam(issuer);
    for (const command of ['initializeForPurchase', 'updateCappDataCache'] as const) {
      card.tearAt({ command, moment: 'after-write' });
      expect(runPurchase(card, psam, request({}, algorithm))).toMatchObject({ status: 'refused', sw: SW_NO_RESPONSE });
    }
    expect(card.image().offlineAtc).toBe(0);
    expect(runPurchase(card, psam, request({}, algorithm)).status).toBe('debited');
  });

  it('recovery fails (not a false verdict) when the proof is gone', () => {
    const issuer = makeIssuer();
    const card = makeCard(issuer, { algorithm, effectiveBalanceFen: 5_000 });
    const psam = makePsam(issuer);
    card.tearAt({ command: 'debitForPurchase', moment: 'after-write' });
    const torn = runPurchase(card, psam, request({}, algorithm));
    if (torn.status !== 'torn') throw new Error('expected a tear');
    const rebooted = makeCardFromImage(card.image()); // proofs not carried over
    expect(recoverPurchase(rebooted, psam, torn.pending)).toEqual({ status: 'failed', sw: SW.recordNotFound });
    const persisted = makeCardFromImage(card.image(), card.proofs()); // proofs persisted with the image
    expect(recoverPurchase(persisted, psam, torn.pending).status).toBe('debited');
  });

  it('recovery throws when shown another card', () => {
    const issuer = makeIssuer();
    const card = makeCard(issuer, { algorithm, effectiveBalanceFen: 5_000 });
    card.tearAt({ command: 'debitForPurchase', moment: 'after-write' });
    const torn = runPurchase(card, makePsam(issuer), request({}, algorithm));
    if (torn.status !== 'torn') throw new Error('expected a tear');
    const other = makeCard(issuer, { algorithm, cardNo: '1000754300000023' });
    expect(() => recoverPurchase(other, makePsam(issuer), torn.pending)).toThrow(/not the card/);
  });
});

// ---- local helpers --------------------------------------------------------------------------
import { CardSimulator, type CardImage } from '#core';
import { IssuerKeyService } from '#issuer/issuer-key-service';
import { makeCardImage, seededRandom, testKeySets } from './fixtures.ts';
import type { TransactionProof } from '#core';

function makeCardFromImage(image: CardImage, proofs: TransactionProof[] = []): CardSimulator {
  return new CardSimulator(image, seededRandom(99), { proofs });
}

function makeIssuerWithVersions(versions: number[]): IssuerKeyService {
  const all = testKeySets();
  return IssuerKeyService.fromKeySets(new Map(versions.map((v) => [v, all.get(v)!])));
}

function makeCardImageWithPass(issuer: IssuerKeyService, algorithm: '3des' | 'sm4'): CardImage {
  const image = makeCardImage(issuer, { algorithm, effectiveBalanceFen: 1_000 });
  image.parkPasses = [
    { year: 2025, visits: 10, lastParkId: 1, lastEntryTime: 5 },
    { year: 2026, visits: 3, lastParkId: 2, lastEntryTime: 6 },
  ];
  return image;
}
