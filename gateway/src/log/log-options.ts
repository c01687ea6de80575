/**
 * Logger configuration: the request serializer logs method, masked URL and request id only;
 * headers and bodies are never logged, and the authorization header is redacted as a second
 * line of defence should a serializer ever include headers. Card numbers in URLs are masked
 * (first 4 and last 4 digits). Social security numbers, passwords, keys and tokens travel only
 * in bodies and headers, so they never reach the log.
 */
import type { FastifyServerOptions } from 'fastify';

const CARD_NO_IN_TEXT = /(?<![0-9])([0-9]{4})[0-9]{8}([0-9]{4})(?![0-9])/g;
/** Long digit runs that could be a social security number (17 digits + check) or a card number. */
const LONG_DIGITS = /(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])/g;

export function maskCardNumbers(text: string): string {
  return text.replace(LONG_DIGITS, '******************').replace(CARD_NO_IN_TEXT, '$1********$2');
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
