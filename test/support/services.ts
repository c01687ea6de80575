/**
 * Services some suites need besides Node: PostgreSQL (store suites) and Chromium (the console's
 * browser suites, test/console).
 * vitest's globalSetup (services-setup.ts) probes each once per run and provides the answer:
 * - on a developer machine without the service, those suites skip, each saying so in one line;
 * - with CI=true (as `.ci/run` runs) every service is mandatory: a missing one fails the run.
 */
import { inject } from 'vitest';

export type ServiceName = 'postgres' | 'chromium';

declare module 'vitest' {
  export interface ProvidedContext {
    services: Record<ServiceName, { up: boolean; where: string; why: string }>;
  }
}

/** True when the service answered the run's probe; otherwise prints one line naming the suite and returns false. */
export function serviceAvailable(service: ServiceName, suite: string): boolean {
  const probe = inject('services')[service];
  if (probe.up) return true;
  process.stderr.write(`skipped: ${suite}: ${service} is not reachable at ${probe.where} (${probe.why}); with CI=true this fails the run\n`);
  return false;
}
