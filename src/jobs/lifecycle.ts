// Job lifecycle transitions (start, stage/progress, messages, finish) as store updates that append the matching events.
import type { JobError, JobRecord, JobResult, JobStage, EventType, Job } from './schemas.js';
import { isTerminal } from './schemas.js';
import type { JobStore } from './store.js';

/** job.progress events are throttled per job (contract §6); the record itself is always updated. */
export const PROGRESS_EVENT_INTERVAL_MS = 500;

/** Called after an event was stored, with the record as that write left it (hooks need not read it again). */
export type AfterEvent = (jobId: string, type: EventType, seq: number, record: JobRecord) => Promise<void> | void;

export class JobLifecycle {
  private readonly lastProgressEvent = new Map<string, number>();

  constructor(
    private readonly store: JobStore,
    private readonly afterEvent: AfterEvent = () => {},
    /** How long an ended job's data is kept (its tenant's retention); without it ended jobs are kept until erased. */
    private readonly retentionMs?: (tenant: string) => number,
  ) {}

  async start(jobId: string): Promise<JobRecord> {
    const now = new Date().toISOString();
    return this.apply(jobId, 'job.started', (r) => {
      if (r.job.status !== 'queued') return null;
      r.job.status = 'running';
      r.job.stage = 'auth';
      r.job.started_at = now;
      return r;
    });
  }

  /**
   * Moves the job to a stage and/or progress value; progress never goes backwards. `also` changes more of the job in
   * the same write (one round trip instead of two), e.g. the message just sent.
   */
  async progress(jobId: string, stage: JobStage, progress?: number, also?: (job: Job) => void): Promise<JobRecord> {
    const last = this.lastProgressEvent.get(jobId) ?? (await this.lastStoredEventAt(jobId));
    const due = Date.now() - last >= PROGRESS_EVENT_INTERVAL_MS;
    let emitted = false;
    const record = await this.apply(jobId, due ? 'job.progress' : undefined, (r) => {
      if (isTerminal(r.job.status)) return null;
      const nextProgress = Math.max(r.job.progress, Math.min(99, Math.round(progress ?? r.job.progress)));
      if (r.job.stage === stage && nextProgress === r.job.progress && !also) return null;
      r.job.stage = stage;
      r.job.progress = nextProgress;
      also?.(r.job);
      emitted = due;
      return r;
    });
    if (emitted) this.lastProgressEvent.set(jobId, Date.now());
    return record;
  }

  async update(jobId: string, mutate: (job: Job) => void): Promise<JobRecord> {
    return this.apply(jobId, undefined, (r) => {
      mutate(r.job);
      return r;
    });
  }

  async succeed(jobId: string, result: JobResult, also?: (job: Job) => void): Promise<JobRecord> {
    return this.finish(jobId, 'job.succeeded', (job) => {
      job.status = 'succeeded';
      job.stage = 'done';
      job.progress = 100;
      job.result = result;
      job.error = null;
      job.waiting = null;
      also?.(job);
    });
  }

  async fail(jobId: string, error: JobError, also?: (job: Job) => void): Promise<JobRecord> {
    return this.finish(jobId, 'job.failed', (job) => {
      job.status = 'failed';
      job.error = error;
      job.waiting = null;
      also?.(job);
    });
  }

  async cancel(jobId: string, message = 'canceled by the caller', also?: (job: Job) => void): Promise<JobRecord> {
    return this.finish(jobId, 'job.canceled', (job) => {
      job.status = 'canceled';
      job.error = { code: 'CANCELED', message, retryable: false };
      job.waiting = null;
      also?.(job);
    });
  }

  private async finish(jobId: string, type: EventType, mutate: (job: Job) => void): Promise<JobRecord> {
    const now = new Date().toISOString();
    const record = await this.apply(jobId, type, (r) => {
      if (isTerminal(r.job.status)) return null;
      mutate(r.job);
      r.job.finished_at = now;
      return r;
    });
    this.lastProgressEvent.delete(jobId);
    return record;
  }

  /**
   * A job that moved to this process (takeover after a crash) may have emitted a progress event elsewhere a moment
   * ago: the stored events, not this process's memory, say when the last one was.
   */
  private async lastStoredEventAt(jobId: string): Promise<number> {
    const last = await this.store.lastEventOfType(jobId, 'job.progress');
    const at = last ? Date.parse(last.at) : 0;
    this.lastProgressEvent.set(jobId, at);
    return at;
  }

  private async apply(
    jobId: string,
    type: EventType | undefined,
    mutate: (r: JobRecord) => JobRecord | null,
  ): Promise<JobRecord> {
    const retention = this.retentionMs;
    const { record, eventSeq } = await this.store.update(jobId, mutate, {
      ...(type ? { event: type } : {}),
      ...(retention ? { retentionMs: (r: JobRecord) => retention(r.tenant) } : {}),
    });
    if (type && eventSeq !== null) await this.afterEvent(jobId, type, eventSeq, record);
    return record;
  }
}
