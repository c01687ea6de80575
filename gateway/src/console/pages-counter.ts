/**
 * Counter pages (tellers and supervisors of a bank branch, service point or outlet): find a card
 * by number or by the holder's ID number, the card page, the actions (each with a confirmation
 * step, then a printable receipt) and the end-of-shift teller report (printable and CSV).
 *
 * Every action is the JSON API's route, called as the person (console/api.ts); the actions that
 * need the card present drive the card-reader port (console/card-reader.ts). Actions the
 * counter's channel may not perform are not offered (counterActions), and the route refuses
 * them anyway.
 */
import { type CardRecordKind, isCardNo, LIMITS, parseYuan } from '#core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { findCard } from '../services/cards.ts';
import { assertChannelMay, type ChannelCard, type Operation } from '../services/channel-rules.ts';
import { moneyCaller } from '../routes/loads.ts';
import { beijingDayRange } from '../services/money-time.ts';
import { type ApiAnswer, callApi } from './api.ts';
import { FORM_KEY_PATTERN, type FormOutcome, formResult, newFormKey, runFormOnce } from './form-once.ts';
import { beijingDay } from './i18n.ts';
import type { ConsoleKit, ConsoleUser } from './install.ts';
import { CONSOLE_PREFIX } from './install.ts';

type Form = Record<string, string | undefined>;
type Json = Record<string, unknown>;

export const COUNTER_ACTIONS = [
  'topup',
  'loss-temporary',
  'loss-formal',
  'lift',
  'unblock',
  'replacement',
  'refund',
  'cancellation',
  'suburban',
  'park-pass',
  'read-log',
  'void-load',
] as const;
export type CounterAction = (typeof COUNTER_ACTIONS)[number];

/** Actions that need the card on the reader (replacement: the new card is written there). */
const NEEDS_CARD: ReadonlySet<CounterAction> = new Set(['topup', 'park-pass', 'unblock', 'suburban', 'read-log', 'replacement']);

const PAYMENT_SOURCES = ['cash', 'other-bank-card', 'bank-account'] as const;
const CANCEL_SCOPES = ['card', 'social-security'] as const;

/** The channel-matrix operation behind each counter action (services/channel-rules.ts). */
export const ACTION_OPERATION: Record<CounterAction, Operation> = {
  topup: 'top-up',
  'loss-temporary': 'loss-temporary',
  'loss-formal': 'loss-formal',
  lift: 'loss-lift',
  unblock: 'unblock',
  replacement: 'replacement',
  refund: 'exchange',
  // Cancelling the social-security function; the whole card with its transit refund is 'cancel-transit-refund' (cancelScopes).
  cancellation: 'cancel',
  suburban: 'suburban-opening',
  'park-pass': 'park-pass',
  // Resolving a pending or torn top-up belongs to the top-up row (the routes name it so).
  'read-log': 'top-up',
  'void-load': 'top-up',
};

/**
 * The actions this person's counter may perform (for this card, when given: some cells hold
 * only at the card's issuing bank). The channel rules are the server's, read from the same
 * matrix the routes enforce; this only decides what the page offers, the routes refuse the
 * rest anyway. Actions that need the card are offered only with a card reader.
 */
export function counterActions(kit: ConsoleKit, user: ConsoleUser, card?: ChannelCard): Set<CounterAction> {
  const allowed = new Set<CounterAction>();
  for (const action of COUNTER_ACTIONS) {
    if (NEEDS_CARD.has(action) && kit.options.cardReader === null) continue;
    try {
      assertChannelMay(user.principal, ACTION_OPERATION[action], card, { nowMs: kit.app.gateway.clock() });
      allowed.add(action);
    } catch {
      // not this channel's (or not for this card's bank)
    }
  }
  return allowed;
}

/** The cancellation scopes this counter may take for the card: the whole card only where its transit refund may be made. */
export function cancelScopes(kit: ConsoleKit, user: ConsoleUser, card?: ChannelCard): Array<(typeof CANCEL_SCOPES)[number]> {
  const nowMs = kit.app.gateway.clock();
  return CANCEL_SCOPES.filter((scope) => {
    try {
      assertChannelMay(user.principal, scope === 'card' ? 'cancel-transit-refund' : 'cancel', card, { nowMs });
      return true;
    } catch {
      return false;
    }
  });
}

