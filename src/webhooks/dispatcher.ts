// The webhook dispatcher: queues a job's events in order and delivers each, signed, on Svix's retry schedule.
import { DelayedError, Queue, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Dispatcher } from 'undici';
import type { EventType, JobEvent } from '../jobs/schemas.js';
import type { JobStore } from '../jobs/store.js';
import type { Logger } from '../observability/logger.js';
import { QUEUE_NAMES } from '../redis/keys.js';
import { wantsEvent, type DeliveryLedger } from './deliveries.js';
import { nextRetryDelayMs } from './schedule.js';
import type { WebhookSecrets } from './secrets.js';
import { sendWebhook, type DeliveryOutcome } from './sender.js';
import { signPayload } from './signing.js';

export interface DeliveryJobData {
  jobId: string;
  seq: number;
  attempt: number;
  /** A manual redelivery: sent once more whatever the event's state, with the same webhook-id. */
  redeliver?: boolean;
}

export interface WebhookDispatcherDeps {
  store: JobStore;
  ledger: DeliveryLedger;
  secrets: WebhookSecrets;
  queue: Queue<DeliveryJobData>;
  httpDispatcher: Dispatcher;
  timeoutMs: number;
  schedule: number[];
  logger: Logger;
  onAttempt?: (outcome: 'delivered' | 'failed' | 'gone', ms: number) => void;
}

/** How long a later event waits before checking again whether the earlier one is through. */
const ORDER_RECHECK_MS = 500;
const KEEP = { removeOnComplete: { age: 24 * 3600, count: 100_000 }, removeOnFail: { age: 7 * 24 * 3600 } };

export function createDeliveryQueue(connection: ConnectionOptions, prefix: string): Queue<DeliveryJobData> {
  return new Queue<DeliveryJobData>(QUEUE_NAMES.webhooks, { connection, prefix });
}

/** The body and headers of one delivery: exactly what Standard Webhooks receivers verify. */
export function buildDelivery(event: Pick<JobEvent, 'id' | 'type' | 'at' | 'data'>, secrets: string[], nowMs = Date.now()) {
  const body = JSON.stringify({ type: event.type, timestamp: event.at, data: event.data });
  const timestamp = Math.floor(nowMs / 1000);
  const { signedContent, signature } = signPayload(secrets, event.id, timestamp, body);
  const headers = {
    'webhook-id': event.id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signature,
  };
  return { body, headers, signedContent, signature };
}

export class WebhookDispatcher {
  constructor(private readonly deps: WebhookDispatcherDeps) {}

  /** Lifecycle hook: a new event was appended to a job. */
  async onEvent(jobId: string, type: EventType, seq: number): Promise<void> {
    const record = await this.deps.store.get(jobId);
    if (!record || !wantsEvent(record, type)) return;
    await this.enqueue(jobId, seq);
  }

  /** Queues every wanted event of a job that was never queued (after a crash between append and enqueue). */
  async ensureQueued(jobId: string): Promise<void> {
    const record = await this.deps.store.get(jobId);
    if (!record?.job.webhook) return;
    const events = await this.deps.store.events(jobId);
    for (const event of events) if (wantsEvent(record, event.type)) await this.enqueue(jobId, event.seq);
  }

  /** Re-sends the job's latest event with its original webhook-id (POST …/deliveries/redeliver). */
  async redeliverLatest(jobId: string): Promise<JobEvent | null> {
    const count = await this.deps.store.eventCount(jobId);
    if (count === 0) return null;
    const event = await this.deps.ledger.event(jobId, count);
    await this.deps.queue.add(
      'deliver',
      { jobId, seq: count, attempt: 1, redeliver: true },
      { ...KEEP, jobId: `${jobId}-${count}-r${Date.now().toString(36)}` },
    );
    await this.markJob(jobId, 'pending', 0);
    return event;
  }

  private async enqueue(jobId: string, seq: number): Promise<void> {
    // Add first, claim second: a crash in between re-adds under the same BullMQ id, which BullMQ ignores.
    await this.deps.queue.add('deliver', { jobId, seq, attempt: 1 }, { ...KEEP, jobId: `${jobId}-${seq}` });
    if (await this.deps.ledger.claim(jobId, seq)) await this.markJob(jobId, 'pending', 0);
  }

