// Turns a job's events into queued deliveries: claimed in the ledger first, added to the queue second, in seq order.
import type { Queue } from 'bullmq';
import type { EventType, JobEvent, JobRecord } from '../jobs/schemas.js';
import type { JobStore } from '../jobs/store.js';
import { wantsEvent, type DeliveryLedger } from './deliveries.js';
import { markJobWebhook } from './job-webhook-status.js';
import { DELIVERY_JOB_OPTIONS, deliveryId, type DeliveryJobData } from './queue.js';

export interface EventEnqueuerDeps {
  store: JobStore;
  ledger: DeliveryLedger;
  queue: Queue<DeliveryJobData>;
}

export class EventEnqueuer {
  constructor(private readonly deps: EventEnqueuerDeps) {}

  /** Lifecycle hook: a new event was appended to a job (`known`: the record as that write left it, when the caller has it). */
  async onEvent(jobId: string, type: EventType, seq: number, known?: JobRecord): Promise<void> {
    const record = known ?? (await this.deps.store.get(jobId));
    if (!record?.job.webhook) return;
    // Events this hook never saw (appended by another process at the same moment, or before a crash) go first,
    // so a later event is never claimed while an earlier wanted one is not.
    const seen = await this.deps.ledger.seen(jobId);
    if (seen < seq - 1) {
      for (const event of await this.deps.store.events(jobId, seen, seq - 1 - seen)) {
        if (wantsEvent(record, event.type)) await this.enqueue(record, event.seq);
      }
    }
    if (wantsEvent(record, type)) await this.enqueue(record, seq);
    await this.deps.ledger.markSeen(jobId, seq);
  }

  /** Called when a job finishes: re-adds claimed events and queues unseen ones (after a crash between steps). */
  async ensureQueued(jobId: string): Promise<void> {
    const record = await this.deps.store.get(jobId);
    if (!record?.job.webhook) return;
    const { ledger, queue } = this.deps;
    for (const [seq, state] of await ledger.states(jobId)) {
      // Adding under an id BullMQ still holds is a no-op, so only a claim whose add was lost is really added.
      if (state === 'pending') {
        await queue.add('deliver', { jobId, seq, attempt: 1 }, { ...DELIVERY_JOB_OPTIONS, jobId: deliveryId(jobId, seq) });
      }
    }
    const unseen = await this.deps.store.events(jobId, await ledger.seen(jobId), 100_000);
    for (const event of unseen) if (wantsEvent(record, event.type)) await this.enqueue(record, event.seq);
    if (unseen.length > 0) await ledger.markSeen(jobId, unseen.at(-1)!.seq);
  }

  /**
   * Re-sends the job's latest event that its webhook.events filter wants, with its original webhook-id
   * (POST …/deliveries/redeliver). Works after exhaustion and after a 410 too: the caller asked explicitly.
   */
  async redeliverLatest(jobId: string): Promise<JobEvent | null> {
    const record = await this.deps.store.get(jobId);
    if (!record?.job.webhook) return null;
    const event = await this.latestWanted(record);
    if (!event) return null;
    const attemptOffset = (await this.deps.ledger.attempts(jobId)).filter((a) => a.event_id === event.id).length;
    const data: DeliveryJobData = { jobId, seq: event.seq, attempt: 1, redeliver: true, attemptOffset };
    await this.deps.queue.add('deliver', data, {
      ...DELIVERY_JOB_OPTIONS,
      jobId: `${deliveryId(jobId, event.seq)}-r${Date.now().toString(36)}`,
    });
    await markJobWebhook(this.deps.store, jobId, 'pending', 0);
    return event;
  }

  private async latestWanted(record: JobRecord): Promise<JobEvent | null> {
    const PAGE = 100;
    for (let end = await this.deps.store.eventCount(record.job.id); end > 0; end -= PAGE) {
      const page = await this.deps.store.events(record.job.id, Math.max(0, end - PAGE), Math.min(PAGE, end));
      const found = page.reverse().find((e) => wantsEvent(record, e.type));
      if (found) return found;
    }
    return null;
  }

  /** Claim first, add second: a claimed event is re-added by ensureQueued/onEvent after a crash (adds are idempotent). */
  private async enqueue(record: JobRecord, seq: number): Promise<void> {
    const jobId = record.job.id;
    const claim = await this.deps.ledger.claim(jobId, seq);
    if (claim === 'stopped') return;
    await this.deps.queue.add('deliver', { jobId, seq, attempt: 1 }, { ...DELIVERY_JOB_OPTIONS, jobId: deliveryId(jobId, seq) });
    // A new event does not hide that an earlier one is failing or was given up on.
    if (claim === 'claimed') await markJobWebhook(this.deps.store, jobId, 'pending', 0, ['none', 'delivered']);
  }
}
