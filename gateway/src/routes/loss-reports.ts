/**
 * Loss reports (domain rules: seed questions 17-21). Temporary reports may be filed online (app),
 * at a counter or by an operator (hotline); a formal report, and lifting a temporary one early,
 * need the holder at a counter with ID (q. 18-19), so the app may not.
 */
import { assertChannelFor } from '../auth/channel.ts';
import { actorOf, requirePrincipal } from '../auth/scope.ts';
import { CHANNEL_PROBLEMS } from '../services/channel-rules.ts';
import { ApiError } from '../http/problem.ts';
import { AUTHENTICATED, BEARER, CardNoParams, type GatewayApp, Nullable, problems, StringEnum, Type, WITH_BODY, withExamples } from '../http/wire.ts';
import { lockBlacklist } from '../services/blacklist.ts';
import { checkActor, recordAgentAct } from '../services/agents.ts';
import { requireCard } from '../services/cards.ts';
import { AgentBody } from './lifecycle-schemas.ts';
import { currentLossReport, liftLossReport, reportLoss } from '../services/loss-reports.ts';
import { EXAMPLE_LOSS_REPORT, EXAMPLE_MS, LOSS_KINDS, LossReportSchema, lossReportToWire } from './card-schemas.ts';
import { isoBeijing } from '../http/wire.ts';
import { refuseOtherIssuerCard } from '../services/issuers.ts';

const LossResult = Type.Object({
  report: LossReportSchema,
  blacklistVersion: Nullable(Type.Integer({ description: 'the blacklist version that carries the change; null when the blacklist did not change' })),
});

const LossReportBody = Type.Object(
  {
    kind: StringEnum(LOSS_KINDS, { description: 'temporary (app, counter or hotline) or formal (at a counter with ID only)' }),
    agent: Type.Optional(AgentBody),
  },
  { additionalProperties: false },
);

const CARD_404 = 'card-not-found';

