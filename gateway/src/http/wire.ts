/**
 * The JSON wire contract, written once: TypeBox building blocks for request and response shapes
 * (types come from `Static<typeof X>`, never a second hand-written interface), the money and time
 * conventions, problem responses and examples. docs/gateway-api.md, "Money and time on the wire",
 * documents the rules for integrators; test/gateway/openapi-contract.test.ts holds every route to them.
 *
 * Money: requests take yuan strings (`Yuan`: at most two decimals). Every amount in an answer is
 * written twice, side by side: `<name>` the yuan string with exactly two decimals and `<name>Fen`
 * the integer (`money('balance')` → `balance` + `balanceFen`; runtime: `yuanAndFen`).
 *
 * Time: every timestamp in an answer is written twice: `<x>Ms`, epoch milliseconds, and its
 * ISO-8601 form in Beijing time with the offset (`2026-03-10T10:00:00.000+08:00`) named by one
 * rule (`isoName`): drop `Ms` and append `At`, unless what remains is `at` or already ends in
 * `At` (then only `Ms` is dropped): `issuedMs` → `issuedAt`, `deadlineMs` → `deadlineAt`,
 * `atMs` → `at`, `ranAtMs` → `ranAt` (`timestamp('issuedMs')`; runtime: `msAndIso`, `withIso`).
 *
 * Examples: `withExamples(schema, { name: { summary, value } })` puts OpenAPI 3.1 named examples
 * on a request body or a response (@fastify/swagger moves `x-examples` to the media type's
 * `examples`); the walker validates each one against its schema.
 *
 * Converting a route module (routes/blacklist.ts is a small complete one):
 * 1. `export async function xRoutes(app: GatewayApp)`; write each body, query, params and answer
 *    once with `Type.*` and these helpers, export `type X = Static<typeof X>` where code needs
 *    it; drop the `app.get<{ Body: … }>` generics (the type provider infers them).
 * 2. Answers: `money('fare', …)` / `timestamp('createdMs', …)` in the schema, `yuanAndFen`,
 *    `msAndIso`, `withIso` in the handler. Response schemas drop undeclared fields
 *    (fast-json-stringify), and a `required` field missing at run time is a 500: declare
 *    exactly what the handler sends.
 * 3. Every operation: `summary`, `description`, `security: BEARER` (public: `PUBLIC`), the
 *    success answer `withExamples(Schema, { name: { summary, value } }, 'what it is')`, a body
 *    `withExamples(Body, …)`, and `...problems(...AUTHENTICATED, ...WITH_BODY, 'card-not-found', 409)`
 *    naming the codes the route can answer. No internal references (seed question or issue
 *    numbers) in public text: keep those in code comments.
 * 4. Remove the operations from TO_CONVERT in test/gateway/openapi-contract.test.ts.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyInstance, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import { formatYuan, LIMITS } from '#core';
import { type Static, type TInteger, type TNull, type TSchema, type TString, type TUnion, Type } from 'typebox';
import { beijingIsoTime } from './csv.ts';
import { errorEntry, PROBLEM_CONTENT_TYPE, type Problem } from './problem.ts';
import { CARD_NO_PATTERN, YUAN_FORMAT } from './schemas.ts';

export { Type, type Static, type TSchema };

/** The instance a route module receives: request and reply types come from its TypeBox schemas. */
export type GatewayApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression<RawServerDefault>,
  RawReplyDefaultExpression<RawServerDefault>,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

// ---------------------------------------------------------------------------------------------
// Small shapes

/**
 * `T | null`. A schema with one `type` is written `type: [t, 'null']` (null added to an `enum`),
 * what OpenAPI 3.1 readers and client generators read best; anything else `anyOf` with null.
 */
export function Nullable<T extends TSchema>(schema: T): TUnion<[T, TNull]> {
  const plain = schema as unknown as { type?: unknown; enum?: unknown[] };
  if (typeof plain.type !== 'string') return Type.Union([schema, Type.Null()]);
  const out = { ...schema, type: [plain.type, 'null'] } as unknown as Record<string, unknown>;
  if (Array.isArray(plain.enum)) out.enum = [...plain.enum, null];
  return out as unknown as TUnion<[T, TNull]>;
}

