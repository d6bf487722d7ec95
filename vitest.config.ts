// Vitest config: tests share one real Redis, so files run in parallel only as far as the 2-core machine allows.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Local scratch folders (gitignored) are never part of the suite.
    exclude: ['test/scratch*/**', '**/node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/per-file-reset.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'fast',
          include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts', 'test/property/**/*.test.ts'],
          // One module graph per worker rather than per file: imports were over a third of a unit run's time. Every
          // file keeps its own Redis prefix and servers; fakes, stubs and the id clock are reset after each (setupFiles).
          isolate: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts', 'test/browser/**/*.test.ts'],
          // A process per file: with shared workers the simulator's multipart upload test hung after some of these
          // (found in CI, not pinned down), and they spend their time in tests, not imports.
          isolate: true,
        },
      },
    ],
  },
});
