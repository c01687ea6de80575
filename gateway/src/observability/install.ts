/**
 * Wires metrics and readiness into a gateway instance (called by buildGateway before the route
 * modules): `app.gatewayMetrics` (this instance's GatewayMetrics), the onResponse hook that
 * counts and times every answered request by route template, and the store job's timer (every
 * interval from build, unref'd, and once more as soon as the server listens; cleared on close).
 */
import type { FastifyInstance } from 'fastify';
import { GatewayMetrics } from './metrics.ts';
import { DEFAULT_READINESS_TIMEOUT_MS } from './readiness.ts';

export interface ObservabilityOptions {
  /** Period of the store metrics job (reconciliation etc.); 0 = no timer. Default 60 s. */
  metricsRefreshIntervalMs?: number;
  /** Bound of each readiness store check. Default 2 s. */
  readinessTimeoutMs?: number;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** This instance's Prometheus metrics (observability/metrics.ts). */
    gatewayMetrics: GatewayMetrics;
    /** Bound of each readiness store check, ms. */
    readinessTimeoutMs: number;
  }
}

export function installObservability(app: FastifyInstance, options: ObservabilityOptions): GatewayMetrics {
  const metrics = new GatewayMetrics(app.gateway, {
    intervalMs: options.metricsRefreshIntervalMs,
    onRefreshError: (error) => app.log.error({ err: error }, 'store metrics job failed'),
  });
  app.decorate('gatewayMetrics', metrics);
  app.decorate('readinessTimeoutMs', options.readinessTimeoutMs ?? DEFAULT_READINESS_TIMEOUT_MS);
  // routeOptions.url is the template (`/v1/cards/:cardNo`), undefined when no route matched.
  app.addHook('onResponse', (request, reply, done) => {
    metrics.observeRequest(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
  metrics.start();
  // A listening server has its gauges at once instead of after the first interval.
  app.addHook('onListen', (done) => {
    metrics.tick();
    done();
  });
  app.addHook('onClose', async () => metrics.stop());
  return metrics;
}