/** The card fields the issuing-bank cells need, or undefined when there is no such card. */
async function channelCard(kit: ConsoleKit, cardNo: string): Promise<ChannelCard | undefined> {
  const card = await kit.app.gateway.store.transaction((tx) => findCard(tx, cardNo), { readOnly: true });
  return card ? { cardNo, issuingBank: card.issuingBank } : undefined;
}

/** A card number the API takes (16 digits, or a 19-digit T-Union number); not narrowing, so an ID number is tested after it. */
const CARD_NO = { test: (value: string): boolean => isCardNo(value) };
const ID_NUMBER = /^[0-9]{17}[0-9Xx]$/;

function scopeOf(user: ConsoleUser): string {
  return `staff:${user.staff!.username}`;
}

export interface Receipt {
  kind: CounterAction;
  cardNo: string;
  atMs: number;
  operator: string;
  operatorName: string;
  branch: string | null;
  ok: boolean;
  /** Field-level or page-level message keys when the action was refused after the card was involved. */
  message: string | null;
  /** A replacement: the new card (the receipt links to it). */
  newCardNo?: string;
  fields: Array<[labelKey: string, value: string]>;
}

interface ActionInput {
  amount?: string;
  paymentSource?: string;
  destinationAccount?: string;
  destinationName?: string;
  /** cancel: 'card' or 'social-security'. */
  scope?: string;
  /** void-load: the pending load. */
  loadId?: string;
}

/** Field errors of an action's form (empty: valid); parsing only, the rules are the API's. */
function inputProblems(action: CounterAction, input: ActionInput): Record<string, string> {
  const errors: Record<string, string> = {};
  if (action === 'topup') {
    let fen: number | null = null;
    try {
      fen = parseYuan(String(input.amount ?? ''));
    } catch {
      errors.amount = 'error.invalid-amount';
    }
    if (fen !== null && (fen <= 0 || fen > LIMITS.maxLoadFen)) errors.amount = 'error.amount-range';
  }
  if (action === 'topup' || action === 'park-pass') {
    if (!(PAYMENT_SOURCES as readonly string[]).includes(String(input.paymentSource))) errors.paymentSource = 'field.payment-source';
  }
  const refundTo = action === 'refund' || (action === 'cancellation' && input.scope === 'card' && (input.destinationAccount || input.destinationName));
  if (refundTo) {
    if (!/^[0-9]{10,30}$/.test(String(input.destinationAccount ?? ''))) errors.destinationAccount = 'error.account-invalid';
    const name = String(input.destinationName ?? '').trim();
    if (name.length === 0 || name.length > 64) errors.destinationName = 'error.name-invalid';
  }
  if (action === 'cancellation' && !(CANCEL_SCOPES as readonly string[]).includes(String(input.scope))) errors.scope = 'error.scope';
  if (action === 'void-load' && !/^[0-9]{1,18}$/.test(String(input.loadId ?? ''))) errors.loadId = 'error.load';
  return errors;
}

/** Where an API refusal is shown: next to its field, else on top of the form. */
function problemField(code: string): string {
  if (code === 'invalid-amount' || code === 'balance-cap-exceeded' || code === 'amount-out-of-range') return 'amount';
  if (code === 'invalid-request') return 'form';
  return 'form';
}

function refusal(answer: ApiAnswer<unknown>): { code: string; detail: string } {
  if (answer.ok) return { code: 'ok', detail: '' };
  return { code: answer.problem.code, detail: answer.problem.detail };
}

