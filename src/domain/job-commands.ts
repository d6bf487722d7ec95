// The job use cases creating, revising and canceling jobs: record, flow checkpoint and queue entry, written in a safe order.
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '../core/errors.js';
import type { SessionGroups } from '../flow/session-groups.js';
import type { FlowStore } from '../flow/state.js';
import { initialFlowState } from '../flow/state.js';
import type { CreateAdmission } from '../jobs/create-script.js';
import { doneEntry, KeyTaken, type KeyClaim } from '../jobs/idempotency.js';
import type { JobLifecycle } from '../jobs/lifecycle.js';
import { EMPTY_USAGE, isTerminal, TERMINAL_EVENTS, type CreateJobBody, type Job, type JobEvent, type JobRecord, type RevisionBody } from '../jobs/schemas.js';
import { VersionConflict, type JobStore } from '../jobs/store.js';
import { isHeicUrl } from '../uploads/url-source.js';
import { buildAgentMessages } from '../video/compile.js';
import { applyOutputChanges } from '../video/output.js';

export interface JobQueuePort {
  /**
   * Offers the job to the fair-start scheduler; it reaches a worker when its tenant's turn and slot come. `started`:
   * the create script already offered it (admissionFor), and these are the jobs admission let run now (this one, when
   * it did not have to wait, or others), so only their queue entries are added.
   */
  enqueue(jobId: string, tenant: string, started?: readonly string[]): Promise<void>;
  /** The tenant's scheduler and caps, for the create script to offer the job to admission itself (absent: never). */
  admissionFor?(tenant: string): Promise<CreateAdmission>;
  /** Removes a job no worker has started; false if a worker holds it. */
  removeIfWaiting(jobId: string, tenant: string): Promise<boolean>;
  /** Wakes a waiting (delayed) job so its worker notices a cancel now. */
  wake(jobId: string): Promise<void>;
  publishCancel(jobId: string): Promise<void>;
}

export interface JobCommandsDeps {
  store: JobStore;
  flows: FlowStore;
  lifecycle: JobLifecycle;
  groups: SessionGroups;
  queue: JobQueuePort;
  /** Refuses webhook targets the SSRF guard would never deliver to (throws AppError). */
  checkWebhookUrl: (url: string) => Promise<void>;
  /**
   * Refuses source URLs the service would fetch itself (HEIC, to convert it) but the SSRF guard would never reach;
   * a 400 at creation instead of a failed job later. Absent: not checked.
   */
  checkFetchedSourceUrl?: (url: string, field: string) => Promise<void>;
  /**
   * The job's live events (the SSE feed's subscription): a cancel of a job a worker holds waits on them for the
   * worker to end it. Absent: the cancel answers at once with the job as flagged.
   */
  events?: { listen(jobId: string, onEvent: (event: JobEvent) => void): Promise<() => Promise<void>> };
  /** How long a cancel of a job a worker holds waits for the worker to end it before answering (default 3 s). */
  cancelConfirmMs?: number;
}

/** A worker usually ends a canceled job within a few hundred ms (its upstream render cancel included). */
const CANCEL_CONFIRM_MS = 3_000;

export interface CreateOptions {
  /** The W3C traceparent the job's worker spans continue. */
  trace?: string | null;
  /** Jobs of one group take turns on one upstream session (a batch, or a job and its revisions). */
  group?: string | null;
  batchId?: string | null;
  parentId?: string | null;
  /** The upstream session a revision continues. */
  inherited?: { task_id: string; session_id: string };
  /**
   * The Idempotency-Key the job is created under: its `done` entry is written in the job's own write (erased with the
   * job); KeyTaken (nothing written) when the key already has an entry.
   */
  claim?: KeyClaim | null;
  /**
   * Called once the job is stored, before its queue entry is added: if that add fails the job still exists (the
   * queued-job sweeper starts it) and the caller must treat it as created (its files handed over, not removed).
   * `jobJson`: the job exactly as stored (JSON.stringify of record.job).
   */
  onStored?: (record: JobRecord, jobJson: string) => void;
  /**
   * Given: the job is stored but not queued, and this receives the add to make later (a batch queues its items once
   * all of them are listed on it). A job left unqueued by a crash is started by the queued-job sweeper.
   */
  enqueueLater?: (enqueue: () => Promise<void>) => void;
}

export class JobCommands {
  constructor(private readonly deps: JobCommandsDeps) {}