  /** The BullMQ processor of the webhooks queue. */
  async process(job: Job<DeliveryJobData>, token?: string): Promise<void> {
    const { jobId, seq, attempt, redeliver } = job.data;
    const { ledger, store } = this.deps;
    const record = await store.get(jobId);
    const event = await ledger.event(jobId, seq);
    if (!record?.job.webhook || !event) return;
    const states = await ledger.states(jobId);
    if (!redeliver && states.get(seq) !== 'pending') return;
    if (!redeliver && (await ledger.earlierPending(jobId, seq))) return this.delay(job, ORDER_RECHECK_MS, token);

    const secrets = await this.deps.secrets.signingSecrets(record.tenant);
    const delivery = buildDelivery(event, secrets);
    const outcome = await sendWebhook({
      url: record.job.webhook.url,
      body: delivery.body,
      headers: delivery.headers,
      timeoutMs: this.deps.timeoutMs,
      dispatcher: this.deps.httpDispatcher,
    });
    await ledger.recordAttempt(jobId, {
      event_id: event.id,
      type: event.type,
      attempt,
      status_code: outcome.statusCode,
      error: outcome.error,
      duration_ms: Math.round(outcome.durationMs),
      at: new Date().toISOString(),
    });
    this.deps.onAttempt?.(outcome.ok ? 'delivered' : outcome.stop ? 'gone' : 'failed', outcome.durationMs);
    await this.settle(job, outcome, token);
  }

  private async settle(job: Job<DeliveryJobData>, outcome: DeliveryOutcome, token?: string): Promise<void> {
    const { jobId, seq, attempt, redeliver } = job.data;
    const { ledger } = this.deps;
    const log = this.deps.logger.child({ jobId, seq, attempt });
    if (outcome.ok) {
      if (!redeliver) await ledger.setState(jobId, seq, 'delivered');
      await this.markJob(jobId, await this.statusAfterSuccess(jobId), 1);
      log.info({ statusCode: outcome.statusCode, ms: Math.round(outcome.durationMs) }, 'webhook delivered');
      return;
    }
    if (outcome.stop) {
      // 410 Gone: the receiver wants nothing more about this job, so every pending event stops too.
      for (const [other, state] of await ledger.states(jobId)) if (state === 'pending') await ledger.setState(jobId, other, 'stopped');
      await this.markJob(jobId, 'exhausted', 1);
      log.warn('receiver answered 410 Gone; delivery stopped for this job');
      return;
    }
    const delay = nextRetryDelayMs({ attempt, schedule: this.deps.schedule, retryAfterMs: outcome.retryAfterMs });
    if (delay === null) {
      if (!redeliver) await ledger.setState(jobId, seq, 'exhausted');
      await this.markJob(jobId, 'exhausted', 1);
      log.warn({ error: outcome.error, statusCode: outcome.statusCode }, 'webhook retries exhausted');
      return;
    }
    await this.markJob(jobId, 'failing', 1);
    log.warn({ error: outcome.error, statusCode: outcome.statusCode, retryInMs: delay }, 'webhook attempt failed');
    await job.updateData({ ...job.data, attempt: attempt + 1 });
    return this.delay(job, delay, token);
  }

  private async statusAfterSuccess(jobId: string) {
    const states = [...(await this.deps.ledger.states(jobId)).values()];
    if (states.includes('pending')) return 'pending' as const;
    return states.some((s) => s === 'exhausted' || s === 'stopped') ? ('exhausted' as const) : ('delivered' as const);
  }

  private async delay(job: Job<DeliveryJobData>, ms: number, token?: string): Promise<never> {
    await job.moveToDelayed(Date.now() + ms, token);
    throw new DelayedError();
  }

  private async markJob(jobId: string, status: 'pending' | 'delivered' | 'failing' | 'exhausted', addAttempts: number) {
    await this.deps.store.update(jobId, (r) => {
      if (!r.job.webhook) return null;
      if (r.job.webhook.status === status && addAttempts === 0) return null;
      r.job.webhook.status = status;
      r.job.webhook.attempts += addAttempts;
      return r;
    });
  }
}

export function startDeliveryWorker(
  dispatcher: WebhookDispatcher,
  opts: { connection: ConnectionOptions; prefix: string; concurrency: number; logger: Logger },
): Worker<DeliveryJobData> {
  const worker = new Worker<DeliveryJobData>(QUEUE_NAMES.webhooks, (job, token) => dispatcher.process(job, token), {
    connection: opts.connection,
    prefix: opts.prefix,
    concurrency: opts.concurrency,
    maxStalledCount: 1_000,
  });
  worker.on('error', (err) => opts.logger.error({ err: String(err) }, 'webhook worker error'));
  return worker;
}
