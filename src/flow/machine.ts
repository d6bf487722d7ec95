// The flow state machine: runs steps from the checkpoint until the job finishes or must wait; no BullMQ in here.
import { AppError, callerMessage } from '../core/errors.js';
import { isTerminal, type EventType, type JobRecord } from '../jobs/schemas.js';
import { NemoError } from '../nemo/errors.js';
import { currentTraceparent } from '../tracing/spans.js';
import { scrubSecrets, type Logger } from '../observability/logger.js';
import { next, spendsTenantAccount, wait, type FlowDeps, type StepContext, type StepOutcome } from './context.js';
import { cancelUpstreamWork } from './cancel.js';
import { handOverUnsettled } from './settle.js';
import { markGroupSourcesFailed } from './group-sources.js';
import { countedUpstream } from './counted-upstream.js';
import { creditsAfter, usageOf } from './usage.js';
import type { UpstreamAccount } from './accounts.js';
import { creditsWait } from './credits-wait.js';
import { JobRun } from './job-run.js';
import { LockLostError, type Fence, type FlowState, type Step } from './state.js';
import { authStep } from './steps/auth.js';
import { checkStep } from './steps/check.js';
import { finishStep } from './steps/finish.js';
import { generateStep } from './steps/generate.js';
import { mirrorStep } from './steps/mirror.js';
import { reconcileStep } from './steps/reconcile.js';
import { renderPollStep } from './steps/render-poll.js';
import { renderSubmitStep } from './steps/render-submit.js';
import { sessionStep } from './steps/session.js';
import { uploadStep } from './steps/upload.js';
import { decideUpstream, MAX_STEP_RETRIES, MAX_TOKEN_REFUSALS, reauthDelayMs, type StaticTokenOwner } from './upstream-errors.js';

export const MAX_SESSION_RESETS = 2;

type StepHandler = (ctx: StepContext, token: string) => Promise<StepOutcome>;

const HANDLERS: Record<Step, StepHandler> = {
  auth: authStep,
  session: sessionStep,
  upload: uploadStep,
  generate: generateStep,
  reconcile: reconcileStep,
  check: checkStep,
  render_submit: renderSubmitStep,
  render_poll: renderPollStep,
  mirror: mirrorStep,
  finish: (ctx) => finishStep(ctx),
};

export type FlowRunResult =
  | { kind: 'finished' }
  | { kind: 'wait'; delayMs: number; step: Step; reason: string }
  /** Another worker took the job over (this one stalled past its lock): stop without touching anything. */
  | { kind: 'lost' };

/**
 * Runs the job from its checkpoint. With a `fence` (the BullMQ lock), every checkpoint write first proves that
 * this worker still holds the job, so a worker that stalled and was taken over cannot undo its successor's work.
 */
export async function runFlow(
  deps: FlowDeps,
  jobId: string,
  signal: AbortSignal,
  log: Logger,
  fence?: Fence,
): Promise<FlowRunResult> {
  try {
    return await runSteps(deps, jobId, signal, log, fence);
  } catch (err) {
    if (!(err instanceof LockLostError)) throw err;
    log.warn('lost the job lock to another worker; stopping here');
    return { kind: 'lost' };
  }
}

/** How long an item of a batch its request has not finished listing waits for it, and how often it looks again. */
const BATCH_CREATION_GRACE_MS = 5 * 60_000;
const BATCH_CREATION_RECHECK_MS = 30_000;
const ABANDONED_BATCH_MESSAGE =
  'its batch was never fully created (the request creating it stopped before listing every item), so it did not run: ' +
  'send the batch request again; with the same Idempotency-Key it creates the batch afresh';

/**
 * An item of a batch whose creating request died part-way (an API killed) must not run: that request's retry creates
 * the whole batch again, and both would be paid for. Waited on while the request may still be at work, then canceled.
 * Only a job that has not started is checked (one read of the batch record per item start).
 */
async function incompleteBatch(deps: FlowDeps, record: JobRecord): Promise<'run' | 'wait' | 'abandoned'> {
  const batchId = record.job.batch_id;
  if (!batchId || record.job.status !== 'queued' || record.cancel_requested || !deps.batchCreation) return 'run';
  const creation = await deps.batchCreation(batchId);
  if (!creation || creation.complete) return 'run';
  return Date.now() - creation.createdAtMs < BATCH_CREATION_GRACE_MS ? 'wait' : 'abandoned';
}