  /**
   * The refusals a create makes before it writes anything: the webhook target, and the HEIC sources this service fetches
   * itself. A batch makes them once, before it saves itself (its items share both).
   */
  async checkTargets(body: Pick<CreateJobBody, 'webhook' | 'sources'>): Promise<void> {
    if (body.webhook) await this.deps.checkWebhookUrl(body.webhook.url);
    const check = this.deps.checkFetchedSourceUrl;
    // Why: only HEIC URLs are checked; without one there is nothing to wait for (no Promise.all and await per create).
    if (check && body.sources.some((s) => 'url' in s && isHeicUrl(s.url))) {
      await Promise.all(body.sources.map((s, i) => ('url' in s && isHeicUrl(s.url) ? check(s.url, `sources.${i}.url`) : undefined)));
    }
  }

  async create(tenant: string, body: CreateJobBody, opts: CreateOptions = {}): Promise<JobRecord> {
    await this.checkTargets(body);
    // The id carries the tenant's queue shard (QUEUE_SHARDS > 1), so every key of the job is found from it.
    const job = newJob(this.deps.store.newId(tenant), body, opts);
    // A job of a group joins its queue only once stored (below): a key taken by an earlier request leaves nothing behind.
    const group = opts.group ?? null;
    const flow = initialFlowState(buildAgentMessages(body), { inherited: opts.inherited, group });
    // Record, flow checkpoint, Idempotency-Key entry and the offer to admission in one script, queue last: a worker
    // only ever sees a job whose record and flow both exist.
    const claim = opts.claim ?? null;
    const record: JobRecord = { v: 1, tenant, cancel_requested: false, trace: opts.trace ?? null, group, idem: claim?.redisKey ?? null, job };
    const admission = this.deps.queue.admissionFor ? await this.deps.queue.admissionFor(tenant) : null;
    const outcome = await this.deps.store.createNew({
      record,
      flowJson: JSON.stringify(flow),
      claim: claim ? { redisKey: claim.redisKey, entryJson: doneEntry(claim.fp, job.id), ttlMs: claim.ttlMs } : null,
      admission,
    });
    if (outcome.kind === 'key_taken') throw new KeyTaken(outcome.entry);
    if (outcome.kind === 'exists') throw new VersionConflict(`job ${job.id} already exists`);
    opts.onStored?.(record, outcome.jobJson);
    // Its place in the group's queue is taken in creation order, before a worker can see the job (its queue entry is
    // added below), and only once it exists: joined first, a process killed before the record was written left an id
    // no job would ever remove from the head of the queue, and every later job of the group waited for good. One
    // stored but not joined (killed in between) joins when it takes its turn.
    if (group) await this.deps.groups.join(group, job.id);
    const enqueue = () => this.deps.queue.enqueue(job.id, tenant, admission ? outcome.started : undefined);
    if (opts.enqueueLater) opts.enqueueLater(enqueue);
    else await enqueue();
    return record;
  }

  /**
   * A new job continuing a succeeded job's upstream session (its draft) with a new instruction. Revisions of one job
   * run one at a time on that session, in the order they were asked for (its group).
   */
  async revise(
    tenant: string,
    parentId: string,
    body: RevisionBody,
    opts: { trace?: string | null; claim?: KeyClaim | null } = {},
  ): Promise<JobRecord> {
    const parent = await this.deps.store.getForTenant(tenant, parentId);
    if (!parent) throw new AppError('JOB_NOT_FOUND', `job ${parentId} not found`);
    if (parent.job.status !== 'succeeded') {
      throw new AppError('PARENT_NOT_SUCCEEDED', `job ${parentId} is ${parent.job.status}; only a succeeded job can be revised`);
    }
    const flow = await this.deps.flows.load(parentId);
    if (!flow?.session) throw new AppError('PARENT_NOT_SUCCEEDED', `job ${parentId} has no upstream session to continue`);
    const group = parent.group ?? parentId;
    // The first revision of a job opens its group with the parent's session and files; later ones find it there. It
    // lasts as long as the parent at least (a revision asked later opens it again); the revision's join keeps it while
    // the revision runs, and the group's last job to end gives it its own retention.
    // A batch whose sources were refused holds the failed item's session with that answer (flow/group-sources.ts): a
    // revision of an item that succeeded continues that item's session instead; the batch's later items still fail.
    const shared = await this.deps.groups.session(group);
    if (!shared || shared.sources_failed) {
      const session = { ...flow.session, uploads: flow.uploads, ...(shared?.sources_failed ? { sources_failed: shared.sources_failed } : {}) };
      await this.deps.groups.publish(group, session, await this.deps.store.expiresAt(parentId));
    }
    const { job } = parent;
    const next: CreateJobBody = {
      instruction: body.instruction,
      followups: [],
      sources: [],
      output: body.output ? applyOutputChanges(job.output, body.output) : job.output,
      conformance: body.conformance ?? job.conformance,
      language: job.language,
      metadata: job.metadata,
      ...(job.webhook ? { webhook: { url: job.webhook.url, events: job.webhook.events } } : {}),
    };
    return this.create(tenant, next, {
      trace: opts.trace ?? null,
      group,
      parentId,
      // Not an item of its parent's batch (the batch's counts and end do not include it): parent_id names the item.
      batchId: null,
      inherited: flow.session,
      claim: opts.claim ?? null,
    });
  }

