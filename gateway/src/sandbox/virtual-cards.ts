/**
 * The sandbox card service: virtual cards for the cards the sandbox gateway issued, so a teller
 * system or an app can run a top-up, a park-pass write or a torn load over HTTP without a card
 * reader. Each card is core's CardSimulator (real status words, real MAC1/TAC, the tearing model
 * of core/src/card/card-simulator.ts).
 *
 * Keys: the card service holds its own key holder, read from the sandbox key file (`"sandbox":
 * true`, issuer/src/key-file.ts) apart from the gateway's IssuerKeysPort object. A card is
 * personalised here, from the issuer's record of it (the `cards` row: issuer code, generation,
 * profile, algorithm, key version, expiry, overdraft limit, functions) the first time it is
 * addressed: exactly the card POST /v1/cards handed out, balance 0. The gateway itself never
 * derives a card key for the sandbox.
 *
 * State: the card's persistent state (image and transaction proofs) is written to the sandbox
 * database (`sandbox_cards`) after every command; the volatile state (a load session between
 * INITIALIZE and CREDIT, a challenge) lives in memory, as on a card in the field, and is gone if
 * the sandbox restarts (the card was taken away). Commands on one card run one at a time.
 */
import { randomBytes } from 'node:crypto';
import {
  CardSimulator,
  encodeCardImage,
  parseCardImage,
  SW_NO_RESPONSE,
  type CardImage,
  type CipherAlgorithm,
  type TearableCommand,
  type TearPoint,
  type TransactionProof,
} from '#core';
import type { IssuerKeyFile } from '#issuer/key-file';
import { IssuerKeyService } from '#issuer/issuer-key-service';
import { ApiError } from '../http/problem.ts';
import type { Store } from '../store/store-port.ts';

type CardRow = {
  issuer_code: string;
  generation: number;
  profile: string;
  algorithm: string;
  key_version: number;
  expiry_date: number;
  overdraft_limit_fen: number | string;
  transit_opened: number;
  suburban_opened: number;
};

type SavedCard = {
  image_hex: string;
  proofs_json: string;
  tear_json: string | null;
};

interface ProofJson {
  transactionType: number;
  atc: number;
  mac: string;
  tac: string;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex').toUpperCase();
const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));

export interface VirtualCardsOptions {
  /** The card's random source (4 bytes); default node:crypto. */
  random?: () => Uint8Array;
  /** Epoch ms for `updated_ms` (the sandbox clock). */
  clock?: () => number;
}

export class VirtualCards {
  readonly #store: Store;
  /** The card service's own key holder: one key service per key version, built on demand. */
  readonly #keyFile: IssuerKeyFile;
  readonly #personalisers = new Map<number, IssuerKeyService>();
  readonly #random: () => Uint8Array;
  readonly #clock: () => number;
  readonly #cards = new Map<string, CardSimulator>();
  readonly #tears = new Map<string, TearPoint | null>();
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(store: Store, keyFile: IssuerKeyFile, options: VirtualCardsOptions = {}) {
    if (keyFile.sandbox !== true) throw new Error('the sandbox card service runs on sandbox keys only');
    this.#store = store;
    this.#keyFile = keyFile;
    this.#random = options.random ?? (() => new Uint8Array(randomBytes(4)));
    this.#clock = options.clock ?? Date.now;
  }

