// Job lifecycle transitions (start, stage/progress, messages, finish) as store updates that append the matching events.
import type { JobError, JobRecord, JobResult, JobStage, EventType, Job } from './schemas.js';
import { isTerminal } from './schemas.js';
import type { CommitSpec, JobStore, StoredEvent } from './store.js';

/** job.progress events are throttled per job (contract §6); the record itself is always updated. */
export const PROGRESS_EVENT_INTERVAL_MS = 500;

/**
 * Called after an event was stored, with the record as that write left it (hooks need not read it again). `stored` is
 * the event as written, when the writer has it; `worker` says a flow worker wrote it (it may deliver the webhook itself).
 */
export type AfterEvent = (
  jobId: string,
  type: EventType,
  seq: number,
  record: JobRecord,
  extra?: { stored?: StoredEvent; worker?: boolean },
) => Promise<void> | void;

/** What the flow's steps change on a job through the lifecycle (the worker stages these and commits them with its checkpoint). */
export type LifecyclePort = Pick<JobLifecycle, 'start' | 'progress' | 'update' | 'succeed' | 'fail' | 'cancel'>;

/** A staged write of a flow worker: its mutations of the record (null: none) with the checkpoint, fenced. */
export interface StagedCommit {
  /** The record to write given the stored one (null: leave it); must not change the record it is given. */
  mutate: (record: JobRecord) => JobRecord | null;
  event?: EventType;
  flowJson?: string;
  fence?: CommitSpec['fence'];
  durable?: boolean;
}

export type StagedCommitOutcome = { kind: 'stored'; record: JobRecord; event: StoredEvent | null } | { kind: 'lock_lost' };

/** How a job's record changes on each transition: the same for a direct update and for a worker's staged commit. */
export const transitions = {
  start(at: string) {
    return (r: JobRecord): JobRecord | null => {
      if (r.job.status !== 'queued') return null;
      r.job.status = 'running';
      r.job.stage = 'auth';
      r.job.started_at = at;
      return r;
    };
  },
  progress(stage: JobStage, progress: number | undefined, also?: (job: Job) => void) {
    return (r: JobRecord): JobRecord | null => {
      if (isTerminal(r.job.status)) return null;
      const nextProgress = Math.max(r.job.progress, Math.min(99, Math.round(progress ?? r.job.progress)));
      if (r.job.stage === stage && nextProgress === r.job.progress && !also) return null;
      r.job.stage = stage;
      r.job.progress = nextProgress;
      also?.(r.job);
      return r;
    };
  },
  finish(at: string, mutate: (job: Job) => void) {
    return (r: JobRecord): JobRecord | null => {
      if (isTerminal(r.job.status)) return null;
      mutate(r.job);
      r.job.finished_at = at;
      return r;
    };
  },
  succeed(result: JobResult, also?: (job: Job) => void) {
    return (job: Job) => {
      job.status = 'succeeded';
      job.stage = 'done';
      job.progress = 100;
      job.result = result;
      job.error = null;
      job.waiting = null;
      also?.(job);
    };
  },
  fail(error: JobError, also?: (job: Job) => void) {
    return (job: Job) => {
      job.status = 'failed';
      job.error = error;
      job.waiting = null;
      also?.(job);
    };
  },
  cancel(message: string, also?: (job: Job) => void) {
    return (job: Job) => {
      job.status = 'canceled';
      job.error = { code: 'CANCELED', message, retryable: false };
      job.waiting = null;
      also?.(job);
    };
  },
};

export class JobLifecycle {
  private readonly lastProgressEvent = new Map<string, number>();

  constructor(
    private readonly store: JobStore,
    private readonly afterEvent: AfterEvent = () => {},
    /** How long an ended job's data is kept (its tenant's retention); without it ended jobs are kept until erased. */
    private readonly retentionMs?: (tenant: string) => number | Promise<number>,
  ) {}

  async start(jobId: string): Promise<JobRecord> {
    return this.apply(jobId, 'job.started', transitions.start(new Date().toISOString()));
  }

  /**
   * Moves the job to a stage and/or progress value; progress never goes backwards. `also` changes more of the job in
   * the same write (one round trip instead of two), e.g. the message just sent.
   */
  async progress(jobId: string, stage: JobStage, progress?: number, also?: (job: Job) => void): Promise<JobRecord> {
    const last = this.lastProgressEvent.get(jobId) ?? (await this.lastStoredEventAt(jobId));
    const due = Date.now() - last >= PROGRESS_EVENT_INTERVAL_MS;
    let emitted = false;
    const change = transitions.progress(stage, progress, also);
    const record = await this.apply(jobId, due ? 'job.progress' : undefined, (r) => {
      const changed = change(r);
      emitted = due && changed !== null;
      return changed;
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
    return this.finish(jobId, 'job.succeeded', transitions.succeed(result, also));
  }

  async fail(jobId: string, error: JobError, also?: (job: Job) => void): Promise<JobRecord> {
    return this.finish(jobId, 'job.failed', transitions.fail(error, also));
  }

  async cancel(jobId: string, message = 'canceled by the caller', also?: (job: Job) => void): Promise<JobRecord> {
    return this.finish(jobId, 'job.canceled', transitions.cancel(message, also));
  }

  /**
   * A flow worker's write (flow/job-run.ts): its staged record changes, its checkpoint and an event in one round
   * trip, starting from the version it holds (`base`). On a conflict (a cancel flag, a webhook status written
   * meanwhile) the stored record is read again and the same changes are applied to it. Hooks run as for any event.
   */
  async commit(base: JobRecord, staged: StagedCommit): Promise<StagedCommitOutcome> {
    const jobId = base.job.id;
    let current = base;
    for (let attempt = 0; attempt < 50; attempt++) {
      // `current` is handed over as it is: StagedCommit.mutate answers a new record and leaves `current` unchanged.
      const next = staged.mutate(current);
      const stored: JobRecord | null = next ? { ...next, v: current.v + 1 } : null;
      const ends = stored !== null && isTerminal(stored.job.status) && !isTerminal(current.job.status);
      const ttlMs = ends && this.retentionMs ? Math.max(1, Math.round(await this.retentionMs(stored.tenant))) : 0;
      const event = stored ? staged.event : undefined;
      const outcome = await this.store.commit({
        jobId,
        tenant: current.tenant,
        record: stored,
        expectedVersion: current.v,
        oldStatus: current.job.status,
        ttlMs,
        ...(event ? { event } : {}),
        ...(staged.flowJson !== undefined ? { flowJson: staged.flowJson } : {}),
        ...(staged.fence ? { fence: staged.fence } : {}),
        ...(staged.durable ? { durable: true } : {}),
      });
      if (outcome.kind === 'lock_lost') return outcome;
      if (outcome.kind === 'gone') throw new Error(`job ${jobId} vanished during update`);
      if (outcome.kind === 'conflict') {
        const fresh = await this.store.get(jobId, { webhookState: false });
        if (!fresh) throw new Error(`job ${jobId} vanished during update`);
        current = fresh;
        continue;
      }
      const record = stored ?? current;
      if (ends) this.lastProgressEvent.delete(jobId);
      if (event && outcome.event) await this.afterEvent(jobId, event, outcome.event.seq, record, { stored: outcome.event, worker: true });
      return { kind: 'stored', record, event: outcome.event };
    }
    throw new Error(`job ${jobId}: too many concurrent updates`);
  }

  private async finish(jobId: string, type: EventType, mutate: (job: Job) => void): Promise<JobRecord> {
    const record = await this.apply(jobId, type, transitions.finish(new Date().toISOString(), mutate));
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