/** Waits for a turn (another job's session) or for credits can last long: always handed back to the queue. */
const inlineable = (outcome: { delayMs: number; reason: string; step: Step }, maxMs: number) =>
  outcome.delayMs <= maxMs && outcome.step !== 'session' && !outcome.reason.includes('credits');

async function runSteps(deps: FlowDeps, jobId: string, signal: AbortSignal, log: Logger, fence?: Fence): Promise<FlowRunResult> {
  const opened = await JobRun.open({ store: deps.store, commits: deps.commits }, jobId, fence);
  if (opened.kind === 'no_record') {
    log.error('job record missing; nothing to run');
    return { kind: 'finished' };
  }
  if (opened.kind === 'no_flow') {
    if (!isTerminal(opened.record.job.status)) {
      await deps.lifecycle.fail(jobId, { code: 'INTERNAL', message: 'the job lost its flow state', retryable: false });
    }
    return { kind: 'finished' };
  }
  const { run } = opened;
  const { flow } = run;
  // A job stored without a trace (its API did not trace, or it predates tracing): this run's trace becomes the job's,
  // written with the next commit (no round trip of its own), so its later runs and its webhooks join it instead of
  // each starting a trace of its own.
  const adopted = run.record.trace === null ? currentTraceparent() : null;
  if (adopted !== null) {
    run.stage((r) => {
      r.trace ??= adopted;
      return r;
    });
  }
  const save = (opts?: { durable?: boolean }) => run.commit(opts).then(() => undefined);
  const unlisted = await incompleteBatch(deps, run.record);
  if (unlisted === 'wait') return { kind: 'wait', delayMs: BATCH_CREATION_RECHECK_MS, step: flow.step, reason: 'its batch is still being created' };
  if (unlisted === 'abandoned') {
    log.warn({ batchId: run.record.job.batch_id }, 'batch item not run: the request creating its batch stopped before listing every item');
    await run.lifecycle.cancel(jobId, ABANDONED_BATCH_MESSAGE);
    return { kind: 'finished' };
  }
  // Running from here on; written (with job.started) by the first commit, before anything costly or long.
  if (run.record.job.status === 'queued' && !run.record.cancel_requested) run.stageStart();
  // Every upstream call the steps make is counted in the job's usage (job.usage.upstream_calls), and logged with
  // the job's jobId and trace_id.
  const nemo = countedUpstream(deps.nemo.withLogger(log), () => void (flow.usage.upstream_calls += 1));
  // The job spends its tenant's upstream account (its token, credit gate, balance); one account's 2001 pauses only it.
  // The steps' record changes are staged on the run and written with its next commit.
  const depsFor = (account: UpstreamAccount): FlowDeps => ({
    ...deps,
    nemo,
    lifecycle: run.lifecycle,
    tokens: account.tokens,
    accountId: account.id,
    credits: account.credits,
    balance: account.balance,
    claims: account.claims,
  });
  let stepDeps = depsFor(await deps.accounts.forTenant(run.record.tenant));

  for (;;) {
    // The tenant's token of the moment (README "Operating many tenants"): a token changed while the job runs is used
    // from its next step on (one of another user then finds the session gone: UPSTREAM_ACCOUNT_CHANGED).
    if ((await deps.accounts.currentId(run.record.tenant)) !== stepDeps.accountId) {
      stepDeps = depsFor(await deps.accounts.forTenant(run.record.tenant));
      log.info({ account: stepDeps.accountId }, "the tenant's upstream account changed; the job's next steps spend the new one");
    }
    if (isTerminal(run.record.job.status)) {
      await deps.deliveries.ensureQueued(jobId);
      await deps.endedAgain?.(jobId, `job.${run.record.job.status}` as EventType, run.record);
      return { kind: 'finished' };
    }
    // A cancel aborts the signal (pub/sub); the flag itself is on the record, read again only then.
    if (signal.aborted) await run.refresh();
    if (run.record.cancel_requested) {
      // With the tenant's account: its token is the one that may cancel its render.
      await cancelUpstreamWork(stepDeps, flow, log);
      await handOverUnsettled(stepDeps, flow, run.record.job.output, log);
      const after = await creditsAfter(stepDeps.balance, flow, 'CANCELED');
      await run.lifecycle.cancel(jobId, run.record.cancel_reason, (job) => {
        job.usage = { ...usageOf(flow, job.usage), credits_after: after };
      });
      return { kind: 'finished' };
    }
    // Aborted but not canceled (a shutdown): hand the job back, its checkpoint written.
    if (signal.aborted) {
      await save();
      return { kind: 'wait', delayMs: 0, step: flow.step, reason: 'aborted without a cancel' };
    }
    const step = flow.step;
    const started = Date.now();
    const ctx = new RunStepContext(stepDeps, jobId, run.runId, run.record, flow, log, step, signal, save);
    let outcome: StepOutcome;
    let token = '';
    try {
      const runStep = async () => {
        token = await stepDeps.tokens.get();
        return HANDLERS[step](ctx, token);
      };
      outcome = deps.aroundStep ? await deps.aroundStep(step, jobId, runStep) : await runStep();
      flow.retries = 0;
      flow.token_refusals = 0;
      flow.rate_limited_since = null;
      // A wait the job reported (a 429, credits) is over once a step went through; not the one the step has just
      // reported itself while it waits on (its turn on a shared session, the upstream taking its uploads in): that
      // one lasts until the step goes on.
      const reason = run.record.job.waiting?.reason;
      const ownWait = outcome.kind === 'wait' && (reason === 'session_turn' || reason === 'upstream_uploads');
      if (run.record.job.waiting && !flow.credits_wait_since && !ownWait) {
        await run.lifecycle.update(jobId, (job) => {
          job.waiting = null;
        });
      }
      deps.onStep?.(step, 'ok', Date.now() - started, jobId);
    } catch (err) {
      if (err instanceof LockLostError) throw err;
      if (signal.aborted) {
        // Given up by a cancel or a shutdown: counted apart, neither a success nor an upstream failure.
        deps.onStep?.(step, 'aborted', Date.now() - started, jobId);
        await save();
        continue; // the loop top sees cancel_requested
      }
      deps.onStep?.(step, 'error', Date.now() - started, jobId);
      const handled = await handleFailure(stepDeps, ctx, token, err, save);
      if (handled.kind === 'failed') return { kind: 'finished' };
      outcome = handled.outcome;
    }
    if (outcome.kind === 'finished') return { kind: 'finished' };
    flow.step = outcome.step;
    if (outcome.kind === 'wait') {
      if (inlineable(outcome, deps.settings.inlineWaitMaxMs)) {
        // Slept here, nothing written (a crash meanwhile resumes from the last commit, which is as safe), unless the
        // caller is due a job.progress event: a render followed in short polls still shows its progress.
        if (run.progressDue) await save();
        await sleep(outcome.delayMs, signal);
        continue;
      }
      await save();
      return { kind: 'wait', delayMs: outcome.delayMs, step: outcome.step, reason: outcome.reason };
    }
    // A next step: what this one changed is written by the next commit (every step commits before a call that must not
    // be repeated), so a crash in between only repeats work that costs nothing to repeat.
  }
}

