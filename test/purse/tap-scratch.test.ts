/**
 * The tap path's scratch buffers (issue 19, part 3) compute what the allocating forms compute:
 * bytesToHex from its pair table equals node's hex, the `...Into` date and time writers equal
 * the allocating ones over the same buffer reused, the PSAM's cached terminal id hex equals the
 * id's hex, and purchases run back to back (runPurchase reuses its date, time and MAC2 buffers)
 * each debit exactly their own amount with a TAC that verifies and a MAC2 that is checked.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bytesToHex,
  runPurchase,
  TRANSACTION_TYPE,
  transactionDateBytes,
  transactionDateBytesInto,
  transactionTimeBytes,
  transactionTimeBytesInto,
  cardSerialFromCardNo,
  type CardPort,
  type CardResponse,
} from '#core';
import { effective, makeCard, makeIssuer, makePsam, TERMINAL_ID } from './fixtures.ts';

describe('tap-path scratch buffers', () => {
  it('bytesToHex equals node hex, upper case, for any bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => bytesToHex(bytes) === Buffer.from(bytes).toString('hex').toUpperCase()));
  });

  it('date and time written into one reused buffer equal the allocating writers', () => {
    const date = new Uint8Array(4);
    const time = new Uint8Array(3);
    const dateArb = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T00:00:00Z'), noInvalidDate: true });
    fc.assert(
      fc.property(dateArb, fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 59 }), (d, h, m, sec) => {
        const ymd = d.getUTCFullYear() * 10_000 + (d.getUTCMonth() + 1) * 100 + d.getUTCDate();
        const hms = h * 10_000 + m * 100 + sec;
        expect(transactionDateBytesInto(ymd, date)).toBe(date);
        expect([...date]).toEqual([...transactionDateBytes(ymd)]);
        expect([...transactionTimeBytesInto(hms, time)]).toEqual([...transactionTimeBytes(hms)]);
      }),
    );
    expect(() => transactionDateBytesInto(20261332, date)).toThrow();
    expect(() => transactionDateBytes(20261332)).toThrow();
  });

  it("the PSAM's terminal id hex is its id's hex", () => {
    const psam = makePsam(makeIssuer());
    expect(psam.terminalIdHex).toBe(bytesToHex(TERMINAL_ID));
    expect(psam.terminalIdHex).toBe(bytesToHex(psam.terminalId));
  });

  it('purchases back to back each debit their own amount, at their own date and time, with a genuine MAC2 check', () => {
    const issuer = makeIssuer();
    const psam = makePsam(issuer);
    fc.assert(
      fc.property(
        fc.array(fc.record({ amount: fc.integer({ min: 1, max: 500 }), date: fc.integer({ min: 1, max: 28 }), time: fc.integer({ min: 0, max: 235959 }) }), {
          minLength: 2,
          maxLength: 6,
        }),
        fc.boolean(),
        (purchases, forgeOne) => {
          const card = makeCard(issuer, { effectiveBalanceFen: 10_000 });
          const image = card.image();
          const serial = cardSerialFromCardNo(image.cardNo);
          let balance = effective(card);
          purchases.forEach((p, i) => {
            const time = Math.min(235959, Math.floor(p.time / 10_000) * 10_000 + (Math.floor(p.time / 100) % 60) * 100 + (p.time % 60));
            const forged = forgeOne && i === 1;
            // A card whose MAC2 is flipped on one purchase: the PSAM must see that very MAC2.
            const port: CardPort = forged ? flipMac2(card) : card;
            const outcome = runPurchase(port, psam, {
              cardSerial: serial,
              keyVersion: image.keyVersion,
              algorithm: image.algorithm,
              amountFen: p.amount,
              transactionType: TRANSACTION_TYPE.purchase,
              cappRecord: null,
              date: 20261100 + p.date,
              time,
            });
            expect(outcome.status).toBe(forged ? 'mac2-invalid' : 'debited');
            balance -= p.amount;
            expect(effective(card)).toBe(balance);
            if (outcome.status === 'debited' || outcome.status === 'mac2-invalid') {
              expect(outcome.pending.date).toBe(20261100 + p.date);
              expect(outcome.pending.time).toBe(time);
              expect(outcome.balanceAfterFen).toBe(balance);
            }
          });
        },
      ),
      { numRuns: 25 },
    );
  });
});

/** The card with its DEBIT answer's MAC2 altered (the TAC and the debit itself untouched). */
function flipMac2(card: CardPort): CardPort {
  return new Proxy(card, {
    get(target, prop, receiver) {
      if (prop === 'debitForPurchase') {
        return (...args: Parameters<CardPort['debitForPurchase']>): CardResponse => {
          const answer = target.debitForPurchase(...args);
          const data = new Uint8Array(answer.data);
          data[7] ^= 0x01;
          return { sw: answer.sw, data };
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
