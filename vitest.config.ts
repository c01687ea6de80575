import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Crash and multi-process tests spawn real processes; two workers fit a 2-core box.
    pool: 'forks',
    maxWorkers: 2,
  },
});