/**
 * What a step gets. A class rather than an object literal with a `log` getter: V8 keeps such a literal in dictionary
 * mode (~0.45 KB), and a step waiting on its agent stream holds its context for minutes, thousands of them at once.
 */
class RunStepContext implements StepContext {
  private stepLog: Logger | null = null;

  constructor(
    readonly deps: FlowDeps,
    readonly jobId: string,
    readonly runId: string,
    readonly record: StepContext['record'],
    readonly flow: FlowState,
    private readonly runLog: Logger,
    private readonly step: Step,
    readonly signal: AbortSignal,
    readonly checkpoint: StepContext['checkpoint'],
  ) {}

  /** Made on first use: most steps log nothing, and a child logger (its bindings redacted) per step adds up. */
  get log(): Logger {
    return (this.stepLog ??= this.runLog.child({ step: this.step }));
  }
}

/** Resolves after `ms`, or at once when the signal aborts (a cancel, a shutdown): the loop top then sees why. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The anonymous token endpoint limits how many tokens one IP address gets: what to do instead. */
const ANONYMOUS_TOKEN_ADVICE =
  '. It was the anonymous token endpoint, which limits the tokens one IP address gets: set NEMO_TOKEN (or give the tenant a token of its own) to use a key instead';

/** Whose fixed token the job's account uses, if any (the refusal message names it). */
function staticTokenOwner(deps: FlowDeps): StaticTokenOwner {
  if (!deps.tokens.isStatic) return null;
  return spendsTenantAccount(deps) ? 'tenant' : 'service';
}