  /**
   * A job nobody has started is canceled here; one a worker holds (or that waits on a render) is flagged,
   * woken and signalled, and its worker cancels the upstream render and records the end.
   */
  async cancel(tenant: string, jobId: string, reason?: string): Promise<JobRecord> {
    const existing = await this.deps.store.getForTenant(tenant, jobId);
    if (!existing) throw new AppError('JOB_NOT_FOUND', `job ${jobId} not found`);
    if (isTerminal(existing.job.status)) throw new AppError('JOB_FINISHED', `job ${jobId} already ${existing.job.status}`);
    const { record } = await this.deps.store.update(jobId, (r) =>
      r.cancel_requested || isTerminal(r.job.status) ? null : { ...r, cancel_requested: true, ...(reason ? { cancel_reason: reason } : {}) },
    );
    // It may have finished between the read above and the flag.
    if (isTerminal(record.job.status)) throw new AppError('JOB_FINISHED', `job ${jobId} already ${record.job.status}`);
    // Not started and not in the queue any more (removed here, or never added): nobody else will end it.
    if (record.job.status === 'queued' && (await this.deps.queue.removeIfWaiting(jobId, tenant))) {
      return this.deps.lifecycle.cancel(jobId, record.cancel_reason);
    }
    await this.deps.queue.publishCancel(jobId);
    await this.deps.queue.wake(jobId);
    return (await this.endedWithin(tenant, jobId, this.deps.cancelConfirmMs ?? CANCEL_CONFIRM_MS)) ?? record;
  }

  /**
   * The job once its worker has ended it (its terminal event published), waited for at most `ms`; null if it is still
   * running then (the answer is the job as flagged, and the caller sees the end on a later read, its events or its
   * webhook). Listening first, then one read: an end published before the subscription is seen by that read.
   */
  private async endedWithin(tenant: string, jobId: string, ms: number): Promise<JobRecord | null> {
    if (!this.deps.events) return null;
    let ended!: () => void;
    const endSeen = new Promise<void>((resolve) => (ended = resolve));
    const unlisten = await this.deps.events
      .listen(jobId, (event) => void ((TERMINAL_EVENTS as readonly string[]).includes(event.type) && ended()))
      .catch(() => null);
    if (!unlisten) return null;
    const timer = new AbortController();
    try {
      const now = await this.deps.store.getForTenant(tenant, jobId);
      if (!now || isTerminal(now.job.status)) return now;
      const seen = await Promise.race([endSeen.then(() => true), sleep(ms, false, { signal: timer.signal })]);
      if (!seen) return null;
      const after = await this.deps.store.getForTenant(tenant, jobId);
      return after && isTerminal(after.job.status) ? after : null;
    } finally {
      timer.abort();
      await unlisten();
    }
  }
}

function newJob(id: string, body: CreateJobBody, opts: CreateOptions): Job {
  const session = opts.inherited ?? null;
  return {
    id,
    status: 'queued',
    stage: 'queued',
    progress: 0,
    instruction: body.instruction,
    followups: body.followups,
    sources: body.sources,
    output: body.output,
    conformance: body.conformance,
    language: body.language,
    metadata: body.metadata,
    messages: [],
    messages_sent: [],
    changes: [],
    timeline: null,
    usage: { ...EMPTY_USAGE },
    waiting: null,
    batch_id: opts.batchId ?? null,
    queue_position: null,
    result: null,
    error: null,
    upstream: { task_id: session?.task_id ?? null, session_id: session?.session_id ?? null, render_id: null },
    webhook: body.webhook
      ? { url: body.webhook.url, events: body.webhook.events ?? [...TERMINAL_EVENTS], status: 'none', attempts: 0 }
      : null,
    parent_id: opts.parentId ?? null,
    created_at: new Date().toISOString(),
    started_at: null,
    finished_at: null,
  };
}
