/**
 * GET /healthz (liveness: the process answers; nothing else is touched), GET /readyz
 * (readiness: store, migrations, issuer keys, not shutting down; 503 problem naming the failing
 * checks), both without authentication; GET /metrics (Prometheus text, operators only).
 */
import type { FastifyReply } from 'fastify';
import { PROBLEM_CONTENT_TYPE, problemFor, registerErrorCodes } from '../http/problem.ts';
import { AUTHENTICATED, BEARER, type GatewayApp, Nullable, problems, PUBLIC, StringEnum, Type, withExamples } from '../http/wire.ts';
import { checkReadiness, EXPECTED_MIGRATION, READINESS_CHECKS } from '../observability/readiness.ts';

registerErrorCodes({
  'not-ready': { status: 503, title: 'The gateway is not ready to serve: see the failing checks' },
});

const checkProps = (description: string) => ({
  status: StringEnum(['ok', 'fail'], { description: `ok or fail: ${description}` }),
  detail: Type.String({ description: 'what was found (a failure names the cause)', examples: ['ok'] }),
});
const Check = (description: string) => Type.Object(checkProps(description), { description });

const Checks = Type.Object({
  store: Check('a read-only round trip to the database within the timeout'),
  migrations: Type.Object(
    {
      ...checkProps('every schema migration of this build is applied'),
      expected: Type.Integer({ description: 'highest migration id this build knows', examples: [EXPECTED_MIGRATION] }),
      current: Nullable(Type.Integer({ description: 'highest migration id in the database; null when none or unreadable' })),
    },
    { description: 'every schema migration of this build is applied' },
  ),
  keys: Check('the issuer keys answer (no key material is read)'),
  lifecycle: Check('fail once a SIGTERM/SIGINT started the graceful shutdown'),
});

const Liveness = Type.Object({
  status: StringEnum(['ok'], { description: 'always ok: the process answers' }),
  store: Type.String({ description: 'the configured store (sqlite or postgres)', examples: ['sqlite'] }),
});

const Ready = Type.Object({
  status: StringEnum(['ready'], { description: 'every check passed' }),
  checks: Checks,
});

const READY_EXAMPLE = {
  status: 'ready',
  checks: {
    store: { status: 'ok', detail: 'ok' },
    migrations: { status: 'ok', detail: 'ok', expected: EXPECTED_MIGRATION, current: EXPECTED_MIGRATION },
    keys: { status: 'ok', detail: 'ok' },
    lifecycle: { status: 'ok', detail: 'ok' },
  },
};

const METRICS_EXAMPLE = [
  '# HELP gateway_http_requests_total HTTP requests answered, by method, route template (unmatched: no route) and status code',
  '# TYPE gateway_http_requests_total counter',
  'gateway_http_requests_total{method="GET",route="/v1/blacklist",status_code="200"} 1532',
  '# HELP gateway_ledger_discrepancy_fen Card liability in the ledger minus the sum of shadow balances, fen: 0 when the books agree',
  '# TYPE gateway_ledger_discrepancy_fen gauge',
  'gateway_ledger_discrepancy_fen 0',
  '',
].join('\n');

export async function healthRoutes(app: GatewayApp): Promise<void> {
  app.get(
    '/healthz',
    {
      config: { public: true },
      schema: {
        tags: ['ops'],
        summary: 'Liveness: the process answers (no database round trip; no authentication)',
        description: 'For a restart policy only. Whether the instance should get traffic is GET /readyz.',
        security: PUBLIC,
        response: {
          200: withExamples(Liveness, { alive: { summary: 'The process answers', value: { status: 'ok', store: 'sqlite' } } }, 'The process answers'),
          ...problems(400, 500),
        },
      },
    },
    async () => ({ status: 'ok' as const, store: app.gateway.store.dialect }),
  );

  app.get(
    '/readyz',
    {
      config: { public: true },
      schema: {
        tags: ['ops'],
        summary: 'Readiness: store reachable, migrations applied, issuer keys loaded, not shutting down (no authentication)',
        description:
          "200 with each check's status, or 503 application/problem+json (code not-ready) whose members `failing` (the names of the failed checks: " +
          `${READINESS_CHECKS.join(', ')}) and \`checks\` (every check's status and detail, as in the 200 answer) say what is wrong. A load balancer sends traffic only to a ready instance.`,
        security: PUBLIC,
        response: {
          200: withExamples(Ready, { ready: { summary: 'Every check passed', value: READY_EXAMPLE } }, 'Ready: every check passed'),
          ...problems(400, 500, 'not-ready'),
        },
      },
    },
    async (request, reply) => {
      const readiness = await checkReadiness(app.gateway, app.readinessTimeoutMs);
      if (readiness.ready) return { status: 'ready' as const, checks: readiness.checks };
      const detail = `not ready: ${readiness.failing.map((name) => `${name} (${readiness.checks[name].detail})`).join('; ')}`;
      request.log.warn({ failing: readiness.failing }, 'readiness check failed');
      const problem = problemFor('not-ready', detail, '/readyz', { failing: readiness.failing, checks: readiness.checks });
      // The problem is sent as it is (the typed reply knows only the 200 shape).
      return (reply as unknown as FastifyReply).code(503).type(PROBLEM_CONTENT_TYPE).send(problem);
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['ops'],
        summary: 'Prometheus metrics, text exposition format (operators only)',
        description:
          'Requests by route template and status, loads, sync records, refunds, devices, blacklist, pending loads, ledger discrepancy, PostgreSQL pool, process. ' +
          'Store gauges come from a periodic job and are cached (a scrape never queries the database). See docs/operations.md.',
        security: BEARER,
        response: {
          200: {
            description: 'Prometheus text format 0.0.4',
            content: {
              'text/plain': { schema: { type: 'string' }, examples: { scrape: { summary: 'Part of a scrape', value: METRICS_EXAMPLE } } },
            },
          },
          ...problems(...AUTHENTICATED),
        },
      },
    },
    async (_request, reply) => {
      const metrics = app.gatewayMetrics;
      return reply.type(metrics.contentType).send(await metrics.scrape());
    },
  );
}