export async function lossReportsRoutes(app: GatewayApp): Promise<void> {
  const { store, clock, policies } = app.gateway;

  app.post(
    '/v1/cards/:cardNo/loss-reports',
    {
      // Temporary here; a formal report is checked in the handler (issuing bank, q19).
      config: { roles: ['counter', 'app'], operation: 'loss-temporary' },
      schema: {
        tags: ['loss reports'],
        summary: 'Report a card lost',
        description:
          'The card is blacklisted at once. A temporary report expires by itself after 15 days; a formal one is permanent and opens replacement. ' +
          'A formal report is made at a counter with ID: from the app it is `403 forbidden`. At a counter an agent may report a temporary loss for the holder (`agent`, recorded; a formal one is `403 agent-not-allowed`); ' +
          'a holder under 18 reports through a guardian with proof (`403 guardian-required` otherwise). A formal report on a card with a temporary one upgrades it; a second report of the same kind is `409 loss-report-exists`.',
        security: BEARER,
        params: CardNoParams,
        body: withExamples(LossReportBody, {
          temporary: { summary: 'A temporary loss (app, counter or hotline)', value: { kind: 'temporary' } },
          formal: { summary: 'A formal loss (counter)', value: { kind: 'formal' } },
          agent: {
            summary: "A temporary loss reported by an agent with the holder's written authorisation",
            value: {
              kind: 'temporary',
              agent: {
                actingAs: 'agent',
                idNumber: '110105198512240018',
                name: '李四',
                document: { kind: 'written-authorisation', reference: 'WT-2026-0001' },
              },
            },
          },
        }),
        response: {
          201: withExamples(
            LossResult,
            { temporary: { summary: 'A temporary report, blacklisted in version 12', value: { report: EXAMPLE_LOSS_REPORT, blacklistVersion: 12 } } },
            'The report and the blacklist version',
          ),
          ...problems(
            'card-of-other-issuer',
            ...AUTHENTICATED,
            ...WITH_BODY,
            ...CHANNEL_PROBLEMS,
            'issuing-bank-only',
            'agent-not-allowed',
            'guardian-required',
            CARD_404,
            'card-replaced',
            'loss-report-exists',
            'card-not-active',
          ),
        },
      },
    },
    async (request, reply) => {
      // Another T-Union city's card: its loss report belongs to its issuer (issue 18).
      refuseOtherIssuerCard(app.gateway.policies, request.params.cardNo, 'loss report');
      const principal = requirePrincipal(request);
      if (principal.role === 'app' && request.body.kind === 'formal') {
        throw new ApiError('forbidden', 'a formal loss report is made at a counter with ID');
      }
      if (principal.role === 'app' && request.body.agent) throw new ApiError('forbidden', 'an agent acts for the holder at a counter');
      const operation = request.body.kind === 'formal' ? 'loss-formal' : 'loss-temporary';
      const nowMs = clock();
      const result = await store.transaction(
        async (tx) => {
          await tx.lockCards([request.params.cardNo]);
          await lockBlacklist(tx);
          const card = await requireCard(tx, request.params.cardNo, nowMs);
          if (request.body.kind === 'formal') assertChannelFor(request, 'loss-formal', card);
          // Who acts (q37, q24): the holder, an agent, or a minor's guardian; the act is recorded.
          if (principal.role !== 'app') {
            const holder = await tx.get<{ birth_date: number | null }>(
              'SELECT h.birth_date FROM cards c JOIN holders h ON h.id = c.holder_id WHERE c.card_no = ?',
              [card.cardNo],
            );
            const birthDate = holder?.birth_date === null || holder?.birth_date === undefined ? null : Number(holder.birth_date);
            checkActor(operation, request.body.agent, birthDate, nowMs);
            if (request.body.agent) {
              await recordAgentAct(
                tx,
                app.gateway.holderIdKey,
                {
                  agent: request.body.agent,
                  holderId: card.holderId ?? null,
                  cardNo: card.cardNo,
                  operation,
                  actedBy: actorOf(principal),
                  organisationId: principal.organisation?.id ?? null,
                },
                nowMs,
              );
            }
          }
          return reportLoss(tx, request.params.cardNo, request.body.kind, actorOf(principal), nowMs, policies.temporaryLossMs);
        },
        { isolation: 'read-committed' },
      );
      return reply.code(201).send({ report: lossReportToWire(result.report), blacklistVersion: result.blacklistVersion });
    },
  );

  app.get(
    '/v1/cards/:cardNo/loss-reports/current',
    {
      config: { roles: ['counter', 'app'], operation: 'status-query' },
      schema: {
        tags: ['loss reports'],
        summary: 'The open loss report of the card',
        description:
          'The loss report that is open now; `404 loss-report-not-found` when the card has none (a temporary report that expired is no longer open).',
        security: BEARER,
        params: CardNoParams,
        response: {
          200: withExamples(LossReportSchema, { open: { summary: 'An open temporary report', value: EXAMPLE_LOSS_REPORT } }, 'The open report'),
          ...problems(...AUTHENTICATED, ...CHANNEL_PROBLEMS, CARD_404, 'loss-report-not-found'),
        },
      },
    },
    async (request) => {
      const nowMs = clock();
      return store.transaction(async (tx) => {
        await requireCard(tx, request.params.cardNo, nowMs);
        const report = await currentLossReport(tx, request.params.cardNo);
        if (!report) throw new ApiError('loss-report-not-found', `card ${request.params.cardNo} has no current loss report`);
        return lossReportToWire(report);
      });
    },
  );

  app.delete(
    '/v1/cards/:cardNo/loss-reports/current',
    {
      config: { roles: ['counter'], operation: 'loss-lift' },
      schema: {
        tags: ['loss reports'],
        summary: 'Lift a temporary loss report early',
        description:
          'With the card and ID at a counter: the report ends (`unblocked`) and the card leaves the blacklist. A formal report is permanent (`409 unblock-refused`); ' +
          'a card that was replaced can never be unblocked (`409 card-replaced`).',
        security: BEARER,
        params: CardNoParams,
        response: {
          200: withExamples(
            LossResult,
            {
              lifted: {
                summary: 'The report ended, the card removed from the blacklist in version 13',
                value: {
                  report: { ...EXAMPLE_LOSS_REPORT, endedMs: EXAMPLE_MS + 3_600_000, endedAt: isoBeijing(EXAMPLE_MS + 3_600_000), endReason: 'unblocked' },
                  blacklistVersion: 13,
                },
              },
            },
            'The ended report and the blacklist version',
          ),
          ...problems(...AUTHENTICATED, ...CHANNEL_PROBLEMS, 'issuing-bank-only', CARD_404, 'card-replaced', 'loss-report-not-found', 'unblock-refused'),
        },
      },
    },
    async (request) => {
      const nowMs = clock();
      const result = await store.transaction(
        async (tx) => {
          await tx.lockCards([request.params.cardNo]);
          await lockBlacklist(tx);
          assertChannelFor(request, 'loss-lift', await requireCard(tx, request.params.cardNo, nowMs));
          return liftLossReport(tx, request.params.cardNo, nowMs);
        },
        { isolation: 'read-committed' },
      );
      return { report: lossReportToWire(result.report), blacklistVersion: result.blacklistVersion };
    },
  );
}
