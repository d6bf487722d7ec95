// Vitest config: tests share one real Redis, so files run in parallel only as far as the 2-core machine allows.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One module graph per worker rather than per file: imports were over a third of a unit run's time. Every file
    // keeps its own Redis prefix and servers, so nothing but module caches is shared.
    isolate: false,
    maxWorkers: 2,
    globalSetup: ['test/helpers/global-setup.ts'],
  },
});
