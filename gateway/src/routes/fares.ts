/** GET /v1/fares/subway?from=…&to=…: undiscounted distance fare between two stations. */
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { parseSubwayNetwork, quoteSubwayFare, UnknownStationError, type SubwayNetwork } from '#core';
import { ApiError } from '../http/problem.ts';
import { bearerSecurity, withProblems } from '../http/schemas.ts';
import { toWireYuan } from '../http/yuan-wire.ts';

/** The network is parsed once per CSV path (hundreds of stations, all-pairs distances). */
const networks = new Map<string, Promise<SubwayNetwork>>();

export function loadSubwayNetwork(csvPath: string): Promise<SubwayNetwork> {
  let network = networks.get(csvPath);
  if (!network) {
    network = readFile(csvPath, 'utf8').then((text) => parseSubwayNetwork(text));
    network.catch(() => networks.delete(csvPath));
    networks.set(csvPath, network);
  }
  return network;
}

export async function faresRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Querystring: { from: string; to: string } }>(
    '/v1/fares/subway',
    {
      config: { roles: ['counter', 'app', 'device'] },
      schema: {
        tags: ['fares'],
        summary: 'Subway distance and full fare between two stations (shortest path over the network)',
        security: bearerSecurity,
        querystring: {
          type: 'object',
          required: ['from', 'to'],
          additionalProperties: false,
          properties: {
            from: { type: 'string', minLength: 1, maxLength: 64 },
            to: { type: 'string', minLength: 1, maxLength: 64 },
          },
        },
        response: withProblems(
          {
            200: {
              type: 'object',
              required: ['from', 'to', 'distanceM', 'fare'],
              properties: {
                from: { type: 'string' },
                to: { type: 'string' },
                distanceM: { type: 'integer' },
                fare: { type: 'string', description: 'yuan' },
              },
            },
          },
          [404],
        ),
      },
    },
    async (request) => {
      let network: SubwayNetwork;
      try {
        network = await loadSubwayNetwork(app.gateway.subwayNetworkCsvPath);
      } catch (error) {
        request.log.error({ err: error }, 'subway network unavailable');
        throw new ApiError('unavailable', 'the subway network data is not available');
      }
      const { from, to } = request.query;
      try {
        const quote = quoteSubwayFare(network, from, to);
        return { from, to, distanceM: quote.distanceM, fare: toWireYuan(quote.fareFen) };
      } catch (error) {
        if (error instanceof UnknownStationError) {
          throw new ApiError('station-not-found', `unknown station "${String(error.station)}"`, { station: String(error.station) });
        }
        if (error instanceof RangeError) throw new ApiError('route-not-found', error.message);
        throw error;
      }
    },
  );
}
