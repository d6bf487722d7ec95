// Runs in every test file (vitest setupFiles): with isolate: false files share a worker, so whatever one file faked or stubbed is put back when it ends.
import { afterAll, vi } from 'vitest';

afterAll(() => {
  // A file that leaves Date or timers faked would freeze every later file's clocks (deadlines, token expiry, waitFor).
  vi.useRealTimers();
  vi.unstubAllEnvs();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});
