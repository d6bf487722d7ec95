// One run of a job in a worker: its record and checkpoint held in memory, every step's changes written in one commit.
import {
  PROGRESS_EVENT_INTERVAL_MS,
  transitions,
  type JobLifecycle,
  type LifecyclePort,
} from '../jobs/lifecycle.js';
import type { EventType, Job, JobError, JobRecord, JobResult, JobStage } from '../jobs/schemas.js';
import type { JobStore } from '../jobs/store.js';
import { flowStateSchema, LockLostError, type Fence, type FlowState } from './state.js';

type Mutation = (record: JobRecord) => JobRecord | null;

export interface JobRunDeps {
  store: Pick<JobStore, 'getWithFlow' | 'get'>;
  /** Commits with retention, hooks (webhooks, slots) and conflict retries: the same path as every other write. */
  commits: Pick<JobLifecycle, 'commit'>;
}

export type OpenedRun = { kind: 'open'; run: JobRun } | { kind: 'no_record' } | { kind: 'no_flow'; record: JobRecord };

/**
 * The worker reads a job once per run and then keeps it: steps change the record through `lifecycle` (staged, applied
 * to `record` at once) and the checkpoint in `flow`; `commit` writes both, with at most one event, fenced by the
 * BullMQ lock, in one round trip. Nothing is re-read unless a write finds the record changed by someone else (a cancel
 * flag, a webhook status): then the staged changes are applied again to what is stored. Before an upstream call that
 * must not be repeated a step commits (ctx.checkpoint); changes that are cheap to redo wait for the next commit.
 */
export class JobRun {
  /** The record as the run sees it: the stored one with the staged changes applied. */
  record: JobRecord;
  private stored: JobRecord;
  private staged: Mutation[] = [];
  private stagedProgressEvent = false;
  /** The start, staged: job.started goes out with the run's first commit (before any call that costs or takes long). */
  private stagedStart = false;
  /** The staged lifecycle the steps use: start and endings commit at once, the rest waits for the next commit. */
  readonly lifecycle: LifecyclePort;

  private constructor(
    private readonly deps: JobRunDeps,
    readonly flow: FlowState,
    record: JobRecord,
    private readonly fence: Fence | undefined,
  ) {
    this.stored = record;
    this.record = record;
    this.lifecycle = this.stagedLifecycle();
  }

  static async open(deps: JobRunDeps, jobId: string, fence?: Fence): Promise<OpenedRun> {
    const { record, flowRaw } = await deps.store.getWithFlow(jobId);
    if (!record) return { kind: 'no_record' };
    if (flowRaw === null) return { kind: 'no_flow', record };
    return { kind: 'open', run: new JobRun(deps, flowStateSchema.parse(JSON.parse(flowRaw)), record, fence) };
  }

  /** A job.progress event is due (the throttle allows one and the job's progress changed): worth a commit of its own. */
  get progressDue(): boolean {
    return this.stagedProgressEvent;
  }

  get jobId(): string {
    return this.record.job.id;
  }

  /** Applies a change to the run's view now; it is written with the next commit. */
  stage(mutate: Mutation): JobRecord {
    const changed = mutate(structuredClone(this.record));
    if (changed === null) return this.record;
    this.staged.push(mutate);
    this.record = changed;
    return this.record;
  }

  /**
   * Writes the staged changes and the checkpoint (and `event`, or a due progress event) in one round trip.
   * LockLostError when another worker holds the job now: nothing was written.
   */
  async commit(opts: { durable?: boolean; event?: EventType; mutate?: Mutation } = {}): Promise<JobRecord> {
    // A job that ends before its first commit still tells the caller it started, first.
    if (this.stagedStart && opts.event && opts.event !== 'job.started') await this.commit();
    if (this.stagedStart && !opts.event) return this.commitStart(opts);
    const mutations = opts.mutate ? [...this.staged, opts.mutate] : this.staged;
    const progressEvent = this.stagedProgressEvent && !opts.event;
    const event = opts.event ?? (progressEvent ? 'job.progress' : undefined);
    const lastProgressEvent = this.flow.progress_event_at;
    // Written with the event it stands for (a commit that finds nothing changed writes no event: put back below).
    if (progressEvent) this.flow.progress_event_at = Date.now();
    const outcome = await this.deps.commits.commit(this.stored, {
      mutate: (r) => {
        let current: JobRecord | null = null;
        for (const m of mutations) current = m(current ?? r) ?? current;
        return current;
      },
      flowJson: JSON.stringify(this.flow),
      ...(event ? { event } : {}),
      ...(this.fence ? { fence: this.fence } : {}),
      ...(opts.durable ? { durable: true } : {}),
    });
    if (outcome.kind === 'lock_lost') throw new LockLostError(this.jobId);
    if (progressEvent && !outcome.event) this.flow.progress_event_at = lastProgressEvent;
    this.stored = outcome.record;
    this.record = outcome.record;
    this.staged = [];
    this.stagedProgressEvent = false;
    return this.record;
  }

  /** Stages the start (status running, job.started): written by the run's first commit. */
  stageStart(): void {
    const before = this.record;
    this.stage(transitions.start(new Date().toISOString()));
    this.stagedStart = this.record !== before;
  }

  private async commitStart(opts: { durable?: boolean }): Promise<JobRecord> {
    this.stagedStart = false;
    // The progress staged with it is in the record the started event carries; its own event waits for the next interval.
    const progress = this.stagedProgressEvent;
    this.stagedProgressEvent = false;
    try {
      return await this.commit({ ...opts, event: 'job.started' });
    } catch (err) {
      this.stagedStart = true;
      this.stagedProgressEvent = progress;
      throw err;
    }
  }

  /** Reads the stored record again (after an abort: was it a cancel?), keeping the staged changes on top of it. */
  async refresh(): Promise<JobRecord> {
    const fresh = await this.deps.store.get(this.jobId);
    if (!fresh) throw new Error(`job ${this.jobId} vanished during its run`);
    this.stored = fresh;
    let view = fresh;
    for (const m of this.staged) view = m(structuredClone(view)) ?? view;
    this.record = view;
    return this.record;
  }

  private stagedLifecycle(): LifecyclePort {
    const finish = (type: EventType, change: (job: Job) => void) =>
      this.commit({ event: type, mutate: transitions.finish(new Date().toISOString(), change) });
    return {
      start: () => this.commit({ event: 'job.started', mutate: transitions.start(new Date().toISOString()) }),
      progress: async (_jobId: string, stage: JobStage, progress?: number, also?: (job: Job) => void) => {
        const before = this.record;
        const after = this.stage(transitions.progress(stage, progress, also));
        const last = this.flow.progress_event_at ?? 0;
        if (after !== before && Date.now() - last >= PROGRESS_EVENT_INTERVAL_MS) this.stagedProgressEvent = true;
        return after;
      },
      update: async (_jobId: string, mutate: (job: Job) => void) =>
        this.stage((r) => {
          mutate(r.job);
          return r;
        }),
      succeed: (_jobId: string, result: JobResult, also?: (job: Job) => void) => finish('job.succeeded', transitions.succeed(result, also)),
      fail: (_jobId: string, error: JobError, also?: (job: Job) => void) => finish('job.failed', transitions.fail(error, also)),
      cancel: (_jobId: string, message = 'canceled by the caller', also?: (job: Job) => void) =>
        finish('job.canceled', transitions.cancel(message, also)),
    };
  }
}
