/**
 * The device listener (issue 9): a second Fastify instance, HTTPS with mutual TLS on DEVICE_PORT
 * (default 8443), serving the validator routes only:
 *
 *   POST /v1/devices/{deviceId}/sync                  the same route module as the main API
 *                                                     (routes/sync.ts, same services and store)
 *   POST /v1/devices/{deviceId}/certificate/renewal   a new CSR, authenticated by the current
 *                                                     certificate -> the next certificate
 *   GET  /v1/device/identity                          who the presented certificate says you are
 *   GET  /health                                      public
 *
 * Its server certificate is issued by the device CA, so validators pin one CA for both
 * directions. Why `rejectUnauthorized: false`: a device with a revoked, expired or foreign
 * certificate then receives a problem+json with a stable code it can log and show, instead of
 * a handshake reset; the TLS stack still proves possession of the private key, and mtls-auth.ts
 * refuses every request whose certificate does not pass all checks.
 */
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { LIMITS } from '#core';
import type { GatewayContext } from '../http/gateway-context.ts';
import { ApiError, PROBLEM_CONTENT_TYPE, problemFor, problemSchema } from '../http/problem.ts';
import { installTransportProblems, TRANSPORT_PROBLEM_OPTIONS } from '../http/transport-problems.ts';
import { withProblems } from '../http/schemas.ts';
import { echoRequestIds, gatewayLoggerOptions, REQUEST_ID_OPTIONS } from '../log/log-options.ts';
import { syncRoutes } from '../routes/sync.ts';
import { ensureServerTls, type ServerTlsMaterial } from './device-ca.ts';
import { certificateAnswerSchema, csrBodySchema, DEFAULT_DEVICE_PORT, issueDeviceCertificate, type DevicePki } from './device-pki.ts';
import { GatewayMetrics } from '../observability/metrics.ts';
import { registerMtlsAuthHook } from './mtls-auth.ts';

export interface DeviceListenerOptions {
  /** The main API's context (`app.gateway`): same store, keys, clock and policies. */
  gateway: GatewayContext;
  pki: DevicePki;
  /** Server TLS key and certificate; default: ensureServerTls(ca, hostnames). */
  tls?: ServerTlsMaterial;
  /** Names the server certificate covers (default localhost, 127.0.0.1, ::1). */
  hostnames?: readonly string[];
  logger?: boolean | Record<string, unknown>;
  /**
   * The main API's metrics (`app.gatewayMetrics`), so syncs over mutual TLS are counted where
   * /metrics is scraped; default: a private instance (tests that build only a listener).
   */
  metrics?: GatewayMetrics;
}

export const DEFAULT_DEVICE_HOSTNAMES = ['localhost', '127.0.0.1', '::1'] as const;

/** Error mapping of the device listener, same codes as the main API. */
function problemCodeOf(error: FastifyError): { code: string; detail: string; extras?: Record<string, unknown> } {
  if (error instanceof ApiError) return { code: error.code, detail: error.message, extras: error.extras };
  if (error.validation) return { code: 'invalid-request', detail: error.message };
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return { code: 'body-too-large', detail: 'the request body is over the limit' };
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return { code: 'unsupported-media-type', detail: error.message };
  if (error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError) {
    return { code: 'invalid-json', detail: 'the body is not valid JSON' };
  }
  const status = error.statusCode ?? 500;
  if (status === 413) return { code: 'body-too-large', detail: error.message };
  if (status === 415) return { code: 'unsupported-media-type', detail: error.message };
  if (status >= 400 && status < 500) return { code: status === 404 ? 'not-found' : 'invalid-request', detail: error.message };
  return { code: 'internal', detail: 'internal error' };
}

