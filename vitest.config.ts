import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Crash and multi-process tests spawn real processes; two workers fit a 2-core box.
    pool: 'forks',
    maxWorkers: 2,
    // Prints the proof summary (test/model, test/faults, test/bad-input) at the end of the run.
    globalSetup: ['test/support/proof-summary-setup.ts'],
  },
});
