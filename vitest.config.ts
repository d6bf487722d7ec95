// Vitest config: tests share one real Redis (each file its own key prefix); files run three at a time on 2 cores.
import { defineConfig } from 'vitest/config';
import DurationSequencer from './test/helpers/duration-sequencer.js';

/** Local scratch folders (gitignored) are never part of the suite. */
const EXCLUDED = ['test/scratch*/**', '**/node_modules/**'];
/** Files that need a process of their own (see the project below). */
// webhook-guard counts every socket the process opens (diagnostics channel): another file's clients would count too.
const ISOLATED = ['test/browser/**/*.test.ts', 'test/integration/tracing-*.test.ts', 'test/integration/webhook-guard.test.ts'];

export default defineConfig({
  test: {
    exclude: EXCLUDED,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Three files at a time on two cores: the e2e files spend much of their time waiting (timers, child processes,
    // renders at time scale); even with three the suite uses 1.4 cores on average. 2026-11-30 on a 2-core EPYC VM:
    // 313–337 s with two, 247–271 s with three, the crash, fault and soak tests green in every run.
    maxWorkers: 3,
    // Longest files first, from a recorded run (a clean checkout has no Vitest cache to order by): 2026-12-01, the
    // size order started a 46 s file at 251 s of a 349 s run.
    sequence: { sequencer: DurationSequencer },
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/per-file-reset.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'isolated',
          include: ISOLATED,
          // A process per file: these install process-wide hooks (the OpenTelemetry SDK patches http and undici for
          // the rest of the process) or drive a browser.
          isolate: true,
        },
      },
      {
        extends: true,
        test: {
          name: 'servers',
          include: ['test/integration/**/*.test.ts', 'test/property/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          exclude: [...EXCLUDED, ...ISOLATED],
          // One module graph per worker: a process per file cost about 1.4 s of CPU per file in imports (54 short
          // files: 61 s alone, 25 s sharing workers). Every file starts and closes its own servers, Redis clients and
          // child processes under its own key prefix; fakes and stubs are put back after each file (setupFiles).
          isolate: false,
        },
      },
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
    ],
  },
});
