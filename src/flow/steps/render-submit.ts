// Step render_submit: exactly one render per job; its id is stored before submitting, so a retry looks it up instead.
import { AppError } from '../../core/errors.js';
import { draftDurationMs, isExportable, rewriteSandboxPaths, storedFilesOf, summariseTimeline } from '../../nemo/draft.js';
import { NemoError } from '../../nemo/errors.js';
import { next, wait, type StepContext, type StepOutcome } from '../context.js';
import { draftOf, knownStateOf } from '../known-state.js';
import { nextPollDelayMs } from '../poll-cadence.js';
import { PROGRESS } from '../progress.js';

const MAX_RENDER_IDS = 2;

/**
 * Refusals of a submit that prove no render was made (usage.renders counts renders, not tries). Not `rejected`: it is
 * also a 2xx answer of a shape the client does not know, for a render the upstream may have started.
 */
const REFUSED_UNMADE: ReadonlySet<NemoError['kind']> = new Set(['auth', 'session_missing', 'no_credits', 'export_blocked', 'rate_limited']);

export function renderIdFor(jobId: string, attempt: number): string {
  return `render_${jobId.slice(4).toLowerCase()}_${attempt}`;
}

export async function renderSubmitStep(ctx: StepContext, token: string): Promise<StepOutcome> {
  const { flow, deps, jobId, log } = ctx;
  const sessionId = flow.session!.session_id;
  await deps.lifecycle.progress(jobId, 'render', PROGRESS.renderStart);
  // The check step has just read the state; a checkpoint from before that step existed reads it here.
  flow.known ??= knownStateOf(await deps.nemo.getState(token, sessionId));
  const exported = draftOf(flow.known);
  if (!exported || !isExportable(exported)) {
    throw new AppError('NOTHING_TO_RENDER', 'the agent finished without a timeline to export (the draft has no segments)');
  }
  let { draft, unresolved } = rewriteSandboxPaths(exported, flow.uploads);
  if (unresolved.length > 0) {
    // The sandbox may name a file by its storage key rather than its uploaded name (the CLI matches on the s3_key's
    // file name, §2.6), which only state's video_infos carry: read once, only for such a draft.
    const stored = storedFilesOf(await deps.nemo.getState(token, sessionId));
    ({ draft, unresolved } = rewriteSandboxPaths(exported, [...flow.uploads, ...stored]));
  }
  if (unresolved.length > 0) log.warn({ unresolved }, 'draft references sandbox paths with no uploaded file');

  if (!flow.render) {
    flow.render = {
      // After a lost session, past the ids it may hold a render under (state.ts, render_ids_before).
      id: renderIdFor(jobId, flow.render_ids_before + 1),
      attempt: 1,
      attempted: false,
      submitted: false,
      submitted_at: null,
      polls: 0,
      samples: [],
      timeline: summariseTimeline(draft),
      draft_duration_ms: draftDurationMs(draft),
    };
  }
  const render = flow.render;
  // Marked here, or premarked with the last message by a run that is not this one: a worker may have reached the
  // upstream before dying, so the id is looked up (and polled if it exists) instead of paying twice.
  // The premark covers the session's first render id only (the one a later run derives); a second id is written down first.
  const premarkedHere = flow.render_premark === ctx.runId && render.attempt === 1;
  const premarkedByAnother = flow.render_premark !== null && flow.render_premark !== ctx.runId;
  if ((render.attempted || premarkedByAnother) && !render.submitted) {
    const existing = await lookup(ctx, token, render.id);
    if (existing) {
      // Submitted by a run that died before writing it down: it is this job's one render all the same.
      if (!render.attempted) flow.usage.renders += 1;
      return markSubmitted(ctx, existing.progress);
    }
    // The earlier submit (counted when it was tried) made nothing: usage.renders counts renders, not tries.
    if (render.attempted) flow.usage.renders -= 1;
    // Refused as taken before this step was retried (its lookup failed then): submitting it again is refused again.
    if (render.duplicate_refused) {
      render.attempted = false;
      return nextRenderId(ctx, render, null);
    }
  }
  render.attempted = true;
  flow.usage.renders += 1;
  // This run's last message mark already says a render may exist (a crash from here on looks it up first): no commit.
  if (!premarkedHere) await ctx.checkpoint();
  const { output } = ctx.record.job;
  try {
    const status = await deps.nemo.submitRender(token, {
      id: render.id,
      sessionId,
      draft,
      output: { format: output.format, quality: output.quality, resolution: output.resolution },
    });
    log.info({ renderId: render.id }, 'render submitted');
    return markSubmitted(ctx, status.progress);
  } catch (err) {
    if (err instanceof NemoError && REFUSED_UNMADE.has(err.kind)) {
      // Refused outright (out of credits, the session gone, a 429…): nothing was made, so nothing to count or look up.
      flow.usage.renders -= 1;
      render.attempted = false;
      throw err;
    }
    if (!(err instanceof NemoError) || err.kind !== 'duplicate_render') throw err;
    // A duplicate id is ours if it exists (a lost answer to our own submit); otherwise retry once with a new id.
    render.duplicate_refused = true;
    const existing = await lookup(ctx, token, render.id);
    if (existing) return markSubmitted(ctx, existing.progress);
    // Refused, and no render under the id is ours: the submit made nothing (not a render in usage).
    flow.usage.renders -= 1;
    render.attempted = false;
    return nextRenderId(ctx, render, err);
  }
}

/** The id was refused as taken and holds no render of ours: the next id, or (both used) the refusal as the step's error. */
function nextRenderId(ctx: StepContext, render: NonNullable<StepContext['flow']['render']>, refusal: NemoError | null): StepOutcome {
  if (render.attempt >= MAX_RENDER_IDS) {
    throw refusal ?? new NemoError('duplicate_render', 'render_submit', 'render_submit: both render ids were refused as taken, and neither holds a render of this job');
  }
  render.attempt += 1;
  render.id = renderIdFor(ctx.jobId, ctx.flow.render_ids_before + render.attempt);
  delete render.duplicate_refused;
  return next('render_submit');
}

async function lookup(ctx: StepContext, token: string, id: string) {
  try {
    return await ctx.deps.nemo.getRender(token, id);
  } catch (err) {
    if (err instanceof NemoError && err.kind === 'not_found') return null;
    throw err;
  }
}

async function markSubmitted(ctx: StepContext, progress: number): Promise<StepOutcome> {
  const render = ctx.flow.render!;
  // Only a render the upstream acknowledged (or that a lookup found) is named on the job.
  await ctx.deps.lifecycle.update(ctx.jobId, (job) => {
    job.upstream.render_id = render.id;
  });
  const now = Date.now();
  render.submitted = true;
  render.submitted_at ??= new Date(now).toISOString();
  render.samples = [{ at: now, progress }];
  const delay = nextPollDelayMs({
    now,
    submittedAt: now,
    polls: 0,
    samples: render.samples,
    expectedTotalMs: await ctx.deps.renderStats.expectedMs(),
  });
  return wait('render_poll', delay, 'render running');
}
