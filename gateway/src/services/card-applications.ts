/**
 * Applications and the simulated card factory (issue 16; seed q. 10-14, 24, 29, 36; DOMAIN.md
 * section 7). An application is for a first card (申领), or the new card of an exchange (换领:
 * broken card, change of name or ID number) or of a bank change (the new bank's application).
 *
 * States: applied → making → ready (collect at the branch) or mailed → collected. The factory
 * takes every applied card at its next run after the application (making) and finishes it by the
 * manual's duration:
 * - a first card: within 30 days of the application (q. 12);
 * - an exchange: within 4 working days (q. 24, q. 29), counted on the working-day calendar of
 *   the fare data (core WORKING_DAY_CALENDAR_YEARS: weekends, the State Council's days off and
 *   its weekend working days);
 * - at a branch that makes cards at once (即时制卡, policy instantCardBranches): ready at once.
 * The factory runs with the due jobs (services/jobs.ts: timer, POST /v1/ops/jobs/run, the
 * sandbox clock) and before every read of an application, so a state is never stale.
 *
 * The card is personalised when it is collected: the counter hands it over (or the holder
 * confirms a mailed card) and the answer carries its image. The new card's issue is what
 * completes a bank change (the 6-month rule of q. 26 counts from it) and where the park pass and
 * the opened functions of an exchanged card arrive (park-pass-transfer.ts).
 *
 * Transit follows the card's transit function, not "enabling" (q. 14): enabling concerns the
 * social-security functions only, so a collected card rides as soon as its transit function is
 * open, enabled or not.
 */
import {
  dayNumberFromYmd,
  encodeCardImage,
  isWorkingDay,
  WORKING_DAY_CALENDAR_YEARS,
  ymdFromDayNumber,
  type CardGeneration,
  type CipherAlgorithm,
  type HolderProfile,
} from '#core';
import type { IssuerKeysPort } from '../keys/issuer-keys-port.ts';
import { ApiError, registerErrorCodes } from '../http/problem.ts';
import type { Tx } from '../store/store-port.ts';
import { findCard, issueCard, type IssuedCard } from './cards.ts';
import { beijingStartOfDayMs, DAY_MS } from './money-time.ts';
import { type MovedPass, movePassesToNewCard } from './park-pass-transfer.ts';

registerErrorCodes({
  'application-not-found': { status: 404, title: 'No such card application' },
  'application-open': { status: 409, title: 'The holder already has an application in progress' },
  'holder-has-card': { status: 409, title: 'The holder already has a card in use' },
  'card-not-ready': { status: 409, title: 'The card is not made yet' },
  'instant-issue-not-offered': { status: 409, title: 'This branch does not make cards at once' },
});

export type ApplicationKind = 'application' | 'exchange';
/** Why a card is made: a first card, a broken card, a change of name or ID number (q. 22-23), a bank change (q. 25). */
export type ApplicationReason = 'first-card' | 'broken' | 'name-change' | 'id-change' | 'bank-change';
export type Collection = 'instant' | 'branch' | 'mail';
export type ApplicationState = 'applied' | 'making' | 'ready' | 'mailed' | 'collected';

/** Days a first card takes at most (q. 12). */
export const APPLICATION_DAYS = 30;
/** Working days an exchange or replacement takes at most (q. 24, q. 29). */
export const EXCHANGE_WORKING_DAYS = 4;

export interface CardApplication {
  id: number;
  holderId: number;
  kind: ApplicationKind;
  reason: ApplicationReason;
  oldCardNo: string | null;
  bankChangeId: number | null;
  issuingBank: string;
  branchId: string | null;
  collection: Collection;
  state: ApplicationState;
  holderName: string;
  appliedMs: number;
  dueMs: number;
  makingMs: number | null;
  madeMs: number | null;
  collectedMs: number | null;
  newCardNo: string | null;
}

type Raw = Record<string, string | number | bigint | null>;
const nullable = (v: string | number | bigint | null | undefined): number | null => (v === null || v === undefined ? null : Number(v));

