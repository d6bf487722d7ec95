// The worker's spans: one per run of a job (parented on the traceparent its record keeps) and one per flow step.
import { ATTR } from './attributes.js';
import { annotateActiveSpan, inSpan, SpanKind } from './spans.js';
import { isAbort } from '../core/run-abort.js';

/** The part of a BullMQ job a run span needs (kept structural so this layer needs no BullMQ import). */
export interface RunJob {
  id?: string | undefined;
  attemptsMade: number;
  data: { jobId: string };
}

/**
 * Wraps the flow queue's processor: each run (a job runs again after every delayed wait) becomes a `flow.run` span
 * whose parent is the job's stored traceparent, so every run of a job lands in the trace of the request that made it.
 */
export function withRunSpans<J extends RunJob, A extends unknown[], R>(
  processor: (job: J, ...rest: A) => Promise<R>,
  storedTrace: (jobId: string) => Promise<string | null>,
): (job: J, ...rest: A) => Promise<R> {
  return async (job, ...rest) => {
    const parent = await storedTrace(job.data.jobId).catch(() => null);
    const attributes = {
      [ATTR.jobId]: job.data.jobId,
      [ATTR.runAttempt]: job.attemptsMade,
      [ATTR.messagingSystem]: 'bullmq',
      [ATTR.messagingDestination]: 'flow',
      [ATTR.messagingOperation]: 'process',
      ...(job.id ? { [ATTR.messagingMessageId]: job.id } : {}),
    };
    const outcome = await inSpan('flow.run', { kind: SpanKind.CONSUMER, parent, attributes }, async () => {
      try {
        return { value: await processor(job, ...rest) };
      } catch (err) {
        // BullMQ's DelayedError is how a run hands its job back (a wait, a lost lock): not a failure of the span.
        if ((err as Error | null)?.name === 'DelayedError') return { handedBack: err };
        throw err;
      }
    });
    if ('handedBack' in outcome) throw outcome.handedBack;
    return outcome.value;
  };
}

/** The run's result, from inside the processor (its span is the active one). */
export function annotateRun(result: { kind: string; step?: string; delayMs?: number }): void {
  annotateActiveSpan({
    [ATTR.runResult]: result.kind,
    ...(result.step ? { [ATTR.runStep]: result.step } : {}),
    ...(result.delayMs !== undefined ? { [ATTR.runWaitMs]: result.delayMs } : {}),
  });
}

/** FlowDeps.aroundStep: a `flow.step <name>` span around the step, so the step's upstream calls become its children. */
export function traceStep<T>(step: string, jobId: string, run: () => Promise<T>): Promise<T> {
  return inSpan(`flow.step ${step}`, { attributes: { [ATTR.step]: step, [ATTR.jobId]: jobId } }, async (span) => {
    try {
      const outcome = await run();
      const o = outcome as { kind?: unknown; step?: unknown; delayMs?: unknown } | null;
      if (typeof o?.kind === 'string') span.setAttribute(ATTR.stepOutcome, o.kind);
      if (typeof o?.step === 'string' && o.step !== step) span.setAttribute(ATTR.stepNext, o.step);
      if (typeof o?.delayMs === 'number') span.setAttribute(ATTR.stepWaitMs, o.delayMs);
      return outcome;
    } catch (err) {
      // As the step metric counts it: a cancel or a shutdown's hand-back is neither a success nor a failure.
      span.setAttribute(ATTR.stepOutcome, isAbort(err) ? 'aborted' : 'error');
      throw err;
    }
  });
}
