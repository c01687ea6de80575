/**
 * Problem details for the requests Fastify refuses before any route or error handler sees them,
 * so that every error on the wire is `application/problem+json` with a stable code (problem.ts),
 * never Fastify's default `{"error","message","statusCode"}` body:
 *
 * - Node's HTTP parser refuses the request line or headers (raw non-ASCII or control bytes in
 *   the URL, a bad header character, a bad Content-Length, headers over the limit, a timeout):
 *   `clientErrorHandler`, written straight to the socket (there is no request object yet);
 * - the router cannot percent-decode the path, or a path parameter is over maxParamLength:
 *   `frameworkErrors`;
 * - the query string holds a malformed percent-encoding (`%zz`, a truncated `%E0%A4%A`, bytes
 *   that are not UTF-8) or a character outside printable ASCII: the router's query parser keeps
 *   such values as literal text, so an onRequest hook refuses them before auth and before any
 *   route reads them (a station named "%E0%A4%A" is not what the client meant);
 * - a JSON body that is not UTF-8: Fastify's parser would decode it with U+FFFD replacement
 *   characters and store the damaged text; it is refused as `invalid-json` instead.
 *
 * All of these answer before any route runs, so nothing changes.
 */
import { isUtf8 } from 'node:buffer';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import { ApiError, PROBLEM_CONTENT_TYPE, problemFor } from './problem.ts';

/** The problem code, status and detail for a connection-level parse error of Node's HTTP server. */
export function clientErrorProblemCode(error: { code?: string }): { code: string; detail: string } {
  switch (error.code) {
    case 'HPE_INVALID_URL':
      return { code: 'invalid-url', detail: 'the request line holds a character outside printable ASCII; percent-encode the URL (UTF-8)' };
    case 'HPE_HEADER_OVERFLOW':
      return { code: 'headers-too-large', detail: 'the request line and headers are over the limit' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'ERR_HTTP_HEADERS_TIMEOUT':
      return { code: 'request-timeout', detail: 'the request did not arrive in time' };
    default:
      return { code: 'invalid-http', detail: 'the request is not valid HTTP/1.1' };
  }
}

/** The raw HTTP/1.1 answer (head and problem body) written for a connection-level error. */
export function clientErrorResponse(error: { code?: string }): string {
  const { code, detail } = clientErrorProblemCode(error);
  // No instance: the request line could not be read.
  const { instance: _instance, ...problem } = problemFor(code, detail, '');
  const body = JSON.stringify(problem);
  return (
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? 'Error'}\r\n` +
    `Content-Type: ${PROBLEM_CONTENT_TYPE}; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Connection: close\r\n\r\n' +
    body
  );
}

type ClientError = Error & { code?: string };

/**
 * Fastify's `clientErrorHandler`: same statuses as Fastify's default (400, 408, 431), as a
 * problem. Only the error code is logged: the parser's error carries the raw request bytes
 * (`rawPacket`), Authorization header included.
 */
export function problemClientErrorHandler(this: FastifyInstance, error: ClientError, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  this.log.debug({ code: error.code }, 'client error');
  // As Node's own default: never write into a response that has already started on this socket.
  const pending = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !pending?.headersSent) socket.write(clientErrorResponse(error));
  socket.destroy(error);
}

/** Fastify's `frameworkErrors`: router failures before any route or hook. */
export function problemFrameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  let code: string;
  let detail: string;
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      code = 'invalid-url';
      detail = 'the path holds a malformed percent-encoding (each % must start %XX and the bytes must be UTF-8)';
      break;
    case 'FST_ERR_MAX_PARAM_LENGTH':
      code = 'url-too-long';
      detail = 'a path segment is over the length limit';
      break;
    default:
      code = 'internal';
      detail = 'internal error';
      request.log.error({ err: error }, 'router failed');
  }
  const problem = problemFor(code, detail, request.url.split('?')[0]);
  void reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem);
}

/** Why the query string of `url` cannot be read as the client meant it, or null when it can. */
export function queryEncodingError(url: string): string | null {
  const start = url.indexOf('?');
  if (start < 0) return null;
  let percent = false;
  for (let i = start + 1; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return 'the query string holds a character outside printable ASCII; percent-encode it (UTF-8)';
    if (c === 0x25) percent = true;
  }
  if (!percent) return null;
  try {
    // The whole query at once: '&', '=' and '+' are ASCII, so it decodes exactly when every
    // key and value does.
    decodeURIComponent(url.slice(start + 1));
    return null;
  } catch {
    return 'the query string holds a malformed percent-encoding (each % must start %XX and the bytes must be UTF-8)';
  }
}

/** The server options that route framework and parser errors to problems. */
export const TRANSPORT_PROBLEM_OPTIONS = {
  clientErrorHandler: problemClientErrorHandler,
  frameworkErrors: problemFrameworkErrors,
} satisfies Partial<FastifyServerOptions>;

/**
 * Registers the query check (an onRequest hook: register it before the auth hook, so a URL the
 * gateway cannot read is a 400 whoever calls) and the UTF-8-checking JSON parser.
 */
export function installTransportProblems(app: FastifyInstance): void {
  app.addHook('onRequest', (request, _reply, done) => {
    const reason = queryEncodingError(request.url);
    done(reason === null ? undefined : new ApiError('invalid-url', reason));
  });

  // Fastify's own JSON parser (prototype-poisoning checks included), fed only UTF-8 text.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = body as Buffer;
    if (!isUtf8(bytes)) {
      done(new ApiError('invalid-json', 'the body is not UTF-8 text'), undefined);
      return;
    }
    parseJson(request, bytes.toString('utf8'), done);
  });
}
