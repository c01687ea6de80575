/**
 * Every route module, registered in this order by app.ts. Each module is a Fastify plugin
 * `(app: GatewayApp) => Promise<void>` that reads `app.gateway` and declares `config.roles` per
 * route; its schemas are TypeBox (http/wire.ts), so request and reply types come from them.
 * To add routes: import the module and append it here.
 */
import type { GatewayApp } from '../http/wire.ts';
import { authRoutes } from './auth.ts';
import { blacklistRoutes } from './blacklist.ts';
import { cardsRoutes } from './cards.ts';
import { cardLifecycleRoutes } from './card-lifecycle.ts';
import { devicesRoutes } from './devices.ts';
import { faresRoutes } from './fares.ts';
import { fareTablesRoutes } from './fare-tables.ts';
import { healthRoutes } from './health.ts';
import { holdersRoutes } from './holders.ts';
import { holderAccountRoutes } from './holder-accounts.ts';
import { lossReportsRoutes } from './loss-reports.ts';
import { opsRoutes } from './ops.ts';
import { organisationsRoutes } from './organisations.ts';
import { parkPassesRoutes } from './park-passes.ts';
import { loadRoutes } from './loads.ts';
import { syncRoutes } from './sync.ts';
import { refundRoutes } from './refunds.ts';
import { ledgerRoutes } from './ledger.ts';
import { reportRoutes } from './reports.ts';
import { settlementRoutes } from './settlement.ts';
import { clearingRoutes } from './clearing.ts';
import { devicePkiRoutes } from '../pki/pki-routes.ts';

/** A module receives the instance with the TypeBox type provider (http/wire.ts GatewayApp). */
export type RouteModule = (app: GatewayApp) => Promise<void>;

export const ROUTE_MODULES: readonly RouteModule[] = [
  healthRoutes,
  authRoutes,
  organisationsRoutes,
  cardsRoutes,
  cardLifecycleRoutes,
  holdersRoutes,
  holderAccountRoutes,
  lossReportsRoutes,
  blacklistRoutes,
  faresRoutes,
  fareTablesRoutes,
  parkPassesRoutes,
  devicesRoutes,
  opsRoutes,
  loadRoutes,
  syncRoutes,
  refundRoutes,
  ledgerRoutes,
  reportRoutes,
  settlementRoutes,
  clearingRoutes,
  devicePkiRoutes,
];
