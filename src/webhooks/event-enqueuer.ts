// Turns a job's events into queued deliveries: claimed in the ledger first, added to the queue second, in seq order.
import { randomBytes } from 'node:crypto';
import { TERMINAL_EVENTS, type EventType, type JobEvent, type JobRecord } from '../jobs/schemas.js';
import type { JobStore, StoredEvent } from '../jobs/store.js';
import type { DeliveryRead } from './delivery-scripts.js';
import { wantsEvent, type DeliveryLedger } from './deliveries.js';
import { queueFor } from '../redis/shard-queues.js';
import { DELIVERY_JOB_OPTIONS, deliveryId, type DeliveryJobData, type DeliveryQueueRef } from './queue.js';

/** A redelivered job whose record has no expiry (it has not ended: not expected): its note is kept this long. */
const REDELIVERY_NOTE_FALLBACK_MS = 30 * 24 * 3600 * 1000;

export interface EventEnqueuerDeps {
  store: JobStore;
  ledger: DeliveryLedger;
  /** The webhooks queue(s): a delivery goes to the shard of its job. */
  queue: DeliveryQueueRef;
  /**
   * Makes an event's first attempt at once (DeliveryProcessor.deliverNow), queueing only what is left: used for the
   * events a flow worker writes, so a job that ends costs no queue round at all when its receiver answers.
   */
  deliverNow?: (data: DeliveryJobData, read: DeliveryRead) => Promise<void>;
  /** The key of a tenant's webhook secrets, read along when an event is sent at once. */
  secretsKey?: (tenant: string) => string | null;
}

export class EventEnqueuer {
  constructor(private readonly deps: EventEnqueuerDeps) {}

  /**
   * Lifecycle hook: a new event was appended to a job (`known`: the record as that write left it, when the caller has
   * it). An event the job does not want costs no Redis call; a wanted one is one script (it claims the event and any
   * wanted one before it that was never seen, and sets the status), its queue add, and the seen mark.
   */
  async onEvent(jobId: string, type: EventType, seq: number, known?: JobRecord, extra: { stored?: StoredEvent } = {}): Promise<void> {
    const record = known ?? (await this.deps.store.get(jobId));
    if (!record?.job.webhook || !wantsEvent(record, type)) return;
    const wanted = record.job.webhook.events;
    // Written by a flow worker (it has the event as stored): a job's end is sent from here when nothing earlier must go
    // first (its worker has nothing left to do). Its start and progress go through the queue: the commit that writes
    // them also marks a message sent, and an attempt here would hold that message back by up to WEBHOOK_TIMEOUT_MS
    // (a slow receiver delayed every job's first message, and a worker killed meanwhile failed the job for a message
    // it never sent).
    const deliverNow = (TERMINAL_EVENTS as readonly string[]).includes(type) ? this.deps.deliverNow : undefined;
    const stored = extra.stored;
    const note =
      deliverNow && stored
        ? await this.deps.ledger.scripts.noteForDelivery(jobId, seq, wanted, record.tenant, this.deps.secretsKey?.(record.tenant) ?? null)
        : { ...(await this.deps.ledger.scripts.noteEvent(jobId, seq, wanted)), now: false, secrets: null };
    if (note.stopped) return;
    if (note.now && deliverNow && stored) {
      const data: DeliveryJobData = { jobId, seq, attempt: 1, tenant: record.tenant };
      // The record's fields as they are: not encoded to JSON only for the delivery to cut them out again.
      const fields = { tenant: record.tenant, trace: record.trace ?? null, job: { webhook: { url: record.job.webhook.url } } };
      const read: DeliveryRead = { record: fields, event: stored.raw, state: 'pending', blockedBy: 0, secrets: note.secrets };
      // An attempt that could not even be made (Redis trouble before the send) is queued instead, never dropped.
      await deliverNow(data, read).catch(() => this.add(record, seq));
      return;
    }
    // Lowest first, this event last: each add is a no-op for an entry BullMQ still holds.
    for (const s of note.seqs) await this.add(record, s);
    await this.deps.ledger.markSeen(jobId, seq);
  }

  /** Called when a job finishes: re-adds claimed events and queues unseen ones (after a crash between steps). */
  async ensureQueued(jobId: string): Promise<void> {
    const record = await this.deps.store.get(jobId);
    if (!record?.job.webhook) return;
    const sweep = await this.deps.ledger.scripts.sweep(jobId, record.job.webhook.events);
    // Adding under an id BullMQ still holds is a no-op, so only a claim whose add was lost is really added.
    for (const seq of sweep.pending) await this.add(record, seq);
    if (sweep.count > sweep.seen) await this.deps.ledger.markSeen(jobId, sweep.count);
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
    const data: DeliveryJobData = { jobId, seq: event.seq, attempt: 1, redeliver: true, attemptOffset, tenant: record.tenant };
    // Unique per request: two redeliveries in one millisecond shared an id, and BullMQ kept one of the two it answered 202.
    const queueId = `${deliveryId(jobId, event.seq)}-r${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
    // Noted first: a redelivery in the queue is always one that erasing the job can find.
    await this.deps.ledger.noteRedelivery(jobId, queueId, (await this.deps.store.expiresAt(jobId)) ?? Date.now() + REDELIVERY_NOTE_FALLBACK_MS);
    await queueFor(this.deps.queue, jobId).add('deliver', data, { ...DELIVERY_JOB_OPTIONS, jobId: queueId });
    await this.deps.ledger.scripts.setWebhookStatus(jobId, 'pending');
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

  /** The queue entry of a claimed event; its BullMQ id makes a second add of the same event a no-op. */
  private async add(record: JobRecord, seq: number): Promise<void> {
    const jobId = record.job.id;
    const data: DeliveryJobData = { jobId, seq, attempt: 1, tenant: record.tenant };
    await queueFor(this.deps.queue, jobId).add('deliver', data, { ...DELIVERY_JOB_OPTIONS, jobId: deliveryId(jobId, seq) });
  }
}
