/**
 * Logger configuration (docs/operations.md, "Logs"): pino JSON lines, `time` as an ISO-8601 UTC
 * string, every request line carrying its request id (`reqId`). The request serializer logs method, masked URL and request id only;
 * headers and bodies are never logged, and the authorization header is redacted as a second
 * line of defence should a serializer ever include headers. Card numbers in URLs are masked
 * (first 4 and last 4 digits). Social security numbers, passwords, keys and tokens travel only
 * in bodies and headers, so they never reach the log.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';

const CARD_NO_IN_TEXT = /(?<![0-9])([0-9]{4})[0-9]{8}([0-9]{4})(?![0-9])/g;
/** 19-digit T-Union card numbers (issue 18): first 4 and last 4 digits kept. */
const TUNION_CARD_NO_IN_TEXT = /(?<![0-9])(31[0-9]{2})[0-9]{11}([0-9]{4})(?![0-9])/g;
/** Long digit runs that could be a social security number (17 digits + check) or a card number. */
const LONG_DIGITS = /(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])/g;

export function maskCardNumbers(text: string): string {
  return text.replace(LONG_DIGITS, '******************').replace(TUNION_CARD_NO_IN_TEXT, '$1***********$2').replace(CARD_NO_IN_TEXT, '$1********$2');
}

/** Never log query values that look like secrets. */
function maskUrl(url: string): string {
  return maskCardNumbers(url).replace(/([?&](?:token|password|ssn)=)[^&]*/gi, '$1***');
}

export const LOG_REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'password',
  'newPassword',
  'currentPassword',
  'socialSecurityNo',
  'token',
  '*.password',
  '*.socialSecurityNo',
  '*.token',
];

export function gatewayLoggerOptions(base: boolean | Record<string, unknown> | undefined): FastifyServerOptions['logger'] {
  if (base === false || base === undefined) return false;
  const extra = typeof base === 'object' ? base : {};
  return {
    level: 'info',
    // "time":"2027-01-06T08:00:00.000Z" instead of epoch milliseconds.
    timestamp: isoTime,
    ...extra,
    redact: { paths: LOG_REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      req(request: { method: string; url: string; id: string }) {
        return { method: request.method, url: maskUrl(request.url), id: request.id };
      },
      res(reply: { statusCode: number }) {
        return { statusCode: reply.statusCode };
      },
    },
  } as FastifyServerOptions['logger'];
}

function isoTime(): string {
  return `,"time":"${new Date().toISOString()}"`;
}

export const REQUEST_ID_HEADER = 'x-request-id';
/** An incoming request id is kept only when it is a short, safe token (it is echoed and logged). */
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * Request ids: the caller's `X-Request-Id` when it is a safe short token (a load balancer's or
 * a counter's own), else a new UUID. Spread into the Fastify options; `echoRequestIds` sends the
 * id back in the answer's `X-Request-Id` header.
 */
export const REQUEST_ID_OPTIONS = {
  requestIdHeader: false,
  genReqId(request: { headers: Record<string, string | string[] | undefined> }): string {
    const given = request.headers[REQUEST_ID_HEADER];
    return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
  },
} satisfies Pick<FastifyServerOptions, 'requestIdHeader'> & { genReqId: unknown };

export function echoRequestIds(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
  });
}
