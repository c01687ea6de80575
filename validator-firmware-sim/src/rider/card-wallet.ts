/**
 * The riders' cards, simulated: each card's image (and its kept transaction proofs) lives in
 * its own SQLite file, apart from any device. A real card keeps its own state in its chip;
 * here the wallet writes the image after every command that changes the card, so a device
 * killed between the card's write and its own journal commit leaves exactly the torn
 * transaction a real gate would face.
 *
 * The wallet database uses synchronous=NORMAL: it stands for the card's EEPROM, and the
 * crash tests kill processes (the OS keeps what was written), they do not cut power.
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { pack, unpack } from 'msgpackr';
import {
  CardSimulator,
  encodeCardImage,
  parseCardImage,
  type CardImage,
  type CardPort,
  type CardRecordKind,
  type CardResponse,
  type TransactionProof,
} from '#core';

export class CardWallet {
  private readonly db: Database.Database;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS cards (card_no TEXT PRIMARY KEY, image BLOB NOT NULL, proofs BLOB NOT NULL, updated_at_ms INTEGER NOT NULL) WITHOUT ROWID',
    );
  }

  put(image: CardImage, proofs: readonly TransactionProof[] = []): void {
    this.db
      .prepare(
        'INSERT INTO cards (card_no, image, proofs, updated_at_ms) VALUES (?, ?, ?, ?) ON CONFLICT (card_no) DO UPDATE SET image = excluded.image, proofs = excluded.proofs, updated_at_ms = excluded.updated_at_ms',
      )
      .run(
        image.cardNo,
        Buffer.from(encodeCardImage(image)),
        pack(proofs.map((p) => ({ ...p, mac: Buffer.from(p.mac), tac: Buffer.from(p.tac) }))),
        Date.now(),
      );
  }

  has(cardNo: string): boolean {
    return this.db.prepare('SELECT 1 FROM cards WHERE card_no = ?').get(cardNo) !== undefined;
  }

  image(cardNo: string): CardImage {
    return this.load(cardNo).image;
  }

  cardNumbers(): string[] {
    return this.db.prepare('SELECT card_no FROM cards ORDER BY card_no').pluck().all() as string[];
  }

  private load(cardNo: string): { image: CardImage; proofs: TransactionProof[] } {
    const row = this.db.prepare('SELECT image, proofs FROM cards WHERE card_no = ?').get(cardNo) as { image: Buffer; proofs: Buffer } | undefined;
    if (row === undefined) throw new Error(`card ${cardNo} is not in the wallet`);
    const proofs = (unpack(row.proofs) as TransactionProof[]).map((p) => ({ ...p, mac: new Uint8Array(p.mac), tac: new Uint8Array(p.tac) }));
    return { image: parseCardImage(new Uint8Array(row.image)), proofs };
  }

  /**
   * The card as a reader sees it for one tap: a CardSimulator over the stored state that saves
   * itself after every command that can change the card. `random` defaults to the system's.
   */
  present(cardNo: string, random: () => Uint8Array = () => new Uint8Array(randomBytes(4)), afterSave?: AfterCardSave): PersistentCard {
    const { image, proofs } = this.load(cardNo);
    return new PersistentCard(new CardSimulator(image, random, { proofs }), (sim) => this.put(sim.image(), sim.proofs()), afterSave);
  }

  close(): void {
    this.db.close();
  }
}

/** Called after the card's state was saved following a writing command (fault injection in crash tests). */
export type AfterCardSave = (command: string, response: CardResponse) => void;

/** A CardSimulator that persists its state after each writing command. */
export class PersistentCard implements CardPort {
  constructor(
    readonly simulator: CardSimulator,
    private readonly save: (simulator: CardSimulator) => void,
    private readonly afterSave?: AfterCardSave,
  ) {}

  private saved(command: string, response: CardResponse): CardResponse {
    this.save(this.simulator);
    this.afterSave?.(command, response);
    return response;
  }

  readCardView(): CardResponse {
    return this.simulator.readCardView();
  }
  getBalance(): CardResponse {
    return this.simulator.getBalance();
  }
  getChallenge(): CardResponse {
    return this.simulator.getChallenge();
  }
  readLogRecord(index: number): CardResponse {
    return this.simulator.readLogRecord(index);
  }
  initializeForPurchase(keyIndex: number, amountFen: number, terminalId: Uint8Array, composite: boolean): CardResponse {
    return this.simulator.initializeForPurchase(keyIndex, amountFen, terminalId, composite);
  }
  updateCappDataCache(record: Uint8Array): CardResponse {
    return this.simulator.updateCappDataCache(record);
  }
  debitForPurchase(tsn: number, date: Uint8Array, time: Uint8Array, mac1: Uint8Array): CardResponse {
    return this.saved('debitForPurchase', this.simulator.debitForPurchase(tsn, date, time, mac1));
  }
  getTransactionProve(transactionType: number, atc: number): CardResponse {
    return this.simulator.getTransactionProve(transactionType, atc);
  }
  initializeForLoad(keyIndex: number, amountFen: number, terminalId: Uint8Array): CardResponse {
    return this.simulator.initializeForLoad(keyIndex, amountFen, terminalId);
  }
  creditForLoad(date: Uint8Array, time: Uint8Array, mac2: Uint8Array): CardResponse {
    return this.saved('creditForLoad', this.simulator.creditForLoad(date, time, mac2));
  }
  applicationBlock(mac: Uint8Array): CardResponse {
    return this.saved('applicationBlock', this.simulator.applicationBlock(mac));
  }
  applicationUnblock(mac: Uint8Array): CardResponse {
    return this.saved('applicationUnblock', this.simulator.applicationUnblock(mac));
  }
  updateRecord(kind: CardRecordKind, record: Uint8Array, mac: Uint8Array): CardResponse {
    return this.saved('updateRecord', this.simulator.updateRecord(kind, record, mac));
  }
}
