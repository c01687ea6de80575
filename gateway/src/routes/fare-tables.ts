/**
 * Fare-table publishing (operators only):
 *   POST /v1/fare-tables             publish a versioned fare-tables bundle with its effective date
 *   GET  /v1/fare-tables             every version (the built-in 1, then the published ones)
 *   GET  /v1/fare-tables/{version}   one version's bundle, as devices receive it
 * The bundle is core's 'fare-tables/1' JSON (encodeFareTablesJson of a FareTablesSpec; start
 * from defaultFareTablesSpec and change what the new table changes). Sync hands devices the
 * next version they need (services/fare-tables.ts); validators pick the table in force by the
 * time of each tap.
 */
import type { FastifyReply } from 'fastify';
import { defaultFareTablesSpec, encodeFareTablesJson, LIMITS, selectFareTables } from '#core';
import { actorOf, requirePrincipal } from '../auth/scope.ts';
import { ApiError, registerErrorCodes } from '../http/problem.ts';
import {
  AUTHENTICATED,
  BEARER,
  type GatewayApp,
  Nullable,
  nullableTimestamp,
  problems,
  type Static,
  timestamp,
  Type,
  WITH_BODY,
  withExamples,
  withIso,
} from '../http/wire.ts';
import { auditEntryFor, markAudited, recordAudit } from '../services/audit.ts';
import {
  BUILT_IN_FARE_TABLE_VERSION,
  builtInFareTableOf,
  type FareTableListing as FareTableListingRecord,
  listFareTables,
  publishFareTables,
  publishedFareTableJson,
} from '../services/fare-tables.ts';

export const FARE_TABLE_ERROR_CODES = {
  'invalid-fare-tables': { status: 400, title: 'The fare tables do not decode, or break a fare rule' },
  'fare-table-version-not-newer': { status: 409, title: 'The fare-table version is not greater than the latest version' },
  'fare-table-effective-before-latest': { status: 409, title: 'A later fare-table version may not take effect before the latest one' },
  'fare-table-effective-in-past': { status: 409, title: 'A fare table may not take effect in the past' },
  'fare-table-not-found': { status: 404, title: 'No such fare-table version' },
  'fare-table-line-without-operator': { status: 400, title: 'The line → operator table gives no operator for a line of the network' },
} as const;
registerErrorCodes(FARE_TABLE_ERROR_CODES);

const FARE_TABLES_FORMAT = 'fare-tables/1';

const EFFECTIVE_MS = Date.UTC(2026, 5, 30, 16, 0, 0); // 2026-07-01 00:00 Beijing
const PUBLISHED_MS = Date.UTC(2026, 5, 20, 2, 0, 0);

const FareTableListing = Type.Object({
  version: Type.Integer({ description: 'fare-table version (the built-in table is 1)', examples: [2] }),
  ...timestamp('effectiveFromMs', 'in force from this instant', EFFECTIVE_MS),
  builtIn: Type.Boolean({ description: 'version 1: the configured network CSV with the default policies, built into the gateway' }),
  sha256: Nullable(Type.String({ description: 'SHA-256 (hex) of the JSON text devices receive; null for the built-in table' })),
  bytes: Nullable(Type.Integer({ description: 'length of that JSON text, bytes; null for the built-in table' })),
  publishedBy: Nullable(Type.String({ description: 'role:subject of the operator who published it; null for the built-in table' })),
  ...nullableTimestamp('publishedMs', 'when it was published; null for the built-in table', PUBLISHED_MS),
});
type FareTableListing = Static<typeof FareTableListing>;

function listingWire(listing: FareTableListingRecord): FareTableListing {
  return withIso(listing, 'effectiveFromMs', 'publishedMs');
}

/** core's nested fare-table parts: checked field by field by core's decoder, not here. */
const CoreObject = (description: string) => Type.Unsafe<Record<string, unknown>>({ type: 'object', description });
const CoreArray = (description: string) => Type.Array(CoreObject(description), { description: `${description}[]` });

