// The webhook dispatcher: queues a job's wanted events in seq order and delivers each, signed, on the retry schedule.
import { DelayedError, Queue, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Dispatcher } from 'undici';
import type { EventType, JobEvent, JobRecord } from '../jobs/schemas.js';
import type { JobStore } from '../jobs/store.js';
import type { Logger } from '../observability/logger.js';
import { QUEUE_NAMES } from '../redis/keys.js';
import { lowestPending, wantsEvent, type DeliveryLedger } from './deliveries.js';
import { nextRetryDelayMs } from './schedule.js';
import type { WebhookSecrets } from './secrets.js';
import { sendWebhook, type DeliveryOutcome } from './sender.js';
import { signPayload } from './signing.js';

export interface DeliveryJobData {
  jobId: string;
  seq: number;
  /** 1-based attempt within this delivery run; indexes the retry schedule. */
  attempt: number;
  /** A manual redelivery: sent once more whatever the event's state, with the same webhook-id. */
  redeliver?: boolean;
  /** Attempts already logged for this event before a redelivery, so the log keeps counting up. */
  attemptOffset?: number;
}

export type AttemptOutcome = 'delivered' | 'failed' | 'gone' | 'refused';
type WebhookStatus = 'pending' | 'delivered' | 'failing' | 'exhausted';

export interface WebhookDispatcherDeps {
  store: JobStore;
  ledger: DeliveryLedger;
  secrets: WebhookSecrets;
  queue: Queue<DeliveryJobData>;
  httpDispatcher: Dispatcher;
  timeoutMs: number;
  schedule: number[];
  logger: Logger;
  onAttempt?: (outcome: AttemptOutcome, ms: number) => void;
}

/**
 * An event held back behind an earlier pending one is woken by that one's settling (wakeNext); this long delay is
 * only the safety net should a wake-up ever be lost, so a blocked event does not poll Redis while it waits hours.
 */
