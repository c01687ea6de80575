/**
 * Model-based properties of the purse under random command sequences with random tearing:
 * the card always equals a simple model that applies each debit/credit exactly once when (and
 * only when) the protocol or its recovery says it happened. Hence: no double debit, no lost
 * debit, the ATCs move exactly once per successful debit/credit and never on a failure, the
 * balance never exceeds the cap and the effective balance never goes below -overdraftLimit.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  LIMITS,
  SW,
  cardSerialFromCardNo,
  completeLoad,
  emptyTripRecord,
  encodeTripRecord,
  initializeLoad,
  recoverLoad,
  recoverPurchase,
  runPurchase,
  transactionDateBytes,
  transactionTimeBytes,
  validateCardImage,
  type CipherAlgorithm,
} from '#core';
import { LOAD_TERMINAL_ID, TEST_CARD_NO, TERMINAL_ID, makeCard, makeIssuer, makePsam } from './fixtures.ts';

type Tear = null | 'before-write' | 'after-write';
type Op =
  | { kind: 'purchase'; amountFen: number; composite: boolean; tear: Tear }
  | { kind: 'load'; amountFen: number; tear: Tear }
  | { kind: 'bad-mac1'; amountFen: number; flip: number }
  | { kind: 'block'; tear: Tear }
  | { kind: 'unblock'; tear: Tear }
  | { kind: 'debit-without-init' };

const tear = fc.constantFrom<Tear>(null, null, 'before-write', 'after-write');
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('purchase' as const),
      amountFen: fc.oneof(fc.nat({ max: 600 }), fc.nat({ max: 30_000 })),
      composite: fc.boolean(),
      tear,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('load' as const),
      amountFen: fc.oneof(fc.integer({ min: 1, max: 5_000 }), fc.integer({ min: 1, max: 120_000 })),
      tear,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('bad-mac1' as const), amountFen: fc.nat({ max: 500 }), flip: fc.nat({ max: 31 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('block' as const), tear }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('unblock' as const), tear }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'debit-without-init' as const }) },
);

const DATE = 20260120;
const TIME = 101010;
const SERIAL = cardSerialFromCardNo(TEST_CARD_NO);

function runSequence(algorithm: CipherAlgorithm, startFen: number, ops: Op[]): void {
  const issuer = makeIssuer();
  const psam = makePsam(issuer);
  const card = makeCard(issuer, { algorithm, effectiveBalanceFen: startFen });
  const limit = card.image().overdraftLimitFen;
  const model = { effective: startFen, offlineAtc: 0, onlineAtc: 0, locked: false };
  const trip = encodeTripRecord(emptyTripRecord());

  for (const step of ops) {
    switch (step.kind) {
      case 'purchase': {
        if (step.tear !== null) card.tearAt({ command: 'debitForPurchase', moment: step.tear });
        const outcome = runPurchase(card, psam, {
          cardSerial: SERIAL,
          keyVersion: 1,
          algorithm,
          amountFen: step.amountFen,
          transactionType: step.composite ? 0x09 : 0x06,
          cappRecord: step.composite ? trip : null,
          date: DATE,
          time: TIME,
        });
        const allowed = !model.locked && model.effective - step.amountFen >= -limit;
        if (!allowed) {
          expect(outcome.status).toBe('refused');
          card.tearAt(null);
          break;
        }
        let debited: boolean;
        if (outcome.status === 'torn') {
          expect(step.tear).not.toBeNull();
          const recovery = recoverPurchase(card, psam, outcome.pending);
          expect(recovery.status).toBe(step.tear === 'after-write' ? 'debited' : 'not-debited');
          debited = recovery.status === 'debited';
        } else {
          expect(step.tear).toBeNull();
          expect(outcome.status).toBe('debited');
          debited = true;
        }
        if (debited) {
          model.effective -= step.amountFen;
          model.offlineAtc += 1;
        }
        break;
      }
      case 'load': {
        const init = initializeLoad(card, step.amountFen, LOAD_TERMINAL_ID);
        const allowed = !model.locked && model.effective + step.amountFen <= LIMITS.balanceCapFen;
        if (!allowed) {
          expect(init.status).toBe('refused');
          break;
        }
        if (init.status !== 'ready') throw new Error('load INIT refused unexpectedly');
        const mac2 = issuer.authorizeLoad({
          cardNo: TEST_CARD_NO,
          keyVersion: init.init.keyVersion,
          algorithm,
          cardRandom: init.init.random,
          onlineAtc: init.init.onlineAtc,
          balanceBeforeFen: init.init.balanceFen,
          amountFen: step.amountFen,
          terminalId: LOAD_TERMINAL_ID,
          mac1: init.init.mac1,
          date: DATE,
          time: TIME,
        });
        if (mac2 === null) {
          // The issuer refuses single loads above LIMITS.maxLoadFen; the card is untouched.
          expect(step.amountFen).toBeGreaterThan(LIMITS.maxLoadFen);
          break;
        }
        if (step.tear !== null) card.tearAt({ command: 'creditForLoad', moment: step.tear });
        const credit = completeLoad(card, mac2, DATE, TIME);
        let credited: boolean;
        if (credit.status === 'torn') {
          const recovery = recoverLoad(card, init.init.onlineAtc, mac2);
          expect(recovery.status).toBe(step.tear === 'after-write' ? 'credited' : 'not-credited');
          credited = recovery.status === 'credited';
        } else {
          expect(credit.status).toBe('credited');
          credited = true;
        }
        if (credited) {
          model.effective += step.amountFen;
          model.onlineAtc += 1;
        }
        break;
      }
      case 'bad-mac1': {
        const init = card.initializeForPurchase(1, step.amountFen, TERMINAL_ID, false);
        if (init.sw !== SW.success) break;
        const { tsn, mac1 } = psam.beginPurchase({
          cardSerial: SERIAL,
          keyVersion: 1,
          algorithm,
          cardRandom: init.data.slice(11, 15),
          offlineAtc: model.offlineAtc,
          amountFen: step.amountFen,
          transactionType: 0x06,
          date: transactionDateBytes(DATE),
          time: transactionTimeBytes(TIME),
        });
        const bad = new Uint8Array(mac1);
        bad[step.flip >> 3] ^= 1 << (step.flip & 7);
        expect(card.debitForPurchase(tsn, transactionDateBytes(DATE), transactionTimeBytes(TIME), bad).sw).toBe(SW.macError);
        break;
      }
      case 'block':
      case 'unblock': {
        if (step.tear !== null) card.tearAt({ command: step.kind === 'block' ? 'applicationBlock' : 'applicationUnblock', moment: step.tear });
        const challenge = card.getChallenge().data;
        const response =
          step.kind === 'block'
            ? card.applicationBlock(psam.blockCommandMac(SERIAL, 1, algorithm, challenge))
            : card.applicationUnblock(issuer.unblockCommandMac({ cardNo: TEST_CARD_NO, keyVersion: 1, algorithm }, challenge));
        if (step.tear !== 'before-write') model.locked = step.kind === 'block';
        expect(response.sw).toBe(step.tear === null ? SW.success : 0);
        break;
      }
      case 'debit-without-init': {
        expect(card.debitForPurchase(1, transactionDateBytes(DATE), transactionTimeBytes(TIME), new Uint8Array(4)).sw).toBe(SW.conditionsNotSatisfied);
        break;
      }
    }
    const image = card.image();
    validateCardImage(image); // cap, overdraft limit, never both balance and overdraft
    expect(image.balanceFen - image.overdraftUsedFen).toBe(model.effective);
    expect(image.balanceFen).toBeLessThanOrEqual(LIMITS.balanceCapFen);
    expect(image.balanceFen - image.overdraftUsedFen).toBeGreaterThanOrEqual(-limit);
    expect(image.offlineAtc).toBe(model.offlineAtc);
    expect(image.onlineAtc).toBe(model.onlineAtc);
    expect(image.locked).toBe(model.locked);
  }
}

describe('purse properties under random command sequences with tearing', () => {
  for (const algorithm of ['3des', 'sm4'] as const) {
    it(`card state always equals the exactly-once model (${algorithm})`, () => {
      fc.assert(
        fc.property(fc.integer({ min: -2_000, max: LIMITS.balanceCapFen }), fc.array(op, { maxLength: 30 }), (start, ops) => {
          runSequence(algorithm, start, ops);
        }),
        { numRuns: 80 },
      );
    });
  }
});
