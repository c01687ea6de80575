/** GET /healthz: liveness plus a database round trip; no authentication. */
import type { FastifyInstance } from 'fastify';

export async function healthRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/healthz',
    {
      config: { public: true },
      schema: {
        tags: ['ops'],
        summary: 'Liveness and database check (no authentication)',
        response: {
          200: {
            type: 'object',
            required: ['status', 'store'],
            properties: { status: { type: 'string', enum: ['ok'] }, store: { type: 'string' } },
          },
          503: { $ref: 'Problem#' },
        },
      },
    },
    async () => {
      const { store } = app.gateway;
      await store.transaction((tx) => tx.get('SELECT 1 AS one'), { readOnly: true });
      return { status: 'ok' as const, store: store.dialect };
    },
  );
}
