/**
 * GET/POST /v1/sandbox/clock: the sandbox's time, moved forward only. Moving it runs the jobs
 * that fall due at once (temporary losses expire after 15 days, refunds are paid after 2 natural
 * days), so an integrator sees in seconds what takes days in the field.
 */
import type { FastifyInstance } from 'fastify';
import { ApiError, registerErrorCodes } from '../http/problem.ts';
import { AUTHENTICATED, BEARER, problems, type Static, timestamp, Type, WITH_BODY, msAndIso, withExamples } from '../http/wire.ts';
import { expireTemporaryLosses } from '../services/blacklist.ts';
import { runDueJobs } from '../services/jobs.ts';
import { ClockBackwardsError, type SandboxClock } from './sandbox-clock.ts';

registerErrorCodes({
  'invalid-duration': { status: 400, title: 'The duration is not a positive ISO 8601 duration such as "P15D" or "PT2H30M"' },
  'sandbox-clock-backwards': { status: 409, title: 'The sandbox clock moves forward only' },
});

const DURATION = /^P(?:([0-9]{1,5})D)?(?:T(?:([0-9]{1,6})H)?(?:([0-9]{1,8})M)?(?:([0-9]{1,10})S)?)?$/;

/** "P15D", "PT2H30M", "P2DT1H" → milliseconds; null when it is not such a duration. */
export function parseDuration(text: string): number | null {
  const m = DURATION.exec(text);
  if (m === null || text === 'P' || text.endsWith('T')) return null;
  const [d, h, min, s] = m.slice(1).map((v) => Number(v ?? 0));
  return ((d * 24 + h) * 60 + min) * 60_000 + s * 1000;
}

const ClockAnswer = Type.Object(
  {
    ...timestamp('nowMs', 'Sandbox time now'),
    offsetSeconds: Type.Integer({ description: 'How far the sandbox clock is ahead of real time, seconds', examples: [1_296_000] }),
  },
  { additionalProperties: false },
);

const MoveBody = Type.Object(
  {
    by: Type.Optional(
      Type.String({
        maxLength: 40,
        description: 'Move forward by this ISO 8601 duration: days, hours, minutes, seconds ("P15D", "PT2H30M")',
        examples: ['P15D'],
      }),
    ),
    to: Type.Optional(
      Type.String({
        maxLength: 40,
        description: 'Move forward to this instant, ISO 8601 with an offset ("2027-01-21T10:00:00+08:00")',
        examples: ['2027-01-21T10:00:00+08:00'],
      }),
    ),
  },
  { additionalProperties: false },
);

const MoveAnswer = Type.Object(
  {
    ...timestamp('fromMs', 'Sandbox time before the move'),
    ...timestamp('nowMs', 'Sandbox time after the move'),
    offsetSeconds: Type.Integer({ description: 'How far the sandbox clock is ahead of real time, seconds', examples: [1_296_000] }),
    jobs: Type.Object(
      {
        temporaryLossesExpired: Type.Integer({ description: 'Temporary loss reports that expired (the card is active again)', examples: [1] }),
        refundsPaid: Type.Array(Type.String(), { description: 'Ids of the refunds paid out', examples: [['7']] }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export function sandboxClockRoutes(clock: SandboxClock) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { store } = app.gateway;
    const now = () => ({ ...msAndIso('nowMs', clock.now()), offsetSeconds: Math.floor(clock.offsetMs / 1000) });

    app.get(
      '/v1/sandbox/clock',
      {
        config: { roles: ['counter', 'app'], noChannelOperation: 'sandbox only: its clock' },
        schema: {
          tags: ['sandbox'],
          summary: 'Sandbox time',
          description: "The sandbox gateway's clock: real time plus how far it was moved forward (sandbox only).",
          security: BEARER,
          response: {
            200: withExamples(
              ClockAnswer,
              { now: { summary: 'Not moved yet', value: { nowMs: 1_798_000_000_000, nowAt: '2026-12-23T12:26:40.000+08:00', offsetSeconds: 0 } } },
              'The sandbox time',
            ),
            ...problems(...AUTHENTICATED),
          },
        },
      },
      async () => now(),
    );

    app.post<{ Body: Static<typeof MoveBody> }>(
      '/v1/sandbox/clock',
      {
        schema: {
          tags: ['sandbox'],
          summary: 'Move the sandbox clock forward and run the jobs that fall due',
          description:
            'Operators only, sandbox only. Give exactly one of `by` (a duration) or `to` (a later instant). The clock never goes back: ' +
            'a negative or malformed duration is 400 invalid-duration, an earlier instant 409 sandbox-clock-backwards. ' +
            'The temporary-loss expiry and the refund payout then run at the new time (see the answer), as their timers would.',
          security: BEARER,
          body: withExamples(MoveBody, {
            fifteenDays: { summary: 'Past the 15-day temporary loss', value: { by: 'P15D' } },
            instant: { value: { to: '2027-01-21T10:00:00+08:00' } },
          }),
          response: {
            200: withExamples(
              MoveAnswer,
              {
                fifteenDays: {
                  value: {
                    fromMs: 1773108000000,
                    fromAt: '2026-03-10T10:00:00.000+08:00',
                    nowMs: 1774404000000,
                    nowAt: '2026-03-25T10:00:00.000+08:00',
                    offsetSeconds: 1296000,
                    jobs: { temporaryLossesExpired: 1, refundsPaid: [] },
                  },
                },
              },
              'The clock moved, and what the jobs did',
            ),
            ...problems(...AUTHENTICATED, ...WITH_BODY, 'invalid-duration', 'sandbox-clock-backwards'),
          },
        },
      },
      async (request) => {
        const { by, to } = request.body;
        if ((by === undefined) === (to === undefined)) throw new ApiError('invalid-request', 'give exactly one of "by" (a duration) or "to" (an instant)');
        const fromMs = clock.now();
        let targetMs: number;
        if (by !== undefined) {
          const ms = parseDuration(by);
          if (ms === null) {
            throw new ApiError(
              'invalid-duration',
              by.startsWith('-')
                ? `the sandbox clock moves forward only: "${by}" is negative`
                : `"${by}" is not an ISO 8601 duration such as "P15D" or "PT2H30M"`,
            );
          }
          targetMs = fromMs + ms;
        } else {
          const parsed = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,3})?)?(Z|[+-][0-9]{2}:[0-9]{2})$/.test(to as string)
            ? Date.parse(to as string)
            : Number.NaN;
          if (!Number.isFinite(parsed))
            throw new ApiError('invalid-request', `"to" must be an ISO 8601 instant with an offset, such as "2027-01-21T10:00:00+08:00"`);
          targetMs = parsed;
        }
        let moved: { fromMs: number; toMs: number };
        try {
          moved = await clock.moveTo(targetMs);
        } catch (error) {
          if (error instanceof ClockBackwardsError) throw new ApiError('sandbox-clock-backwards', error.message);
          throw error;
        }
        const temporaryLossesExpired = await store.transaction((tx) => expireTemporaryLosses(tx, moved.toMs));
        const { refundsPaid } = await runDueJobs(store, moved.toMs, app.gateway.policies);
        return {
          ...msAndIso('fromMs', moved.fromMs),
          ...msAndIso('nowMs', moved.toMs),
          offsetSeconds: Math.floor(clock.offsetMs / 1000),
          jobs: { temporaryLossesExpired, refundsPaid: refundsPaid.map(String) },
        };
      },
    );
  };
}
