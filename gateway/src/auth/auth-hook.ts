/**
 * Authentication and role checks in one place, as an onRequest hook: it runs before the body
 * is read and validated, so a missing credential is 401 and a wrong role 403 even when the body
 * is also invalid (400 comes only for callers allowed to call the route).
 *
 * Scope rules that hold for every route: an app session only touches its own card (`cardNo`
 * path parameter), a device only its own device id (`deviceId` path parameter). Anything else is
 * answered as if it did not exist (404), never 403: the caller learns nothing about it.
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../http/problem.ts';
import { assertChannelMay } from '../services/channel-rules.ts';
import { INTERNAL_CALL_HEADER, internalPrincipal } from './internal-principal.ts';
import type { Principal } from './principal.ts';
import { hashToken, principalForToken } from './tokens.ts';

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]{16,256})$/;

export interface AuthHookOptions {
  /** GATEWAY_ADMIN_TOKEN: itself an operator token, never stored (only its hash in memory). */
  adminToken?: string;
}

function isPublic(request: FastifyRequest): boolean {
  const url = request.routeOptions.url;
  // No route matched: the not-found handler answers 404 without revealing anything.
  if (url === undefined) return true;
  if (request.routeOptions.config?.public) return true;
  // The console's pages authenticate by their own session cookie (console/install.ts) and act on
  // the API in process as the signed-in person.
  return url === '/docs' || url.startsWith('/docs/') || url === '/console' || url.startsWith('/console/');
}

/** What the card routes answer for a card that does not exist (services/cards.ts requireCard). */
export function cardNotFound(cardNo: string): ApiError {
  return new ApiError('card-not-found', `no card ${cardNo}`);
}

/** What the device routes answer for a device that is not registered (routes/sync.ts, pki). */
export function deviceNotFound(deviceId: string): ApiError {
  return new ApiError('device-not-found', `device ${deviceId} is not registered`);
}

export function registerAuthHook(app: FastifyInstance, options: AuthHookOptions): void {
  const adminHash = options.adminToken ? Buffer.from(hashToken(options.adminToken), 'hex') : null;
  app.decorateRequest('principal', null);

  app.addHook('onRequest', async (request) => {
    if (isPublic(request)) return;
    // The console's in-process calls (auth/internal-principal.ts) carry the signed-in person.
    let principal: Principal | null = internalPrincipal(request.headers[INTERNAL_CALL_HEADER]);
    if (!principal) {
      const match = BEARER.exec(request.headers.authorization ?? '');
      if (!match) throw new ApiError('unauthenticated', 'send Authorization: Bearer <token>');
      const token = match[1];
      if (adminHash && timingSafeEqual(Buffer.from(hashToken(token), 'hex'), adminHash)) {
        principal = { role: 'operator', subject: 'admin', branchId: null, mustChangePassword: false, organisation: null, staffRole: null };
      } else {
        const { store, clock } = app.gateway;
        principal = await store.transaction((tx) => principalForToken(tx, token, clock()), { readOnly: true });
      }
    }
    if (!principal) throw new ApiError('unauthenticated', 'the credential is unknown, revoked or expired');
    request.principal = principal;

    const config = request.routeOptions.config ?? {};
    if (principal.role !== 'operator' && !(config.roles ?? []).includes(principal.role)) {
      throw new ApiError('forbidden', `role ${principal.role} may not call ${request.method} ${request.routeOptions.url}`);
    }
    // The channel matrix, card-independent part (the handler checks the card's issuing bank).
    if (config.operation !== undefined && principal.role !== 'device') {
      assertChannelMay(principal, config.operation, undefined, {
        nowMs: app.gateway.clock(),
        policies: app.gateway.policies.channels,
        readOnly: request.method === 'GET' || request.method === 'HEAD',
      });
    }
    if (principal.mustChangePassword && !config.allowPasswordChangePending) {
      throw new ApiError('password-change-required', 'change the initial service password with POST /v1/auth/app-password');
    }
    // Scope: another card or device is something this caller may not know exists, so the answer
    // is the route's own 404, word for word (one rule: docs/gateway-api.md, Callers and roles).
    const params = (request.params ?? {}) as Record<string, unknown>;
    if (principal.role === 'app' && 'cardNo' in params && params.cardNo !== principal.subject) throw cardNotFound(String(params.cardNo));
    if (principal.role === 'device' && 'deviceId' in params && params.deviceId !== principal.subject) throw deviceNotFound(String(params.deviceId));
  });
}