/** A string enum written as `{ type: 'string', enum: [...] }` (what generated clients read best). */
export function StringEnum<const V extends readonly string[]>(values: V, options: { description?: string; default?: V[number] } = {}) {
  return Type.Unsafe<V[number]>({ type: 'string', enum: [...values], ...options });
}

/** An integer enum: `{ type: 'integer', enum: [...] }`. */
export function IntegerEnum<const V extends readonly number[]>(values: V, options: { description?: string; default?: V[number] } = {}) {
  return Type.Unsafe<V[number]>({ type: 'integer', enum: [...values], ...options });
}

export const CardNo = (description = 'Card number: 16 digits (legacy) or 19 starting 31 (T-Union)') =>
  Type.String({ pattern: CARD_NO_PATTERN, description, examples: ['1000000000000016'] });

/** Hex of a fixed byte length (upper or lower case on the way in; answers are upper case). */
export const Hex = (bytes: number, description: string, example?: string) =>
  Type.String({
    pattern: `^[0-9A-Fa-f]{${bytes * 2}}$`,
    description,
    examples: [example ?? '0123456789ABCDEF'.repeat(Math.ceil(bytes / 8)).slice(0, bytes * 2)],
  });

/** A non-negative integer in a query string (queries are strings: no coercion); `queryInt` reads it. */
export const QueryInt = (description: string, example = '100') => Type.String({ pattern: '^[0-9]{1,15}$', description, examples: [example] });

/** The query of a list paged by device id: `after` (exclusive) and `limit` (devices, certificates). */
export function deviceIdPageQuery(limitDescription: string) {
  return Type.Object(
    {
      after: Type.Optional(Type.String({ maxLength: 64, description: 'page after this device id', examples: ['gate-0100'] })),
      limit: Type.Optional(QueryInt(limitDescription)),
    },
    { additionalProperties: false },
  );
}

/** `{ id }` path parameters of a numeric id (loads, refunds). */
export const IdParams = (description: string) =>
  Type.Object({ id: Type.String({ pattern: '^[1-9][0-9]{0,15}$', description, examples: ['12'] }) }, { additionalProperties: false });

/** The `Idempotency-Key` request header (POST /v1/loads, park-pass sales). */
export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.String({
    minLength: 1,
    maxLength: LIMITS.idempotencyKeyMaxLength,
    pattern: '^[\\x21-\\x7E]+$',
    description: 'Client-chosen key (printable ASCII): a retry with the same key and body returns the first answer',
    examples: ['till-7-2025-12-20-0001'],
  }),
});

/** `{ cardNo }` path parameters. */
export const CardNoParams = Type.Object({ cardNo: CardNo() }, { additionalProperties: false });

// ---------------------------------------------------------------------------------------------
// Money

/** A yuan amount in a request: a decimal string with at most two decimals (`"50.00"`, `"0.5"`). */
export const Yuan = (description: string, example = '50.00') => Type.String({ format: YUAN_FORMAT, maxLength: 16, description, examples: [example] });

/** A yuan amount in an answer: exactly two decimals, negative within an overdraft (`"-1.50"`). */
export const YuanAnswer = (description: string, example = '46.00') =>
  Type.String({ pattern: '^-?(0|[1-9][0-9]*)\\.[0-9]{2}$', description: `${description} (yuan)`, examples: [example] });

/** An integer amount in fen (0.01 yuan). */
export const Fen = (description: string, example = 4600) => Type.Integer({ description: `${description} (fen)`, examples: [example] });

type MoneyProps<N extends string> = { [K in N]: TString } & { [K in `${N}Fen`]: TInteger };
type NullableMoneyProps<N extends string> = { [K in N]: TUnion<[TString, TNull]> } & { [K in `${N}Fen`]: TUnion<[TInteger, TNull]> };

/** `<name>` (yuan string) and `<name>Fen` (integer), to spread into a Type.Object of an answer. */
export function money<const N extends string>(name: N, description: string, exampleFen = 4600): MoneyProps<N> {
  return {
    [name]: YuanAnswer(description, formatYuan(exampleFen)),
    [`${name}Fen`]: Fen(description, exampleFen),
  } as MoneyProps<N>;
}

