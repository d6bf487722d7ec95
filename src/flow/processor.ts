// The BullMQ adapter of the flow: a waiting job is moved to delayed (not a sleeping promise), cancels abort the open stream.
import { DelayedError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { AppError, callerMessage, type ErrorCode } from '../core/errors.js';
import { limitedErrorLog } from '../observability/repeat-limit.js';
import type { RedisClient } from '../redis/client.js';
import { QUEUE_NAMES } from '../redis/keys.js';
import { subscribeWhenReady } from '../redis/subscribe.js';
import { annotateRun, withRunSpans } from '../tracing/flow.js';
import { activeTraceFields } from '../tracing/spans.js';
import { tracingEnabled } from '../tracing/state.js';
import type { FlowDeps } from './context.js';
import { runFlow } from './machine.js';
import { CAPPED_BACKOFF, cappedBackoffMs, createFlowQueues, type FlowJobData } from './queue.js';
import { startQueuedSweeper } from './sweeper.js';
import { RunAbort } from '../core/run-abort.js';

export interface FlowWorkerOptions {
  /** BullMQ's connection (a client from redis/client.ts bullmqConnection); the caller closes it after close(). */
  connection: ConnectionOptions;
  /** Flow jobs in flight in this process, split evenly over the shards' workers (at least one each). */
  concurrency: number;
  lockMs: number;
  /** A subscriber connection for cancel signals (a connection in subscriber mode can do nothing else). */
  subscriber: RedisClient;
}

export interface FlowWorker {
  /** One BullMQ Worker per queue shard (keys.tags), each on its shard's flow queue. */
  workers: Worker<FlowJobData>[];
  close(): Promise<void>;
  /** The last resort of a shutdown: closes every worker without waiting for its jobs (they return as stalled). */
  forceClose(): Promise<void>;
  /** Shutdown (issue 6): each running job is handed back to the queue as soon as its current step ends. */
  drain(): void;
  /** Shutdown (issue 6), at the deadline: aborts every running step; the machine saves and hands the job back. */
  abortAll(): void;
  /** Jobs this process is running now (what a shutdown waits for). */
  readonly runningCount: number;
}

export async function startFlowWorker(deps: FlowDeps, opts: FlowWorkerOptions): Promise<FlowWorker> {
  const running = new Map<string, AbortController>();
  const channel = deps.keys.jobCancelChannel();
  await subscribeWhenReady(opts.subscriber, channel);
  // Every worker hears every cancel; only the one running the job has it in `running`.
  opts.subscriber.on('message', (ch: string, jobId: string) => {
    if (ch === channel) running.get(jobId)?.abort(new RunAbort('canceled'));
  });

  // --- Graceful shutdown (issue 6): an abort that is not a cancel makes runFlow hand the job back (wait 0). ---
  let draining = false;
  const shutdownAbort = () => new RunAbort('worker shutting down');
  /**
   * While draining, abort right after a step ends: nothing is in flight then, so only the hand-back happens. One deps
   * object for every run (the job's controller found by its id), not a copy per run: thousands of runs wait at once.
   */
  const flowDeps: FlowDeps = {
    ...deps,
    onStep: (step, outcome, ms, jobId) => {
      deps.onStep?.(step, outcome, ms, jobId);
      if (draining) running.get(jobId)?.abort(shutdownAbort());
    },
  };

  const processor = async (job: Job<FlowJobData>, token?: string) => {
    const { jobId } = job.data;
    // Inside the run's span when tracing is on: every line of this job's log carries its trace_id.
    const log = deps.logger.child({ jobId, attempt: job.attemptsMade, ...activeTraceFields() });
    const controller = new AbortController();
    running.set(jobId, controller);
    try {
      const fence = token ? { lockKey: deps.keys.flowJobLock(job.id ?? jobId), token } : undefined;
      const result = await runFlow(flowDeps, jobId, controller.signal, log, fence);
      annotateRun(result);
      // Taken over by another worker: leave the job to it (a DelayedError makes BullMQ touch nothing).
      if (result.kind === 'lost') throw new DelayedError();
      if (result.kind === 'wait') {
        log.debug({ step: result.step, delayMs: result.delayMs, reason: result.reason }, 'waiting');
        await job.moveToDelayed(Date.now() + result.delayMs, token);
        // A cancel that arrived while this run was ending found the job neither delayed nor listening: wake it now.
        if ((await deps.store.get(jobId, { webhookState: false }))?.cancel_requested) await job.promote().catch(() => undefined);
        throw new DelayedError();
      }
    } finally {
      running.delete(jobId);
    }
  };

  // Tracing on: each run is a span continuing the trace the job's record keeps (one extra record read per run).
  const storedTrace = async (jobId: string) => (await deps.store.get(jobId, { webhookState: false }))?.trace ?? null;
  const run = tracingEnabled() ? withRunSpans(processor, storedTrace) : processor;
  // A job is only ever in its shard's queue, so each shard has its worker. Shards hold tenants at random (by hash), so
  // an even split of the process's concurrency is fair on average; a single busy tenant uses its shard's share.
  const { tags } = deps.keys;
  const perShard = Math.max(1, Math.ceil(opts.concurrency / tags.length));
  const workers = tags.map((prefix) => {
    const worker = new Worker<FlowJobData>(QUEUE_NAMES.flow, run, {
      connection: opts.connection,
      prefix,
      concurrency: perShard,
      // A worker that stops renewing its lock (killed, frozen) loses the job after lockMs; the stalled check, run
      // every half lock, then hands it to another worker, which resumes it from its checkpoint.
      lockDuration: opts.lockMs,
      // Steps are re-entrant, so a job whose worker died is always safe to take over; never fail it for stalling.
      maxStalledCount: 1_000,
      stalledInterval: Math.max(1_000, Math.floor(opts.lockMs / 2)),
      settings: { backoffStrategy: (attemptsMade, type) => (type === CAPPED_BACKOFF ? cappedBackoffMs(attemptsMade) : 0) },
    });
    worker.on('failed', (job, err) => {
      if (!job) return;
      const exhausted = job.attemptsMade >= (job.opts.attempts ?? 1);
      deps.logger.error({ jobId: job.data.jobId, err: String(err), exhausted }, 'flow run crashed');
      if (exhausted) void deps.lifecycle.fail(job.data.jobId, errorOfCrashedJob(err)).catch(() => {});
    });
    worker.on('error', limitedErrorLog(deps.logger, 'flow worker error', { queue: prefix }));
    return worker;
  });

  // The never-lose safety net: jobs whose record was written but whose queue entry never was.
  const sweepQueue = createFlowQueues(opts.connection, deps.keys);
  // Without a listener BullMQ prints every reconnect failure (a failover is a burst of them); the workers log theirs.
  for (const queue of sweepQueue.all) queue.on('error', (err: Error) => deps.logger.debug({ err: err.message }, 'sweep queue connection error'));
  const sweeper = startQueuedSweeper({
    redis: deps.redis,
    keys: deps.keys,
    queue: sweepQueue,
    store: deps.store,
    admission: deps.admission,
    limitsOf: deps.limitsOf,
    intervalMs: deps.settings.queuedSweepIntervalMs,
    minAgeMs: deps.settings.queuedSweepAgeMs,
    logger: deps.logger.child({ component: 'sweeper' }),
  });

  return {
    workers,
    drain() {
      draining = true;
    },
    abortAll() {
      draining = true;
      for (const controller of running.values()) controller.abort(shutdownAbort());
    },
    get runningCount() {
      return running.size;
    },
    async close() {
      sweeper.stop();
      await Promise.all(workers.map((w) => w.close()));
      await sweepQueue.close();
      await opts.subscriber.unsubscribe(channel).catch(() => {});
    },
    async forceClose() {
      await Promise.all(workers.map((w) => w.close(true)));
    },
  };
}

/**
 * The error a job ends with when every BullMQ attempt of it threw: an error of its own (a tenant's token no configured
 * key opens) says what it was, in the words callers get; anything else (a bug, Redis) is INTERNAL.
 */
export function errorOfCrashedJob(err: unknown): { code: ErrorCode; message: string; retryable: boolean } {
  if (err instanceof AppError) return { code: err.code, message: callerMessage(err), retryable: err.retryable };
  return { code: 'INTERNAL', message: 'the job could not be processed', retryable: true };
}