async function handleFailure(
  deps: FlowDeps,
  ctx: StepContext,
  token: string,
  err: unknown,
  save: (opts?: { durable?: boolean }) => Promise<void>,
): Promise<{ kind: 'failed' } | { kind: 'continue'; outcome: StepOutcome }> {
  const { flow, log } = ctx;
  const step = flow.step;
  // What the failed step left in the checkpoint (a refused send is no longer in flight) is saved before anything else
  // here can fail: a crash in the writes below must not resume with a message wrongly marked as sent.
  await save();
  const moved = accountChangedAfterCharges(deps, flow, err);
  if (moved) return fail(deps, ctx, save, moved);
  let decision;
  try {
    decision = decideUpstream(err, flow.retries, staticTokenOwner(deps));
  } catch (unexpected) {
    // Not an upstream or job error: a bug or Redis trouble. Let BullMQ retry the whole job from the checkpoint.
    await save();
    throw unexpected;
  }
  switch (decision.kind) {
    case 'rate_limited': {
      // Honour the upstream's Retry-After, but not for ever: a job that keeps being refused fails instead of waiting.
      const now = Date.now();
      const since = flow.rate_limited_since ? Date.parse(flow.rate_limited_since) : now;
      const first = flow.rate_limited_since === null;
      flow.rate_limited_since = new Date(since).toISOString();
      const patience = deps.settings.rateLimitMaxWaitMs;
      // Which call was limited: the caller can tell a busy agent from a token endpoint limiting its IP address.
      const to = err instanceof NemoError ? ` to ${err.endpoint}` : '';
      if (now + decision.delayMs - since > patience) {
        return fail(
          deps,
          ctx,
          save,
          new AppError(
            'UPSTREAM_RATE_LIMITED',
            // A first 429 that asks for more than the patience is not one it "kept answering".
            `${first ? `the upstream answered 429 (rate limit)${to} asking to wait ${Math.round(decision.delayMs / 1000)} s` : `the upstream kept answering 429 (rate limit)${to} for ${Math.round((now - since) / 1000)} s`}; ` +
              `the next try would pass UPSTREAM_RATE_LIMIT_MAX_WAIT_MS (${Math.round(patience / 1000)} s)` +
              (err instanceof NemoError && err.endpoint === 'anonymous_token' ? ANONYMOUS_TOKEN_ADVICE : ''),
          ),
        );
      }
      log.warn({ delayMs: decision.delayMs, since: flow.rate_limited_since }, 'upstream rate limit; waiting as told');
      if (first) {
        await deps.lifecycle.update(ctx.jobId, (job) => {
          job.waiting = { reason: 'upstream_rate_limit', message: `the upstream answered 429 (rate limit)${to}; retrying when it allows`, since: flow.rate_limited_since! };
        });
      }
      return { kind: 'continue', outcome: wait(step, decision.delayMs, 'upstream rate limit') };
    }
    case 'retry':
      if (decision.countsAsFailure) flow.retries += 1;
      log.warn({ reason: decision.reason, delayMs: decision.delayMs, retries: flow.retries }, 'upstream call will be retried');
      // A backoff can last a minute: the job says why it waits, with what it has cost so far (the record's usage is
      // otherwise written when the job ends). Cleared by the next step that goes through.
      if (decision.countsAsFailure && !flow.credits_wait_since) {
        await deps.lifecycle.update(ctx.jobId, (job) => {
          job.waiting = {
            reason: 'upstream_retry',
            message: `${decision.shown ?? decision.reason}; try ${flow.retries + 1} of ${MAX_STEP_RETRIES + 1} in ${Math.ceil(decision.delayMs / 1000)} s`,
            since: job.waiting?.reason === 'upstream_retry' ? job.waiting.since : new Date().toISOString(),
          };
          job.usage = usageOf(flow, job.usage);
        });
      }
      return { kind: 'continue', outcome: wait(step, decision.delayMs, decision.reason) };
    case 'reauth': {
      flow.token_refusals += 1;
      if (flow.token_refusals > MAX_TOKEN_REFUSALS) {
        return fail(
          deps,
          ctx,
          save,
          new AppError('UPSTREAM_AUTH_FAILED', `the upstream kept refusing fresh tokens (${flow.token_refusals} in a row)`),
        );
      }
      const delayMs = reauthDelayMs(flow.token_refusals);
      log.warn({ refusals: flow.token_refusals, delayMs }, 'upstream token refused; acquiring a new one');
      if (token) await deps.tokens.invalidate(token);
      return { kind: 'continue', outcome: delayMs === 0 ? next(step) : wait(step, delayMs, 'upstream token refused again') };
    }
    case 'new_session': {
      // A revision continues its parent's timeline: a new session would hold none of it (the parent's sources and
      // messages are not the revision's to send again), and would render a video unrelated to the parent as if it were
      // the revision. It fails, and the session is forgotten so the group's later jobs do not inherit it.
      const parentId = ctx.record.job.parent_id;
      if (parentId !== null) {
        if (flow.group && flow.session) await deps.groups.forget(flow.group, flow.session.session_id);
        return fail(
          deps,
          ctx,
          save,
          new AppError(
            'SESSION_LOST',
            `the upstream lost the session of job ${parentId}, which this revision continues; its timeline cannot be rebuilt ` +
              'here: submit a new job (its sources and an instruction that includes this change)',
            { retryable: false },
          ),
        );
      }
      flow.session_resets += 1;
      if (flow.session_resets > MAX_SESSION_RESETS) {
        // The upstream's own words (1002, or a 404 "session not found"), as UPSTREAM_ERROR quotes its last failure.
        const last = err instanceof NemoError ? scrubSecrets(err.message) : 'session not found';
        return fail(deps, ctx, save, new AppError('SESSION_LOST', `the upstream kept losing the session (${flow.session_resets} sessions): ${last}`));
      }
      log.warn({ resets: flow.session_resets }, 'upstream session lost; starting a new one and re-uploading');
      // The group's next jobs must not inherit the lost session either.
      if (flow.group && flow.session) await deps.groups.forget(flow.group, flow.session.session_id);
      // Ids the lost session may hold a render under: every id its render went through, or the first one when a run
      // had marked the last message sent (it may have submitted before dying). The new session's renders start after.
      const idsUsed = Math.max(flow.render?.attempt ?? 0, flow.render_premark !== null ? 1 : 0);
      Object.assign(flow, {
        render_ids_before: flow.render_ids_before + idsUsed,
        render_premark: null,
        session: null,
        uploaded: false,
        uploads: [],
        next_message: 0,
        inflight: null,
        reconcile: null,
        render: null,
        known: null,
      } satisfies Partial<FlowState>);
      return { kind: 'continue', outcome: next('session') };
    }
    case 'out_of_credits': {
      // Shut the gate: new starts (auth) and further messages (generate) now wait for the balance to recover,
      // instead of every queued job failing on its own 2001. A 2001 before the stream ran nothing (generate.ts).
      await deps.credits.pause();
      log.warn('upstream out of credits; pausing new work and waiting for the balance to recover');
      // The upstream's own advice for an anonymous account: a registration link, shown on the job and /v1/credits.
      if (!deps.tokens.isStatic && flow.session && token) await deps.claims.learn(ctx.deps.nemo, token, flow.session);
      try {
        return { kind: 'continue', outcome: await creditsWait(ctx, step, deps.settings.creditsRecheckMs) };
      } catch (gaveUp) {
        // Only the job's own verdict ends it; Redis trouble while waiting is retried from the checkpoint.
        if (!(gaveUp instanceof AppError)) throw gaveUp;
        return fail(deps, ctx, save, gaveUp);
      }
    }
    case 'fail':
      return fail(deps, ctx, save, decision.error);
  }
}