export async function buildDeviceListener(options: DeviceListenerOptions): Promise<FastifyInstance> {
  const { pki } = options;
  const tls = options.tls ?? ensureServerTls(pki.ca, options.hostnames ?? DEFAULT_DEVICE_HOSTNAMES);
  const app = Fastify({
    https: {
      key: tls.keyPem,
      cert: tls.certPem,
      ca: [pki.ca.certificatePem],
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    },
    logger: gatewayLoggerOptions(options.logger),
    bodyLimit: LIMITS.jsonBodyBytes,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: true, allErrors: false } },
    return503OnClosing: true,
    // X-Request-Id: the caller's when safe, else a new UUID; logged as reqId and echoed.
    ...REQUEST_ID_OPTIONS,
    ...TRANSPORT_PROBLEM_OPTIONS,
  });
  app.decorate('gateway', options.gateway);
  app.decorate('gatewayRoutes', []);
  app.decorate('devicePki', pki);
  // The sync route counts batches and records (routes/sync.ts).
  app.decorate('gatewayMetrics', options.metrics ?? new GatewayMetrics(options.gateway, { intervalMs: 0 }));
  app.addSchema(problemSchema);

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const { code, detail, extras } = problemCodeOf(error);
    const instance = request.url.split('?')[0];
    const problem = problemFor(code, detail, instance, extras);
    if (problem.status >= 500) request.log.error({ err: error }, 'device request failed');
    else if (problem.status === 401 || problem.status === 403) request.log.warn({ code }, 'device refused');
    void reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem);
  });
  app.setNotFoundHandler((request, reply) => {
    const instance = request.url.split('?')[0];
    const problem = problemFor(
      'not-found',
      `no route ${request.method} ${instance} on the device port (it serves validator sync and certificate renewal only)`,
      instance,
    );
    void reply.code(404).type(PROBLEM_CONTENT_TYPE).send(problem);
  });

  echoRequestIds(app);
  installTransportProblems(app);
  registerMtlsAuthHook(app, pki.ca);

  app.get('/health', { config: { public: true }, schema: { hide: true } }, async () => ({ status: 'ok' }));

  app.get(
    '/v1/device/identity',
    {
      schema: {
        response: withProblems({
          200: {
            type: 'object',
            required: ['deviceId', 'serial', 'notAfterMs'],
            properties: { deviceId: { type: 'string' }, kind: { type: 'string' }, serial: { type: 'string' }, notAfterMs: { type: 'integer' } },
          },
        }),
      },
    },
    async (request) => {
      const cert = request.deviceCertificate!;
      return { deviceId: cert.deviceId, kind: cert.kind, serial: cert.serial, notAfterMs: cert.notAfterMs };
    },
  );

  app.post<{ Params: { deviceId: string }; Body: { csr: string } }>(
    '/v1/devices/:deviceId/certificate/renewal',
    {
      schema: {
        params: {
          type: 'object',
          required: ['deviceId'],
          properties: { deviceId: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' } },
        },
        body: { type: 'object', required: ['csr'], additionalProperties: false, properties: { csr: csrBodySchema } },
        response: withProblems({ 201: certificateAnswerSchema }, [404]),
      },
    },
    async (request, reply) => {
      const { store, clock } = options.gateway;
      const answer = await issueDeviceCertificate(store, pki, {
        deviceId: request.params.deviceId,
        csrPem: request.body.csr,
        authorisation: { via: 'renewal' },
        nowMs: clock(),
      });
      request.log.info({ deviceId: answer.deviceId, serial: answer.serial, replaces: request.deviceCertificate?.serial }, 'device certificate renewed');
      reply.code(201);
      return answer;
    },
  );

  await app.register(syncRoutes);
  return app;
}

export interface StartedDeviceListener {
  app: FastifyInstance;
  /** https://host:port as devices reach it. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Builds and listens; sets `pki.deviceUrl` so the main API can point devices here. */
export async function startDeviceListener(
  options: DeviceListenerOptions & { host?: string; port?: number; advertisedHost?: string },
): Promise<StartedDeviceListener> {
  const app = await buildDeviceListener(options);
  const host = options.host ?? '127.0.0.1';
  await app.listen({ host, port: options.port ?? DEFAULT_DEVICE_PORT });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : (options.port ?? DEFAULT_DEVICE_PORT);
  const shownHost = options.advertisedHost ?? (host === '0.0.0.0' || host === '::' ? 'localhost' : host);
  const url = `https://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`;
  options.pki.deviceUrl = url;
  return { app, url, port, close: () => app.close() };
}
