/**
 * Scope checks for routes whose card or device is in the body rather than the path (the auth
 * hook covers `cardNo`/`deviceId` path parameters by itself).
 */
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../http/problem.ts';
import { cardNotFound, deviceNotFound } from './auth-hook.ts';
import type { Principal } from './principal.ts';

export function requirePrincipal(request: FastifyRequest): Principal {
  if (!request.principal) throw new ApiError('unauthenticated');
  return request.principal;
}

/** An app session may only act on its own card; another card answers as a card that does not exist (404). */
export function assertCardScope(request: FastifyRequest, cardNo: string): void {
  const principal = requirePrincipal(request);
  if (principal.role === 'app' && principal.subject !== cardNo) throw cardNotFound(cardNo);
}

/** A device may only act as itself; another device answers as a device that is not registered (404). */
export function assertDeviceScope(request: FastifyRequest, deviceId: string): void {
  const principal = requirePrincipal(request);
  if (principal.role === 'device' && principal.subject !== deviceId) throw deviceNotFound(deviceId);
}

/** Actor string recorded with state changes: "role:subject". */
export function actorOf(principal: Principal): string {
  return `${principal.role}:${principal.subject}`;
}
