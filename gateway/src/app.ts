/**
 * buildGateway(options): the issuer's back office as a Fastify instance, built without
 * listening (tests use inject; main.ts listens).
 *
 * Extension points for route modules of other helpers:
 * - `app.gateway` ({ store, keys, clock, policies, subwayNetworkCsvPath }, typed in
 *   http/gateway-context.ts) is decorated before any route module is registered;
 * - routes/index.ts lists the route modules; append yours there;
 * - declare `config: { roles: [...] }` on each route (operators may always call), throw
 *   `ApiError(code, detail)` for business errors (http/problem.ts), and give every route
 *   request and response schemas in TypeBox with summary, description and examples
 *   (http/wire.ts: `problems(...)` declares the problem responses).
 */
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { Ajv } from 'ajv';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { LIMITS } from '#core';
import { defaultSubwayNetworkCsv } from '#tools/shared-data';
import { registerAuthHook } from './auth/auth-hook.ts';
import { DEFAULT_KDF } from './auth/passwords.ts';
import type { GatewayContext, GatewayPolicies, GatewayRouteConfig } from './http/gateway-context.ts';
import { ApiError, PROBLEM_CONTENT_TYPE, problemFor, problemSchema } from './http/problem.ts';
import { installTransportProblems, TRANSPORT_PROBLEM_OPTIONS } from './http/transport-problems.ts';
import { YUAN_FORMAT, YUAN_REGEX } from './http/schemas.ts';
import type { IssuerKeysPort } from './keys/issuer-keys-port.ts';
import { echoRequestIds, gatewayLoggerOptions, REQUEST_ID_OPTIONS } from './log/log-options.ts';
import { installDevicePki, type DevicePki } from './pki/device-pki.ts';
import { installObservability } from './observability/install.ts';
import { ROUTE_MODULES } from './routes/index.ts';
import { CONSOLE_PREFIX, type ConsoleOptions, installConsole } from './console/install.ts';
import { deviceSchema } from './routes/devices.ts';
import { parkPassSaleSchema } from './routes/park-passes.ts';
import { auditEntryFor, isAudited, markAudited, recordAudit } from './services/audit.ts';
import { expireTemporaryLosses } from './services/blacklist.ts';
import type { Store } from './store/store-port.ts';
import { PhoneOutbox } from './services/holder-accounts.ts';
import { type ClearingSigner, lazyClearingSigner, processEphemeralClearingSigner } from './services/clearing-key.ts';

export type { GatewayContext, GatewayPolicies } from './http/gateway-context.ts';

export const DEFAULT_POLICIES: GatewayPolicies = {
  temporaryLossMs: LIMITS.temporaryLossMs,
  deviceStaleWindowMs: 24 * 60 * 60 * 1000,
  deviceClockSkewAlertMs: 2 * 60 * 1000,
  appSessionTtlMs: 12 * 60 * 60 * 1000,
  appLoginMaxFailures: 5,
  appLockoutMs: 30 * 60 * 1000,
  passwordKdf: DEFAULT_KDF,
  parkPassPriceFen: 10_000,
  lossExpiryIntervalMs: 60_000,
  issuerCode: '1000',
  cardNoPrefix: '1000',
  lostCardForfeitMs: 30 * 24 * 60 * 60 * 1000,
};

/** ../shared/data/beijing-subway-sections.csv relative to the repository root. */
export const DEFAULT_SUBWAY_NETWORK_CSV = defaultSubwayNetworkCsv();

export interface BuildGatewayOptions {
  store: Store;
  keys: IssuerKeysPort;
  /** Epoch ms; default Date.now. Tests inject a fake clock. */
  clock?: () => number;
  /** GATEWAY_ADMIN_TOKEN: an operator token held only in memory (as a hash). */
  adminToken?: string;
  /**
   * The holder key (32 bytes, secrets.ts holder-id-key; main.ts always passes it). Without it a
   * random key is made for this instance: holders are then found only while it runs (tests, demo).
   */
  holderIdKey?: Uint8Array;
  /** The clearing centre's signing key (main.ts: from the secrets folder); default one ephemeral key per process, made on first use. */
  clearingSigner?: ClearingSigner;
  /** Clearing between issuers: the counterparties' certificates (PEM) by issuer name (tests, the demo: the simulated other city's). */
  clearingCertificates?: Record<string, string>;
  /** Where holder accounts' phone codes go (simulated SMS); default a fresh in-memory outbox. */
  phoneOutbox?: PhoneOutbox;
  /** false (default) or pino options, e.g. { level: 'info', stream } to capture output. */
  logger?: boolean | Record<string, unknown>;
  subwayNetworkCsvPath?: string;
  policies?: Partial<GatewayPolicies>;
  /** Apply schema migrations before serving (default true). */
  migrate?: boolean;
  /**
   * Device PKI (issue 9, gateway/src/pki): when set, enrolment and certificate routes work and
   * the sync route of this instance answers 403 pointing to the mutual-TLS device listener.
   */
  devicePki?: DevicePki | null;
  /**
   * Period of the store metrics job (ledger reconciliation, refunds, devices, blacklist, old
   * pending loads) whose results GET /metrics serves from cache; 0 = no timer. Default 60 s.
   */
  metricsRefreshIntervalMs?: number;
  /** Bound of each GET /readyz store check, ms. Default 2 s. */
  readinessTimeoutMs?: number;
  /** The web console under /console (console/install.ts); false: not served. Default: served, no card reader. */
  console?: ConsoleOptions | false;
}

