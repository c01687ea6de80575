/**
 * JSON-schema building blocks shared by the route modules. Bodies are validated without type
 * coercion (a number where a yuan string is expected is a 400, never silently "50").
 * Query strings therefore carry strings with patterns; `queryInt` converts them.
 */
import { CARD_NO_PATTERN_SOURCE, LIMITS } from '#core';
import { ApiError } from './problem.ts';

/** 16 digits (the home issuer's legacy range) or 19 starting 31 (T-Union, issue 18). */
export const CARD_NO_PATTERN = CARD_NO_PATTERN_SOURCE;
export const YUAN_FORMAT = 'yuan';
/** Same grammar as core's parseYuan (the cap is checked by parseYuan in the handler). */
export const YUAN_REGEX = /^(0|[1-9][0-9]{0,8})(\.[0-9]{1,2})?$/;

export const cardNoParams = {
  type: 'object',
  required: ['cardNo'],
  properties: { cardNo: { type: 'string', pattern: CARD_NO_PATTERN, description: 'Card number: 16 digits (legacy) or 19 starting 31 (T-Union)' } },
  additionalProperties: false,
} as const;

/** A yuan amount on the wire: decimal string, at most two decimals (`"50.00"`). */
export function yuanSchema(description: string) {
  return { type: 'string', format: YUAN_FORMAT, maxLength: 16, description, examples: ['50.00'] } as const;
}

export function hexSchema(bytes: number, description: string) {
  return { type: 'string', pattern: `^[0-9A-Fa-f]{${bytes * 2}}$`, description } as const;
}

export const idempotencyHeaders = {
  type: 'object',
  required: ['idempotency-key'],
  properties: {
    'idempotency-key': {
      type: 'string',
      minLength: 1,
      maxLength: LIMITS.idempotencyKeyMaxLength,
      pattern: '^[\\x21-\\x7E]+$',
      description: 'Client-chosen key: a retry with the same key and body returns the first answer',
    },
  },
} as const;

const problemRef = { $ref: 'Problem#' } as const;

/**
 * Adds the problem responses every authenticated route can produce.
 * @deprecated declares them as application/json: use `problems(...)` of http/wire.ts (converted routes do).
 */
export function withProblems<T extends Record<string, unknown>>(responses: T, extra: number[] = []) {
  const out: Record<string, unknown> = { ...responses };
  for (const status of [400, 401, 403, 413, 415, ...extra]) out[String(status)] = problemRef;
  return out as T & Record<string, typeof problemRef>;
}

/** Security requirement for OpenAPI: every non-public route takes a bearer token. */
export const bearerSecurity = [{ bearerAuth: [] }];

/** Parses a non-negative integer query value validated by pattern `^[0-9]{1,15}$`. */
export function queryInt(value: string | undefined, fallback: number, field: string, max = Number.MAX_SAFE_INTEGER, min = 0): number {
  if (value === undefined) return fallback;
  if (!/^[0-9]{1,15}$/.test(value)) throw new ApiError('invalid-request', `${field} must be a non-negative integer`);
  const parsed = Number(value);
  if (parsed > max) throw new ApiError('invalid-request', `${field} must be at most ${max}`);
  // Out of range is refused, never quietly clamped: the caller asked for something else.
  if (parsed < min) throw new ApiError('invalid-request', `${field} must be at least ${min}`);
  return parsed;
}

export const queryIntSchema = (description: string) => ({ type: 'string', pattern: '^[0-9]{1,15}$', description }) as const;

export function hexToBytes(hex: string, bytes: number, field: string): Uint8Array {
  if (typeof hex !== 'string' || hex.length !== bytes * 2 || !/^[0-9A-Fa-f]*$/.test(hex)) {
    throw new ApiError('invalid-hex', `${field} must be ${bytes} bytes of hex`);
  }
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex').toUpperCase();
}
