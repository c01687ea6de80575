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
import type { FastifyInstance } from 'fastify';
import { LIMITS, selectFareTables } from '#core';
import { actorOf, requirePrincipal } from '../auth/scope.ts';
import { ApiError, registerErrorCodes } from '../http/problem.ts';
import { bearerSecurity, withProblems } from '../http/schemas.ts';
import { auditEntryFor, markAudited, recordAudit } from '../services/audit.ts';
import { BUILT_IN_FARE_TABLE_VERSION, builtInFareTableOf, listFareTables, publishFareTables, publishedFareTableJson } from '../services/fare-tables.ts';

export const FARE_TABLE_ERROR_CODES = {
  'invalid-fare-tables': { status: 400, title: 'The fare tables do not decode, or break a fare rule' },
  'fare-table-version-not-newer': { status: 409, title: 'The fare-table version is not greater than the latest version' },
  'fare-table-effective-before-latest': { status: 409, title: 'A later fare-table version may not take effect before the latest one' },
  'fare-table-effective-in-past': { status: 409, title: 'A fare table may not take effect in the past' },
  'fare-table-not-found': { status: 404, title: 'No such fare-table version' },
} as const;
registerErrorCodes(FARE_TABLE_ERROR_CODES);

const FARE_TABLES_FORMAT = 'fare-tables/1';

const fareTableListingSchema = {
  type: 'object',
  required: ['version', 'effectiveFromMs', 'builtIn', 'sha256', 'bytes', 'publishedBy', 'publishedMs'],
  properties: {
    version: { type: 'integer' },
    effectiveFromMs: { type: 'integer', description: 'in force from this instant (epoch ms)' },
    builtIn: { type: 'boolean', description: 'version 1: the configured network CSV with the default policies, built into the gateway' },
    sha256: { type: ['string', 'null'], description: 'SHA-256 (hex) of the JSON text devices receive' },
    bytes: { type: ['integer', 'null'] },
    publishedBy: { type: ['string', 'null'], description: 'role:subject of the operator' },
    publishedMs: { type: ['integer', 'null'] },
  },
} as const;

/** The top level of core's fare-tables bundle; core's decoder checks every nested field and rule. */
const fareTablesBodySchema = {
  type: 'object',
  required: [
    'format',
    'version',
    'effectiveFromMs',
    'subwayCsv',
    'subwayPolicy',
    'busPolicy',
    'busLines',
    'suburban',
    'parkAndRideLots',
    'parkPolicy',
    'parks',
  ],
  additionalProperties: false,
  properties: {
    format: { type: 'string', const: FARE_TABLES_FORMAT },
    version: { type: 'integer', minimum: 1, maximum: 0xffffffff, description: 'greater than every version there is (the built-in table is 1)' },
    effectiveFromMs: {
      type: 'integer',
      minimum: 0,
      description: "in force from this instant (epoch ms, normally a Beijing midnight); not before the latest version's",
    },
    subwayCsv: { type: 'string', minLength: 1, description: 'the subway network sections CSV (data/beijing-subway-sections.csv format)' },
    subwayPolicy: { type: 'object', description: 'core SubwayFarePolicy' },
    busPolicy: { type: 'object', description: 'core BusFarePolicy' },
    busLines: { type: 'array', items: { type: 'object' }, description: 'core BusLine[]' },
    suburban: { type: 'object', description: 'core SuburbanRail' },
    parkAndRideLots: { type: 'array', items: { type: 'object' }, description: 'core ParkAndRideLot[]' },
    parkPolicy: { type: 'object', description: 'core ParkPolicy' },
    parks: { type: 'array', items: { type: 'object' }, description: 'core Park[]' },
  },
} as const;

export async function fareTablesRoutes(app: FastifyInstance): Promise<void> {
  const { store, clock } = app.gateway;
  const builtIn = builtInFareTableOf(app.gateway);

  app.post<{ Body: Record<string, unknown> }>(
    '/v1/fare-tables',
    {
      bodyLimit: LIMITS.fareTablesJsonChars,
      schema: {
        tags: ['fares'],
        summary: 'Publish a fare table: a versioned fare-tables bundle with its effective date; devices receive it at sync',
        description:
          "Body: core's fare-tables bundle (format 'fare-tables/1', as encodeFareTablesJson writes it). It is decoded and every rule checked by core's decoder " +
          '(a bad bundle is 400 invalid-fare-tables and changes nothing); the version must be greater than every version there is (409 fare-table-version-not-newer) ' +
          "and the effective date not before the latest version's (409 fare-table-effective-before-latest) nor more than 5 minutes in the past (409 fare-table-effective-in-past). Devices receive the table in force, then every announced one, " +
          'and charge each tap by the table in force at its time. Audited (the target is the version).',
        security: bearerSecurity,
        body: fareTablesBodySchema,
        response: withProblems({ 201: fareTableListingSchema }, [409]),
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
      return published;
    },
  );

  app.get(
    '/v1/fare-tables',
    {
      schema: {
        tags: ['fares'],
        summary: 'Every fare-table version (the built-in 1, then the published ones, ascending) and the one in force now',
        security: bearerSecurity,
        response: withProblems({
          200: {
            type: 'object',
            required: ['fareTables', 'inForceVersion'],
            properties: {
              fareTables: { type: 'array', items: fareTableListingSchema },
              inForceVersion: { type: ['integer', 'null'], description: 'the version in force at the gateway clock' },
            },
          },
        }),
      },
    },
    async () => {
      const fareTables = await store.transaction((tx) => listFareTables(tx), { readOnly: true });
      return { fareTables, inForceVersion: selectFareTables(fareTables, clock())?.version ?? null };
    },
  );

  app.get<{ Params: { version: string } }>(
    '/v1/fare-tables/:version',
    {
      schema: {
        tags: ['fares'],
        summary: "One version's fare-tables bundle, exactly as devices receive it",
        security: bearerSecurity,
        params: {
          type: 'object',
          required: ['version'],
          additionalProperties: false,
          properties: { version: { type: 'string', pattern: '^[1-9][0-9]{0,9}$' } },
        },
        response: withProblems(
          {
            200: {
              description: "core's fare-tables bundle (format 'fare-tables/1')",
              content: { 'application/json': { schema: { type: 'object', additionalProperties: true } } },
            },
          },
          [404],
        ),
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
      return reply.type('application/json').send(json);
    },
  );
}