/**
 * The tenant's upstream account changed while the job ran (a token of another user) after messages were charged: the
 * new account cannot see the old one's session or render (its calls answer "not found"), and a new session would send
 * those messages again. Such an answer then ends the job at once, not after the retries a passing fault gets (a render
 * poll answering 404 was retried for minutes, then failed UPSTREAM_ERROR). A rendered job (copying its output) needs no
 * account and goes on.
 */
function accountChangedAfterCharges(deps: FlowDeps, flow: FlowState, err: unknown): AppError | null {
  const sent = flow.usage.messages_sent;
  // Only an answer that the session or render is not there: a new token of the same user still sees them, and a
  // passing fault on it is retried as on any account.
  if (!(err instanceof NemoError) || (err.kind !== 'session_missing' && err.kind !== 'not_found')) return null;
  if (flow.account === null || deps.accountId === undefined || deps.accountId === flow.account) return null;
  if (sent === 0 || flow.result) return null;
  return new AppError(
    'UPSTREAM_ACCOUNT_CHANGED',
    `the tenant's upstream account changed while the job ran; its session belongs to the account that was charged for ` +
      `its ${sent} message(s) so far, and the new one would be charged for them again: submit the job again to run it on the new account`,
  );
}

/**
 * A job that fails copying its output (step mirror) had its video rendered, and paid for: submitting it again would
 * pay again, so it is not retryable, and the message says so and gives the upstream's own link while that lasts.
 */