/** The top level of core's fare-tables bundle; core's decoder checks every nested field and rule. */
const FareTablesBody = Type.Object(
  {
    format: Type.Literal(FARE_TABLES_FORMAT, { description: 'bundle format' }),
    version: Type.Integer({ minimum: 1, maximum: 0xffffffff, description: 'greater than every version there is (the built-in table is 1)' }),
    effectiveFromMs: Type.Integer({
      minimum: 0,
      description: "in force from this instant (epoch ms, normally a Beijing midnight); not before the latest version's",
    }),
    subwayCsv: Type.String({ minLength: 1, description: 'the subway network sections CSV (line,from_station,to_station,distance_m)' }),
    subwayPolicy: CoreObject('core SubwayFarePolicy'),
    busPolicy: CoreObject('core BusFarePolicy'),
    busLines: CoreArray('core BusLine'),
    suburban: CoreObject('core SuburbanRail'),
    parkAndRideLots: CoreArray('core ParkAndRideLot'),
    parkPolicy: CoreObject('core ParkPolicy'),
    parks: CoreArray('core Park'),
    revenueSplit: Type.Optional(
      CoreObject(
        'core RevenueSplitTable: who is paid for each subway line, bus line, P+R lot and suburban rail (清分); it must give every line of subwayCsv an operator. Absent: the 2026 default',
      ),
    ),
  },
  { additionalProperties: false },
);

/** A short network for the examples (the real bundle carries the whole network CSV). */
const EXAMPLE_SUBWAY_CSV = 'line,from_station,to_station,distance_m\n1号线,苹果园,古城,2569\n1号线,古城,八宝山,3874\n';
const EXAMPLE_BUNDLE = JSON.parse(encodeFareTablesJson(defaultFareTablesSpec(EXAMPLE_SUBWAY_CSV, 2, EFFECTIVE_MS))) as Record<string, unknown>;

const FareTableList = Type.Object({
  fareTables: Type.Array(FareTableListing, { description: 'the built-in version 1, then the published ones, ascending' }),
  inForceVersion: Nullable(Type.Integer({ description: 'the version in force at the gateway clock' })),
});

const VersionParams = Type.Object(
  { version: Type.String({ pattern: '^[1-9][0-9]{0,9}$', description: 'fare-table version', examples: ['2'] }) },
  { additionalProperties: false },
);

/** GET /v1/fare-tables/{version} sends the stored text as it is: this describes it. */
const FareTablesBundle = Type.Unsafe<Record<string, unknown>>({
  type: 'object',
  required: ['format', 'version', 'effectiveFromMs'],
  additionalProperties: true,
  description:
    "core's fare-tables bundle (format 'fare-tables/1'), byte for byte the text devices receive (its SHA-256 is the listing's sha256), so it is not re-written: " +
    'effectiveFromMs is epoch milliseconds; the listing (GET /v1/fare-tables) gives the same instant as effectiveFromAt.',
});

const BUILT_IN_LISTING = listingWire({
  version: 1,
  effectiveFromMs: 0,
  builtIn: true,
  sha256: null,
  bytes: null,
  publishedBy: null,
  publishedMs: null,
});
const PUBLISHED_LISTING = listingWire({
  version: 2,
  effectiveFromMs: EFFECTIVE_MS,
  builtIn: false,
  sha256: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
  bytes: 48213,
  publishedBy: 'operator:admin',
  publishedMs: PUBLISHED_MS,
});

