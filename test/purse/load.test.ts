import { describe, expect, it } from 'vitest';
import { SW, bytesToHex, completeLoad, initializeLoad, loadTacData, recoverLoad, type LoadInit } from '#core';
import type { IssuerKeyService } from '#issuer/issuer-key-service';
import { ALGORITHMS, LOAD_TERMINAL_ID, TEST_CARD_NO, effective, makeCard, makeIssuer } from './fixtures.ts';
import type { CardSimulator } from '#core';

const DATE = 20260116;
const TIME = 120000;

function authorize(
  issuer: IssuerKeyService,
  _card: CardSimulator,
  init: LoadInit,
  amountFen: number,
  algorithm: '3des' | 'sm4',
  terminalId = LOAD_TERMINAL_ID,
) {
  return issuer.authorizeLoad({
    cardNo: TEST_CARD_NO,
    keyVersion: init.keyVersion,
    algorithm,
    cardRandom: init.random,
    onlineAtc: init.onlineAtc,
    balanceBeforeFen: init.balanceFen,
    amountFen,
    terminalId,
    mac1: init.mac1,
    date: DATE,
    time: TIME,
  });
}

function ready(card: CardSimulator, amountFen: number): LoadInit {
  const outcome = initializeLoad(card, amountFen, LOAD_TERMINAL_ID);
  if (outcome.status !== 'ready') throw new Error(`load refused: ${JSON.stringify(outcome)}`);
  return outcome.init;
}

