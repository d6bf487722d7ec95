// When to poll a render next: a first look before the usual finish, then aim at the finish the progress rate gives; never slower than 30 s.
export interface ProgressSample {
  at: number;
  progress: number;
}

export const MIN_POLL_MS = 250;
export const MAX_POLL_MS = 30_000;
const FIRST_POLL_MS = 2_000;
const BACKOFF = 1.5;
/** Aim slightly past the estimate so one poll usually finds the render done, instead of one just before. */
const OVERSHOOT = 1.04;
/**
 * The first poll comes at this fraction of the usual render time: renders vary (±20 % is common), and one aimed at
 * the average finds a short render done long after it finished. Early, it finds most renders still running, and
 * its progress reading aims the next poll at the finish: two polls, little delay either way.
 */
export const FIRST_POLL_FRACTION = 0.8;
/** Past a finish estimated from the progress rate: percentages are whole numbers, and the rate is rarely exact. */
const RATE_OVERSHOOT = 1.02;
const RATE_MARGIN_MS = 100;

const clamp = (ms: number, min = MIN_POLL_MS) => Math.min(MAX_POLL_MS, Math.max(min, Math.round(ms)));

/**
 * samples: (time, progress) pairs seen so far, oldest first (the submit answer counts as one).
 * expectedTotalMs: how long renders have taken lately (RenderStats), or null on a cold start.
 */
export function nextPollDelayMs(input: {
  now: number;
  submittedAt: number;
  polls: number;
  samples: ProgressSample[];
  expectedTotalMs: number | null;
}): number {
  const { now, submittedAt, polls, samples, expectedTotalMs } = input;
  const first = samples.find((s) => s.progress > 0) ?? null;
  const last = samples.at(-1) ?? null;
  // With two samples of rising progress, the rate gives an estimate of the finish.
  if (first && last && last.progress > first.progress && last.at > first.at && last.progress < 100) {
    const rate = (last.progress - first.progress) / (last.at - first.at);
    const remainingMs = (100 - last.progress) / rate;
    const eta = last.at + remainingMs * RATE_OVERSHOOT + RATE_MARGIN_MS;
    return clamp(eta - now);
  }
  // Otherwise renders usually take about as long as recent ones did: look early first, then just past the usual end.
  if (expectedTotalMs !== null) {
    const eta = submittedAt + expectedTotalMs * (polls === 0 ? FIRST_POLL_FRACTION : OVERSHOOT);
    // The first look may come at once when renders have been finishing that fast (it is one request either way);
    // MIN_POLL_MS only spaces the polls that follow.
    if (eta > now) return clamp(eta - now, polls === 0 ? 0 : MIN_POLL_MS);
    if (polls === 0) return 0;
  }
  return clamp(FIRST_POLL_MS * BACKOFF ** polls);
}

/**
 * When a render seen complete at `now` most likely finished, from the samples taken while it was still running.
 * The progress rate gives a precise answer; without one (done at the first poll) the finish lies somewhere before
 * `now`, so a little less than `now` is recorded: recent render times can then drift down as well as up.
 */
export function estimateFinish(running: ProgressSample[], now: number): number {
  const last = running.at(-1);
  if (!last) return now;
  return finishFromRate(running, now) ?? last.at + (now - last.at) * DONE_AT_FIRST_POLL_SHRINK;
}

/** The finish the progress rate points at (two samples of rising progress), within what was seen; else null. */
function finishFromRate(running: ProgressSample[], now: number): number | null {
  const first = running.find((s) => s.progress > 0);
  const last = running.at(-1);
  if (!first || !last || !(last.progress > first.progress && last.at > first.at && last.progress < 100)) return null;
  const rate = (last.progress - first.progress) / (last.at - first.at);
  const eta = last.at + (100 - last.progress) / rate;
  return Math.min(now, Math.max(last.at, eta));
}

const DONE_AT_FIRST_POLL_SHRINK = 0.95;

/**
 * The render time to fold into the shared average (RenderStats) for a render seen complete at `now`: the upstream's own
 * completedAt − createdAt when its answer has them (§2.8 shape a), else the estimate from the samples. That estimate
 * can only be trusted as far as the samples bound it: the render finished after it was last seen running and before
 * `now`, and `now` may be late (no worker was up, a long wait was inlined elsewhere). So a wide bracket may lower the
 * average but raises it no further than the last sighting proves; one slow stretch then cannot make every later
 * first poll wait for it.
 */
export function renderTimeSample(input: {
  running: ProgressSample[];
  now: number;
  submittedAt: number;
  upstreamMs: number | null;
  expectedMs: number | null;
}): number {
  const { running, now, submittedAt, upstreamMs, expectedMs } = input;
  if (upstreamMs !== null) return upstreamMs;
  const fromRate = finishFromRate(running, now);
  if (fromRate !== null) return fromRate - submittedAt;
  const estimate = estimateFinish(running, now) - submittedAt;
  if (expectedMs === null) return estimate;
  const provenAtLeast = (running.at(-1)?.at ?? submittedAt) - submittedAt;
  return Math.min(estimate, Math.max(expectedMs, provenAtLeast));
}
