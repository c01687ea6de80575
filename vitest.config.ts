import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Crash and multi-process tests spawn real processes; two workers fit a 2-core box.
    pool: 'forks',
    maxWorkers: 2,
    // Prints the proof summary (test/model, test/faults, test/bad-input) at the end of the run.
    globalSetup: ['test/support/proof-summary-setup.ts', 'test/support/services-setup.ts'],
    projects: [
      {
        extends: true,
        test: { name: 'suite', include: ['test/**/*.test.ts'], exclude: ['test/bench/bench-smoke.test.ts'], sequence: { groupOrder: 0 } },
      },
      {
        // The benches' quick mode measures latency: it runs alone, after every other test file,
        // so its loose budgets judge the code and not the other test workers on a 2-core box.
        extends: true,
        test: { name: 'bench-smoke', include: ['test/bench/bench-smoke.test.ts'], fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
