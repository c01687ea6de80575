/**
 * A card that answers from a recording: how the validator benches exclude the card simulator.
 *
 * Record: run a tap once against a real CardSimulator wrapped in a RecordingCard; it keeps every
 * command's answer (and the MAC1 the PSAM sent) in call order. Replay: a ReplayCard answers the
 * same commands with the stored answers and does no cryptography, so timing a tap against it
 * measures the validator side only (parse, decide, fare, blacklist, PSAM MAC1, MAC2 check,
 * journal). The answers stay genuine: the recorded MAC2 verifies only if the replaying PSAM
 * derives the same session key, i.e. runs at the same TSN as the recording PSAM did — the
 * bench replays card i with TSN start + i (see ReplayDeck). A replay that drifts (another
 * command order, another MAC1) is counted in `mismatches` and the bench's checksum fails.
 */
import type { CardPort, CardRecordKind, CardResponse } from '#core';

type Method =
  | 'readCardView'
  | 'getBalance'
  | 'getChallenge'
  | 'readLogRecord'
  | 'initializeForPurchase'
  | 'updateCappDataCache'
  | 'debitForPurchase'
  | 'getTransactionProve'
  | 'initializeForLoad'
  | 'creditForLoad'
  | 'applicationBlock'
  | 'applicationUnblock'
  | 'updateRecord';

export interface CardRecording {
  methods: Method[];
  responses: CardResponse[];
  /** MAC1 the PSAM sent in DEBIT FOR PURCHASE (null: no debit in this tap). */
  mac1: Uint8Array | null;
}

const copy = (r: CardResponse): CardResponse => ({ sw: r.sw, data: new Uint8Array(r.data) });

/** Wraps a real card and records its answers in order. */
export class RecordingCard implements CardPort {
  readonly recording: CardRecording = { methods: [], responses: [], mac1: null };

  constructor(private readonly card: CardPort) {}

  private keep(method: Method, response: CardResponse): CardResponse {
    this.recording.methods.push(method);
    this.recording.responses.push(copy(response));
    return response;
  }

  readCardView(): CardResponse {
    return this.keep('readCardView', this.card.readCardView());
  }
  getBalance(): CardResponse {
    return this.keep('getBalance', this.card.getBalance());
  }
  getChallenge(): CardResponse {
    return this.keep('getChallenge', this.card.getChallenge());
  }
  readLogRecord(index: number): CardResponse {
    return this.keep('readLogRecord', this.card.readLogRecord(index));
  }
  initializeForPurchase(keyIndex: number, amountFen: number, terminalId: Uint8Array, composite: boolean): CardResponse {
    return this.keep('initializeForPurchase', this.card.initializeForPurchase(keyIndex, amountFen, terminalId, composite));
  }
  updateCappDataCache(record: Uint8Array): CardResponse {
    return this.keep('updateCappDataCache', this.card.updateCappDataCache(record));
  }
  debitForPurchase(tsn: number, date: Uint8Array, time: Uint8Array, mac1: Uint8Array): CardResponse {
    this.recording.mac1 = new Uint8Array(mac1);
    return this.keep('debitForPurchase', this.card.debitForPurchase(tsn, date, time, mac1));
  }
  getTransactionProve(transactionType: number, atc: number): CardResponse {
    return this.keep('getTransactionProve', this.card.getTransactionProve(transactionType, atc));
  }
  initializeForLoad(keyIndex: number, amountFen: number, terminalId: Uint8Array): CardResponse {
    return this.keep('initializeForLoad', this.card.initializeForLoad(keyIndex, amountFen, terminalId));
  }
  creditForLoad(date: Uint8Array, time: Uint8Array, mac2: Uint8Array): CardResponse {
    return this.keep('creditForLoad', this.card.creditForLoad(date, time, mac2));
  }
  applicationBlock(mac: Uint8Array): CardResponse {
    return this.keep('applicationBlock', this.card.applicationBlock(mac));
  }
  applicationUnblock(mac: Uint8Array): CardResponse {
    return this.keep('applicationUnblock', this.card.applicationUnblock(mac));
  }
  updateRecord(kind: CardRecordKind, record: Uint8Array, mac: Uint8Array): CardResponse {
    return this.keep('updateRecord', this.card.updateRecord(kind, record, mac));
  }
}

const NO_ANSWER: CardResponse = Object.freeze({ sw: 0x6f00, data: new Uint8Array(0) }) as CardResponse;

/** Answers from a recording; rewind() before each replay. No allocation per command. */
export class ReplayCard implements CardPort {
  private index = 0;
  /** Commands that did not match the recording (wrong order, another MAC1): must stay 0. */
  mismatches = 0;

  constructor(readonly recording: CardRecording) {}

  rewind(): this {
    this.index = 0;
    return this;
  }

  private next(method: Method): CardResponse {
    const i = this.index++;
    if (this.recording.methods[i] !== method) {
      this.mismatches++;
      return NO_ANSWER;
    }
    return this.recording.responses[i];
  }

  readCardView(): CardResponse {
    return this.next('readCardView');
  }
  getBalance(): CardResponse {
    return this.next('getBalance');
  }
  getChallenge(): CardResponse {
    return this.next('getChallenge');
  }
  readLogRecord(): CardResponse {
    return this.next('readLogRecord');
  }
  initializeForPurchase(): CardResponse {
    return this.next('initializeForPurchase');
  }
  updateCappDataCache(): CardResponse {
    return this.next('updateCappDataCache');
  }
  debitForPurchase(_tsn: number, _date: Uint8Array, _time: Uint8Array, mac1: Uint8Array): CardResponse {
    const expected = this.recording.mac1;
    // The card would refuse another MAC1: four byte compares, not the card's cryptography.
    if (expected === null || mac1[0] !== expected[0] || mac1[1] !== expected[1] || mac1[2] !== expected[2] || mac1[3] !== expected[3]) this.mismatches++;
    return this.next('debitForPurchase');
  }
  getTransactionProve(): CardResponse {
    return this.next('getTransactionProve');
  }
  initializeForLoad(): CardResponse {
    return this.next('initializeForLoad');
  }
  creditForLoad(): CardResponse {
    return this.next('creditForLoad');
  }
  applicationBlock(): CardResponse {
    return this.next('applicationBlock');
  }
  applicationUnblock(): CardResponse {
    return this.next('applicationUnblock');
  }
  updateRecord(): CardResponse {
    return this.next('updateRecord');
  }
}
