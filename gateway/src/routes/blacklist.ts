/** GET /v1/blacklist?since={version}: the versioned delta feed, one page at a time. */
import { LIMITS } from '#core';
import { queryInt } from '../http/schemas.ts';
import { AUTHENTICATED, BEARER, CardNo, type GatewayApp, problems, QueryInt, type Static, StringEnum, Type, withExamples } from '../http/wire.ts';
import { readBlacklistFeed } from '../services/blacklist.ts';

export const BlacklistQuery = Type.Object(
  {
    since: Type.Optional(QueryInt('last version applied; 0 (the default) for everything', '0')),
    limit: Type.Optional(QueryInt(`page size, at most ${LIMITS.blacklistDeltaPage} (the default)`, '500')),
  },
  { additionalProperties: false },
);

export const BLACKLIST_REASONS = ['temporary-loss', 'formal-loss', 'replaced', 'refunded', 'cloned', 'cancelled', 'exchanged'] as const;

export const BlacklistEntry = Type.Object({
  version: Type.Integer({ description: 'the blacklist version this change made' }),
  cardNo: CardNo(),
  op: StringEnum(['add', 'remove'], { description: 'add: refuse the card from now on; remove: accept it again' }),
  reason: StringEnum(BLACKLIST_REASONS, { description: 'why the card is (or was) listed' }),
});

export const BlacklistPage = Type.Object({
  entries: Type.Array(BlacklistEntry, { description: 'changes after `since`, ascending by version' }),
  version: Type.Integer({ description: 'version reached after applying entries' }),
  more: Type.Boolean({ description: 'another page waits: ask again with since = version' }),
});
export type BlacklistPage = Static<typeof BlacklistPage>;

export async function blacklistRoutes(app: GatewayApp): Promise<void> {
  const { store, clock } = app.gateway;

  app.get(
    '/v1/blacklist',
    {
      config: { roles: ['counter', 'device'], noChannelOperation: 'reference data: the blacklist feed every counter terminal and validator keeps' },
      schema: {
        tags: ['blacklist'],
        summary: 'Blacklist changes after a version, ascending',
        description:
          'The versioned delta feed validators and counters apply: every change after `since`, ascending, one page at a time (`more`). ' +
          'A temporary loss that expired (after 15 days) appears as a removal. Apply the entries in order and keep `version` for the next call.',
        security: BEARER,
        querystring: BlacklistQuery,
        response: {
          200: withExamples(
            BlacklistPage,
            {
              page: {
                summary: 'Two changes, the last page',
                value: {
                  entries: [
                    { version: 41, cardNo: '1000000000000016', op: 'add', reason: 'temporary-loss' },
                    { version: 42, cardNo: '1000000000000024', op: 'add', reason: 'replaced' },
                  ],
                  version: 42,
                  more: false,
                },
              },
            },
            'The changes after `since`',
          ),
          ...problems(...AUTHENTICATED),
        },
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