function fromRow(r: Raw): CardApplication {
  return {
    id: Number(r.id),
    holderId: Number(r.holder_id),
    kind: String(r.kind) as ApplicationKind,
    reason: String(r.reason) as ApplicationReason,
    oldCardNo: r.old_card_no === null ? null : String(r.old_card_no),
    bankChangeId: nullable(r.bank_change_id),
    issuingBank: String(r.issuing_bank),
    branchId: r.branch_id === null ? null : String(r.branch_id),
    collection: String(r.collection) as Collection,
    state: String(r.state) as ApplicationState,
    holderName: String(r.holder_name),
    appliedMs: Number(r.applied_ms),
    dueMs: Number(r.due_ms),
    makingMs: nullable(r.making_ms),
    madeMs: nullable(r.made_ms),
    collectedMs: nullable(r.collected_ms),
    newCardNo: r.new_card_no === null ? null : String(r.new_card_no),
  };
}

/** ISO weekday (1 = Monday) of a day number (days since 1970-01-01, a Thursday). */
function isoWeekday(dayNumber: number): number {
  return ((((dayNumber + 3) % 7) + 7) % 7) + 1;
}

const CALENDAR = { holidays: [] as number[], workdays: [] as number[], years: [...WORKING_DAY_CALENDAR_YEARS] };

/** True when the Beijing date `ymd` is a working day on the default calendar. */
export function isWorkingDate(ymd: number): boolean {
  return isWorkingDay(CALENDAR, ymd, isoWeekday(dayNumberFromYmd(ymd)));
}

/**
 * The end (last millisecond, Beijing) of the `n`th working day after the day of `fromMs`: the
 * application day itself does not count, as "within 4 working days" of a request is read.
 */
export function workingDaysDueMs(fromMs: number, n: number): number {
  const startOfDay = beijingStartOfDayMs(fromMs);
  let day = dayNumberFromYmd(ymdOf(startOfDay));
  let counted = 0;
  let dayStartMs = startOfDay;
  while (counted < n) {
    day += 1;
    dayStartMs += DAY_MS;
    if (isWorkingDate(ymdFromDayNumber(day))) counted++;
  }
  return dayStartMs + DAY_MS - 1;
}

function ymdOf(beijingMidnightMs: number): number {
  const d = new Date(beijingMidnightMs + 8 * 3_600_000);
  return d.getUTCFullYear() * 10_000 + (d.getUTCMonth() + 1) * 100 + d.getUTCDate();
}

/** When the factory has the card made, per the manual's durations. */
export function applicationDueMs(kind: ApplicationKind, collection: Collection, appliedMs: number): number {
  if (collection === 'instant') return appliedMs;
  if (kind === 'exchange') return workingDaysDueMs(appliedMs, EXCHANGE_WORKING_DAYS);
  return beijingStartOfDayMs(appliedMs) + (APPLICATION_DAYS + 1) * DAY_MS - 1;
}

export interface ApplyInput {
  holderId: number;
  kind: ApplicationKind;
  reason: ApplicationReason;
  oldCardNo?: string | null;
  issuingBank: string;
  branchId: string | null;
  collection: Collection;
  holderName: string;
  profile: HolderProfile;
  algorithm: CipherAlgorithm;
  overdraftLimitFen: number;
  transitOpened: boolean;
  suburbanOpened: boolean;
  /** scrypt hash of the service password the new card starts with (hashed outside the transaction). */
  passwordHash: string;
  passwordMustChange: boolean;
}

export interface ApplyOptions {
  /** Branches that make cards at once (即时制卡, q. 12, q. 29). */
  instantCardBranches: readonly string[];
}

/**
 * Files an application. A holder has at most one application in progress (409
 * application-open); a first card is refused to a holder with a card in use (409
 * holder-has-card; a lost card is replaced, a broken one exchanged). A holder whose bank change
 * is open (services/card-exchange.ts) applies for the new bank's card this way: the
 * application completes the change when its card is issued.
 */
