/**
 * Park annual pass sales (DOMAIN.md section 4, seed q. 15): 100 yuan, sold in each pass year's
 * window (core's PARK_PASS_YEARS, data/park-pass-years.ts: 15 December - 15 January, Beijing
 * time); a pass of year Y is valid 1 January Y to 31 January Y+1, so a December sale is for next
 * year's pass. Outside every window, or for a year with no data, the sale is refused
 * (outside-sale-window) with the dates of the next window. The sale is idempotent by (card, Idempotency-Key) and
 * at most one per card and year, both by unique constraints.
 *
 * The answer carries the issuer-authorised record write for the card: the encoded pass record
 * and a command MAC over the card's challenge.
 *
 * One pass per holder and year (seed q. 47; issue 16): a card of a holder whose other card holds
 * that year's pass (sold to it, or moved to it by an exchange, park-pass-transfer.ts) is refused
 * (409 park-pass-holder-has-pass, naming the card). Cards issued before holders were recorded
 * are checked per card only. A retry with the same key may bring a fresh
 * challenge (the card makes a new one for every command), so the challenge is not part of the
 * idempotency fingerprint: the sale happens once, and each retry gets a MAC for its challenge.
 */
import { createHash } from 'node:crypto';
import { encodeParkPass, PARK_PASS_YEARS, type ParkPassYear, parkPassOnSale } from '#core';
import type { IssuerKeysPort } from '../keys/issuer-keys-port.ts';
import type { Tx } from '../store/store-port.ts';
import { ApiError, registerErrorCodes } from '../http/problem.ts';
import { holderPassCards } from './park-pass-transfer.ts';

registerErrorCodes({
  'park-pass-holder-has-pass': { status: 409, title: "The holder already has this year's park pass on another card" },
});
import { requireCard } from './cards.ts';
import { ACCOUNTS, paymentAccount, postTransfer, type PaymentSource } from './ledger.ts';

/**
 * Locks the card and every other card of its holder (their account rows, in the store's lock
 * order) before a sale reads who already has this year's pass: two sales for two cards of one
 * holder at once (two counters, two gateway instances at READ COMMITTED) then go one after the
 * other, and the second sees the first's pass (one per holder, q47). A card without a holder
 * record locks itself only (checked per card).
 */
export async function lockCardAndHolderCards(tx: Tx, cardNo: string): Promise<void> {
  const rows = await tx.all<{ card_no: string }>(
    'SELECT o.card_no FROM cards c JOIN cards o ON o.holder_id = c.holder_id WHERE c.card_no = ? AND c.holder_id IS NOT NULL',
    [cardNo],
  );
  await tx.lockCards([cardNo, ...rows.map((r) => String(r.card_no))]);
}

/** The pass year on sale at `nowMs` per the yearly data, or null outside every window (Beijing dates). */
export function parkPassYearOnSale(nowMs: number, passYears: readonly ParkPassYear[] = PARK_PASS_YEARS): number | null {
  const onSale = parkPassOnSale(passYears, nowMs);
  return onSale.ok ? onSale.year.year : null;
}

/**
 * Which slot the new pass goes to: the one already holding this year's pass (a rewrite), else
 * the one holding the older (or no) pass, so a pass still valid in January is never overwritten.
 * Gates use the valid pass with the higher year, whichever slot it is in (fare/park-pass.ts).
 */
export function passSlotFor(cardPassYears: readonly [number, number], passYear: number): 'park-pass-current' | 'park-pass-previous' {
  const [previous, current] = cardPassYears;
  if (current === passYear) return 'park-pass-current';
  if (previous === passYear) return 'park-pass-previous';
  return previous < current ? 'park-pass-previous' : 'park-pass-current';
}

export interface ParkPassSale {
  saleId: number;
  cardNo: string;
  passYear: number;
  amountFen: number;
  paymentSource: PaymentSource;
  soldMs: number;
  /** True when this request created the sale; false for an idempotent retry. */
  created: boolean;
  write: { kind: 'park-pass-current' | 'park-pass-previous'; recordHex: string; macHex: string };
}