export async function fareTablesRoutes(app: GatewayApp): Promise<void> {
  const { store, clock } = app.gateway;
  const builtIn = builtInFareTableOf(app.gateway);

  app.post(
    '/v1/fare-tables',
    {
      bodyLimit: LIMITS.fareTablesJsonChars,
      schema: {
        tags: ['fares'],
        summary: 'Publish a fare table: a versioned fare-tables bundle with its effective date; devices receive it at sync',
        description:
          "Body: core's fare-tables bundle (format 'fare-tables/1', as encodeFareTablesJson writes it). It is decoded and every rule checked by core's decoder " +
          '(a bad bundle is 400 invalid-fare-tables and changes nothing; a line → operator table, `revenueSplit` or the 2026 default when absent, that misses a line of the network is 400 fare-table-line-without-operator naming the lines); the version must be greater than every version there is (409 fare-table-version-not-newer) ' +
          "and the effective date not before the latest version's (409 fare-table-effective-before-latest) nor more than 5 minutes in the past (409 fare-table-effective-in-past). Devices receive the table in force, then every announced one, " +
          'and charge each tap by the table in force at its time. Audited (the target is the version).',
        security: BEARER,
        body: withExamples(FareTablesBody, {
          july: { summary: 'Version 2 in force from 1 July (network CSV shortened here)', value: EXAMPLE_BUNDLE },
        }),
        response: {
          201: withExamples(FareTableListing, { published: { summary: 'Version 2 published', value: PUBLISHED_LISTING } }, 'The published version'),
          ...problems(
            ...AUTHENTICATED,
            ...WITH_BODY,
            'invalid-fare-tables',
            'fare-table-line-without-operator',
            'fare-table-version-not-newer',
            'fare-table-effective-before-latest',
            'fare-table-effective-in-past',
          ),
        },
      },
    },
    async (request, reply) => {
      const principal = requirePrincipal(request);
      const nowMs = clock();
      const published = await store.transaction(async (tx) => {
        const listing = await publishFareTables(tx, JSON.stringify(request.body), actorOf(principal), nowMs);
        // Audited with the work, naming the version (the route has no path parameter to name).
        const entry = auditEntryFor(request, 201, nowMs);
        if (entry !== null) await recordAudit(tx, { ...entry, target: `v${listing.version}` });
        return listing;
      });
      markAudited(request, 201);
      reply.code(201);
      return listingWire(published);
    },
  );

  app.get(
    '/v1/fare-tables',
    {
      schema: {
        tags: ['fares'],
        summary: 'Every fare-table version (the built-in 1, then the published ones, ascending) and the one in force now',
        description:
          'The built-in version 1 (the configured network CSV with the default policies), then every published version with its effective date, checksum and publisher, ascending; ' +
          'inForceVersion is the one in force at the gateway clock. Devices receive the versions they need at sync.',
        security: BEARER,
        response: {
          200: withExamples(
            FareTableList,
            {
              announced: {
                summary: 'Version 2 announced for 1 July, version 1 in force',
                value: { fareTables: [BUILT_IN_LISTING, PUBLISHED_LISTING], inForceVersion: 1 },
              },
            },
            'Every version and the one in force',
          ),
          ...problems(...AUTHENTICATED),
        },
      },
    },
    async () => {
      const fareTables = await store.transaction((tx) => listFareTables(tx), { readOnly: true });
      return { fareTables: fareTables.map(listingWire), inForceVersion: selectFareTables(fareTables, clock())?.version ?? null };
    },
  );

  app.get(
    '/v1/fare-tables/:version',
    {
      schema: {
        tags: ['fares'],
        summary: "One version's fare-tables bundle, exactly as devices receive it",
        description:
          'The bundle of one version, byte for byte the JSON text devices receive at sync (for version 1, the built-in table). An unknown version is 404 fare-table-not-found.',
        security: BEARER,
        params: VersionParams,
        response: {
          200: withExamples(
            FareTablesBundle,
            { july: { summary: 'Version 2 (network CSV shortened here)', value: EXAMPLE_BUNDLE } },
            "core's fare-tables bundle",
          ),
          ...problems(...AUTHENTICATED, 'fare-table-not-found'),
        },
      },
    },
    async (request, reply) => {
      const version = Number(request.params.version);
      let json: string | null;
      if (version === BUILT_IN_FARE_TABLE_VERSION) {
        json = builtIn()?.json ?? null;
      } else {
        json = await store.transaction((tx) => publishedFareTableJson(tx, version), { readOnly: true });
      }
      if (json === null) throw new ApiError('fare-table-not-found', `no fare-table version ${version}`);
      // The stored text as it is (the bytes devices receive, not re-serialised): the typed reply knows only the object shape.
      return (reply as unknown as FastifyReply).type('application/json').send(json);
    },
  );
}
