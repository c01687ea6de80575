/**
 * executeTap: one synchronous composition of a whole tap (ARCHITECTURE habit 1). The shell has
 * prefetched everything (blacklist lookup as a sync function, fare tables, the torn purchase it
 * kept for this card); this function talks to the card and the PSAM through their ports, asks
 * decideTap, carries the decision out and returns the journal records for the shell to persist.
 *
 * Steps: read the card view → parse → recover a pending torn purchase first → decide → lock
 * (GET CHALLENGE, PSAM block MAC, APPLICATION BLOCK) → purchase (composite 0x09 writing the new
 * trip or park-pass record, amount possibly 0) → journal.
 *
 * Policies [P]:
 * - A torn purchase that recovery proves debited is journaled (recovered = true, result
 *   TORN_TRANSACTION_RECOVERED), dated at the original transaction (occurredAtMs from its date
 *   and time) with the recovering tap's time in recoveredAtMs. If it is this device's tap from less than RECOVERY_COMPLETES_TAP_MS
 *   ago, the re-tap completes it: the gate opens and nothing more is charged. So does one younger
 *   than RECOVERY_COMPLETES_UNUSED_TAP_MS that is still the card's latest transaction (except on
 *   segmented bus lines). An older one is journaled and the current tap is then decided on the
 *   re-read card.
 * - Recovery that proves nothing was debited drops the pending purchase and the tap is decided
 *   afresh. Recovery that fails (proof unavailable, card pulled again) keeps the pending purchase
 *   and answers CARD_REMOVED: no new purchase is made before the old one is settled.
 * - A torn purchase answers CARD_REMOVED with pendingAfter set; the journal has no debit for it
 *   (recovery on the next tap journals it).
 * - A card that cannot be read or parsed produces no journal record (no card number to file it
 *   under); every other outcome produces at least one.
 * - Journal deviceSeq: records use ctx.deviceSeq, ctx.deviceSeq + 1, ... in order; the shell
 *   advances its counter by journal.length.
 */
import { effectiveBalanceFen, TRANSACTION_TYPE, type CardView } from '../card/card-image.ts';
import { CardFormatError } from '../card/card-format-error.ts';
import { parseCardView } from '../card/card-codec.ts';
import { SW_NO_RESPONSE } from '../card/card-simulator.ts';
import { cardSerialFromCardNo } from '../card/card-number.ts';
import { encodeParkPass, encodeTripRecord } from '../card/card-records.ts';
import { bytesToHex } from '../crypto/bytes.ts';
import type { FareTables } from '../fare/fare-tables.ts';
import { beijingDateTime, epochMsFromBeijing } from '../fare/time.ts';
import { SW, type CardPort } from '../ports/card-port.ts';
import type { PsamPort } from '../ports/psam-port.ts';
import { recoverPurchase, runPurchase } from '../purse/purchase.ts';
import type { PendingPurchase } from '../purse/purchase-types.ts';
import { allowKeyOfIssuerIdText } from '../card/tunion-files.ts';
import type { IssuerVerdict } from '../issuer/issuer-policy.ts';
import { decideTap, defaultIssuerVerdict, type TapDecision } from './decide-tap.ts';
import type { BlacklistAnswer, DeviceConfig } from './device-config.ts';
import type { JournalRecord } from './journal-record.ts';
import { TAP_RESULT, TAP_RESULT_MESSAGE, type TapResultCode } from './result-codes.ts';

/** A recovered torn purchase younger than this completes the current tap [P]. */
export const RECOVERY_COMPLETES_TAP_MS = 5 * 60 * 1000;

/**
 * A recovered torn purchase that is still the card's latest transaction (offline ATC moved by
 * exactly one) completes the current tap up to this age [P], bus validators on segmented lines
 * excepted (a later tap there is the tap-off). Deciding afresh would otherwise charge a second
 * time (park ticket, flat bus fare) or refuse a tap already paid for (exit: no entry record;
 * entry, P+R: already entered; park: anti-passback), because the card already holds what the
 * torn purchase wrote while the gate stayed shut.
 */
export const RECOVERY_COMPLETES_UNUSED_TAP_MS = 4 * 60 * 60 * 1000;

