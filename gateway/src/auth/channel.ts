/**
 * The channel matrix at the HTTP edge (services/channel-rules.ts holds the rules): the auth hook
 * checks a route's `config.operation` for the caller's channel before the body is read; handlers
 * call `assertChannelFor` again with the card once they have read it (issuing-bank cells, online
 * per-bank cells, the payment source of a top-up).
 */
import type { FastifyRequest } from 'fastify';
import { assertChannelMay, type ChannelCard, type Operation } from '../services/channel-rules.ts';
import { requirePrincipal } from './scope.ts';

export function assertChannelFor(request: FastifyRequest, operation: Operation, card?: ChannelCard, paymentSource?: string): void {
  const principal = requirePrincipal(request);
  if (principal.role === 'device') return;
  const { clock, policies } = request.server.gateway;
  assertChannelMay(principal, operation, card, { nowMs: clock(), policies: policies.channels, paymentSource });
}
