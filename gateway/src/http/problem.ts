/**
 * Errors on the wire are RFC 9457 problem details (`application/problem+json`) with a stable
 * `code`. Services return or throw `ApiError(code, detail)`; this table is the one place where a
 * code becomes an HTTP status. Codes are never renamed (clients match on them).
 */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
export const PROBLEM_TYPE_BASE = 'https://transit-purse.example/problems/';

export const ERROR_TABLE = {
  // 400: the request itself is wrong; nothing changed.
  'invalid-request': { status: 400, title: 'The request does not match the schema' },
  'invalid-json': { status: 400, title: 'The body is not valid JSON' },
  'invalid-amount': { status: 400, title: 'The amount is not a yuan decimal string with at most two decimals' },
  'invalid-card-number': { status: 400, title: 'The card number is not 16 decimal digits, nor 19 starting 31 (T-Union)' },
  'invalid-hex': { status: 400, title: 'A byte field is not hex of the expected length' },
  'invalid-url': { status: 400, title: 'The URL is not valid: a malformed percent-encoding or a character outside printable ASCII' },
  'invalid-http': { status: 400, title: 'The request is not valid HTTP/1.1' },
  // 401/403: who is calling.
  unauthenticated: { status: 401, title: 'Missing or invalid credential' },
  'invalid-credentials': { status: 401, title: 'Card number or service password is wrong' },
  forbidden: { status: 403, title: 'This caller may not use this route' },
  'password-change-required': { status: 403, title: 'The initial service password must be changed first' },
  'account-locked': { status: 403, title: 'Too many failed attempts; try again later' },
  // 404
  'not-found': { status: 404, title: 'No such resource' },
  'card-not-found': { status: 404, title: 'No such card' },
  'station-not-found': { status: 404, title: 'No such station' },
  'device-not-found': { status: 404, title: 'No such device' },
  'route-not-found': { status: 404, title: 'No route between these stations on the distance network' },
  'loss-report-not-found': { status: 404, title: 'The card has no current loss report' },
  // 409: the request is well formed but the state forbids it.
  conflict: { status: 409, title: 'Conflict with the current state' },
  'idempotency-key-reused': { status: 409, title: 'The Idempotency-Key was used with a different request' },
  'card-exists': { status: 409, title: 'A card with this number exists' },
  'card-not-active': { status: 409, title: 'The card is not in a state that allows this' },
  'card-replaced': { status: 409, title: 'The card has been replaced and can never be unblocked' },
  'loss-report-exists': { status: 409, title: 'The card already has a loss report' },
  'formal-loss-required': { status: 409, title: 'Replacement needs a formal loss report first' },
  'unblock-refused': { status: 409, title: 'The card cannot be unblocked' },
  'device-exists': { status: 409, title: 'A device with this id is registered' },
  'outside-sale-window': { status: 409, title: 'Park passes are sold from 15 December to 15 January (Beijing time)' },
  'park-pass-already-sold': { status: 409, title: "The card already has this year's park pass" },
  'card-of-other-issuer': { status: 409, title: "The card belongs to another T-Union issuer: top-up, refund, loss, unblock and exchange are that issuer's" },
  'generation-not-supported': { status: 409, title: 'Only third-generation cards carry transit and park functions' },
  // 413/415: transport.
  'body-too-large': { status: 413, title: 'The request body is over the limit' },
  'unsupported-media-type': { status: 415, title: 'Unsupported content type' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  'request-timeout': { status: 408, title: 'The request did not arrive in time' },
  'url-too-long': { status: 414, title: 'A path segment is over the length limit' },
  'headers-too-large': { status: 431, title: 'The request line and headers are over the limit' },
  'too-many-requests': { status: 429, title: 'Too many requests' },
  // 5xx: our fault, never for bad input.
  internal: { status: 500, title: 'Internal error' },
  unavailable: { status: 503, title: 'Service unavailable' },
} as const satisfies Record<string, { status: number; title: string }>;

/** Codes other modules may add at load time (gateway-money's own codes), same shape. */
const EXTRA_CODES = new Map<string, { status: number; title: string }>();

export type KnownErrorCode = keyof typeof ERROR_TABLE;
export type ErrorCode = KnownErrorCode | (string & {});

/** Registers additional codes (e.g. 'load-cap-exceeded' → 409); a programmer error to clash. */
export function registerErrorCodes(codes: Record<string, { status: number; title: string }>): void {
  for (const [code, entry] of Object.entries(codes)) {
    const existing = (ERROR_TABLE as Record<string, { status: number; title: string }>)[code] ?? EXTRA_CODES.get(code);
    if (existing && (existing.status !== entry.status || existing.title !== entry.title)) {
      throw new Error(`error code ${code} is already registered differently`);
    }
    EXTRA_CODES.set(code, entry);
  }
}

export function errorEntry(code: string): { status: number; title: string } {
  return (ERROR_TABLE as Record<string, { status: number; title: string }>)[code] ?? EXTRA_CODES.get(code) ?? ERROR_TABLE.internal;
}

/** A business or request error with a stable code; the error handler renders it. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    detail?: string,
    /** Extra members of the problem object (e.g. `station`). */
    readonly extras?: Record<string, unknown>,
  ) {
    super(detail ?? errorEntry(code).title);
    this.status = errorEntry(code).status;
  }
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  code: string;
  [extra: string]: unknown;
}

export function problemFor(code: string, detail: string, instance: string, extras?: Record<string, unknown>): Problem {
  const entry = errorEntry(code);
  return { ...(extras ?? {}), type: PROBLEM_TYPE_BASE + code, title: entry.title, status: entry.status, detail, instance, code };
}

/** JSON schema of a problem body, shared by every route's 4xx/5xx responses. */
export const problemSchema = {
  $id: 'Problem',
  type: 'object',
  description: 'RFC 9457 problem details with a stable machine-readable code',
  required: ['type', 'title', 'status', 'detail', 'code'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    code: { type: 'string' },
  },
  additionalProperties: true,
} as const;
