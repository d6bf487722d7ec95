// Sends one queued delivery, signed, and settles it: delivered, retried on the schedule, stopped (410), or exhausted.
import { DelayedError, type Job, type Queue } from 'bullmq';
import type { Dispatcher } from 'undici';
import type { JobStore } from '../jobs/store.js';
import type { Logger } from '../observability/logger.js';
import { endWebhookAttempt, startWebhookAttempt, traceFieldsOf, withTraceparent } from '../tracing/webhooks.js';
import { lowestPending, type DeliveryLedger } from './deliveries.js';
import { buildDelivery } from './envelope.js';
import { markJobWebhook, statusAfterSuccess } from './job-webhook-status.js';
import { deliveryId, type DeliveryJobData } from './queue.js';
import { nextRetryDelayMs } from './schedule.js';
import type { WebhookSecrets } from './secrets.js';
import { sendWebhook, type DeliveryOutcome } from './sender.js';

export type AttemptOutcome = 'delivered' | 'failed' | 'gone' | 'refused';

export interface DeliveryProcessorDeps {
  store: JobStore;
  ledger: DeliveryLedger;
  secrets: Pick<WebhookSecrets, 'signingSecrets'>;
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

export class DeliveryProcessor {
  constructor(private readonly deps: DeliveryProcessorDeps) {}

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
    const span = startWebhookAttempt(record.trace, { jobId, eventType: event.type, seq, attempt: attemptOffset + attempt, redeliver: redeliver ?? false });
    const outcome = await sendWebhook({
      url: record.job.webhook.url,
      body: delivery.body,
      headers: withTraceparent(delivery.headers, span),
      timeoutMs: this.deps.timeoutMs,
      dispatcher: this.deps.httpDispatcher,
    });
    const kind: AttemptOutcome = outcome.ok ? 'delivered' : outcome.refused ? 'refused' : outcome.stop ? 'gone' : 'failed';
    endWebhookAttempt(span, { statusCode: outcome.statusCode, outcome: kind, error: outcome.error });
    await ledger.recordAttempt(jobId, {
      event_id: event.id,
      type: event.type,
      attempt: attemptOffset + attempt,
      status_code: outcome.statusCode,
      error: outcome.error,
      duration_ms: Math.round(outcome.durationMs),
      at: new Date().toISOString(),
    });
    this.deps.onAttempt?.(kind, outcome.durationMs);
    await this.settle(job, outcome, token, traceFieldsOf(span));
  }

  private async settle(job: Job<DeliveryJobData>, outcome: DeliveryOutcome, token?: string, traceFields: { trace_id?: string } = {}): Promise<void> {
    const { jobId, seq, attempt, redeliver } = job.data;
    const { ledger, store } = this.deps;
    const log = this.deps.logger.child({ jobId, seq, attempt, redeliver: redeliver ?? false, ...traceFields });
    if (outcome.ok) {
      await ledger.setState(jobId, seq, 'delivered');
      await markJobWebhook(store, jobId, await statusAfterSuccess(ledger, jobId), 1);
      log.info({ statusCode: outcome.statusCode, ms: Math.round(outcome.durationMs) }, 'webhook delivered');
      return this.wakeNext(jobId, seq);
    }
    if (outcome.stop || outcome.refused) {
      // 410 Gone: the receiver wants nothing more about this job. A target the SSRF policy refuses now (its name
      // resolved to an internal address since the job was created) is not retried either: retrying would only
      // keep probing an internal address. Both stop every pending and later event of the job.
      await ledger.stop(jobId, outcome.refused ? `refused: ${outcome.error ?? 'target refused'}` : 'receiver answered 410 Gone');
      await markJobWebhook(store, jobId, 'exhausted', 1);
      log.warn({ error: outcome.error }, 'webhook delivery stopped for this job');
      return;
    }
    // Retry-After means "come back later" only on 429 and 503 (RFC 9110); elsewhere it is ignored.
    const retryAfterMs = outcome.statusCode === 429 || outcome.statusCode === 503 ? outcome.retryAfterMs : null;
    const delay = nextRetryDelayMs({ attempt, schedule: this.deps.schedule, retryAfterMs });
    if (delay === null) {
      if (!redeliver) await ledger.setState(jobId, seq, 'exhausted');
      await markJobWebhook(store, jobId, 'exhausted', 1);
      log.warn({ error: outcome.error, statusCode: outcome.statusCode }, 'webhook retries exhausted');
      return this.wakeNext(jobId, seq);
    }
    await markJobWebhook(store, jobId, 'failing', 1);
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
}
