// Step render_poll: one poll per wake-up; the next one is aimed at the estimated finish (waiting is a delayed job).
import { AppError } from '../../core/errors.js';
import { next, wait, type StepContext, type StepOutcome } from '../context.js';
import { nextPollDelayMs, renderTimeSample } from '../poll-cadence.js';
import { renderProgress } from '../progress.js';
import { probeSize } from '../result-size.js';

export const MAX_RENDER_WAIT_MS = 30 * 60_000;
const KEPT_SAMPLES = 6;

export async function renderPollStep(ctx: StepContext, token: string): Promise<StepOutcome> {
  const { flow, deps, jobId, log } = ctx;
  const render = flow.render!;
  // A 404 here is retried like any transient failure (upstream-errors.ts), never answered by submitting again:
  // the upstream acknowledged this render, and a second submit could start (and bill) a second one.
  const status = await deps.nemo.getRender(token, render.id);
  const now = Date.now();
  render.polls += 1;
  const incomplete = render.samples;
  render.samples = [...render.samples, { at: now, progress: status.progress }].slice(-KEPT_SAMPLES);
  const submittedAt = Date.parse(render.submitted_at ?? new Date(now).toISOString());

  if (status.status === 'completed') {
    if (!status.url) throw new AppError('RENDER_FAILED', 'the upstream reported the render complete without an output URL');
    const expectedMs = await deps.renderStats.expectedMs();
    await deps.renderStats.record(renderTimeSample({ running: incomplete, now, submittedAt, upstreamMs: status.renderMs, expectedMs }));
    // With output storage the copy measures the size exactly, so no HEAD request is spent on it here.
    const mirrored = deps.outputs !== undefined;
    flow.result = {
      url: status.url,
      timeline: render.timeline,
      duration_ms: status.durationMs ?? render.draft_duration_ms,
      size_bytes: status.sizeBytes ?? (mirrored || !deps.outputFetch ? null : await probeSize(status.url, deps.outputFetch)),
      checks: flow.checks?.checks ?? [],
      conformant: flow.checks?.conformant ?? null,
      upstream_url: status.url,
      sha256: null,
      stored_at: null,
    };
    log.info({ renderId: render.id, polls: render.polls, ms: now - submittedAt }, 'render completed');
    return next(mirrored ? 'mirror' : 'finish');
  }
  if (status.status === 'failed') {
    throw new AppError('RENDER_FAILED', `the upstream render failed: ${status.error ?? 'no reason given'}`);
  }
  if (now - submittedAt > MAX_RENDER_WAIT_MS) {
    throw new AppError('UPSTREAM_TIMEOUT', `the render did not finish within ${MAX_RENDER_WAIT_MS / 60_000} minutes`);
  }
  await deps.lifecycle.progress(jobId, 'render', renderProgress(status.progress));
  const delay = nextPollDelayMs({
    now,
    submittedAt,
    polls: render.polls,
    samples: render.samples,
    expectedTotalMs: await deps.renderStats.expectedMs(),
  });
  return wait('render_poll', delay, `render ${status.status} at ${status.progress}%`);
}
