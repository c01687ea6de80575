/**
 * The counter's card-reader port (issue 15): the actions that need the card present (top-up,
 * park pass) send card commands through it. In the sandbox and the demo it is wired to the
 * sandbox card service's simulated cards (sandbox/virtual-cards.ts, which holds their keys); in
 * production it is the branch's reader behind a local bridge (out of scope here), behind the same
 * port. The port speaks card commands and answers only: no key crosses it, and the browser sees
 * none of it (the console server drives the reader).
 */
import {
  algorithmFromId,
  type CardRecordKind,
  type CardSimulator,
  parseLoadInit,
  SW,
  type TearableCommand,
  transactionDateBytes,
  transactionTimeBytes,
} from '#core';
import { ApiError } from '../http/problem.ts';
import type { VirtualCards } from '../sandbox/virtual-cards.ts';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex').toUpperCase();

/** The card's INITIALIZE FOR LOAD answer, in the fields POST /v1/loads takes. */
export interface LoadInitAnswer {
  onlineAtc: number;
  cardRandom: string;
  balanceBeforeFen: number;
  mac1: string;
  keyVersion: number;
  algorithm: '3des' | 'sm4';
}

/** A card answer: `answered` false when the card lost power (torn), `sw` its status word. */
export type ReaderAnswer<T> = { answered: boolean; sw: number; value: T | null };

export interface CardReaderPort {
  /** What the pages call the reader ("sandbox card service", "branch reader"). */
  readonly label: string;
  /** The counter terminal id the loads carry (6 bytes, hex). */
  readonly terminalId: string;
  initializeForLoad(cardNo: string, amountFen: number): Promise<ReaderAnswer<LoadInitAnswer>>;
  creditForLoad(cardNo: string, date: number, time: number, mac2: string): Promise<ReaderAnswer<string>>;
  getChallenge(cardNo: string): Promise<ReaderAnswer<string>>;
  updateRecord(cardNo: string, kind: CardRecordKind, record: string, mac: string): Promise<ReaderAnswer<true>>;
  /** The card's two park-pass slots [previous, current] (0 = empty) and the visits on each. */
  parkPasses(cardNo: string): Promise<Array<{ year: number; visits: number }>>;
  /** The card's own effective balance. */
  balanceFen(cardNo: string): Promise<number>;
}

/** Runs one command on the card with this number (one at a time per card), or throws card-not-found. */
type CardRunner = <T>(cardNo: string, command: (card: CardSimulator) => T, tearable?: TearableCommand) => Promise<T>;

/** A reader over simulated cards (core's CardSimulator), however they are held. */
function simulatedCardReader(label: string, terminalId: string, run: CardRunner): CardReaderPort {
  return {
    label,
    terminalId,
    async initializeForLoad(cardNo, amountFen) {
      const answer = await run(cardNo, (card) => card.initializeForLoad(1, amountFen, Buffer.from(terminalId, 'hex')), 'initializeForLoad');
      const init = answer.sw === SW.success ? parseLoadInit(answer.data) : null;
      return {
        answered: answer.sw !== 0,
        sw: answer.sw,
        value:
          init === null
            ? null
            : {
                onlineAtc: init.onlineAtc,
                cardRandom: hex(init.random),
                balanceBeforeFen: init.balanceFen,
                mac1: hex(init.mac1),
                keyVersion: init.keyVersion,
                algorithm: algorithmFromId(init.algorithmId),
              },
      };
    },
    async creditForLoad(cardNo, date, time, mac2) {
      const answer = await run(
        cardNo,
        (card) => card.creditForLoad(transactionDateBytes(date), transactionTimeBytes(time), Buffer.from(mac2, 'hex')),
        'creditForLoad',
      );
      return { answered: answer.sw !== 0, sw: answer.sw, value: answer.sw === SW.success ? hex(answer.data.slice(0, 4)) : null };
    },
    async getChallenge(cardNo) {
      const answer = await run(cardNo, (card) => card.getChallenge());
      return { answered: answer.sw !== 0, sw: answer.sw, value: answer.sw === SW.success ? hex(answer.data) : null };
    },
    async updateRecord(cardNo, kind, record, mac) {
      const answer = await run(cardNo, (card) => card.updateRecord(kind, Buffer.from(record, 'hex'), Buffer.from(mac, 'hex')), 'updateRecord');
      return { answered: answer.sw !== 0, sw: answer.sw, value: answer.sw === SW.success ? true : null };
    },
    async parkPasses(cardNo) {
      const image = await run(cardNo, (card) => card.image());
      return image.parkPasses.map((p) => ({ year: p.year, visits: p.visits }));
    },
    async balanceFen(cardNo) {
      const image = await run(cardNo, (card) => card.image());
      return image.balanceFen - image.overdraftUsedFen;
    },
  };
}

/** The reader wired to the sandbox card service (sandbox gateways). */
export function sandboxCardReader(cards: VirtualCards, terminalId = '0000000001A1'): CardReaderPort {
  return simulatedCardReader('sandbox', terminalId, (cardNo, command, tearable) => cards.run(cardNo, command, tearable));
}

/**
 * The reader wired to cards simulated in this process (the demo's riders' cards): `lookup`
 * finds the card on the reader by its number.
 */
export function simulatorCardReader(lookup: (cardNo: string) => CardSimulator | undefined, terminalId = '0000000001A1'): CardReaderPort {
  return simulatedCardReader('simulated cards', terminalId, async (cardNo, command) => {
    const card = lookup(cardNo);
    if (!card) throw new ApiError('card-not-found', `card ${cardNo} is not on the reader`);
    return command(card);
  });
}
