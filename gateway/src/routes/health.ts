/**
 * GET /healthz (liveness: the process answers; nothing else is touched), GET /readyz
 * (readiness: store, migrations, issuer keys, not shutting down; 503 problem naming the failing
 * checks), both without authentication; GET /metrics (Prometheus text, operators only).
 */
import type { FastifyInstance } from 'fastify';
import { PROBLEM_CONTENT_TYPE, problemFor, registerErrorCodes } from '../http/problem.ts';
import { bearerSecurity, withProblems } from '../http/schemas.ts';
import { checkReadiness, READINESS_CHECKS } from '../observability/readiness.ts';

registerErrorCodes({
  'not-ready': { status: 503, title: 'The gateway is not ready to serve: see the failing checks' },
});

const checkSchema = {
  type: 'object',
  required: ['status', 'detail'],
  properties: { status: { type: 'string', enum: ['ok', 'fail'] }, detail: { type: 'string' } },
} as const;

const checksSchema = {
  type: 'object',
  required: [...READINESS_CHECKS],
  properties: {
    store: { ...checkSchema, description: 'a read-only round trip to the database within the timeout' },
    migrations: {
      type: 'object',
      required: ['status', 'detail', 'expected', 'current'],
      description: 'every schema migration of this build is applied',
      properties: {
        ...checkSchema.properties,
        expected: { type: 'integer', description: 'highest migration id this build knows' },
        current: { type: ['integer', 'null'], description: 'highest migration id in the database' },
      },
    },
    keys: { ...checkSchema, description: 'the issuer keys answer (no key material is read)' },
    lifecycle: { ...checkSchema, description: 'fail once a SIGTERM/SIGINT started the graceful shutdown' },
  },
} as const;

export async function healthRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/healthz',
    {
      config: { public: true },
      schema: {
        tags: ['ops'],
        summary: 'Liveness: the process answers (no database round trip; no authentication)',
        description: 'For a restart policy only. Whether the instance should get traffic is GET /readyz.',
        response: {
          200: {
            type: 'object',
            required: ['status', 'store'],
            properties: { status: { type: 'string', enum: ['ok'] }, store: { type: 'string', description: 'the configured store (sqlite or postgres)' } },
          },
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
          "200 with each check's status, or 503 application/problem+json (code not-ready) whose `failing` names the failed checks and `checks` gives every check's detail.",
        response: {
          200: {
            type: 'object',
            required: ['status', 'checks'],
            properties: { status: { type: 'string', enum: ['ready'] }, checks: checksSchema },
          },
          503: {
            description: 'not ready: problem details (code not-ready) with `failing` and `checks`',
            content: {
              [PROBLEM_CONTENT_TYPE]: {
                schema: {
                  type: 'object',
                  required: ['type', 'title', 'status', 'detail', 'code', 'failing', 'checks'],
                  properties: {
                    type: { type: 'string' },
                    title: { type: 'string' },
                    status: { type: 'integer' },
                    detail: { type: 'string' },
                    instance: { type: 'string' },
                    code: { type: 'string' },
                    failing: { type: 'array', items: { type: 'string', enum: [...READINESS_CHECKS] } },
                    checks: checksSchema,
                  },
                },
              },
            },
          },
        },
      },
    },
    async (request, reply) => {
      const readiness = await checkReadiness(app.gateway, app.readinessTimeoutMs);
      if (readiness.ready) return { status: 'ready' as const, checks: readiness.checks };
      const detail = `not ready: ${readiness.failing.map((name) => `${name} (${readiness.checks[name].detail})`).join('; ')}`;
      request.log.warn({ failing: readiness.failing }, 'readiness check failed');
      const problem = problemFor('not-ready', detail, '/readyz', { failing: readiness.failing, checks: readiness.checks });
      return reply.code(503).type(PROBLEM_CONTENT_TYPE).send(problem);
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
        security: bearerSecurity,
        response: withProblems({
          200: {
            description: 'Prometheus text format 0.0.4',
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
        }),
      },
    },
    async (_request, reply) => {
      const metrics = app.gatewayMetrics;
      return reply.type(metrics.contentType).send(await metrics.scrape());
    },
  );
}
