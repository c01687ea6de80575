/**
 * Write-ahead intent for the card write (the crash-safety core of the device).
 *
 * executeTap is one synchronous call that runs the whole purchase, so the device cannot stop
 * between PSAM MAC1 and DEBIT to persist anything. This CardPort wrapper does: it watches the
 * purchase commands, and when DEBIT FOR PURCHASE is about to reach the card it builds the
 * PendingPurchase (exactly what runPurchase keeps for a torn purchase) and makes it durable
 * first. If the process dies after the card debited but before the journal commit, the
 * intent is on disk and the card's next tap recovers it (GET TRANSACTION PROVE); if the DEBIT
 * never reached the card, recovery finds the ATC unmoved and drops it.
 */
import {
  TRANSACTION_TYPE,
  algorithmFromId,
  allowKeyOfIssuerIdText,
  cardSerialFromCardNo,
  decodeBcd,
  parseCardView,
  parsePurchaseInit,
  SW,
  type CardPort,
  type CardRecordKind,
  type CardResponse,
  type PendingPurchase,
} from '#core';

export type IntentSink = (cardNo: string, pending: PendingPurchase) => void;

interface PurchaseInFlight {
  amountFen: number;
  composite: boolean;
  init: ReturnType<typeof parsePurchaseInit>;
  cappRecord: Uint8Array | null;
}

export class IntentRecordingCard implements CardPort {
  private cardNo: string | null = null;
  /** The card's issuer as its allow-list key (issue 18): a recovery must use that issuer's purchase keys. */
  private issuerKey = 0;
  private inFlight: PurchaseInFlight | null = null;
  /** The card number of the card read this tap (null until read): the key of its intents. */
  get currentCardNo(): string | null {
    return this.cardNo;
  }

  /** The intent written during this tap (the device clears or keeps it at commit). */
  intent: PendingPurchase | null = null;

  constructor(
    private readonly card: CardPort,
    private readonly sink: IntentSink,
  ) {}

  readCardView(): CardResponse {
    const response = this.card.readCardView();
    if (response.sw === SW.success) {
      try {
        const view = parseCardView(response.data);
        this.cardNo = view.cardNo;
        this.issuerKey = allowKeyOfIssuerIdText(view.issuerId);
      } catch {
        // Unreadable: executeTap refuses the tap; no purchase will follow.
      }
    }
    return response;
  }

  getBalance(): CardResponse {
    return this.card.getBalance();
  }

  getChallenge(): CardResponse {
    return this.card.getChallenge();
  }

  readLogRecord(index: number): CardResponse {
    return this.card.readLogRecord(index);
  }

  initializeForPurchase(keyIndex: number, amountFen: number, terminalId: Uint8Array, composite: boolean): CardResponse {
    const response = this.card.initializeForPurchase(keyIndex, amountFen, terminalId, composite);
    this.inFlight = response.sw === SW.success ? { amountFen, composite, init: parsePurchaseInit(response.data), cappRecord: null } : null;
    return response;
  }

  updateCappDataCache(record: Uint8Array): CardResponse {
    if (this.inFlight !== null) this.inFlight.cappRecord = new Uint8Array(record);
    return this.card.updateCappDataCache(record);
  }

  debitForPurchase(tsn: number, date: Uint8Array, time: Uint8Array, mac1: Uint8Array): CardResponse {
    const flight = this.inFlight;
    this.inFlight = null;
    if (flight !== null && flight.init !== null && this.cardNo !== null) {
      const pending: PendingPurchase = {
        cardSerial: cardSerialFromCardNo(this.cardNo),
        issuerKey: this.issuerKey,
        keyVersion: flight.init.keyVersion,
        algorithm: algorithmFromId(flight.init.algorithmId),
        amountFen: flight.amountFen,
        transactionType: flight.composite ? TRANSACTION_TYPE.compositePurchase : TRANSACTION_TYPE.purchase,
        offlineAtc: flight.init.offlineAtc,
        balanceBeforeFen: flight.init.balanceFen,
        cardRandom: new Uint8Array(flight.init.random),
        tsn,
        date: decodeBcd(date),
        time: decodeBcd(time),
        cappRecord: flight.cappRecord,
      };
      // Durable before the card is touched. If this throws (disk full), the DEBIT is never sent.
      this.sink(this.cardNo, pending);
      this.intent = pending;
    }
    return this.card.debitForPurchase(tsn, date, time, mac1);
  }

  getTransactionProve(transactionType: number, atc: number): CardResponse {
    return this.card.getTransactionProve(transactionType, atc);
  }

  initializeForLoad(keyIndex: number, amountFen: number, terminalId: Uint8Array): CardResponse {
    return this.card.initializeForLoad(keyIndex, amountFen, terminalId);
  }

  creditForLoad(date: Uint8Array, time: Uint8Array, mac2: Uint8Array): CardResponse {
    return this.card.creditForLoad(date, time, mac2);
  }

  applicationBlock(mac: Uint8Array): CardResponse {
    return this.card.applicationBlock(mac);
  }

  applicationUnblock(mac: Uint8Array): CardResponse {
    return this.card.applicationUnblock(mac);
  }

  updateRecord(kind: CardRecordKind, record: Uint8Array, mac: Uint8Array): CardResponse {
    return this.card.updateRecord(kind, record, mac);
  }
}
