/**
 * Terminal/app side of the load (top-up) protocol (DOMAIN.md section 3). The terminal holds no
 * load key: it relays the card's MAC1 to the issuer (gateway, IssuerKeysPort.authorizeLoad) and
 * the issuer's MAC2 back to the card. A CREDIT without an answer is 'torn'; the card's online ATC
 * decides it later (recoverLoad): ATC moved -> credited (proof fetched), ATC unchanged -> not.
 */
import { TRANSACTION_TYPE } from '../card/card-image.ts';
import { CardFormatError } from '../card/card-format-error.ts';
import { parseCardView } from '../card/card-codec.ts';
import { SW_NO_RESPONSE } from '../card/card-simulator.ts';
import { constantTimeEqual } from '../crypto/bytes.ts';
import { SW, type CardPort, type LoadInit } from '../ports/card-port.ts';
import { parseLoadInit } from './init-answers.ts';
import { transactionDateBytes, transactionTimeBytes } from './purse-data.ts';

export type LoadRefusalReason = 'balance-cap' | 'blocked' | 'key-unsupported' | 'mac-error' | 'card-error';

export type LoadInitOutcome = { status: 'ready'; init: LoadInit } | { status: 'refused'; sw: number; reason: LoadRefusalReason };

export type LoadCreditOutcome =
  | { status: 'credited'; tac: Uint8Array }
  | { status: 'refused'; sw: number; reason: LoadRefusalReason }
  /** No answer to CREDIT: the card may or may not have been credited; the online ATC decides. */
  | { status: 'torn' };

export type LoadRecoveryOutcome =
  /** The online ATC moved: the card was credited; its TAC (and the MAC2 it accepted) fetched. */
  | { status: 'credited'; tac: Uint8Array; mac2: Uint8Array }
  /** The online ATC did not move: the card was not credited. */
  | { status: 'not-credited' }
  | { status: 'failed'; sw: number };

function loadRefusal(sw: number): { status: 'refused'; sw: number; reason: LoadRefusalReason } {
  let reason: LoadRefusalReason = 'card-error';
  if (sw === SW.balanceCapExceeded) reason = 'balance-cap';
  else if (sw === SW.applicationBlocked) reason = 'blocked';
  else if (sw === SW.keyIndexUnsupported) reason = 'key-unsupported';
  else if (sw === SW.macError) reason = 'mac-error';
  return { status: 'refused', sw, reason };
}

/** INITIALIZE FOR LOAD (key index 1): the parsed answer to send to the issuer, or a refusal. */
export function initializeLoad(card: CardPort, amountFen: number, terminalId: Uint8Array): LoadInitOutcome {
  if (!Number.isInteger(amountFen) || amountFen <= 0 || amountFen > 0xffffffff) throw new RangeError(`amountFen must be a positive u32, got ${amountFen}`);
  if (!(terminalId instanceof Uint8Array) || terminalId.length !== 6) throw new RangeError('terminalId must be 6 bytes');
  const response = card.initializeForLoad(1, amountFen, terminalId);
  if (response.sw !== SW.success) return loadRefusal(response.sw);
  const init = parseLoadInit(response.data);
  if (init === null) return loadRefusal(SW.wrongLength);
  return { status: 'ready', init };
}

/** CREDIT FOR LOAD with the issuer's MAC2; date YYYYMMDD and time hhmmss as the issuer MACed them. */
export function completeLoad(card: CardPort, mac2: Uint8Array, date: number, time: number): LoadCreditOutcome {
  if (!(mac2 instanceof Uint8Array) || mac2.length !== 4) throw new RangeError('mac2 must be 4 bytes');
  const response = card.creditForLoad(transactionDateBytes(date), transactionTimeBytes(time), mac2);
  if (response.sw === SW_NO_RESPONSE) return { status: 'torn' };
  if (response.sw !== SW.success) return loadRefusal(response.sw);
  if (response.data.length !== 4) return { status: 'torn' };
  return { status: 'credited', tac: response.data.slice(0, 4) };
}

/**
 * Decides a torn load by card evidence. `onlineAtc` is what INITIALIZE FOR LOAD returned for
 * the torn load; `mac2` is the issuer's MAC2 for it: the proof at that ATC must carry that same
 * MAC2, so a later load at the same ATC (ours never happened) cannot be mistaken for ours.
 */
export function recoverLoad(card: CardPort, onlineAtc: number, mac2: Uint8Array): LoadRecoveryOutcome {
  if (!(mac2 instanceof Uint8Array) || mac2.length !== 4) throw new RangeError('mac2 must be 4 bytes');
  const read = card.readCardView();
  if (read.sw !== SW.success) return { status: 'failed', sw: read.sw };
  let cardAtc: number;
  try {
    cardAtc = parseCardView(read.data).onlineAtc;
  } catch (error) {
    if (error instanceof CardFormatError) return { status: 'failed', sw: SW.wrongLength };
    throw error;
  }
  if (cardAtc === onlineAtc) return { status: 'not-credited' };
  if (cardAtc < onlineAtc) return { status: 'failed', sw: SW.conditionsNotSatisfied };
  const prove = card.getTransactionProve(TRANSACTION_TYPE.load, onlineAtc);
  if (prove.sw !== SW.success) return { status: 'failed', sw: prove.sw };
  if (prove.data.length !== 8) return { status: 'failed', sw: SW.wrongLength };
  const provedMac2 = prove.data.slice(0, 4);
  if (!constantTimeEqual(provedMac2, mac2)) {
    // The card accepted another MAC2 at that ATC: that was another load, and ours needed that
    // same ATC (each is used once), so ours never happened.
    return { status: 'not-credited' };
  }
  return { status: 'credited', tac: prove.data.slice(4, 8), mac2: provedMac2 };
}
