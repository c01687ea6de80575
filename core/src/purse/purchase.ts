/**
 * Terminal side of the purchase protocol (DOMAIN.md section 3), per purchase-types.ts:
 * INITIALIZE FOR (CAPP) PURCHASE -> (composite) UPDATE CAPP DATA CACHE -> PSAM MAC1 ->
 * DEBIT FOR PURCHASE -> PSAM verifies MAC2. A DEBIT without an answer (sw SW_NO_RESPONSE, the
 * card simulator's "power lost", or a malformed success) is 'torn': keep `pending` and call
 * recoverPurchase on the card's next tap, which decides by the card's offline ATC.
 */
import { algorithmFromId } from '../crypto/algorithm.ts';
import { bytesToHex } from '../crypto/bytes.ts';
import { TRANSACTION_TYPE } from '../card/card-image.ts';
import { CardFormatError } from '../card/card-format-error.ts';
import { parseCardView } from '../card/card-codec.ts';
import { cardNoHasDiversifier } from '../card/card-number.ts';
import { SW_NO_RESPONSE } from '../card/card-simulator.ts';
import { SW, type CardPort } from '../ports/card-port.ts';
import type { PsamPort, PurchaseMacRequest } from '../ports/psam-port.ts';
import { parsePurchaseInit } from './init-answers.ts';
import { KeyUnavailableError } from './key-unavailable-error.ts';
import type { PendingPurchase, PurchaseOutcome, PurchaseRequest, RecoveryOutcome } from './purchase-types.ts';
import { transactionDateBytes, transactionDateBytesInto, transactionTimeBytes, transactionTimeBytesInto } from './purse-data.ts';

type RefusalReason = Extract<PurchaseOutcome, { status: 'refused' }>['reason'];

function refusal(sw: number): PurchaseOutcome {
  let reason: RefusalReason = 'card-error';
  if (sw === SW.insufficientBalance) reason = 'insufficient-balance';
  else if (sw === SW.applicationBlocked) reason = 'blocked';
  else if (sw === SW.macError) reason = 'mac-error';
  else if (sw === SW.keyIndexUnsupported) reason = 'key-unsupported';
  return { status: 'refused', sw, reason };
}

function checkRequest(request: PurchaseRequest): void {
  if (!(request.cardSerial instanceof Uint8Array) || request.cardSerial.length !== 8) throw new RangeError('cardSerial must be 8 bytes');
  if (!Number.isInteger(request.amountFen) || request.amountFen < 0 || request.amountFen > 0xffffffff) {
    throw new RangeError(`amountFen must be a u32, got ${request.amountFen}`);
  }
  const composite = request.transactionType === TRANSACTION_TYPE.compositePurchase;
  if (!composite && request.transactionType !== TRANSACTION_TYPE.purchase) {
    throw new RangeError(`transactionType must be 0x06 or 0x09, got ${request.transactionType}`);
  }
  if (!composite && request.cappRecord !== null) throw new RangeError('only a composite purchase (0x09) carries a CAPP record');
}

/** The PSAM request a recovered MAC2 is checked against (the pending purchase's TSN included). */
function macRequest(p: PendingPurchase, date: Uint8Array, time: Uint8Array, tsn: number): PurchaseMacRequest & { tsn: number } {
  return {
    cardSerial: p.cardSerial,
    issuerKey: p.issuerKey,
    keyVersion: p.keyVersion,
    algorithm: p.algorithm,
    cardRandom: p.cardRandom,
    offlineAtc: p.offlineAtc,
    amountFen: p.amountFen,
    transactionType: p.transactionType,
    date,
    time,
    tsn,
  };
}

/**
 * Scratch of runPurchase (synchronous, not re-entered): the transaction date and time bytes the
 * PSAM and the card read during their calls, and the MAC2 the PSAM checks at once. The ports
 * keep no reference to their arguments (CardPort, PsamPort), so no buffer is allocated per tap
 * for them; what outlives the call (the TAC, the card's random in the pending purchase) is copied.
 */
const DATE_SCRATCH = new Uint8Array(4);
const TIME_SCRATCH = new Uint8Array(3);
const MAC2_SCRATCH = new Uint8Array(4);