describe.each(ALGORITHMS)('load protocol (%s)', (algorithm) => {
  it('card MAC1 -> issuer MAC2 -> CREDIT: balance, online ATC +1, log, TAC the issuer verifies', () => {
    const issuer = makeIssuer();
    const card = makeCard(issuer, { algorithm, effectiveBalanceFen: 1_500 });
    const init = ready(card, 5_000);
    expect(init).toMatchObject({ balanceFen: 1_500, onlineAtc: 0, keyVersion: 1, algorithmId: algorithm === 'sm4' ? 4 : 0 });
    const mac2 = authorize(issuer, card, init, 5_000, algorithm);
    expect(mac2).not.toBeNull();
    const credit = completeLoad(card, mac2!, DATE, TIME);
    expect(credit.status).toBe('credited');
    if (credit.status !== 'credited') return;
    expect(card.image()).toMatchObject({ balanceFen: 6_500, onlineAtc: 1, offlineAtc: 0 });
    expect(card.image().log[0]).toEqual({
      atc: 0,
      overdraftFen: 0,
      amountFen: 5_000,
      type: 0x02,
      terminalId: bytesToHex(LOAD_TERMINAL_ID),
      date: DATE,
      time: TIME,
    });
    const data = loadTacData({ balanceAfterFen: 6_500, onlineAtc: 0, amountFen: 5_000, terminalId: bytesToHex(LOAD_TERMINAL_ID), date: DATE, time: TIME });
    expect(issuer.verifyTac({ cardNo: TEST_CARD_NO, keyVersion: 1, algorithm, data, tac: credit.tac })).toBe(true);
    const wrong = loadTacData({ balanceAfterFen: 6_500, onlineAtc: 1, amountFen: 5_000, terminalId: bytesToHex(LOAD_TERMINAL_ID), date: DATE, time: TIME });
    expect(issuer.verifyTac({ cardNo: TEST_CARD_NO, keyVersion: 1, algorithm, data: wrong, tac: credit.tac })).toBe(false);
  });

  it('repays the overdraft first, then raises the balance', () => {
    const issuer = makeIssuer();
    const card = makeCard(issuer, { algorithm, effectiveBalanceFen: -1_200 });
    const small = ready(card, 1_000);
    expect(small.balanceFen).toBe(-1_200);
    expect(completeLoad(card, authorize(issuer, card, small, 1_000, algorithm)!, DATE, TIME).status).toBe('credited');
    expect(card.image()).toMatchObject({ balanceFen: 0, overdraftUsedFen: 200 });
    const big = ready(card, 1_000);
    expect(completeLoad(card, authorize(issuer, card, big, 1_000, algorithm)!, DATE, TIME).status).toBe('credited');
    expect(card.image()).toMatchObject({ balanceFen: 800, overdraftUsedFen: 0, onlineAtc: 2 });
  });

  it('refuses (9402) a load that would pass the 1,000-yuan cap; exactly the cap is fine', () => {
    const issuer = makeIssuer();
    const card = makeCard(issuer, { algorithm, effectiveBalanceFen: 99_000 });
    expect(initializeLoad(card, 1_001, LOAD_TERMINAL_ID)).toEqual({ status: 'refused', sw: SW.balanceCapExceeded, reason: 'balance-cap' });
    const init = ready(card, 1_000);
    expect(completeLoad(card, authorize(issuer, card, init, 1_000, algorithm)!, DATE, TIME).status).toBe('credited');
    expect(card.image().balanceFen).toBe(100_000);
  });

  it('a wrong MAC2 answers 9302 and changes nothing; a tampered MAC1 gets no MAC2 from the issuer', () => {
    const issuer = makeIssuer();
    const card = makeCard(issuer, { algorithm, effectiveBalanceFen: 0 });
    const init = ready(card, 2_000);
    const mac2 = authorize(issuer, card, init, 2_000, algorithm)!;
    const before = card.image();
    const bad = new Uint8Array(mac2);
    bad[2] ^= 0x40;
    expect(completeLoad(card, bad, DATE, TIME)).toEqual({ status: 'refused', sw: SW.macError, reason: 'mac-error' });
    expect(card.image()).toEqual(before);
    // The session ended with the failed CREDIT: the genuine MAC2 is refused now too.
    expect(completeLoad(card, mac2, DATE, TIME)).toMatchObject({ status: 'refused', sw: SW.conditionsNotSatisfied });
    const again = ready(card, 2_000);
    const tampered = { ...again, mac1: Uint8Array.from(again.mac1, (b, i) => (i === 0 ? b ^ 1 : b)) };
    expect(authorize(issuer, card, tampered, 2_000, algorithm)).toBeNull();
    expect(authorize(issuer, card, again, 2_001, algorithm)).toBeNull(); // amount changed in transit
    expect(authorize(issuer, card, { ...again, balanceFen: again.balanceFen + 1 }, 2_000, algorithm)).toBeNull();
    // A MAC2 for another date/time does not credit.
    const otherTime = authorize(issuer, card, again, 2_000, algorithm)!;
    expect(completeLoad(card, otherTime, DATE, TIME + 1).status).toBe('refused');
    expect(card.image()).toEqual(before);
  });

  it('a locked card refuses load (6A81)', () => {
    const issuer = makeIssuer();
    const card = makeCard(issuer, { algorithm, locked: true });
    expect(initializeLoad(card, 1_000, LOAD_TERMINAL_ID)).toMatchObject({ status: 'refused', reason: 'blocked' });
  });

  for (const moment of ['before-write', 'after-write'] as const) {
    it(`CREDIT torn ${moment}: the online ATC decides; never paid twice, never lost`, () => {
      const issuer = makeIssuer();
      const card = makeCard(issuer, { algorithm, effectiveBalanceFen: 300 });
      const init = ready(card, 5_000);
      const mac2 = authorize(issuer, card, init, 5_000, algorithm)!;
      card.tearAt({ command: 'creditForLoad', moment });
      expect(completeLoad(card, mac2, DATE, TIME)).toEqual({ status: 'torn' });
      const recovery = recoverLoad(card, init.onlineAtc, mac2);
      if (moment === 'after-write') {
        expect(recovery.status).toBe('credited');
        if (recovery.status !== 'credited') return;
        expect(bytesToHex(recovery.mac2)).toBe(bytesToHex(mac2));
        const data = loadTacData({ balanceAfterFen: 5_300, onlineAtc: 0, amountFen: 5_000, terminalId: bytesToHex(LOAD_TERMINAL_ID), date: DATE, time: TIME });
        expect(issuer.verifyTac({ cardNo: TEST_CARD_NO, keyVersion: 1, algorithm, data, tac: recovery.tac })).toBe(true);
        expect(card.image().onlineAtc).toBe(1);
      } else {
        expect(recovery).toEqual({ status: 'not-credited' });
        expect(card.image().onlineAtc).toBe(0);
        // The old MAC2 cannot be replayed: a new INITIALIZE has a fresh random.
        ready(card, 5_000);
        expect(completeLoad(card, mac2, DATE, TIME).status).toBe('refused');
      }
      expect(effective(card)).toBe(moment === 'after-write' ? 5_300 : 300);
    });
  }

  it('a later load at the same ATC is not mistaken for the torn one', () => {
    const issuer = makeIssuer();
    const card = makeCard(issuer, { algorithm, effectiveBalanceFen: 0 });
    const init = ready(card, 1_000);
    const mac2 = authorize(issuer, card, init, 1_000, algorithm)!;
    card.tearAt({ command: 'creditForLoad', moment: 'before-write' });
    expect(completeLoad(card, mac2, DATE, TIME).status).toBe('torn');
    const next = ready(card, 2_000);
    expect(completeLoad(card, authorize(issuer, card, next, 2_000, algorithm)!, DATE, TIME).status).toBe('credited');
    expect(recoverLoad(card, init.onlineAtc, mac2)).toEqual({ status: 'not-credited' });
    const third = ready(card, 1_000);
    expect(completeLoad(card, authorize(issuer, card, third, 1_000, algorithm)!, DATE, TIME).status).toBe('credited');
    expect(recoverLoad(card, init.onlineAtc, mac2)).toEqual({ status: 'not-credited' });
  });
});
