import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  CardSimulator,
  SW,
  SW_NO_RESPONSE,
  cardSerialFromCardNo,
  encodeFunctions,
  encodeParkPass,
  encodeTripRecord,
  emptyTripRecord,
  parseCardView,
  parseLogRecord,
  runPurchase,
  type CardImage,
  type CipherAlgorithm,
} from '#core';
import { ALGORITHMS, TERMINAL_ID, TEST_CARD_NO, makeCard, makeCardImage, makeIssuer, makePsam, seededRandom } from '../purse/fixtures.ts';

const SERIAL = cardSerialFromCardNo(TEST_CARD_NO);
const KEY = { cardNo: TEST_CARD_NO, keyVersion: 1 };

function challengeOf(card: CardSimulator): Uint8Array {
  const response = card.getChallenge();
  expect(response.sw).toBe(SW.success);
  expect(response.data).toHaveLength(4);
  return response.data;
}

function purchase(card: CardSimulator, algorithm: CipherAlgorithm, issuer = makeIssuer()) {
  return runPurchase(card, makePsam(issuer), {
    cardSerial: SERIAL,
    keyVersion: 1,
    algorithm,
    amountFen: 100,
    transactionType: 0x09,
    cappRecord: encodeTripRecord(emptyTripRecord()),
    date: 20260115,
    time: 80000,
  });
}

