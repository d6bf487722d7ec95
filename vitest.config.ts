// Vitest config: tests share one real Redis (each file its own key prefix); files run three at a time on 2 cores.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Local scratch folders (gitignored) are never part of the suite.
    exclude: ['test/scratch*/**', '**/node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Three files at a time on two cores: the e2e files spend much of their time waiting (timers, child processes,
    // renders at time scale); even with three the suite uses 1.4 cores on average. 2026-11-30 on a 2-core EPYC VM:
    // 313–337 s with two, 247–271 s with three, the crash, fault and soak tests green in every run.
    maxWorkers: 3,
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/per-file-reset.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // One module graph per worker rather than per file: imports were over a third of a unit run's time. Fakes,
          // stubs and the id clock are reset after each file (setupFiles).
          isolate: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'servers',
          include: ['test/integration/**/*.test.ts', 'test/property/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/browser/**/*.test.ts'],
          // A process per file: these start servers, processes and Redis clients, and with shared workers CI saw the
          // simulator's multipart upload test hang and a tenant-cache test miss its cache (neither pinned down).
          isolate: true,
        },
      },
    ],
  },
});
