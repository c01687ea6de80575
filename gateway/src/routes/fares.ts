/** GET /v1/fares/subway?from=…&to=…: undiscounted distance fare between two stations. */
import { readFile } from 'node:fs/promises';
import { parseSubwayNetwork, quoteSubwayFare, UnknownStationError, type SubwayNetwork } from '#core';
import { ApiError } from '../http/problem.ts';
import { AUTHENTICATED, BEARER, type GatewayApp, money, problems, Type, withExamples, yuanAndFen } from '../http/wire.ts';

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

const Station = (description: string, example: string) => Type.String({ minLength: 1, maxLength: 64, description, examples: [example] });

const FareQuery = Type.Object(
  {
    from: Station('station where the ride starts, by its name in the network (Chinese)', '苹果园'),
    to: Station('station where the ride ends', '古城'),
  },
  { additionalProperties: false },
);

const FareQuote = Type.Object({
  from: Type.String({ description: 'the station asked as from', examples: ['苹果园'] }),
  to: Type.String({ description: 'the station asked as to', examples: ['古城'] }),
  distanceM: Type.Integer({ description: 'shortest distance over the network, metres', examples: [2569] }),
  ...money('fare', 'full (undiscounted) distance fare', 300),
});

export async function faresRoutes(app: GatewayApp): Promise<void> {
  app.get(
    '/v1/fares/subway',
    {
      config: { roles: ['counter', 'app', 'device'], noChannelOperation: 'reference data: fare quotes between stations, for every channel' },
      schema: {
        tags: ['fares'],
        summary: 'Subway distance and full fare between two stations (shortest path over the network)',
        description:
          "The undiscounted distance fare of the subway network the gateway serves (its network CSV): the shortest distance between the two stations and the fare by Beijing's distance bands. " +
          'Discounts (monthly rail spending, student, elderly) and time rules are applied by the validators at each tap, not here. ' +
          'An unknown station is 404 station-not-found naming it (member `station`); two stations without a path are 404 route-not-found.',
        security: BEARER,
        querystring: FareQuery,
        response: {
          200: withExamples(
            FareQuote,
            {
              shortRide: { summary: 'Two neighbouring stations on line 1', value: { from: '苹果园', to: '古城', distanceM: 2569, ...yuanAndFen('fare', 300) } },
            },
            'Distance and full fare',
          ),
          ...problems(...AUTHENTICATED, 'station-not-found', 'route-not-found', 'unavailable'),
        },
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
        return { from, to, distanceM: quote.distanceM, ...yuanAndFen('fare', quote.fareFen) };
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