export function runPurchase(card: CardPort, psam: PsamPort, request: PurchaseRequest): PurchaseOutcome {
  checkRequest(request);
  const date = transactionDateBytesInto(request.date, DATE_SCRATCH);
  const time = transactionTimeBytesInto(request.time, TIME_SCRATCH);
  const composite = request.transactionType === TRANSACTION_TYPE.compositePurchase;

  const initResponse = card.initializeForPurchase(1, request.amountFen, psam.terminalId, composite);
  if (initResponse.sw !== SW.success) return refusal(initResponse.sw);
  const init = parsePurchaseInit(initResponse.data);
  if (init === null) return refusal(SW.wrongLength);
  let algorithm;
  try {
    algorithm = algorithmFromId(init.algorithmId);
  } catch {
    return refusal(SW.wrongParameters);
  }

  if (composite && request.cappRecord !== null) {
    // Nothing is debited before DEBIT, so any failure here (a lost answer included) is a refusal.
    const cache = card.updateCappDataCache(request.cappRecord);
    if (cache.sw !== SW.success) return refusal(cache.sw);
  }

  // Plain literals, no spreads: `{ ...base, tsn }` gave V8 a slow-properties object on this
  // path, and every later read of the pending purchase (MAC request, journal) paid for it.
  const balanceBeforeFen = init.balanceFen;
  let mac;
  try {
    mac = psam.beginPurchase({
      cardSerial: request.cardSerial,
      issuerKey: request.issuerKey,
      keyVersion: init.keyVersion,
      algorithm,
      cardRandom: init.random,
      offlineAtc: init.offlineAtc,
      amountFen: request.amountFen,
      transactionType: request.transactionType,
      date,
      time,
    });
  } catch (error) {
    if (error instanceof KeyUnavailableError) return refusal(SW.keyIndexUnsupported);
    throw error;
  }
  // Same keys in the same order as before (the pending store encodes them as they come).
  const pending: PendingPurchase = {
    cardSerial: request.cardSerial,
    issuerKey: request.issuerKey,
    keyVersion: init.keyVersion,
    algorithm,
    amountFen: request.amountFen,
    transactionType: request.transactionType,
    offlineAtc: init.offlineAtc,
    balanceBeforeFen,
    cardRandom: init.random,
    date: request.date,
    time: request.time,
    cappRecord: request.cappRecord,
    tsn: mac.tsn,
  };

  const debit = card.debitForPurchase(mac.tsn, date, time, mac.mac1);
  if (debit.sw === SW_NO_RESPONSE) return { status: 'torn', pending };
  if (debit.sw !== SW.success) return refusal(debit.sw);
  // A success with a garbled body may still have debited: let recovery decide.
  if (debit.data.length !== 8) return { status: 'torn', pending };
  const tac = debit.data.slice(0, 4);
  const mac2 = MAC2_SCRATCH;
  for (let i = 0; i < 4; i++) mac2[i] = debit.data[4 + i];
  if (!psam.verifyMac2(mac2)) return { status: 'mac2-invalid', pending, tac, balanceAfterFen: balanceBeforeFen - request.amountFen };
  return { status: 'debited', pending, tac, balanceAfterFen: balanceBeforeFen - request.amountFen };
}

/**
 * Settles a torn purchase on the card's next tap. Reads the card's offline ATC:
 * - ATC = pending.offlineAtc: nothing was debited ('not-debited', redo if wanted);
 * - ATC > pending.offlineAtc: some purchase used pending.offlineAtc. GET TRANSACTION PROVE
 *   fetches its MAC2 and TAC and the PSAM checks the MAC2 against the pending session (random,
 *   ATC, TSN): it verifies -> 'debited' with the TAC. When it does not (or the proof is not
 *   there), the card's log decides: a purchase record at that ATC that differs from ours
 *   (terminal, amount, type, date, time) was another terminal's, so ours never happened
 *   ('not-debited'); otherwise the outcome is unknown here ('failed': keep the pending record,
 *   the back office settles it from the uploaded journals).
 * - ATC went backwards or the card is unreadable -> 'failed'.
 * Throws when the card presented is not the pending purchase's card (a caller error).
 */
export function recoverPurchase(card: CardPort, psam: PsamPort, pending: PendingPurchase): RecoveryOutcome {
  const read = card.readCardView();
  if (read.sw !== SW.success) return { status: 'failed', sw: read.sw };
  let view;
  try {
    view = parseCardView(read.data);
  } catch (error) {
    if (error instanceof CardFormatError) return { status: 'failed', sw: SW.wrongLength };
    throw error;
  }
  if (!cardNoHasDiversifier(view.cardNo, pending.cardSerial)) {
    throw new RangeError('recoverPurchase: the card presented is not the card of the pending purchase');
  }
  if (view.offlineAtc === pending.offlineAtc) return { status: 'not-debited' };
  if (view.offlineAtc < pending.offlineAtc) return { status: 'failed', sw: SW.conditionsNotSatisfied };

  let failSw: number = SW.macError;
  const prove = card.getTransactionProve(pending.transactionType, pending.offlineAtc);
  if (prove.sw === SW.success && prove.data.length === 8) {
    const mac2 = prove.data.slice(0, 4);
    const request = macRequest(pending, transactionDateBytes(pending.date), transactionTimeBytes(pending.time), pending.tsn);
    try {
      if (psam.verifyRecoveredMac2(request, mac2)) return { status: 'debited', tac: prove.data.slice(4, 8) };
    } catch (error) {
      if (!(error instanceof KeyUnavailableError)) throw error;
      return { status: 'failed', sw: SW.keyIndexUnsupported };
    }
  } else {
    failSw = prove.sw === SW.success ? SW.wrongLength : prove.sw;
  }

  const terminalId = bytesToHex(psam.terminalId);
  for (const record of view.log) {
    if (record.atc !== pending.offlineAtc || record.type === TRANSACTION_TYPE.load) continue;
    const ours =
      record.type === pending.transactionType &&
      record.terminalId === terminalId &&
      record.amountFen === pending.amountFen &&
      record.date === pending.date &&
      record.time === pending.time;
    return ours ? { status: 'failed', sw: failSw } : { status: 'not-debited' };
  }
  return { status: 'failed', sw: failSw };
}