function afterRender(flow: FlowState, error: AppError): AppError {
  if (flow.step !== 'mirror' || !flow.render || !flow.result) return afterCharges(flow, error);
  const link = error.code === 'OUTPUT_GONE' ? '' : `; the upstream's own link, while it lasts: ${flow.result.upstream_url ?? flow.result.url}`;
  // Built on what the caller may read (a storage failure's detail names paths and buckets: the log has it).
  const message = `${callerMessage(error)}. The video was rendered (render ${flow.render.id}, its credits spent), so submitting the job again pays for it again${link}`;
  return new AppError(error.code, message, { cause: error, retryable: false, callerSafe: true });
}

/**
 * A failure that would be worth retrying, after messages the agent may have charged for: submitting the job again
 * sends them again, so it is not retryable (as UPSTREAM_TIMEOUT after a send), and the message says what was spent.
 * UPSTREAM_ACCOUNT_CHANGED stays retryable: resubmitting on the new account is what it asks for.
 */
function afterCharges(flow: FlowState, error: AppError): AppError {
  const sent = flow.usage.messages_sent;
  if (!error.retryable || sent === 0 || error.code === 'UPSTREAM_ACCOUNT_CHANGED') return error;
  const message =
    `${callerMessage(error)}. ${sent} message${sent === 1 ? ' was' : 's were'} sent to the agent and may have been charged, ` +
    'so submitting the job again may be charged again';
  return new AppError(error.code, message, { cause: error, retryable: false, callerSafe: true });
}

async function fail(deps: FlowDeps, ctx: StepContext, save: () => Promise<void>, failure: AppError): Promise<{ kind: 'failed' }> {
  const error = afterRender(ctx.flow, failure);
  ctx.log.warn({ code: error.code, message: error.message, ...(error === failure ? {} : { detail: failure.message }) }, 'job failed');
  await save();
  // A render that failed upstream has nothing left to cancel; anything else still running is stopped.
  if (error.code !== 'RENDER_FAILED') await cancelUpstreamWork(deps, ctx.flow, ctx.log);
  await markGroupSourcesFailed(deps, ctx.flow, ctx.jobId, error, ctx.log);
  const after = await creditsAfter(ctx.deps.balance, ctx.flow, error.code);
  await deps.lifecycle.fail(ctx.jobId, { code: error.code, message: callerMessage(error), retryable: error.retryable }, (job) => {
    // What the job cost before it failed (a message sent may have been charged), and the balance it left.
    job.usage = { ...usageOf(ctx.flow, job.usage), credits_after: after };
  });
  return { kind: 'failed' };
}
