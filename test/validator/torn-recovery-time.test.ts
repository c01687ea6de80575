/**
 * A torn debit recovered at a later tap keeps the time of the original transaction (issue 17):
 * the journal record's occurredAtMs is when the card was debited (the date and time the DEBIT
 * carried, which the card's log and the TAC hold), and recoveredAtMs beside it is when the
 * recovering tap proved it. Both survive the device's journal storage and the sync's msgpack.
 */
import { unpack, pack } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TAP_RESULT, epochMsFromBeijing } from '#core';
import type { Device } from '#validator/device';
import type { CardWallet } from '#validator/rider/card-wallet';
import { MORNING_MS, closeSubwayGates, issueCards, openSubwayGates, type SubwayGates } from './device-fixtures.ts';

let tmp: SubwayGates['tmp'];
let wallet: CardWallet;
let entry: Device;
let exit: Device;
const MIN = 60_000;

beforeEach(() => {
  ({ tmp, wallet, entry, exit } = openSubwayGates());
});
afterEach(() => closeSubwayGates({ tmp, wallet, entry, exit }));

describe('a recovered torn debit is dated at the original transaction', () => {
  for (const laterMin of [1, 6 * 60]) {
    it(`recovered ${laterMin} min later: occurredAtMs = the debit's time, recoveredAtMs = the recovering tap`, () => {
      const [card] = issueCards(wallet, 1, 5_000);
      entry.tap(wallet.present(card), MORNING_MS);
      const tornAtMs = MORNING_MS + 30 * MIN + 1_234;
      const torn = wallet.present(card);
      torn.simulator.tearAt({ command: 'debitForPurchase', moment: 'after-write' });
      expect(exit.tap(torn, tornAtMs).resultCode).toBe(TAP_RESULT.CARD_REMOVED);
      const recoveringAtMs = tornAtMs + laterMin * MIN;
      const again = exit.tap(wallet.present(card), recoveringAtMs);
      expect(again.recovered).toBe(true);

      const recovered = exit.journal.all().find((r) => r.recovered);
      expect(recovered).toBeDefined();
      // The card's log holds the original debit's date and time: the record carries that instant (to the second).
      const log = wallet.image(card).log.find((l) => l.atc === recovered!.offlineAtc);
      expect(log).toMatchObject({ date: recovered!.date, time: recovered!.time });
      expect(recovered!.occurredAtMs).toBe(epochMsFromBeijing(recovered!.date, recovered!.time));
      expect(recovered!.occurredAtMs).toBe(Math.floor(tornAtMs / 1000) * 1000);
      expect(recovered!.recoveredAtMs).toBe(recoveringAtMs);
      // What sync sends: the optional field travels in the msgpack record.
      expect((unpack(pack(recovered)) as typeof recovered)!.recoveredAtMs).toBe(recoveringAtMs);
      // A record that was not recovered has no recoveredAtMs at all (the protocol field is optional).
      for (const r of exit.journal.all().filter((x) => !x.recovered)) expect('recoveredAtMs' in r).toBe(false);
    });
  }
});
