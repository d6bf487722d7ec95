// Runs in every test file (vitest setupFiles): with isolate: false files share a worker, so whatever one file faked or stubbed is put back when it ends.
import { afterAll, vi } from 'vitest';
import { restartIdClock } from '../../src/jobs/ids.js';

afterAll(() => {
  // A file that leaves Date or timers faked would freeze every later file's clocks (deadlines, token expiry, waitFor).
  vi.useRealTimers();
  vi.unstubAllEnvs();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  // Ids made under a faked Date would leave the process's id generator at that time for every later file.
  restartIdClock();
});