function isYuanValidationError(error: FastifyError): boolean {
  return (error.validation ?? []).some((v) => {
    const entry = v as { keyword?: string; params?: { format?: string }; parentSchema?: { format?: string } };
    return entry.params?.format === YUAN_FORMAT || entry.parentSchema?.format === YUAN_FORMAT;
  });
}

/** Maps any error to a problem code: our ApiError, Fastify's own errors, else internal. */
function classify(error: FastifyError): { code: string; detail: string; extras?: Record<string, unknown> } {
  if (error instanceof ApiError) return { code: error.code, detail: error.message, extras: error.extras };
  if (error.validation) {
    return { code: isYuanValidationError(error) ? 'invalid-amount' : 'invalid-request', detail: error.message };
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { code: 'body-too-large', detail: 'the request body is over the limit' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { code: error.statusCode === 415 ? 'unsupported-media-type' : 'invalid-request', detail: error.message };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { code: 'invalid-json', detail: error.message };
  }
  if (error instanceof SyntaxError) return { code: 'invalid-json', detail: 'the body is not valid JSON' };
  const status = error.statusCode ?? 500;
  if (status === 413) return { code: 'body-too-large', detail: error.message };
  if (status === 415) return { code: 'unsupported-media-type', detail: error.message };
  if (status === 405) return { code: 'method-not-allowed', detail: error.message };
  if (status === 429) return { code: 'too-many-requests', detail: error.message };
  if (status >= 400 && status < 500) return { code: status === 404 ? 'not-found' : 'invalid-request', detail: error.message };
  return { code: 'internal', detail: 'internal error' };
}

export async function buildGateway(options: BuildGatewayOptions): Promise<FastifyInstance> {
  const policies: GatewayPolicies = { ...DEFAULT_POLICIES, ...(options.policies ?? {}) };
  const context: GatewayContext = {
    store: options.store,
    keys: options.keys,
    clock: options.clock ?? Date.now,
    policies,
    holderIdKey: options.holderIdKey ? Buffer.from(options.holderIdKey) : randomBytes(32),
    clearingSigner: options.clearingSigner ?? lazyClearingSigner(processEphemeralClearingSigner),
    clearingCertificates: new Map(Object.entries(options.clearingCertificates ?? {})),
    phoneOutbox: options.phoneOutbox ?? new PhoneOutbox(),
    subwayNetworkCsvPath: options.subwayNetworkCsvPath ?? process.env.SUBWAY_NETWORK_CSV ?? DEFAULT_SUBWAY_NETWORK_CSV,
    lifecycle: { shuttingDown: false },
  };
  if (options.migrate !== false) await options.store.migrate();

  const app = Fastify({
    logger: gatewayLoggerOptions(options.logger),
    bodyLimit: LIMITS.jsonBodyBytes,
    // Wire values keep their JSON types: "50.00" must be a string, 50 is a 400, never coerced.
    ajv: {
      customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: true, allErrors: false, verbose: true },
      plugins: [
        (ajv: Ajv) => {
          ajv.addFormat(YUAN_FORMAT, YUAN_REGEX);
          // Named OpenAPI examples on request bodies (http/wire.ts withExamples): documentation only.
          ajv.addKeyword({ keyword: 'x-examples' });
          return ajv;
        },
      ],
    },
    return503OnClosing: true,
    // X-Request-Id: the caller's when safe, else a new UUID; logged as reqId and echoed.
    ...REQUEST_ID_OPTIONS,
    // Parser and router refusals are problems too (http/transport-problems.ts).
    ...TRANSPORT_PROBLEM_OPTIONS,
  });
  app.decorate('gateway', context);
  // Every registered route, for the OpenAPI completeness test and operators' introspection.
  const gatewayRoutes: Array<{
    method: string;
    url: string;
    hidden: boolean;
    roles: GatewayRouteConfig['roles'];
    public: boolean;
    operation?: GatewayRouteConfig['operation'];
    noChannelOperation?: string;
  }> = [];
  app.decorate('gatewayRoutes', gatewayRoutes);
  app.addHook('onRoute', (route) => {
    // The console's pages are HTML for people, not API routes (no OpenAPI, no bearer auth).
    if (route.url === CONSOLE_PREFIX || route.url.startsWith(`${CONSOLE_PREFIX}/`)) return;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const schema = route.schema as { hide?: boolean } | undefined;
    const config = (route.config ?? {}) as GatewayRouteConfig;
    for (const method of methods) {
      if (method !== 'HEAD')
        gatewayRoutes.push({
          method,
          url: route.url,
          hidden: schema?.hide === true,
          roles: config.roles ?? [],
          public: config.public === true,
          operation: config.operation,
          noChannelOperation: config.noChannelOperation,
        });
    }
  });
  app.addSchema(problemSchema);
  app.addSchema(deviceSchema);
  app.addSchema(parkPassSaleSchema);

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const { code, detail, extras } = classify(error);
    const problem = problemFor(code, detail, request.url.split('?')[0], extras);
    if (problem.status >= 500) request.log.error({ err: error }, 'request failed');
    void reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply
      .code(404)
      .type(PROBLEM_CONTENT_TYPE)
      .send(problemFor('not-found', `no route ${request.method} ${request.url.split('?')[0]}`, request.url.split('?')[0]));
  });

  // First of the onRequest hooks: a query string the gateway cannot read is a 400 whoever calls;
  // JSON bodies must be UTF-8.
  echoRequestIds(app);
  installTransportProblems(app);
  // Authentication first: a request without a credential is 401 on every protected route and
  // learns nothing about the deployment. Then, with a device CA, an authenticated sync on this
  // listener is pointed to the mutual-TLS device port.
  registerAuthHook(app, { adminToken: options.adminToken });
  // Request metrics (by route template) for every answer, readiness settings, the store metrics job.
  installObservability(app, { metricsRefreshIntervalMs: options.metricsRefreshIntervalMs, readinessTimeoutMs: options.readinessTimeoutMs });
  installDevicePki(app, options.devicePki);

  // Audit every state-changing request of operators and counters, whatever its outcome. onSend,
  // awaited: the answer leaves only once its entry is committed (it joins the store's group
  // commit, so it shares an fsync with other requests' work). Routes that wrote the entry in
  // their own transaction (services/audit.ts markAudited) are skipped.
  app.addHook('onSend', async (request, reply, payload) => {
    if (isAudited(request, reply.statusCode)) return payload;
    const entry = auditEntryFor(request, reply.statusCode, context.clock());
    if (entry === null) return payload;
    try {
      await context.store.transaction((tx) => recordAudit(tx, entry), { retryable: true });
      markAudited(request, reply.statusCode);
    } catch (error) {
      request.log.error({ err: error }, 'audit write failed');
    }
    return payload;
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Transit purse gateway',
        description: "The issuer's back office: cards, loads, loss reports and blacklists, refunds, park passes, validator sync, clearing.",
        version: '0.1.0',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
    },
    refResolver: {
      buildLocalReference(json: Record<string, unknown>, _baseUri: unknown, _fragment: unknown, i: number) {
        return typeof json.$id === 'string' ? json.$id : `def-${i}`;
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());

  // Route schemas are TypeBox (http/wire.ts): the type provider derives request and reply types
  // from them; validation stays with the ajv options above.
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();
  for (const routes of ROUTE_MODULES) await typed.register(routes);
  if (options.console !== false) await installConsole(app, options.console ?? {});

  // Temporary losses expire by themselves: the timer keeps the delta log current even when
  // nobody reads (every read also runs the same idempotent job).
  if (policies.lossExpiryIntervalMs > 0) {
    const timer = setInterval(() => {
      context.store
        .transaction((tx) => expireTemporaryLosses(tx, context.clock()))
        .catch((error: unknown) => app.log.error({ err: error }, 'loss expiry job failed'));
    }, policies.lossExpiryIntervalMs);
    timer.unref();
    app.addHook('onClose', async () => clearInterval(timer));
  }
  return app;
}