describe.each(ALGORITHMS)('card simulator: MAC-protected writes (%s)', (algorithm) => {
  it('APPLICATION BLOCK with the PSAM MAC locks; the issuer unblocks; a locked card refuses purchase', () => {
    const issuer = makeIssuer();
    const psam = makePsam(issuer);
    const card = makeCard(issuer, { algorithm, effectiveBalanceFen: 1_000 });
    const mac = psam.blockCommandMac(SERIAL, 1, algorithm, challengeOf(card));
    expect(card.applicationBlock(mac).sw).toBe(SW.success);
    expect(card.image().locked).toBe(true);
    expect(parseCardView(card.readCardView().data).locked).toBe(true);
    expect(purchase(card, algorithm, issuer)).toMatchObject({ status: 'refused', reason: 'blocked' });
    // The PSAM's block key cannot unblock: unblocking needs the issuer key.
    expect(card.applicationUnblock(psam.blockCommandMac(SERIAL, 1, algorithm, challengeOf(card))).sw).toBe(SW.macError);
    expect(card.image().locked).toBe(true);
    expect(card.applicationUnblock(issuer.unblockCommandMac({ ...KEY, algorithm }, challengeOf(card))).sw).toBe(SW.success);
    expect(card.image().locked).toBe(false);
    expect(purchase(card, algorithm, issuer).status).toBe('debited');
  });

  it('a challenge is single-use and valid for the next command only', () => {
    const issuer = makeIssuer();
    const psam = makePsam(issuer);
    const card = makeCard(issuer, { algorithm });
    const challenge = challengeOf(card);
    const mac = psam.blockCommandMac(SERIAL, 1, algorithm, challenge);
    expect(card.readCardView().sw).toBe(SW.success); // any command in between spends it
    expect(card.applicationBlock(mac).sw).toBe(SW.conditionsNotSatisfied);
    expect(card.image().locked).toBe(false);
    expect(card.applicationBlock(mac).sw).toBe(SW.conditionsNotSatisfied); // no challenge at all
    const fresh = challengeOf(card);
    expect(card.applicationBlock(mac).sw).toBe(SW.macError); // MAC of the old challenge
    expect(card.applicationBlock(psam.blockCommandMac(SERIAL, 1, algorithm, fresh)).sw).toBe(SW.conditionsNotSatisfied); // spent by the failure
    expect(card.image().locked).toBe(false);
    const replayChallenge = challengeOf(card);
    const good = psam.blockCommandMac(SERIAL, 1, algorithm, replayChallenge);
    expect(card.applicationBlock(good).sw).toBe(SW.success);
    expect(card.applicationBlock(good).sw).toBe(SW.conditionsNotSatisfied); // replay
  });

  it('issuer-authorised record writes: park passes and functions; a wrong MAC changes nothing', () => {
    const issuer = makeIssuer();
    const card = makeCard(issuer, { algorithm });
    const pass = encodeParkPass({ year: 2026, visits: 0, lastParkId: 0, lastEntryTime: 0 });
    const before = card.image();
    expect(card.updateRecord('park-pass-current', pass, makePsam(issuer).blockCommandMac(SERIAL, 1, algorithm, challengeOf(card))).sw).toBe(SW.macError);
    expect(card.image()).toEqual(before);
    // The MAC covers the record kind: a MAC for the previous slot does not write the current one.
    const c1 = challengeOf(card);
    expect(card.updateRecord('park-pass-current', pass, issuer.recordWriteMac({ ...KEY, algorithm }, c1, 'park-pass-previous', pass)).sw).toBe(SW.macError);
    const c2 = challengeOf(card);
    expect(card.updateRecord('park-pass-current', pass, issuer.recordWriteMac({ ...KEY, algorithm }, c2, 'park-pass-current', pass)).sw).toBe(SW.success);
    expect(card.image().parkPasses[1].year).toBe(2026);
    const functions = encodeFunctions({ transitOpened: true, suburbanOpened: true });
    const c3 = challengeOf(card);
    expect(card.updateRecord('functions', functions, issuer.recordWriteMac({ ...KEY, algorithm }, c3, 'functions', functions)).sw).toBe(SW.success);
    expect(card.image().suburbanOpened).toBe(true);
    // Malformed record: 6700, nothing written.
    const c4 = challengeOf(card);
    const garbage = Uint8Array.of(0x02, 0x01, 0xff);
    expect(card.updateRecord('park-pass-previous', garbage, issuer.recordWriteMac({ ...KEY, algorithm }, c4, 'park-pass-previous', garbage)).sw).toBe(
      SW.wrongLength,
    );
    expect(card.image().parkPasses[0].year).toBe(0);
  });

  const writes = [
    { command: 'applicationBlock', field: (img: CardImage) => img.locked },
    { command: 'updateRecord', field: (img: CardImage) => img.parkPasses[0].year },
  ] as const;
  for (const { command, field } of writes) {
    for (const moment of ['before-write', 'after-write'] as const) {
      it(`${command} torn ${moment}: no answer, ${moment === 'after-write' ? 'written' : 'nothing written'}`, () => {
        const issuer = makeIssuer();
        const card = makeCard(issuer, { algorithm });
        const before = field(card.image());
        card.tearAt({ command, moment });
        const challenge = challengeOf(card);
        const pass = encodeParkPass({ year: 2025, visits: 1, lastParkId: 2, lastEntryTime: 3 });
        const response =
          command === 'applicationBlock'
            ? card.applicationBlock(makePsam(issuer).blockCommandMac(SERIAL, 1, algorithm, challenge))
            : card.updateRecord('park-pass-previous', pass, issuer.recordWriteMac({ ...KEY, algorithm }, challenge, 'park-pass-previous', pass));
        expect(response).toEqual({ sw: SW_NO_RESPONSE, data: new Uint8Array(0) });
        expect(field(card.image()) !== before).toBe(moment === 'after-write');
      });
    }
  }

  for (const moment of ['before-write', 'after-write'] as const) {
    it(`applicationUnblock torn ${moment}`, () => {
      const issuer = makeIssuer();
      const card = makeCard(issuer, { algorithm, locked: true });
      card.tearAt({ command: 'applicationUnblock', moment });
      const response = card.applicationUnblock(issuer.unblockCommandMac({ ...KEY, algorithm }, challengeOf(card)));
      expect(response.sw).toBe(SW_NO_RESPONSE);
      expect(card.image().locked).toBe(moment === 'before-write');
    });
  }
});