export async function counterPages(app: FastifyInstance, kit: ConsoleKit): Promise<void> {
  const counter = kit.requireStaff('teller', 'supervisor');
  const { store, clock } = kit.app.gateway;
  const reader = kit.options.cardReader;

  app.get('/counter', { preHandler: counter }, async (request, reply) => kit.render(request, reply, 'counter-find', { title: 'counter.title', cards: null }));

  app.get('/counter/find', { preHandler: counter }, async (request, reply) => {
    const q = String((request.query as Form).q ?? '').trim();
    if (CARD_NO.test(q)) return reply.redirect(`${CONSOLE_PREFIX}/counter/cards/${q}`, 303);
    if (!ID_NUMBER.test(q)) {
      return kit.render(request, reply, 'counter-find', { title: 'counter.title', cards: null, errors: { q: 'counter.query-invalid' }, values: { q } }, 400);
    }
    const user = request.consoleUser!;
    const answer = await callApi<{ cards: Json[]; holder: Json }>(kit.app, user.principal, 'POST', '/v1/holders/search', {
      body: { idNumber: q.toUpperCase() },
      requestId: String(request.id),
    });
    if (!answer.ok) {
      const key = answer.problem.code === 'holder-not-found' ? 'counter.no-holder' : 'counter.query-invalid';
      return kit.render(request, reply, 'counter-find', { title: 'counter.title', cards: null, errors: { q: key }, values: { q: '' } }, answer.status);
    }
    return kit.render(request, reply, 'counter-find', { title: 'counter.title', cards: answer.body.cards, holder: answer.body.holder, values: { q: '' } });
  });

  async function cardPage(request: FastifyRequest, reply: FastifyReply, cardNo: string, extra: Json = {}, status = 200) {
    const user = request.consoleUser!;
    const card = await callApi<Json>(kit.app, user.principal, 'GET', `/v1/cards/${cardNo}`, { requestId: String(request.id) });
    if (!card.ok) {
      return kit.render(request, reply, 'counter-find', { title: 'counter.title', cards: null, errors: { q: 'card.not-found' }, values: { q: cardNo } }, 404);
    }
    const history = await callApi<{ transactions: Json[] }>(kit.app, user.principal, 'GET', `/v1/cards/${cardNo}/transactions?limit=20`, {
      requestId: String(request.id),
    });
    const facts = await store.transaction(
      async (tx) => ({
        pending: await tx.all(
          "SELECT id, amount_fen, payment_source, branch, created_ms FROM loads WHERE card_no = ? AND status = 'pending' ORDER BY id DESC LIMIT 20",
          [cardNo],
        ),
        refund: await tx.get<{ id: number }>('SELECT id FROM refunds WHERE card_no = ?', [cardNo]),
        passes: await tx.all('SELECT pass_year, sold_ms, payment_source FROM park_pass_sales WHERE card_no = ? ORDER BY pass_year DESC LIMIT 5', [cardNo]),
      }),
      { readOnly: true },
    );
    const refund = facts.refund ? await callApi<Json>(kit.app, user.principal, 'GET', `/v1/refunds/${facts.refund.id}`) : null;
    let cardPasses: Array<{ year: number; visits: number }> | null = null;
    let cardBalanceFen: number | null = null;
    let cardLocked: boolean | null = null;
    if (reader) {
      try {
        cardPasses = await reader.parkPasses(cardNo);
        cardBalanceFen = await reader.balanceFen(cardNo);
        cardLocked = await reader.locked(cardNo);
      } catch {
        cardPasses = null;
      }
    }
    // What the page offers also follows the card's state (the routes refuse the rest anyway).
    const ownBranch = moneyCaller(user.principal).branch;
    const stateAllows: Partial<Record<CounterAction, boolean>> = {
      unblock: cardLocked === true,
      suburban: card.body.suburbanOpened !== true && card.body.status === 'active',
      replacement: card.body.status === 'formal-loss',
      'read-log': facts.pending.length > 0,
      'void-load': facts.pending.some((l) => String(l.branch) === ownBranch),
    };
    const actions = [...counterActions(kit, user, { cardNo, issuingBank: String(card.body.issuingBank) })].filter((a) => stateAllows[a] !== false);
    return kit.render(
      request,
      reply,
      'counter-card',
      {
        title: 'card.title',
        card: card.body,
        history: history.ok ? history.body.transactions : [],
        pending: facts.pending,
        refund: refund?.ok ? refund.body : null,
        passes: facts.passes,
        cardPasses,
        cardBalanceFen,
        cardLocked,
        actions,
        ...extra,
      },
      status,
    );
  }

  app.get('/counter/cards/:cardNo', { preHandler: counter }, async (request, reply) => {
    const { cardNo } = request.params as { cardNo: string };
    if (!CARD_NO.test(cardNo)) return reply.redirect(`${CONSOLE_PREFIX}/counter`, 303);
    return cardPage(request, reply, cardNo);
  });

  function actionOf(request: FastifyRequest): { cardNo: string; action: CounterAction } | null {
    const { cardNo, action } = request.params as { cardNo: string; action: string };
    if (!CARD_NO.test(cardNo) || !(COUNTER_ACTIONS as readonly string[]).includes(action)) return null;
    return { cardNo, action: action as CounterAction };
  }

  async function notAllowed(request: FastifyRequest, reply: FastifyReply) {
    return kit.render(request, reply, 'error', { title: 'app.not-allowed', message: 'app.not-allowed' }, 403);
  }

  /** The choices an action's form offers: payment sources, cancellation scopes, this branch's pending loads. */
  async function formChoices(user: ConsoleUser, cardNo: string, card: ChannelCard | undefined) {
    const branch = moneyCaller(user.principal).branch;
    const ownPending = await store.transaction(
      (tx) =>
        tx.all<{ id: number; amount_fen: number; created_ms: number }>(
          "SELECT id, amount_fen, created_ms FROM loads WHERE card_no = ? AND status = 'pending' AND branch = ? ORDER BY id DESC LIMIT 20",
          [cardNo, branch],
        ),
      { readOnly: true },
    );
    return { sources: PAYMENT_SOURCES, scopes: cancelScopes(kit, user, card), ownPending };
  }

  app.get('/counter/cards/:cardNo/:action', { preHandler: counter }, async (request, reply) => {
    const target = actionOf(request);
    if (!target) return reply.callNotFound();
    const user = request.consoleUser!;
    const card = await channelCard(kit, target.cardNo);
    if (!counterActions(kit, user, card).has(target.action)) return notAllowed(request, reply);
    const choices = await formChoices(user, target.cardNo, card);
    return kit.render(request, reply, 'counter-action', {
      title: `action.${target.action}`,
      cardNo: target.cardNo,
      action: target.action,
      step: 'input',
      formKey: newFormKey(),
      values: { paymentSource: 'cash', scope: choices.scopes[0], loadId: choices.ownPending[0] ? String(choices.ownPending[0].id) : undefined },
      ...choices,
    });
  });

  app.post('/counter/cards/:cardNo/:action', { preHandler: [counter, kit.csrf] }, async (request, reply) => {
    const target = actionOf(request);
    if (!target) return reply.callNotFound();
    const user = request.consoleUser!;
    const body = (request.body ?? {}) as Form;
    const formKey = String(body.formKey ?? '');
    if (!FORM_KEY_PATTERN.test(formKey)) return kit.render(request, reply, 'error', { title: 'app.error', message: 'app.form-expired' }, 400);
    const card = await channelCard(kit, target.cardNo);
    if (!counterActions(kit, user, card).has(target.action)) return notAllowed(request, reply);
    const input: ActionInput = {
      amount: body.amount?.trim(),
      paymentSource: body.paymentSource,
      destinationAccount: body.destinationAccount?.trim() || undefined,
      destinationName: body.destinationName?.trim() || undefined,
      scope: body.scope,
      loadId: body.loadId?.trim(),
    };
    const choices = await formChoices(user, target.cardNo, card);
    const view = { title: `action.${target.action}`, cardNo: target.cardNo, action: target.action, formKey, values: input, ...choices };
    const errors = inputProblems(target.action, input);
    if (Object.keys(errors).length > 0) return kit.render(request, reply, 'counter-action', { ...view, step: 'input', errors }, 400);
    if (body.step !== 'confirm') return kit.render(request, reply, 'counter-action', { ...view, step: 'review' });

    const outcome = await runFormOnce<Receipt>(store, scopeOf(user), formKey, clock(), () =>
      perform(kit, user, target.cardNo, target.action, input, formKey, String(request.id)),
    );
    if (outcome.kind === 'in-progress') return kit.render(request, reply, 'error', { title: 'app.in-progress', message: 'app.in-progress' }, 409);
    if (outcome.kind === 'refused') {
      const message = outcome.result.message ?? 'app.error';
      const field = problemField(message);
      return kit.render(
        request,
        reply,
        'counter-action',
        { ...view, step: 'input', errors: field === 'form' ? { form: message } : { [field]: message }, problem: outcome.result.fields },
        409,
      );
    }
    return reply.redirect(`${CONSOLE_PREFIX}/counter/receipts/${formKey}${outcome.replay ? '?replay=1' : ''}`, 303);
  });

  app.get('/counter/receipts/:key', { preHandler: counter }, async (request, reply) => {
    const { key } = request.params as { key: string };
    if (!FORM_KEY_PATTERN.test(key)) return reply.callNotFound();
    const receipt = await formResult<Receipt>(store, scopeOf(request.consoleUser!), key);
    if (!receipt) return reply.callNotFound();
    const replay = (request.query as Form).replay === '1';
    return kit.render(request, reply, 'counter-receipt', { title: 'receipt.title', receipt, notice: replay ? 'app.replayed' : null });
  });

  app.get('/counter/report', { preHandler: counter }, async (request, reply) => {
    const day = String((request.query as Form).day ?? beijingDay(clock()));
    if (!beijingDayRange(day)) {
      return kit.render(request, reply, 'counter-report', { title: 'report.title', day, report: null, errors: { day: 'report.day' } }, 400);
    }
    const answer = await callApi<Json>(kit.app, request.consoleUser!.principal, 'GET', `/v1/reports/teller?day=${day}`, { requestId: String(request.id) });
    return kit.render(
      request,
      reply,
      'counter-report',
      { title: 'report.title', day, report: answer.ok ? answer.body : null },
      answer.ok ? 200 : answer.status,
    );
  });

  app.get('/counter/report.csv', { preHandler: counter }, async (request, reply) => {
    const day = String((request.query as Form).day ?? beijingDay(clock()));
    if (!beijingDayRange(day)) return reply.code(400).type('text/plain').send('day must be YYYY-MM-DD');
    const answer = await callApi<string>(kit.app, request.consoleUser!.principal, 'GET', `/v1/reports/teller?day=${day}`, { csv: true });
    if (!answer.ok) return reply.code(answer.status).type('text/plain').send(answer.problem.detail);
    return reply
      .header('content-type', String(answer.headers['content-type']))
      .header('content-disposition', String(answer.headers['content-disposition'] ?? `attachment; filename="teller-${day}.csv"`))
      .send(answer.raw);
  });
}