  /** Creates the card table (the sandbox database only). */
  async init(): Promise<void> {
    await this.#store.transaction((tx) =>
      tx.run(
        'CREATE TABLE IF NOT EXISTS sandbox_cards (card_no TEXT PRIMARY KEY, image_hex TEXT NOT NULL, proofs_json TEXT NOT NULL, tear_json TEXT, updated_ms BIGINT NOT NULL)',
      ),
    );
  }

  toJSON(): unknown {
    return { note: 'sandbox card service (keys not shown)' };
  }

  /**
   * Runs `command` on the card (one command at a time per card) and saves its state. Unknown
   * cards (not issued by this gateway) answer 404 card-not-found. `tearable`: the command an
   * armed tear may hit; a lost answer (SW_NO_RESPONSE) means the tear was used.
   */
  async run<T>(cardNo: string, command: (card: CardSimulator) => T, tearable?: TearableCommand): Promise<T> {
    return this.#serial(cardNo, async () => {
      const card = await this.#card(cardNo);
      const result = command(card);
      const armed = this.#tears.get(cardNo);
      if (tearable !== undefined && armed?.command === tearable && (result as { sw?: number }).sw === SW_NO_RESPONSE) this.#tears.set(cardNo, null);
      await this.#save(cardNo, card);
      return result;
    });
  }

  /** Arms a tear for the next call of `point.command` on the card (null disarms). */
  async tear(cardNo: string, point: TearPoint | null): Promise<void> {
    await this.run(cardNo, (card) => {
      card.tearAt(point);
      this.#tears.set(cardNo, point);
    });
  }

  /** The tear armed on the card, if any (it is used up by the command it names). */
  armedTear(cardNo: string): TearPoint | null {
    return this.#tears.get(cardNo) ?? null;
  }

  /** The card's persistent state (no keys). */
  async image(cardNo: string): Promise<CardImage> {
    return this.#serial(cardNo, async () => (await this.#card(cardNo)).image());
  }

  #serial<T>(cardNo: string, body: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(cardNo) ?? Promise.resolve();
    const next = previous.then(body, body);
    const settled = next.catch(() => undefined);
    this.#queues.set(cardNo, settled);
    void settled.then(() => {
      if (this.#queues.get(cardNo) === settled) this.#queues.delete(cardNo);
    });
    return next;
  }

  async #card(cardNo: string): Promise<CardSimulator> {
    const cached = this.#cards.get(cardNo);
    if (cached) return cached;
    const saved = await this.#store.transaction(
      (tx) => tx.get<SavedCard>('SELECT image_hex, proofs_json, tear_json FROM sandbox_cards WHERE card_no = ?', [cardNo]),
      { readOnly: true },
    );
    let card: CardSimulator;
    if (saved) {
      const proofs = (JSON.parse(saved.proofs_json) as ProofJson[]).map(
        (p): TransactionProof => ({ transactionType: p.transactionType, atc: p.atc, mac: bytes(p.mac), tac: bytes(p.tac) }),
      );
      card = new CardSimulator(parseCardImage(bytes(saved.image_hex)), this.#random, { proofs });
      const tear = saved.tear_json === null ? null : (JSON.parse(saved.tear_json) as TearPoint);
      card.tearAt(tear);
      this.#tears.set(cardNo, tear);
    } else {
      card = new CardSimulator(await this.#personalise(cardNo), this.#random);
    }
    this.#cards.set(cardNo, card);
    return card;
  }

  /** The card as issued, personalised with the card service's own sandbox keys. */
  async #personalise(cardNo: string): Promise<CardImage> {
    const row = await this.#store.transaction(
      (tx) =>
        tx.get<CardRow>(
          `SELECT issuer_code, generation, profile, algorithm, key_version, expiry_date, overdraft_limit_fen, transit_opened, suburban_opened
           FROM cards WHERE card_no = ?`,
          [cardNo],
        ),
      { readOnly: true },
    );
    if (row === undefined) throw new ApiError('card-not-found', `no card ${cardNo}: issue it first (POST /v1/cards)`);
    const keyVersion = Number(row.key_version);
    let personaliser = this.#personalisers.get(keyVersion);
    if (personaliser === undefined) {
      if (!this.#keyFile.keySets.has(keyVersion))
        throw new ApiError('conflict', `card ${cardNo} uses key version ${keyVersion}, which the sandbox keys do not hold`);
      personaliser = IssuerKeyService.fromKeySets(this.#keyFile.keySets, keyVersion, { tacKeyCacheCards: 0 });
      this.#personalisers.set(keyVersion, personaliser);
    }
    return personaliser.personalizeCard({
      cardNo,
      issuerCode: row.issuer_code,
      generation: Number(row.generation) as 1 | 2 | 3,
      profile: row.profile as 'adult' | 'student' | 'senior',
      algorithm: row.algorithm as CipherAlgorithm,
      expiryDate: Number(row.expiry_date),
      overdraftLimitFen: Number(row.overdraft_limit_fen),
      transitOpened: Number(row.transit_opened) === 1,
      suburbanOpened: Number(row.suburban_opened) === 1,
    });
  }

  async #save(cardNo: string, card: CardSimulator): Promise<void> {
    const imageHex = hex(encodeCardImage(card.image()));
    const proofs = JSON.stringify(card.proofs().map((p) => ({ transactionType: p.transactionType, atc: p.atc, mac: hex(p.mac), tac: hex(p.tac) })));
    const tear = this.#tears.get(cardNo) ?? null;
    await this.#store.transaction((tx) =>
      tx.run(
        `INSERT INTO sandbox_cards (card_no, image_hex, proofs_json, tear_json, updated_ms) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (card_no) DO UPDATE SET image_hex = excluded.image_hex, proofs_json = excluded.proofs_json, tear_json = excluded.tear_json, updated_ms = excluded.updated_ms`,
        [cardNo, imageHex, proofs, tear === null ? null : JSON.stringify(tear), this.#clock()],
      ),
    );
  }
}