export async function applyForCard(tx: Tx, input: ApplyInput, options: ApplyOptions, actor: string, nowMs: number): Promise<CardApplication> {
  if (input.collection === 'instant' && (input.branchId === null || !options.instantCardBranches.includes(input.branchId))) {
    throw new ApiError('instant-issue-not-offered', `branch ${input.branchId ?? '(none)'} does not make cards at once: collect at the branch or by mail`);
  }
  const open = await tx.get<Raw>("SELECT * FROM card_applications WHERE holder_id = ? AND state <> 'collected'", [input.holderId]);
  if (open !== undefined) {
    throw new ApiError('application-open', `the holder's application ${String(open.id)} is ${String(open.state)}`, { applicationId: String(open.id) });
  }
  let bankChangeId: number | null = null;
  if (input.kind === 'application') {
    const inUse = await tx.get<{ card_no: string }>(
      "SELECT card_no FROM cards WHERE holder_id = ? AND status IN ('active', 'temporary-loss') ORDER BY issued_ms LIMIT 1",
      [input.holderId],
    );
    if (inUse !== undefined) throw new ApiError('holder-has-card', `the holder's card ${inUse.card_no} is in use`);
    const change = await tx.get<{ id: number | bigint }>('SELECT id FROM bank_changes WHERE holder_id = ? AND completed_ms IS NULL', [input.holderId]);
    if (change !== undefined) {
      bankChangeId = Number(change.id);
      input = { ...input, reason: 'bank-change' };
    }
  }
  const dueMs = applicationDueMs(input.kind, input.collection, nowMs);
  const instant = input.collection === 'instant';
  const row = await tx.get<{ id: number | bigint }>(
    `INSERT INTO card_applications (holder_id, kind, reason, old_card_no, bank_change_id, issuing_bank, branch_id, collection, state, holder_name, profile,
       algorithm, overdraft_limit_fen, transit_opened, suburban_opened, password_hash, password_must_change, applied_ms, due_ms, making_ms, made_ms,
       collected_ms, new_card_no, created_by)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?) RETURNING id`,
    [
      input.holderId,
      input.kind,
      input.reason,
      input.oldCardNo ?? null,
      bankChangeId,
      input.issuingBank,
      input.branchId,
      input.collection,
      instant ? 'ready' : 'applied',
      input.holderName,
      input.profile,
      input.algorithm,
      input.overdraftLimitFen,
      input.transitOpened ? 1 : 0,
      input.suburbanOpened ? 1 : 0,
      input.passwordHash,
      input.passwordMustChange ? 1 : 0,
      nowMs,
      dueMs,
      instant ? nowMs : null,
      instant ? nowMs : null,
      actor,
    ],
  );
  return (await getApplication(tx, String(row!.id), nowMs))!;
}

/**
 * The factory's step: applied cards go into making; cards whose due time has come are made
 * (ready at the branch, or mailed). Idempotent; returns the ids it finished.
 */
export async function advanceCardFactory(tx: Tx, nowMs: number): Promise<string[]> {
  // Taken at a run after the application's moment, so 'applied' is a state a query can see.
  await tx.run("UPDATE card_applications SET state = 'making', making_ms = ? WHERE state = 'applied' AND applied_ms < ?", [nowMs, nowMs]);
  const due = await tx.all<{ id: number | bigint; collection: string }>(
    "SELECT id, collection FROM card_applications WHERE state = 'making' AND due_ms <= ? ORDER BY id",
    [nowMs],
  );
  for (const row of due) {
    const made = row.collection === 'mail' ? 'mailed' : 'ready';
    await tx.run("UPDATE card_applications SET state = ?, made_ms = ? WHERE id = ? AND state = 'making'", [made, nowMs, Number(row.id)]);
  }
  return due.map((row) => String(row.id));
}

/** The application by id (the factory brought up to `nowMs` first), or undefined. */
export async function getApplication(tx: Tx, id: string, nowMs: number): Promise<CardApplication | undefined> {
  if (!/^[1-9][0-9]{0,15}$/.test(id)) return undefined;
  await advanceCardFactory(tx, nowMs);
  const row = await tx.get<Raw>('SELECT * FROM card_applications WHERE id = ?', [Number(id)]);
  return row === undefined ? undefined : fromRow(row);
}

/** The application or `404 application-not-found`. */
export async function requireApplication(tx: Tx, id: string, nowMs: number): Promise<CardApplication> {
  const application = await getApplication(tx, id, nowMs);
  if (application === undefined) throw new ApiError('application-not-found', `no card application ${id}`);
  return application;
}

/**
 * Status and progress (q. 36) of a holder's applications, newest first: what counters, the
 * hotline and the online holder account show. The factory is brought up to `nowMs` first.
 */