/** Runs one confirmed counter action through the API (and the reader); its receipt. */
async function perform(
  kit: ConsoleKit,
  user: ConsoleUser,
  cardNo: string,
  action: CounterAction,
  input: ActionInput,
  formKey: string,
  requestId: string,
): Promise<FormOutcome<Receipt>> {
  const { clock } = kit.app.gateway;
  const principal = user.principal;
  const receipt: Receipt = {
    kind: action,
    cardNo,
    atMs: clock(),
    operator: user.staff!.username,
    operatorName: user.staff!.displayName,
    branch: user.staff!.organisationId,
    ok: true,
    message: null,
    fields: [],
  };
  const refused = (answer: ApiAnswer<unknown>): FormOutcome<Receipt> => {
    const { code, detail } = refusal(answer);
    return { kind: 'refused', result: { ...receipt, ok: false, message: code, fields: [['app.error', detail]] } };
  };
  const readerRefused = (sw: number): FormOutcome<Receipt> => ({
    kind: 'refused',
    result: { ...receipt, ok: false, message: 'card.reader-refused', fields: [['app.error', `SW ${sw.toString(16).toUpperCase()}`]] },
  });
  const balanceField = async (): Promise<Array<[string, string]>> => {
    const card = await callApi<Json>(kit.app, principal, 'GET', `/v1/cards/${cardNo}`);
    return card.ok ? [['receipt.new-balance', String(card.body.balance)]] : [];
  };

  switch (action) {
    case 'topup': {
      const reader = kit.options.cardReader!;
      const amountFen = parseYuan(String(input.amount));
      const init = await reader.initializeForLoad(cardNo, amountFen);
      if (!init.value)
        return {
          kind: 'refused',
          result: { ...receipt, ok: false, message: 'card.reader-none', fields: [['app.error', `card answered ${init.sw.toString(16)}`]] },
        };
      const load = await callApi<Json>(kit.app, principal, 'POST', '/v1/loads', {
        headers: { 'idempotency-key': `console-${formKey}` },
        body: { cardNo, amount: String(input.amount), paymentSource: input.paymentSource, terminalId: reader.terminalId, ...init.value },
        requestId,
      });
      if (!load.ok) return refused(load);
      const credit = await reader.creditForLoad(cardNo, Number(load.body.date), Number(load.body.time), String(load.body.mac2));
      const fields: Array<[string, string]> = [
        ['receipt.load-id', String(load.body.id)],
        ['field.amount', String(load.body.amount ?? input.amount)],
        ['field.payment-source', `source.${input.paymentSource}`],
      ];
      if (!credit.value) {
        // Torn or refused write: the load stays pending until card evidence decides it.
        return { kind: 'done', result: { ...receipt, ok: false, message: 'receipt.torn', fields } };
      }
      const confirm = await callApi<Json>(kit.app, principal, 'POST', `/v1/loads/${load.body.id}/confirm`, { body: { tac: credit.value }, requestId });
      if (!confirm.ok) return { kind: 'done', result: { ...receipt, ok: false, message: confirm.problem.code, fields } };
      return { kind: 'done', result: { ...receipt, fields: [...fields, ...(await balanceField())] } };
    }
    case 'loss-temporary':
    case 'loss-formal': {
      const kind = action === 'loss-temporary' ? 'temporary' : 'formal';
      const answer = await callApi<Json>(kit.app, principal, 'POST', `/v1/cards/${cardNo}/loss-reports`, { body: { kind }, requestId });
      if (!answer.ok) return refused(answer);
      const report = (answer.body.report ?? {}) as Json;
      return {
        kind: 'done',
        result: {
          ...receipt,
          fields: [
            ['card.loss', `status.${kind}-loss`],
            ['receipt.blacklist', String(answer.body.blacklistVersion ?? '-')],
            ...(report.expiresAt ? ([['devices.expires', String(report.expiresAt)]] as Array<[string, string]>) : []),
          ],
        },
      };
    }
    case 'lift': {
      const answer = await callApi<Json>(kit.app, principal, 'DELETE', `/v1/cards/${cardNo}/loss-reports/current`, { requestId });
      if (!answer.ok) return refused(answer);
      return { kind: 'done', result: { ...receipt, fields: [['card.loss', 'status.active']] } };
    }
    case 'refund': {
      const answer = await callApi<Json>(kit.app, principal, 'POST', `/v1/cards/${cardNo}/refunds`, {
        body: { destinationAccount: input.destinationAccount, destinationName: input.destinationName },
        requestId,
      });
      if (!answer.ok) return refused(answer);
      return {
        kind: 'done',
        result: {
          ...receipt,
          fields: [
            ['receipt.refund-id', String(answer.body.id)],
            ['field.destination-account', String(answer.body.destinationAccount)],
            ['field.destination-name', String(answer.body.destinationName)],
            ['receipt.payable', String(answer.body.deadlineAt).slice(0, 10)],
          ],
        },
      };
    }
    case 'park-pass': {
      const reader = kit.options.cardReader!;
      const challenge = await reader.getChallenge(cardNo);
      if (!challenge.value) return { kind: 'refused', result: { ...receipt, ok: false, message: 'card.reader-none', fields: [] } };
      const slots = await reader.parkPasses(cardNo);
      const sale = await callApi<Json>(kit.app, principal, 'POST', `/v1/cards/${cardNo}/park-passes`, {
        headers: { 'idempotency-key': `console-${formKey}` },
        body: { challenge: challenge.value, paymentSource: input.paymentSource, cardPassYears: [slots[0]?.year ?? 0, slots[1]?.year ?? 0] },
        requestId,
      });
      if (!sale.ok) return refused(sale);
      const write = sale.body.write as { kind: 'park-pass-current' | 'park-pass-previous'; record: string; mac: string };
      const written = await reader.updateRecord(cardNo, write.kind, write.record, write.mac);
      return {
        kind: 'done',
        result: {
          ...receipt,
          ok: written.value === true,
          message: written.value === true ? null : 'receipt.torn',
          fields: [
            ['receipt.pass-year', String(sale.body.passYear)],
            ['field.amount', String(sale.body.price)],
            ['field.payment-source', `source.${input.paymentSource}`],
          ],
        },
      };
    }
    case 'unblock': {
      // APPLICATION UNBLOCK: the card's challenge, the issuer's MAC over it, the command to the card.
      const reader = kit.options.cardReader!;
      const challenge = await reader.getChallenge(cardNo);
      if (!challenge.value) return readerRefused(challenge.sw);
      const answer = await callApi<Json>(kit.app, principal, 'POST', `/v1/cards/${cardNo}/unblock`, { body: { challenge: challenge.value }, requestId });
      if (!answer.ok) return refused(answer);
      const written = await reader.applicationUnblock(cardNo, String(answer.body.mac));
      if (!written.value) return readerRefused(written.sw);
      return { kind: 'done', result: { ...receipt, fields: [['receipt.card-unlocked', 'app.yes']] } };
    }
    case 'suburban': {
      const reader = kit.options.cardReader!;
      const challenge = await reader.getChallenge(cardNo);
      if (!challenge.value) return readerRefused(challenge.sw);
      const answer = await callApi<Json>(kit.app, principal, 'POST', `/v1/cards/${cardNo}/functions`, {
        body: { challenge: challenge.value, suburban: true },
        requestId,
      });
      if (!answer.ok) return refused(answer);
      const write = answer.body.write as { kind: CardRecordKind; record: string; mac: string };
      const written = await reader.updateRecord(cardNo, write.kind, write.record, write.mac);
      // The back office has the function open; a write the card did not take is done again from the card page.
      return {
        kind: 'done',
        result: {
          ...receipt,
          ok: written.value === true,
          message: written.value === true ? null : 'receipt.write-failed',
          fields: [['card.functions', 'card.suburban']],
        },
      };
    }
    case 'replacement': {
      const answer = await callApi<Json>(kit.app, principal, 'POST', `/v1/cards/${cardNo}/replacement`, { body: {}, requestId });
      if (!answer.ok) return refused(answer);
      const fresh = answer.body.card as Json;
      const newCardNo = String(fresh.cardNo);
      const written = await kit.options.cardReader!.personalise(newCardNo, String(answer.body.cardImage));
      return {
        kind: 'done',
        result: {
          ...receipt,
          ok: written.value === true,
          message: written.value === true ? null : 'receipt.write-failed',
          newCardNo,
          fields: [
            ['receipt.new-card', newCardNo],
            ['receipt.old-card', 'status.replaced'],
          ],
        },
      };
    }
    case 'cancellation': {
      const body: Json = { scope: input.scope };
      if (input.scope === 'card' && input.destinationAccount) {
        body.destinationAccount = input.destinationAccount;
        body.destinationName = input.destinationName;
      }
      const answer = await callApi<Json>(kit.app, principal, 'POST', `/v1/cards/${cardNo}/cancellation`, { body, requestId });
      if (!answer.ok) return refused(answer);
      const fields: Array<[string, string]> = [
        ['field.scope', `scope.${input.scope}`],
        ['card.status', `status.${String(answer.body.status)}`],
      ];
      if (body.destinationAccount) {
        // The transit balance is refunded like a broken card's: its refund and payable date.
        const row = await kit.app.gateway.store.transaction((tx) => tx.get<{ id: number }>('SELECT id FROM refunds WHERE card_no = ?', [cardNo]), {
          readOnly: true,
        });
        const refund = row ? await callApi<Json>(kit.app, principal, 'GET', `/v1/refunds/${row.id}`) : null;
        if (refund?.ok) {
          fields.push(
            ['receipt.refund-id', String(refund.body.id)],
            ['field.destination-account', String(refund.body.destinationAccount)],
            ['receipt.payable', String(refund.body.deadlineAt).slice(0, 10)],
          );
        }
      }
      return { kind: 'done', result: { ...receipt, fields } };
    }
    case 'read-log': {
      // A pending or torn top-up decided by the card itself: its online ATC and log, read here.
      const evidence = await kit.options.cardReader!.readLoadEvidence(cardNo);
      if (!evidence.value) return readerRefused(evidence.sw);
      const answer = await callApi<{ confirmed: string[]; voided: string[]; reinstated: string[] }>(
        kit.app,
        principal,
        'POST',
        `/v1/cards/${cardNo}/log-evidence`,
        { body: evidence.value, requestId },
      );
      if (!answer.ok) return refused(answer);
      const list = (ids: string[]) => (ids.length === 0 ? '-' : ids.map((id) => `#${id}`).join(', '));
      return {
        kind: 'done',
        result: {
          ...receipt,
          message: answer.body.reinstated.length > 0 ? 'receipt.reinstated' : null,
          fields: [
            ['receipt.confirmed', list(answer.body.confirmed)],
            ['receipt.voided', list(answer.body.voided)],
            ['receipt.reinstated-ids', list(answer.body.reinstated)],
            ...(await balanceField()),
          ],
        },
      };
    }
    case 'void-load': {
      const answer = await callApi<Json>(kit.app, principal, 'POST', `/v1/loads/${input.loadId}/void`, { requestId });
      if (!answer.ok) return refused(answer);
      return {
        kind: 'done',
        result: {
          ...receipt,
          fields: [
            ['receipt.load-id', String(answer.body.id)],
            ['field.amount', String(answer.body.amount)],
            ['receipt.load-status', `load.${String(answer.body.status)}`],
            ...(await balanceField()),
          ],
        },
      };
    }
  }
}