const BLOCKED_RECHECK_MS = 60_000;
/** Retention, plus BullMQ-level retries for infrastructure errors (Redis blips); receiver failures never throw. */
const JOB_OPTIONS = {
  removeOnComplete: { age: 24 * 3600, count: 100_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
  attempts: 10,
  backoff: { type: 'exponential', delay: 1_000 },
} as const;

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

const deliveryId = (jobId: string, seq: number) => `${jobId}-${seq}`;

export class WebhookDispatcher {
  constructor(private readonly deps: WebhookDispatcherDeps) {}

  /** Lifecycle hook: a new event was appended to a job. */
  async onEvent(jobId: string, type: EventType, seq: number): Promise<void> {
    const record = await this.deps.store.get(jobId);
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
      if (state === 'pending') await queue.add('deliver', { jobId, seq, attempt: 1 }, { ...JOB_OPTIONS, jobId: deliveryId(jobId, seq) });
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
    await this.deps.queue.add('deliver', data, { ...JOB_OPTIONS, jobId: `${deliveryId(jobId, event.seq)}-r${Date.now().toString(36)}` });
    await this.markJob(jobId, 'pending', 0);
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
    await this.deps.queue.add('deliver', { jobId, seq, attempt: 1 }, { ...JOB_OPTIONS, jobId: deliveryId(jobId, seq) });
    // A new event does not hide that an earlier one is failing or was given up on.
    if (claim === 'claimed') await this.markJob(jobId, 'pending', 0, ['none', 'delivered']);
  }

  /** The BullMQ processor of the webhooks queue. */
  async process(job: Job<DeliveryJobData>, token?: string): Promise<void> {
    const { jobId, seq, attempt, redeliver, attemptOffset = 0 } = job.data;
    const { ledger, store } = this.deps;
    const record = await store.get(jobId);
    const event = await ledger.event(jobId, seq);
    if (!record?.job.webhook || !event) return;
    if (!redeliver) {
      const states = await ledger.states(jobId);
      if (states.get(seq) !== 'pending') return;
      if (lowestPending(states, (s) => s < seq) !== null) return this.waitBehindEarlier(job, token);
    }

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
      attempt: attemptOffset + attempt,
      status_code: outcome.statusCode,
      error: outcome.error,
      duration_ms: Math.round(outcome.durationMs),
      at: new Date().toISOString(),
    });
    const kind: AttemptOutcome = outcome.ok ? 'delivered' : outcome.refused ? 'refused' : outcome.stop ? 'gone' : 'failed';
    this.deps.onAttempt?.(kind, outcome.durationMs);
    await this.settle(job, outcome, token);
  }

  private async settle(job: Job<DeliveryJobData>, outcome: DeliveryOutcome, token?: string): Promise<void> {
    const { jobId, seq, attempt, redeliver } = job.data;
    const { ledger } = this.deps;
    const log = this.deps.logger.child({ jobId, seq, attempt, redeliver: redeliver ?? false });
    if (outcome.ok) {
      await ledger.setState(jobId, seq, 'delivered');
      await this.markJob(jobId, await this.statusAfterSuccess(jobId), 1);
      log.info({ statusCode: outcome.statusCode, ms: Math.round(outcome.durationMs) }, 'webhook delivered');
      return this.wakeNext(jobId, seq);
    }
    if (outcome.stop || outcome.refused) {
      // 410 Gone: the receiver wants nothing more about this job. A target the SSRF policy refuses now (its name
      // resolved to an internal address since the job was created) is not retried either: retrying would only
      // keep probing an internal address. Both stop every pending and later event of the job.
      await ledger.stop(jobId, outcome.refused ? `refused: ${outcome.error ?? 'target refused'}` : 'receiver answered 410 Gone');
      await this.markJob(jobId, 'exhausted', 1);
      log.warn({ error: outcome.error }, 'webhook delivery stopped for this job');
      return;
    }
    // Retry-After means "come back later" only on 429 and 503 (RFC 9110); elsewhere it is ignored.
    const retryAfterMs = outcome.statusCode === 429 || outcome.statusCode === 503 ? outcome.retryAfterMs : null;
    const delay = nextRetryDelayMs({ attempt, schedule: this.deps.schedule, retryAfterMs });
    if (delay === null) {
      if (!redeliver) await ledger.setState(jobId, seq, 'exhausted');
      await this.markJob(jobId, 'exhausted', 1);
      log.warn({ error: outcome.error, statusCode: outcome.statusCode }, 'webhook retries exhausted');
      return this.wakeNext(jobId, seq);
    }
    await this.markJob(jobId, 'failing', 1);
    log.warn({ error: outcome.error, statusCode: outcome.statusCode, retryInMs: delay }, 'webhook attempt failed');
    await job.updateData({ ...job.data, attempt: attempt + 1 });
    await job.moveToDelayed(Date.now() + delay, token);
    throw new DelayedError();
  }

  /** Parks an event behind an earlier pending one of the same job until that one is settled (see wakeNext). */
  private async waitBehindEarlier(job: Job<DeliveryJobData>, token?: string): Promise<never> {
    const { jobId, seq } = job.data;
    await job.moveToDelayed(Date.now() + BLOCKED_RECHECK_MS, token);
    // The earlier event may have settled between our check and the move, when its wakeNext found us not yet
    // delayed: look once more now that we are, so no wake-up falls between the two.
    if (lowestPending(await this.deps.ledger.states(jobId), (s) => s < seq) === null) await job.promote().catch(() => {});
    throw new DelayedError();
  }

  /** Wakes the next pending event of the job at once, instead of leaving it to its safety-net delay. */
  private async wakeNext(jobId: string, seq: number): Promise<void> {
    const next = lowestPending(await this.deps.ledger.states(jobId), (s) => s > seq);
    if (next === null) return;
    const waiting = await this.deps.queue.getJob(deliveryId(jobId, next));
    if (waiting && (await waiting.getState()) === 'delayed' && waiting.data.attempt === 1) await waiting.promote().catch(() => {});
  }

  private async statusAfterSuccess(jobId: string): Promise<WebhookStatus> {
    const states = [...(await this.deps.ledger.states(jobId)).values()];
    if (states.some((s) => s === 'exhausted' || s === 'stopped')) return 'exhausted';
    return states.includes('pending') ? 'pending' : 'delivered';
  }

  /** Updates job.webhook.status / attempts; `onlyFrom` limits which current statuses may be replaced. */
  private async markJob(jobId: string, status: WebhookStatus, addAttempts: number, onlyFrom?: string[]): Promise<void> {
    await this.deps.store.update(jobId, (r) => {
      if (!r.job.webhook) return null;
      if (onlyFrom && !onlyFrom.includes(r.job.webhook.status)) return null;
      if (r.job.webhook.status === status && addAttempts === 0) return null;
      r.job.webhook.status = status;
      r.job.webhook.attempts += addAttempts;
      return r;
    });
  }
}

export function startDeliveryWorker(
  dispatcher: WebhookDispatcher,
  opts: { connection: ConnectionOptions; prefix: string; concurrency: number; logger: Logger; lockMs?: number },
): Worker<DeliveryJobData> {
  const worker = new Worker<DeliveryJobData>(QUEUE_NAMES.webhooks, (job, token) => dispatcher.process(job, token), {
    connection: opts.connection,
    prefix: opts.prefix,
    concurrency: opts.concurrency,
    // The same takeover time as flow jobs: a delivery held by a dead worker is not delayed by BullMQ's 30 s default.
    ...(opts.lockMs ? { lockDuration: opts.lockMs, stalledInterval: Math.max(1_000, Math.floor(opts.lockMs / 2)) } : {}),
    maxStalledCount: 1_000,
  });
  worker.on('error', (err) => opts.logger.error({ err: String(err) }, 'webhook worker error'));
  return worker;
}
