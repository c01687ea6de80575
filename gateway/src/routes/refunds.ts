/**
 * POST /v1/cards/{cardNo}/refunds (broken card), GET /v1/refunds/{id}, POST /v1/ops/jobs/run.
 * Rules in services/refunds.ts; the destination account is shown masked in every answer.
 */
import { LIMITS } from '#core';
import { ApiError } from '../http/problem.ts';
import {
  AUTHENTICATED,
  BEARER,
  CardNoParams,
  type GatewayApp,
  IdParams,
  isoBeijing,
  problems,
  Nullable,
  Type,
  timestamp,
  WITH_BODY,
  withExamples,
} from '../http/wire.ts';
import { assertChannelFor } from '../auth/channel.ts';
import { requirePrincipal } from '../auth/scope.ts';
import { CHANNEL_PROBLEMS } from '../services/channel-rules.ts';
import { getRefund, requestRefund } from '../services/refunds.ts';
import { runDueJobs, startJobTimer } from '../services/jobs.ts';
import { dayCloseContextOf } from '../services/day-close.ts';
// Registers the money routes' problem codes in the error table (a side-effect import).
import './money-problems.ts';
import { EXAMPLE_MS } from './card-schemas.ts';
import { EXAMPLE_PAID_REFUND, EXAMPLE_REFUND, RefundSchema, refundToWire } from './money-schemas.ts';
import { moneyCaller } from './loads.ts';
import { DebtBody, debtSettlement, lifecycleActor, RefundDestinationProps } from './lifecycle-schemas.ts';
import { refuseOtherIssuerCard } from '../services/issuers.ts';

export { refundToWire };

const RefundBody = Type.Object(
  {
    ...RefundDestinationProps,
    debt: Type.Optional(DebtBody),
  },
  { additionalProperties: false },
);

const JobsReport = Type.Object({
  refundsPaid: Type.Array(Type.String(), { description: 'ids of the refunds this run paid' }),
  cardsMade: Type.Array(Type.String(), { description: 'ids of the card applications the card factory finished (ready or mailed)' }),
  lostBalancesForfeited: Type.Array(Type.String(), {
    description: 'lost cards never replaced whose balance moved to liability:lost-card-forfeited (GATEWAY_LOST_BALANCE_FORFEIT_DAYS after the formal report)',
  }),
  dayCloseRefused: Nullable(
    Type.String({
      description: 'a business day that was due but does not reconcile (it stays open for a person; retried at every run), and why; null when none',
    }),
  ),
  daysClosed: Type.Array(Type.String(), {
    description:
      'business days closed by this run (docs/settlement.md): every active device synced after the cut-off, or GATEWAY_DAY_CLOSE_GRACE_HOURS passed since it',
  }),
  ...timestamp('ranAtMs', 'the gateway clock the jobs ran at', EXAMPLE_MS),
});

/** Due jobs (refund payouts) run on this timer too: GATEWAY_JOBS_INTERVAL_MS, default one minute, 0 = off. */
export function jobsIntervalMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.GATEWAY_JOBS_INTERVAL_MS;
  if (raw === undefined || raw === '') return 60_000;
  const value = Number(raw);
  return Number.isSafeInteger(value) && value >= 0 ? value : 60_000;
}

