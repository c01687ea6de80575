/**
 * Organisations (issue 16): operators create the organisations counters work for, each with its
 * channel kind (services/channel-rules.ts), and list them. Counter tokens are then issued for an
 * organisation (POST /v1/auth/tokens with organisationId). The channel matrix itself is answered
 * too (GET /v1/organisations/channel-matrix), so a teller system can grey out what it may not do.
 */
import { actorOf, requirePrincipal } from '../auth/scope.ts';
import {
  AUTHENTICATED,
  BEARER,
  type GatewayApp,
  isoBeijing,
  Nullable,
  problems,
  type Static,
  StringEnum,
  Type,
  timestamp,
  WITH_BODY,
  withExamples,
} from '../http/wire.ts';
import { CHANNEL_KINDS, CHANNEL_MATRIX, CHANNEL_NAMES, type OperationRule, OPERATIONS } from '../services/channel-rules.ts';
import { createOrganisation, listOrganisations, ORGANISATION_ID_PATTERN, type OrganisationRow } from '../services/organisations.ts';
import { EXAMPLE_MS, IssuingBank } from './card-schemas.ts';

const ChannelKind = (description: string) =>
  StringEnum(CHANNEL_KINDS, { description: `${description}: ${CHANNEL_KINDS.map((k) => `\`${k}\` ${CHANNEL_NAMES[k].name}`).join(', ')}` });

const OrganisationBody = Type.Object(
  {
    id: Type.String({ pattern: ORGANISATION_ID_PATTERN, description: 'the organisation id (stable; counter tokens name it)', examples: ['icbc-B12'] }),
    name: Type.String({ minLength: 1, maxLength: 128, description: 'its name', examples: ['工商银行西单支行'] }),
    channelKind: ChannelKind('its channel kind'),
    bankId: Type.Optional(IssuingBank('a partner-bank branch: its bank (required for a bank branch, refused for other kinds)')),
    branchId: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: "the branch's or service point's own id (required for a bank branch)", examples: ['B12'] }),
    ),
  },
  { additionalProperties: false },
);

const OrganisationSchema = Type.Object({
  id: Type.String({ description: 'the organisation id', examples: ['icbc-B12'] }),
  name: Type.String({ description: 'its name' }),
  channelKind: ChannelKind('its channel kind'),
  bankId: Nullable(Type.String({ description: 'the partner bank of a bank branch; null for other kinds', examples: ['icbc'] })),
  branchId: Nullable(Type.String({ description: 'the branch or service point id; null when none', examples: ['B12'] })),
  createdBy: Type.String({ description: 'who created it' }),
  ...timestamp('createdMs', 'when it was created', EXAMPLE_MS),
});
type OrganisationWire = Static<typeof OrganisationSchema>;

const CellSchema = StringEnum(['allowed', 'refused', 'issuing-bank', 'outside-mass-exchange', 'bank-supports-online'], {
  description: 'allowed; refused; issuing-bank: only at a branch of the card’s issuing bank; outside-mass-exchange; bank-supports-online',
});
const MatrixSchema = Type.Object({
  channelKinds: Type.Array(ChannelKind('a channel kind'), { description: 'the columns, in order' }),
  operations: Type.Array(
    Type.Object({
      operation: Type.String({ description: 'the operation id (what refusals name in `rule`)', examples: ['top-up'] }),
      words: Type.String({ description: 'what it is, in words', examples: ['transit top-ups'] }),
      money: Type.Boolean({ description: 'moves money: the operator credential may not do it' }),
      agentMay: Type.Boolean({ description: 'an agent with a written authorisation may do it for the holder' }),
      cells: Type.Record(Type.String(), CellSchema, { description: 'channel kind → cell' }),
    }),
  ),
});

const EXAMPLE_ORG: OrganisationWire = {
  id: 'icbc-B12',
  name: '工商银行西单支行',
  channelKind: 'bank-branch',
  bankId: 'icbc',
  branchId: 'B12',
  createdBy: 'operator:admin',
  createdMs: EXAMPLE_MS,
  createdAt: isoBeijing(EXAMPLE_MS),
};

function toWire(org: OrganisationRow): OrganisationWire {
  return { ...org, createdAt: isoBeijing(org.createdMs) };
}

export async function organisationsRoutes(app: GatewayApp): Promise<void> {
  const { store, clock } = app.gateway;

  app.post(
    '/v1/organisations',
    {
      schema: {
        tags: ['organisations'],
        summary: 'Create an organisation (a bank branch, service point, outlet, the hotline)',
        description:
          'Operators only. A partner-bank branch names its bank (one of the 15) and branch id; other kinds name no bank (`400 invalid-request`). ' +
          'An id already taken is `409 organisation-exists`. Counter tokens are then issued for it (POST /v1/auth/tokens with `organisationId`).',
        security: BEARER,
        body: withExamples(OrganisationBody, {
          bank: { summary: 'A bank branch', value: { id: 'icbc-B12', name: '工商银行西单支行', channelKind: 'bank-branch', bankId: 'icbc', branchId: 'B12' } },
          street: { summary: 'A street service point', value: { id: 'sp-xicheng-01', name: '西城区西长安街街道社保卡服务网点', channelKind: 'service-point' } },
        }),
        response: {
          201: withExamples(OrganisationSchema, { bank: { summary: 'The bank branch', value: EXAMPLE_ORG } }, 'The organisation'),
          ...problems(...AUTHENTICATED, ...WITH_BODY, 'organisation-exists'),
        },
      },
    },
    async (request, reply) => {
      const principal = requirePrincipal(request);
      const org = await store.transaction((tx) => createOrganisation(tx, request.body, actorOf(principal), clock()));
      return reply.code(201).send(toWire(org));
    },
  );

  app.get(
    '/v1/organisations',
    {
      schema: {
        tags: ['organisations'],
        summary: 'Every organisation',
        description: 'Operators only: every organisation by id, with its channel kind, bank and branch.',
        security: BEARER,
        response: {
          200: withExamples(
            Type.Object({ organisations: Type.Array(OrganisationSchema) }),
            { one: { summary: 'One bank branch', value: { organisations: [EXAMPLE_ORG] } } },
            'The organisations',
          ),
          ...problems(...AUTHENTICATED),
        },
      },
    },
    async () => ({ organisations: (await store.transaction((tx) => listOrganisations(tx), { readOnly: true })).map(toWire) }),
  );

  app.get(
    '/v1/channel-matrix',
    {
      config: { roles: ['counter', 'app', 'holder'], noChannelOperation: 'reference data: the channel matrix itself' },
      schema: {
        tags: ['organisations'],
        summary: 'The channel × operation matrix',
        description:
          'Which channel kind may do which cardholder operation: the same data the gateway enforces, so a teller system or the app can show only what it may do (the table with its sources: docs/gateway-api.md, "Channels").',
        security: BEARER,
        response: {
          200: withExamples(
            MatrixSchema,
            {
              topUp: {
                summary: 'One row',
                value: {
                  channelKinds: [...CHANNEL_KINDS],
                  operations: [
                    {
                      operation: 'top-up',
                      words: 'transit top-ups',
                      money: true,
                      agentMay: false,
                      cells: CHANNEL_MATRIX['top-up'].cells,
                    },
                  ],
                },
              },
            },
            'The matrix',
          ),
          ...problems(...AUTHENTICATED),
        },
      },
    },
    async () => ({
      channelKinds: [...CHANNEL_KINDS],
      operations: OPERATIONS.map((operation) => {
        const rule = CHANNEL_MATRIX[operation] as OperationRule;
        return { operation, words: rule.words, money: rule.money, agentMay: rule.agentMay, cells: { ...rule.cells } };
      }),
    }),
  );
}
