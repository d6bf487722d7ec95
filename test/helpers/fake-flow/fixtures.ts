// Settings, a fake clock and builders of drafts, agent results and render answers for the flow unit tests.
import { afterEach, beforeEach, vi } from 'vitest';
import type { FlowSettings } from '../../../src/flow/context.js';
import { restartIdClock } from '../../../src/jobs/ids.js';
import type { RenderStatus } from '../../../src/nemo/render-status.js';
import type { Draft } from '../../../src/nemo/schemas.js';
import type { AgentRunResult } from '../../../src/nemo/sse.js';

/** Small numbers, so a test walks through every wait in a few fake-clock steps. */
export const TEST_SETTINGS: FlowSettings = {
  sseIdleMs: 1_000,
  sseMaxMs: 10_000,
  reconcileIntervalMs: 100,
  reconcileMaxUnchanged: 3,
  creditsRecheckMs: 1_000,
  creditsMaxWaitMs: 5_000,
  queuedSweepIntervalMs: 1_000,
  queuedSweepAgeMs: 1_000,
  rateLimitMaxWaitMs: 10_000,
  // Every wait handed back to the caller, as a delayed job would be (tests of inline waits set it).
  inlineWaitMaxMs: 0,
};

export const WEB_URL = 'https://nemo.example';
/** `.invalid` never resolves: a forgotten size in a scripted render fails its HEAD probe at once, offline. */
export const CDN = 'https://cdn.invalid';

/** Date only is faked (promises and timers stay real); drive() moves it forward by each wait. */
export function useFakeClock(start = '2030-01-01T00:00:00.000Z'): void {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date(start));
  });
  afterEach(() => {
    vi.useRealTimers();
    // Ids made meanwhile carried 2030: the process's id generator would keep stamping that time on every later id.
    restartIdClock();
  });
}

export const advanceClock = (ms: number): void => void vi.setSystemTime(Date.now() + ms);

// ---------------------------------------------------------------------------------------------------------------
// Upstream answers
// ---------------------------------------------------------------------------------------------------------------

/** A draft with `segments` video segments of 2 s on a canvas (exportable from one segment on). */
export function draftWith(segments: number, canvas = { width: 1080, height: 1920 }): Draft {
  const sg = Array.from({ length: segments }, (_, i) => ({ id: `seg${i + 1}`, d: 2_000, src: `${CDN}/clip.mp4` }));
  return { t: [{ tt: 0, sg }], d: segments * 2_000, m: { width: canvas.width, height: canvas.height } };
}

export function agentResult(partial: Partial<AgentRunResult> = {}): AgentRunResult {
  const texts = partial.texts ?? [];
  return { texts, toolCalls: [], toolResults: [], error: null, heartbeats: 0, events: 1, stateDelta: {}, deltaIncomplete: false, silent: texts.length === 0, ...partial };
}

export function renderStatus(partial: Partial<RenderStatus> = {}): RenderStatus {
  return { id: 'render', status: 'processing', progress: 0, url: null, error: null, durationMs: null, sizeBytes: null, renderMs: null, ...partial };
}

/** A finished render with its size, so render_poll needs no HEAD request. */
export const completedRender = (id: string): RenderStatus =>
  renderStatus({ id, status: 'completed', progress: 100, url: `${CDN}/renders/${id}.mp4`, durationMs: 6_000, sizeBytes: 123_456 });
