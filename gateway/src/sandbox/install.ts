/**
 * The sandbox in a gateway (GATEWAY_SANDBOX=1; main.ts decides, after the start checks of
 * sandbox-start.ts): every answer carries `Sandbox: true`, the clock routes move the sandbox
 * clock, and the card service plugin answers for virtual cards. buildGateway installs it only
 * when given `sandbox`; a gateway without it has none of these routes.
 */
import type { FastifyInstance } from 'fastify';
import { sandboxCardRoutes } from './card-routes.ts';
import { sandboxClockRoutes } from './clock-routes.ts';
import type { SandboxClock } from './sandbox-clock.ts';
import type { VirtualCards } from './virtual-cards.ts';

export const SANDBOX_HEADER = 'Sandbox';

export interface SandboxOptions {
  /** The sandbox clock; its `now` is the gateway's clock. */
  clock: SandboxClock;
  /** The card service, with its own sandbox key holder. */
  cards: VirtualCards;
}

/** `Sandbox: true` on every answer (routes, errors, not-found, docs): call before any route is registered. */
export function installSandboxHeader(app: FastifyInstance): void {
  app.addHook('onRequest', async (_request, reply) => {
    reply.header(SANDBOX_HEADER, 'true');
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header(SANDBOX_HEADER, 'true');
    return payload;
  });
}

/** The sandbox routes: the clock and the card service plugin. */
export async function registerSandboxRoutes(app: FastifyInstance, sandbox: SandboxOptions): Promise<void> {
  await sandbox.cards.init();
  await app.register(sandboxClockRoutes(sandbox.clock));
  await app.register(sandboxCardRoutes(sandbox.cards));
}