export interface TapContext {
  card: CardPort;
  psam: PsamPort;
  device: DeviceConfig;
  /** Synchronous blacklist answer for a card number (the shell prefetches or reads a prepared statement). */
  blacklistLookup: (cardNo: string) => BlacklistAnswer;
  /**
   * The device's issuer allow-list (issue 18): the verdict for the card's issuer id, allocation
   * free (IssuerAllowList.verdictFor). Absent: only the home issuer's cards are accepted.
   */
  issuerLookup?: (issuerId: string) => IssuerVerdict;
  fares: FareTables;
  nowMs: number;
  /** Sequence number for the first journal record of this tap. */
  deviceSeq: number;
  /** The torn purchase this device kept for the card being tapped, if any. */
  pending: PendingPurchase | null;
}

export interface TapExecution {
  decision: TapDecision;
  /** 0..2 records: a recovered torn purchase, then this tap. */
  journal: JournalRecord[];
  /** Torn purchase to keep for this card (null: none). */
  pendingAfter: PendingPurchase | null;
}

function bare(code: TapResultCode): TapDecision {
  return {
    resultCode: code,
    accepted: code === TAP_RESULT.TORN_TRANSACTION_RECOVERED,
    chargeFen: 0,
    fareFen: 0,
    discountFen: 0,
    settledFen: 0,
    shortfallFen: 0,
    newTrip: null,
    newParkPass: null,
    lock: false,
    display: TAP_RESULT_MESSAGE[code],
  };
}

function readView(card: CardPort): CardView | null {
  const read = card.readCardView();
  if (read.sw !== SW.success) return null;
  try {
    return parseCardView(read.data);
  } catch (error) {
    if (error instanceof CardFormatError) return null;
    throw error;
  }
}

interface JournalBase {
  ctx: TapContext;
  view: CardView;
  terminalId: string;
  date: number;
  time: number;
}

function journalRecord(base: JournalBase, seq: number, resultCode: number, fields: Partial<JournalRecord>): JournalRecord {
  const { ctx, view } = base;
  const device = ctx.device;
  const effective = effectiveBalanceFen(view);
  const isBus = device.kind === 'bus';
  const place =
    device.kind === 'pr-entry' || device.kind === 'pr-exit'
      ? device.lotId
      : device.kind === 'park-gate'
        ? device.parkId
        : isBus
          ? device.busStop
          : device.stationCode;
  // Every field set, in one order: one hidden class for all journal records (habit 12).
  return {
    deviceId: device.deviceId,
    deviceSeq: seq,
    deviceKind: device.kind,
    operator: device.operator,
    resultCode,
    cardNo: view.cardNo,
    cardAction: fields.cardAction ?? 'none',
    transactionType: fields.transactionType ?? 0,
    amountFen: fields.amountFen ?? 0,
    balanceBeforeFen: fields.balanceBeforeFen ?? effective,
    balanceAfterFen: fields.balanceAfterFen ?? effective,
    offlineAtc: fields.offlineAtc ?? view.offlineAtc,
    onlineAtc: view.onlineAtc,
    terminalId: base.terminalId,
    tsn: fields.tsn ?? 0,
    date: fields.date ?? base.date,
    time: fields.time ?? base.time,
    tac: fields.tac ?? '',
    keyVersion: view.keyVersion,
    algorithm: view.algorithm,
    fareTableVersion: ctx.fares.version,
    place,
    line: isBus ? device.busLine : 0,
    occurredAtMs: ctx.nowMs,
    recovered: fields.recovered ?? false,
    journeyEntryPlace: fields.journeyEntryPlace ?? 0,
    overtimeFen: fields.overtimeFen ?? 0,
  };
}

/**
 * What the revenue split needs of an accepted subway exit: the entry station the card showed
 * before this tap, and the overtime fare inside the charge (priceSubwayTrip adds the policy's
 * overtime in full, undiscounted, exactly when the result is OVERTIME_CHARGED).
 */
function exitTripFields(ctx: TapContext, view: CardView, decision: TapDecision): Pick<JournalRecord, 'journeyEntryPlace' | 'overtimeFen'> {
  if (ctx.device.kind !== 'subway-exit' || view.trip.journey !== 'subway') return {};
  return {
    journeyEntryPlace: view.trip.journeyPlace,
    overtimeFen: decision.resultCode === TAP_RESULT.OVERTIME_CHARGED ? ctx.fares.subway.policy.overtimeFen : 0,
  };
}