/** As `money`, both null when the amount does not apply. */
export function nullableMoney<const N extends string>(name: N, description: string, exampleFen = 4600): NullableMoneyProps<N> {
  return {
    [name]: Nullable(YuanAnswer(`${description}; null when it does not apply`, formatYuan(exampleFen))),
    [`${name}Fen`]: Nullable(Fen(`${description}; null when it does not apply`, exampleFen)),
  } as NullableMoneyProps<N>;
}

/** The fields `money(name)` declares, filled from fen: `{ [name]: "46.00", [name+'Fen']: 4600 }`. */
export function yuanAndFen<const N extends string>(name: N, fen: number): { [K in N]: string } & { [K in `${N}Fen`]: number } {
  return { [name]: formatYuan(fen), [`${name}Fen`]: fen } as { [K in N]: string } & { [K in `${N}Fen`]: number };
}

/** As `yuanAndFen`, both null for a null amount. */
export function nullableYuanAndFen<const N extends string>(name: N, fen: number | null) {
  return { [name]: fen === null ? null : formatYuan(fen), [`${name}Fen`]: fen } as { [K in N]: string | null } & { [K in `${N}Fen`]: number | null };
}

// ---------------------------------------------------------------------------------------------
// Time

/** The ISO field's name for an epoch-ms field (see the header: `issuedMs` → `issuedAt`, `atMs` → `at`). */
export type IsoName<N extends string> = N extends `${infer S}Ms` ? (S extends 'at' | `${string}At` ? S : `${S}At`) : never;

export function isoName<const N extends string>(msName: N): IsoName<N> {
  if (!msName.endsWith('Ms')) throw new Error(`a timestamp field ends in Ms: ${msName}`);
  const stem = msName.slice(0, -2);
  return (stem === 'at' || stem.endsWith('At') ? stem : `${stem}At`) as IsoName<N>;
}

/** ISO 8601 in Beijing time with its offset: `2026-03-10T10:00:00.000+08:00`. */
export function isoBeijing(epochMs: number): string {
  return beijingIsoTime(epochMs);
}

const EXAMPLE_MS = Date.UTC(2026, 2, 10, 2, 0, 0);

export const EpochMs = (description: string, example = EXAMPLE_MS) => Type.Integer({ description: `${description} (epoch milliseconds)`, examples: [example] });
export const IsoBeijing = (description: string, example = EXAMPLE_MS) =>
  Type.String({
    pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}\\+08:00$',
    description: `${description} (ISO 8601, Beijing time, +08:00)`,
    examples: [isoBeijing(example)],
  });

type TimeProps<N extends string> = { [K in N]: TInteger } & { [K in IsoName<N>]: TString };
type NullableTimeProps<N extends string> = { [K in N]: TUnion<[TInteger, TNull]> } & { [K in IsoName<N>]: TUnion<[TString, TNull]> };

/** `<x>Ms` (epoch ms) and its ISO Beijing form beside it, to spread into a Type.Object of an answer. */
export function timestamp<const N extends string>(msName: N, description: string, exampleMs = EXAMPLE_MS): TimeProps<N> {
  return { [msName]: EpochMs(description, exampleMs), [isoName(msName)]: IsoBeijing(description, exampleMs) } as TimeProps<N>;
}

/** As `timestamp`, both null when there is no such time. */
export function nullableTimestamp<const N extends string>(msName: N, description: string, exampleMs = EXAMPLE_MS): NullableTimeProps<N> {
  const d = `${description}; null when there is none`;
  return { [msName]: Nullable(EpochMs(d, exampleMs)), [isoName(msName)]: Nullable(IsoBeijing(d, exampleMs)) } as NullableTimeProps<N>;
}

/** The fields `timestamp(name)` declares, filled: `{ issuedMs, issuedAt }`. */
export function msAndIso<const N extends string>(msName: N, ms: number): { [K in N]: number } & { [K in IsoName<N>]: string } {
  return { [msName]: ms, [isoName(msName)]: isoBeijing(ms) } as { [K in N]: number } & { [K in IsoName<N>]: string };
}

type WithIso<T, K extends keyof T & string> = T & {
  [P in K as IsoName<P>]: null extends T[P] ? string | null : undefined extends T[P] ? string | undefined : string;
};