function fingerprintOf(cardNo: string, paymentSource: string): string {
  return createHash('sha256').update(JSON.stringify({ cardNo, paymentSource })).digest('hex');
}

export async function sellParkPass(
  tx: Tx,
  keys: IssuerKeysPort,
  request: {
    cardNo: string;
    paymentSource: PaymentSource;
    challenge: Uint8Array;
    idempotencyKey: string;
    priceFen: number;
    /** Pass years in the card's two slots [previous, current] as read from the card (0 = empty). */
    cardPassYears?: readonly [number, number];
    /** The yearly sale data (default core's PARK_PASS_YEARS). */
    passYears?: readonly ParkPassYear[];
  },
  actor: string,
  nowMs: number,
): Promise<ParkPassSale> {
  const fingerprint = fingerprintOf(request.cardNo, request.paymentSource);
  const card = await requireCard(tx, request.cardNo, nowMs);
  let row = await tx.get<Record<string, string | number>>('SELECT * FROM park_pass_sales WHERE card_no = ? AND idempotency_key = ?', [
    request.cardNo,
    request.idempotencyKey,
  ]);
  let created = false;
  if (row) {
    if (row.fingerprint !== fingerprint) throw new ApiError('idempotency-key-reused', 'this Idempotency-Key was used for a different sale');
  } else {
    // Counters and the app follow the window; the year-round sale points (two parks) are not
    // channels of this gateway yet.
    const onSale = parkPassOnSale(request.passYears ?? PARK_PASS_YEARS, nowMs);
    if (!onSale.ok) throw new ApiError('outside-sale-window', onSale.reason);
    const passYear = onSale.year.year;
    if (card.status !== 'active') throw new ApiError('card-not-active', `card ${request.cardNo} is ${card.status}`);
    if (card.generation !== 3) throw new ApiError('generation-not-supported', 'only third-generation cards carry the park pass'); // seed q. 24
    if (card.holderId !== null) {
      const holding = await holderPassCards(tx, card.holderId, passYear);
      if (holding.includes(request.cardNo)) throw new ApiError('park-pass-already-sold', `card ${request.cardNo} already has the ${passYear} park pass`);
      if (holding.length > 0) {
        throw new ApiError('park-pass-holder-has-pass', `one park pass per holder and year: the holder's card ${holding[0]} already has the ${passYear} pass`, {
          cardNo: holding[0],
          passYear,
        });
      }
    }
    const inserted = await tx.get<{ id: number }>(
      `INSERT INTO park_pass_sales (card_no, pass_year, amount_fen, payment_source, idempotency_key, fingerprint, sold_by, sold_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`,
      [request.cardNo, passYear, request.priceFen, request.paymentSource, request.idempotencyKey, fingerprint, actor, nowMs],
    );
    if (!inserted) throw new ApiError('park-pass-already-sold', `card ${request.cardNo} already has the ${passYear} park pass`);
    await postTransfer(tx, {
      kind: 'park-pass-sale',
      reference: String(inserted.id),
      atMs: nowMs,
      entries: [
        { account: paymentAccount(request.paymentSource), amountFen: request.priceFen },
        { account: ACCOUNTS.parkPassRevenue, amountFen: -request.priceFen },
      ],
    });
    row = (await tx.get<Record<string, string | number>>('SELECT * FROM park_pass_sales WHERE id = ?', [inserted.id]))!;
    created = true;
  }
  const passYear = Number(row.pass_year);
  const record = encodeParkPass({ year: passYear, visits: 0, lastParkId: 0, lastEntryTime: 0 });
  const kind = passSlotFor(request.cardPassYears ?? [0, 0], passYear);
  const mac = keys.recordWriteMac(card, request.challenge, kind, record);
  return {
    saleId: Number(row.id),
    cardNo: request.cardNo,
    passYear,
    amountFen: Number(row.amount_fen),
    paymentSource: String(row.payment_source) as PaymentSource,
    soldMs: Number(row.sold_ms),
    created,
    write: { kind, recordHex: Buffer.from(record).toString('hex').toUpperCase(), macHex: Buffer.from(mac).toString('hex').toUpperCase() },
  };
}