function isSegmentedBus(ctx: TapContext): boolean {
  return ctx.device.kind === 'bus' && ctx.fares.busLineById.get(ctx.device.busLine)?.kind !== 'flat';
}

function sameSerial(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function executeTap(ctx: TapContext): TapExecution {
  const journal: JournalRecord[] = [];
  let seq = ctx.deviceSeq;
  let view = readView(ctx.card);
  if (view === null) return { decision: bare(TAP_RESULT.CARD_READ_ERROR), journal, pendingAfter: ctx.pending };
  const now = beijingDateTime(ctx.nowMs);
  const base: JournalBase = { ctx, view, terminalId: ctx.psam.terminalIdHex ?? bytesToHex(ctx.psam.terminalId), date: now.date, time: now.time };
  const serial = cardSerialFromCardNo(view.cardNo);

  // 1. A torn purchase of this card first: never charge twice.
  let pending = ctx.pending;
  if (pending !== null && sameSerial(pending.cardSerial, serial)) {
    const recovery = recoverPurchase(ctx.card, ctx.psam, pending);
    if (recovery.status === 'failed') {
      // No answer (the card left again) is transient: keep the purchase and ask for a re-tap.
      // Any other failure is permanent (the proof and the log have rotated away, or the proof
      // does not verify): keeping it would refuse this card at this device forever, so the
      // device reports it and moves on; the back office's ATC and balance chains settle it.
      if (recovery.sw === SW_NO_RESPONSE) return { decision: bare(TAP_RESULT.CARD_REMOVED), journal, pendingAfter: pending };
      journal.push(
        journalRecord(base, seq++, TAP_RESULT.TORN_TRANSACTION_UNPROVABLE, {
          offlineAtc: pending.offlineAtc,
          tsn: pending.tsn,
          date: pending.date,
          time: pending.time,
        }),
      );
      view = readView(ctx.card);
      if (view === null) return { decision: bare(TAP_RESULT.CARD_READ_ERROR), journal, pendingAfter: null };
      base.view = view;
    }
    if (recovery.status === 'debited') {
      const recovered = journalRecord(base, seq++, TAP_RESULT.TORN_TRANSACTION_RECOVERED, {
        cardAction: 'debit',
        transactionType: pending.transactionType,
        amountFen: pending.amountFen,
        balanceBeforeFen: pending.balanceBeforeFen,
        balanceAfterFen: pending.balanceBeforeFen - pending.amountFen,
        offlineAtc: pending.offlineAtc,
        tsn: pending.tsn,
        date: pending.date,
        time: pending.time,
        tac: bytesToHex(recovery.tac),
        recovered: true,
      });
      // Dated at the original transaction (the date and time on the card's log, under the TAC),
      // with the recovering tap beside it.
      recovered.occurredAtMs = epochMsFromBeijing(pending.date, pending.time);
      recovered.recoveredAtMs = ctx.nowMs;
      journal.push(recovered);
      const ageMs = ctx.nowMs - recovered.occurredAtMs;
      const recoveredAmountFen = pending.amountFen;
      const completed = (): TapExecution => {
        const decision = bare(TAP_RESULT.TORN_TRANSACTION_RECOVERED);
        decision.chargeFen = recoveredAmountFen;
        decision.fareFen = recoveredAmountFen;
        return { decision, journal, pendingAfter: null };
      };
      if (ageMs >= 0 && ageMs < RECOVERY_COMPLETES_TAP_MS) return completed();
      view = readView(ctx.card);
      if (view === null) return { decision: bare(TAP_RESULT.CARD_READ_ERROR), journal, pendingAfter: null };
      base.view = view;
      if (ageMs >= 0 && ageMs < RECOVERY_COMPLETES_UNUSED_TAP_MS && view.offlineAtc === pending.offlineAtc + 1 && !isSegmentedBus(ctx)) return completed();
    }
    pending = null;
  }

  // 2. Decide.
  const issuer = ctx.issuerLookup === undefined ? defaultIssuerVerdict(view) : ctx.issuerLookup(view.issuerId);
  const decision = decideTap({ card: view, device: ctx.device, blacklist: ctx.blacklistLookup(view.cardNo), fares: ctx.fares, nowMs: ctx.nowMs, issuer });

  // 3. Lock a finally blacklisted card.
  if (decision.lock) {
    const challenge = ctx.card.getChallenge();
    let locked = false;
    if (challenge.sw === SW.success && challenge.data.length === 4) {
      const mac = ctx.psam.blockCommandMac(serial, view.keyVersion, view.algorithm, challenge.data);
      locked = ctx.card.applicationBlock(mac).sw === SW.success;
    }
    if (!locked) {
      // The card went away before the block: still refused, locked by the next gate.
      const refused = bare(TAP_RESULT.BLACKLISTED);
      journal.push(journalRecord(base, seq++, refused.resultCode, {}));
      return { decision: refused, journal, pendingAfter: pending };
    }
    journal.push(journalRecord(base, seq++, decision.resultCode, { cardAction: 'block' }));
    return { decision, journal, pendingAfter: pending };
  }

  if (!decision.accepted) {
    journal.push(journalRecord(base, seq++, decision.resultCode, {}));
    return { decision, journal, pendingAfter: pending };
  }

  // 4. The purchase: composite 0x09, the new record committed atomically with the debit.
  const cappRecord =
    decision.newParkPass !== null ? encodeParkPass(decision.newParkPass.record) : decision.newTrip !== null ? encodeTripRecord(decision.newTrip) : null;
  const outcome = runPurchase(ctx.card, ctx.psam, {
    cardSerial: serial,
    // Another issuer's card: the PSAM uses that issuer's purchase keys (loaded by key loading).
    issuerKey: issuer.kind === 'foreign' ? allowKeyOfIssuerIdText(view.issuerId) : undefined,
    keyVersion: view.keyVersion,
    algorithm: view.algorithm,
    amountFen: decision.chargeFen,
    transactionType: TRANSACTION_TYPE.compositePurchase,
    cappRecord,
    date: now.date,
    time: now.time,
  });
  switch (outcome.status) {
    case 'debited': {
      const p = outcome.pending;
      journal.push(
        journalRecord(base, seq++, decision.resultCode, {
          cardAction: 'debit',
          transactionType: p.transactionType,
          amountFen: p.amountFen,
          balanceBeforeFen: p.balanceBeforeFen,
          balanceAfterFen: outcome.balanceAfterFen,
          offlineAtc: p.offlineAtc,
          tsn: p.tsn,
          date: p.date,
          time: p.time,
          tac: bytesToHex(outcome.tac),
          ...exitTripFields(ctx, view, decision),
        }),
      );
      return { decision, journal, pendingAfter: null };
    }
    case 'torn':
      return { decision: bare(TAP_RESULT.CARD_REMOVED), journal, pendingAfter: outcome.pending };
    case 'mac2-invalid': {
      // The gate stays shut, but whatever the card did is journaled with its TAC: the back
      // office clears a genuine TAC and quarantines a forged one (never a silent debit).
      const refused = bare(TAP_RESULT.MAC_FAILURE);
      const p = outcome.pending;
      journal.push(
        journalRecord(base, seq++, refused.resultCode, {
          cardAction: 'debit',
          transactionType: p.transactionType,
          amountFen: p.amountFen,
          balanceBeforeFen: p.balanceBeforeFen,
          balanceAfterFen: outcome.balanceAfterFen,
          offlineAtc: p.offlineAtc,
          tsn: p.tsn,
          date: p.date,
          time: p.time,
          tac: bytesToHex(outcome.tac),
          ...exitTripFields(ctx, view, decision),
        }),
      );
      return { decision: refused, journal, pendingAfter: null };
    }
    case 'refused': {
      const code =
        outcome.reason === 'insufficient-balance'
          ? TAP_RESULT.INSUFFICIENT_BALANCE
          : outcome.reason === 'blocked'
            ? TAP_RESULT.CARD_LOCKED
            : outcome.reason === 'mac-error'
              ? TAP_RESULT.MAC_FAILURE
              : TAP_RESULT.CARD_READ_ERROR;
      const refused = bare(code);
      journal.push(journalRecord(base, seq++, code, {}));
      return { decision: refused, journal, pendingAfter: null };
    }
    default:
      throw new Error('unreachable purchase outcome');
  }
}