/** Adds the ISO form beside each named epoch-ms field of `value` (null stays null, absent stays absent). */
export function withIso<T extends object, const K extends keyof T & string>(value: T, ...msNames: K[]): WithIso<T, K> {
  const out = { ...value } as unknown as Record<string, unknown>;
  for (const name of msNames) {
    const ms = (value as unknown as Record<string, unknown>)[name];
    if (ms === undefined) continue;
    out[isoName(name)] = ms === null ? null : isoBeijing(ms as number);
  }
  return out as WithIso<T, K>;
}

// ---------------------------------------------------------------------------------------------
// Examples and descriptions

export interface WireExample {
  summary?: string;
  description?: string;
  value: unknown;
}

/**
 * Named OpenAPI 3.1 examples for a request body or a response (and a description for the
 * response). The schema object is copied, the original is left as it is.
 */
export function withExamples<T extends TSchema>(schema: T, examples: Record<string, WireExample>, description?: string): T {
  return { ...schema, ...(description === undefined ? {} : { description }), 'x-examples': examples } as T;
}

// ---------------------------------------------------------------------------------------------
// Problem responses

/** `$ref` to the shared Problem schema (http/problem.ts, registered with app.addSchema). */
const ProblemRef = Type.Unsafe<Problem>({ $ref: 'Problem#' });

/** What each status means on every route (the codes a route can answer are listed beside it). */
const STATUS_MEANING: Record<number, string> = {
  400: 'The request is wrong; nothing changed',
  401: 'Missing or invalid credential (answered before anything else)',
  403: 'This caller may not do this',
  404: 'No such resource, or one this caller may not know exists (answered exactly alike)',
  409: 'Well formed, but the current state forbids it; nothing changed',
  413: 'The request body is over the limit',
  415: 'Unsupported content type (send application/json)',
  500: 'Internal error (never for bad input)',
  503: 'Service unavailable',
};

/** The codes every route can answer at a status, whatever the route (auth hook, validation, errors). */
const COMMON_CODES: Record<number, string[]> = {
  400: ['invalid-request', 'invalid-json', 'invalid-url'],
  401: ['unauthenticated'],
  403: ['forbidden', 'password-change-required'],
  413: ['body-too-large'],
  415: ['unsupported-media-type'],
  500: ['internal'],
};

export interface ProblemResponse {
  description: string;
  content: { [PROBLEM_CONTENT_TYPE]: { schema: typeof ProblemRef } };
}

/**
 * OpenAPI and Fastify response entries for error statuses, each `application/problem+json` with
 * the shared Problem schema. Arguments are statuses (`401`) or problem codes (`'card-not-found'`,
 * whose status comes from the error table): the description lists the codes of each status.
 * Call it inside the route plugin (module codes such as the money codes are registered by then).
 * Typed as TypeBox schemas of `Problem`, so a handler's answer type stays checked.
 */
export function problems(...specs: Array<number | string>): Record<number, TSchema & ProblemResponse> {
  const codesByStatus = new Map<number, Set<string>>();
  for (const spec of specs) {
    const status = typeof spec === 'number' ? spec : errorEntry(spec).status;
    if (typeof spec === 'string' && errorEntry(spec).status === 500 && spec !== 'internal') throw new Error(`unknown problem code ${spec}`);
    const codes = codesByStatus.get(status) ?? new Set<string>();
    // A status names the codes any route answers with it; a code adds itself.
    for (const code of typeof spec === 'number' ? (COMMON_CODES[status] ?? []) : [spec]) codes.add(code);
    codesByStatus.set(status, codes);
  }
  const out: Record<number, TSchema & ProblemResponse> = {};
  for (const [status, codes] of [...codesByStatus].sort(([a], [b]) => a - b)) {
    const meaning = STATUS_MEANING[status] ?? 'Error';
    const list = [...codes].map((c) => `\`${c}\``).join(', ');
    out[status] = {
      description: list === '' ? meaning : `${meaning}. Codes: ${list}`,
      content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemRef } },
    } as unknown as TSchema & ProblemResponse;
  }
  return out;
}

/** The statuses every authenticated route can answer: 400 (validation), 401, 403, 500. */
export const AUTHENTICATED = [400, 401, 403, 500] as const;
/** Added for routes that read a JSON body: 413 and 415. */
export const WITH_BODY = [413, 415] as const;

/** Security requirement for OpenAPI: a bearer token; public routes declare `[]`. */
export const BEARER = [{ bearerAuth: [] }];
export const PUBLIC: [] = [];

export type { Static as WireType };