export async function refundRoutes(app: GatewayApp): Promise<void> {
  const stopJobs = startJobTimer(
    app.gateway.store,
    app.gateway.clock,
    jobsIntervalMs(),
    { ...app.gateway.policies, dayClose: dayCloseContextOf(app.gateway) },
    (error) => app.log.error({ err: error }, 'due jobs failed'),
  );
  app.addHook('onClose', async () => stopJobs());
  app.post(
    '/v1/cards/:cardNo/refunds',
    {
      // The balance refund of a broken card is the exchange's (q22, q46): at the issuing bank.
      config: { roles: ['counter'], operation: 'exchange' },
      bodyLimit: LIMITS.jsonBodyBytes,
      schema: {
        tags: ['refunds'],
        summary: 'Refund the purse balance of a broken card to a bank account within 2 natural days',
        description:
          'Blacklists the card at once (refunded, final). The shadow balance is paid as soon as every device registered before the blacklisting has drained its journal after downloading it, ' +
          'else at the deadline (end of the 2nd natural day after the request, Beijing time) with what is known; later taps are written off. Lost cards get no refund (`409 lost-card-no-refund`). ' +
          'An overdrawn card has a debt, not a refund: it is paid in at the counter or written off by a supervisor with the request (`debt`), else `409 card-has-debt` with the amount. ' +
          'A second request for the same card answers the first refund (200).',
        security: BEARER,
        params: CardNoParams,
        body: withExamples(RefundBody, {
          refund: { summary: "Pay to the holder's bank account", value: { destinationAccount: '6222020200112233456789', destinationName: '张三' } },
        }),
        response: {
          201: withExamples(RefundSchema, { waiting: { summary: 'Requested: waiting for two devices', value: EXAMPLE_REFUND } }, 'The refund, requested'),
          200: withExamples(RefundSchema, { again: { summary: 'The first request, now paid', value: EXAMPLE_PAID_REFUND } }, 'The refund requested earlier'),
          ...problems(
            'card-of-other-issuer',
            ...AUTHENTICATED,
            ...WITH_BODY,
            ...CHANNEL_PROBLEMS,
            'issuing-bank-only',
            'card-not-found',
            'card-not-active',
            'lost-card-no-refund',
            'card-has-debt',
            'supervisor-required',
          ),
        },
      },
    },
    async (request, reply) => {
      // Another T-Union city's card: its refund belongs to its issuer (issue 18).
      refuseOtherIssuerCard(app.gateway.policies, request.params.cardNo, 'refund');
      const principal = requirePrincipal(request);
      const caller = moneyCaller(principal);
      const actor = lifecycleActor(principal);
      const { store, clock } = app.gateway;
      const outcome = await store.transaction(
        async (tx) => {
          await tx.lockCards([request.params.cardNo]);
          // The issuing bank, read without side effects (the refund service reads the card under its own rules).
          const bank = await tx.get<{ issuing_bank: string }>('SELECT issuing_bank FROM cards WHERE card_no = ?', [request.params.cardNo]);
          if (bank === undefined) throw new ApiError('card-not-found', 'no such card');
          assertChannelFor(request, 'exchange', { cardNo: request.params.cardNo, issuingBank: String(bank.issuing_bank) });
          return requestRefund(
            tx,
            request.params.cardNo,
            { account: request.body.destinationAccount, name: request.body.destinationName },
            caller.scope,
            clock(),
            { settlement: debtSettlement(request.body.debt), actor: { name: actor.name, supervisor: actor.supervisor } },
          );
        },
        { isolation: 'read-committed' },
      );
      if (!outcome.ok) throw new ApiError(outcome.code, outcome.detail);
      return reply.code(outcome.created ? 201 : 200).send(refundToWire(outcome.refund));
    },
  );

  app.get(
    '/v1/refunds/:id',
    {
      config: { roles: ['counter'], operation: 'status-query' },
      schema: {
        tags: ['refunds'],
        summary: 'A refund and its state',
        description: 'The refund with what was paid, when, and the devices it still waits for; the destination account is masked.',
        security: BEARER,
        params: IdParams('refund id'),
        response: {
          200: withExamples(
            RefundSchema,
            { waiting: { summary: 'Waiting for devices', value: EXAMPLE_REFUND }, paid: { summary: 'Paid', value: EXAMPLE_PAID_REFUND } },
            'The refund',
          ),
          ...problems(...AUTHENTICATED, ...CHANNEL_PROBLEMS, 'refund-not-found'),
        },
      },
    },
    async (request) => {
      const { store } = app.gateway;
      const refund = await store.transaction((tx) => getRefund(tx, request.params.id), { readOnly: true });
      if (refund === undefined) throw new ApiError('refund-not-found', 'no such refund');
      return refundToWire(refund);
    },
  );

  app.post(
    '/v1/ops/jobs/run',
    {
      schema: {
        tags: ['ops'],
        summary: 'Run due jobs now (refund payouts, the card factory, lost-card balances, day close) at the gateway clock',
        description:
          'Pays the refunds that are due (devices drained, or the deadline passed), advances the simulated card factory (applied → making → ready or mailed at the due time) ' +
          'and moves the balance of lost cards never replaced to the forfeited account once GATEWAY_LOST_BALANCE_FORFEIT_DAYS have passed; ' +
          'closes the business days that are due (every active device synced after the cut-off, or the grace deadline passed; docs/settlement.md). ' +
          'A timer runs the same jobs (GATEWAY_JOBS_INTERVAL_MS). Operators only.',
        security: BEARER,
        response: {
          200: withExamples(
            JobsReport,
            {
              ran: {
                summary: 'One refund paid, one card made',
                value: {
                  refundsPaid: ['4'],
                  cardsMade: ['7'],
                  lostBalancesForfeited: [],
                  daysClosed: ['2026-03-09'],
                  dayCloseRefused: null,
                  ranAtMs: EXAMPLE_MS,
                  ranAt: isoBeijing(EXAMPLE_MS),
                },
              },
            },
            'What the run did',
          ),
          ...problems(...AUTHENTICATED),
        },
      },
    },
    async () => {
      const { store, clock } = app.gateway;
      const report = await runDueJobs(store, clock(), { ...app.gateway.policies, dayClose: dayCloseContextOf(app.gateway) });
      return { ...report, ranAt: isoBeijing(report.ranAtMs) };
    },
  );
}
