/**
 * The counter's card-reader port (issue 15): the actions that need the card present (top-up,
 * park pass, unblock, opening suburban rail, reading the log, writing a replacement card) send card commands through it. In the sandbox and the demo it is wired to the
 * sandbox card service's simulated cards (sandbox/virtual-cards.ts, which holds their keys); in
 * production it is the branch's reader behind a local bridge (out of scope here), behind the same
 * port. The port speaks card commands and answers only: no key crosses it, and the browser sees
 * none of it (the console server drives the reader).
 */
import {
  algorithmFromId,
  type CardImage,
  type CardRecordKind,
  type CardSimulator,
  parseCardImage,
  parseCardView,
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
  /** Whether a validator blocked the application (APPLICATION BLOCK of a blacklisted card). */
  locked(cardNo: string): Promise<boolean>;
  /** APPLICATION UNBLOCK with the issuer's command MAC over the card's last challenge. */
  applicationUnblock(cardNo: string, mac: string): Promise<ReaderAnswer<true>>;
  /** READ of the card's online ATC and transaction log: the evidence POST /v1/cards/{cardNo}/log-evidence takes. */
  readLoadEvidence(cardNo: string): Promise<ReaderAnswer<CardLoadEvidence>>;
  /**
   * Writes a new card (a replacement) from the image the issuer answered. The sandbox card
   * service personalises its cards itself from the issuer's record of them, so there it only
   * checks that the blank now answers as that card.
   */
  personalise(cardNo: string, imageHex: string): Promise<ReaderAnswer<true>>;
}

/** The card's online ATC and its log, as read at the counter. */
export interface CardLoadEvidence {
  onlineAtc: number;
  log: Array<{ atc: number; amountFen: number; type: number }>;
}

/** Runs one command on the card with this number (one at a time per card), or throws card-not-found. */
type CardRunner = <T>(cardNo: string, command: (card: CardSimulator) => T, tearable?: TearableCommand) => Promise<T>;

/** A reader over simulated cards (core's CardSimulator), however they are held. */
function simulatedCardReader(
  label: string,
  terminalId: string,
  run: CardRunner,
  personalise?: (cardNo: string, imageHex: string) => Promise<ReaderAnswer<true>>,
): CardReaderPort {
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
    async locked(cardNo) {
      const image = await run(cardNo, (card) => card.image());
      return image.locked;
    },
    async applicationUnblock(cardNo, mac) {
      const answer = await run(cardNo, (card) => card.applicationUnblock(Buffer.from(mac, 'hex')));
      return { answered: answer.sw !== 0, sw: answer.sw, value: answer.sw === SW.success ? true : null };
    },
    async readLoadEvidence(cardNo) {
      const answer = await run(cardNo, (card) => card.readCardView());
      if (answer.sw !== SW.success) return { answered: answer.sw !== 0, sw: answer.sw, value: null };
      const view = parseCardView(answer.data);
      return {
        answered: true,
        sw: answer.sw,
        value: { onlineAtc: view.onlineAtc, log: view.log.map((entry) => ({ atc: entry.atc, amountFen: entry.amountFen, type: entry.type })) },
      };
    },
    async personalise(cardNo, imageHex) {
      if (personalise) return personalise(cardNo, imageHex);
      const written = parseCardImage(Buffer.from(imageHex, 'hex'));
      if (written.cardNo !== cardNo) return { answered: true, sw: SW.wrongParameters, value: null };
      // The card service personalises the card from the issuer's record the first time it is addressed.
      const image = await run(cardNo, (card) => card.image());
      const same = image.cardNo === cardNo;
      return { answered: true, sw: same ? SW.success : SW.wrongParameters, value: same ? true : null };
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
export function simulatorCardReader(
  lookup: (cardNo: string) => CardSimulator | undefined,
  terminalId = '0000000001A1',
  /** Puts a new card (a replacement's image) on the reader; without it a replacement's card is not written here. */
  issue?: (cardNo: string, image: CardImage) => void,
): CardReaderPort {
  return simulatedCardReader(
    'simulated cards',
    terminalId,
    async (cardNo, command) => {
      const card = lookup(cardNo);
      if (!card) throw new ApiError('card-not-found', `card ${cardNo} is not on the reader`);
      return command(card);
    },
    async (cardNo, imageHex) => {
      const image = parseCardImage(Buffer.from(imageHex, 'hex'));
      if (image.cardNo !== cardNo || !issue) return { answered: true, sw: SW.conditionsNotSatisfied, value: null };
      issue(cardNo, image);
      return { answered: true, sw: SW.success, value: true };
    },
  );
}
