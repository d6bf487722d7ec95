// Vitest config: tests share one real Redis, so files run in parallel only as far as the 2-core machine allows.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Local scratch folders (gitignored) are never part of the suite.
    exclude: ['test/scratch*/**', '**/node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One module graph per worker rather than per file: imports were over a third of a unit run's time. Every file
    // keeps its own Redis prefix and servers; fakes and stubs a file leaves behind are undone after it (setupFiles).
    isolate: false,
    maxWorkers: 2,
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/per-file-reset.ts'],
  },
});