export async function holderApplications(tx: Tx, holderId: number, nowMs: number): Promise<CardApplication[]> {
  await advanceCardFactory(tx, nowMs);
  const rows = await tx.all<Raw>('SELECT * FROM card_applications WHERE holder_id = ? ORDER BY applied_ms DESC, id DESC', [holderId]);
  return rows.map(fromRow);
}

export interface CollectOptions {
  keys: IssuerKeysPort;
  issuerCode: string;
  cardNoPrefix: string;
  expiryDate: number;
  generation?: CardGeneration;
}

export interface Collected {
  application: CardApplication;
  issued: IssuedCard;
  /** Park passes moved from the old card (exchange), written into the new card's image. */
  parkPasses: MovedPass[];
}

/**
 * Hands the made card over: personalises it (the holder, the application's bank and functions),
 * completes a bank change, and marks the application collected. Before the card is made: 409
 * card-not-ready with the time it is due. A second collection of the same application is a 409
 * too (the card was handed over once).
 */
export async function collectCard(
  tx: Tx,
  id: string,
  options: CollectOptions,
  actor: { subject: string; branchId: string | null },
  nowMs: number,
): Promise<Collected> {
  const application = await requireApplication(tx, id, nowMs);
  if (application.state === 'collected') throw new ApiError('card-not-ready', `application ${id} was collected: card ${application.newCardNo}`);
  if (application.state !== 'ready' && application.state !== 'mailed') {
    throw new ApiError('card-not-ready', `application ${id} is ${application.state}; the card is due by ${new Date(application.dueMs).toISOString()}`, {
      dueMs: application.dueMs,
    });
  }
  const raw = (await tx.get<Raw>('SELECT * FROM card_applications WHERE id = ?', [application.id]))!;
  const issued = await issueCard(
    tx,
    options.keys,
    {
      holderName: application.holderName,
      profile: String(raw.profile) as HolderProfile,
      generation: options.generation ?? 3,
      algorithm: String(raw.algorithm) as CipherAlgorithm,
      expiryDate: options.expiryDate,
      overdraftLimitFen: Number(raw.overdraft_limit_fen),
      transitOpened: Number(raw.transit_opened) === 1,
      suburbanOpened: Number(raw.suburban_opened) === 1,
      initialPasswordHash: String(raw.password_hash),
      passwordMustChange: Number(raw.password_must_change) === 1,
      replaces: application.oldCardNo,
      holderId: application.holderId,
      issuingBank: application.issuingBank,
    },
    actor,
    nowMs,
    options.issuerCode,
    options.cardNoPrefix,
  );
  const cardNo = issued.card.cardNo;
  await tx.run("UPDATE card_applications SET state = 'collected', collected_ms = ?, new_card_no = ? WHERE id = ?", [nowMs, cardNo, application.id]);
  if (application.oldCardNo !== null) {
    await tx.run('UPDATE cards SET replaced_by = ?, updated_ms = ? WHERE card_no = ? AND replaced_by IS NULL', [cardNo, nowMs, application.oldCardNo]);
  }
  if (application.bankChangeId !== null) {
    // The change is complete with the new card's issue (q. 26 counts the 6 months from here).
    await tx.run('UPDATE bank_changes SET new_card_no = ?, to_bank = ?, completed_ms = ? WHERE id = ? AND completed_ms IS NULL', [
      cardNo,
      application.issuingBank,
      nowMs,
      application.bankChangeId,
    ]);
  }
  let image = issued.image;
  let parkPasses: MovedPass[] = [];
  if (application.oldCardNo !== null) {
    // The pass follows the holder [P]: personalised into the new card with the visits the back office has.
    parkPasses = await movePassesToNewCard(tx, application.oldCardNo, cardNo, nowMs);
    const slots = [...image.parkPasses] as typeof image.parkPasses;
    const ascending = [...parkPasses].sort((a, b) => a.year - b.year).slice(-2);
    ascending.forEach((pass, i) => {
      slots[ascending.length === 2 ? i : 1] = { year: pass.year, visits: pass.visits, lastParkId: 0, lastEntryTime: 0 };
    });
    image = { ...image, parkPasses: slots };
  }
  const card = await findCard(tx, cardNo);
  const imageHex = Buffer.from(encodeCardImage(image)).toString('hex').toUpperCase();
  return { application: (await getApplication(tx, id, nowMs))!, issued: { card: card!, image, imageHex }, parkPasses };
}
