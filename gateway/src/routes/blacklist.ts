/** GET /v1/blacklist?since={version}: the versioned delta feed, one page at a time. */
import type { FastifyInstance } from 'fastify';
import { LIMITS } from '#core';
import { bearerSecurity, queryInt, queryIntSchema, withProblems } from '../http/schemas.ts';
import { readBlacklistFeed } from '../services/blacklist.ts';

export async function blacklistRoutes(app: FastifyInstance): Promise<void> {
  const { store, clock } = app.gateway;

  app.get<{ Querystring: { since?: string; limit?: string } }>(
    '/v1/blacklist',
    {
      config: { roles: ['counter', 'device'] },
      schema: {
        tags: ['blacklist'],
        summary: 'Blacklist changes after a version, ascending (expired temporary losses appear as removals)',
        security: bearerSecurity,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            since: queryIntSchema('last version applied; 0 for everything'),
            limit: queryIntSchema(`page size, at most ${LIMITS.blacklistDeltaPage}`),
          },
        },
        response: withProblems({
          200: {
            type: 'object',
            required: ['entries', 'version', 'more'],
            properties: {
              entries: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['version', 'cardNo', 'op', 'reason'],
                  properties: {
                    version: { type: 'integer' },
                    cardNo: { type: 'string' },
                    op: { type: 'string', enum: ['add', 'remove'] },
                    reason: { type: 'string', enum: ['temporary-loss', 'formal-loss', 'replaced', 'refunded', 'cloned', 'cancelled'] },
                  },
                },
              },
              version: { type: 'integer', description: 'version reached after applying entries' },
              more: { type: 'boolean', description: 'another page waits' },
            },
          },
        }),
      },
    },
    async (request) => {
      const since = queryInt(request.query.since, 0, 'since');
      const limit = queryInt(request.query.limit, LIMITS.blacklistDeltaPage, 'limit', LIMITS.blacklistDeltaPage, 1);
      const nowMs = clock();
      return store.transaction((tx) => readBlacklistFeed(tx, since, nowMs, limit));
    },
  );
}