describe('card simulator: reads and bookkeeping', () => {
  it('READ RECORD: 23-byte records, most recent first; bounds answer 6A86 / 6A83', () => {
    const issuer = makeIssuer();
    const card = makeCard(issuer, { effectiveBalanceFen: 5_000 });
    for (let i = 0; i < 12; i++) expect(purchase(card, '3des', issuer).status).toBe('debited');
    const first = card.readLogRecord(1);
    expect(first.data).toHaveLength(23);
    expect(parseLogRecord(first.data).atc).toBe(11);
    expect(parseLogRecord(card.readLogRecord(10).data).atc).toBe(2);
    expect(card.readLogRecord(11).sw).toBe(SW.wrongParameters);
    expect(card.readLogRecord(0).sw).toBe(SW.wrongParameters);
    expect(makeCard(issuer).readLogRecord(1).sw).toBe(SW.recordNotFound);
    expect(card.image().log).toHaveLength(10);
  });

  it('GET TRANSACTION PROVE: unknown type/ATC answers 6A83; the last ones are kept', () => {
    const issuer = makeIssuer();
    const card = makeCard(issuer, { effectiveBalanceFen: 5_000 });
    expect(card.getTransactionProve(0x09, 0).sw).toBe(SW.recordNotFound);
    const outcome = purchase(card, '3des', issuer);
    if (outcome.status !== 'debited') throw new Error('expected a debit');
    const prove = card.getTransactionProve(0x09, 0);
    expect(prove.sw).toBe(SW.success);
    expect(Buffer.from(prove.data.slice(4, 8)).equals(Buffer.from(outcome.tac))).toBe(true); // MAC || TAC
    expect(card.getTransactionProve(0x06, 0).sw).toBe(SW.recordNotFound);
    expect(card.getTransactionProve(0x09, 1).sw).toBe(SW.recordNotFound);
  });

  it('GET BALANCE answers the effective balance as a signed 32-bit value', () => {
    const issuer = makeIssuer();
    expect(Buffer.from(makeCard(issuer, { effectiveBalanceFen: -150 }).getBalance().data).readInt32BE(0)).toBe(-150);
    expect(Buffer.from(makeCard(issuer, { effectiveBalanceFen: 4_200 }).getBalance().data).readInt32BE(0)).toBe(4_200);
  });

  it('image() is a deep copy; the constructor copies its input and validates it', () => {
    const issuer = makeIssuer();
    const image = makeCardImage(issuer, { effectiveBalanceFen: 100 });
    const card = new CardSimulator(image, seededRandom());
    image.balanceFen = 99;
    image.keys.purchase.fill(0);
    const copy = card.image();
    copy.log.push({ atc: 1, overdraftFen: 0, amountFen: 1, type: 0x06, terminalId: '000000000000', date: 20260101, time: 0 });
    copy.keys.tac.fill(0);
    expect(card.image().balanceFen).toBe(100);
    expect(card.image().log).toHaveLength(0);
    expect(purchase(card, '3des', issuer).status).toBe('debited');
    expect(() => new CardSimulator({ ...image, balanceFen: 100_001 }, seededRandom())).toThrow(/cap/);
  });

  it('a random source that does not give 4 bytes is a programmer error', () => {
    const card = new CardSimulator(makeCardImage(makeIssuer()), () => new Uint8Array(3));
    expect(() => card.getChallenge()).toThrow(/4 bytes/);
  });

  it('shows no keys in JSON or inspect', () => {
    const image = makeCardImage(makeIssuer());
    const card = new CardSimulator(image, seededRandom());
    const keyHex = Buffer.from(image.keys.tac).toString('hex');
    expect(JSON.stringify(card)).not.toContain(keyHex);
    expect(inspect(card, { showHidden: true, depth: 5 })).not.toMatch(/keys|tac/i);
  });

  it('malformed command data answers 6700', () => {
    const card = makeCard(makeIssuer(), { effectiveBalanceFen: 1_000 });
    expect(card.initializeForPurchase(1, -1, TERMINAL_ID, true).sw).toBe(SW.wrongLength);
    expect(card.initializeForPurchase(1, 100, new Uint8Array(5), true).sw).toBe(SW.wrongLength);
    expect(card.initializeForPurchase(1, 100, TERMINAL_ID, true).sw).toBe(SW.success);
    expect(card.debitForPurchase(1, Uint8Array.of(0x20, 0x26, 0x13, 0x01), Uint8Array.of(0, 0, 0), new Uint8Array(4)).sw).toBe(SW.wrongLength);
    expect(card.initializeForLoad(1, 0, TERMINAL_ID).sw).toBe(SW.wrongLength);
  });
});
