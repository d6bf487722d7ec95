// Sends one queued delivery, signed, and settles it: delivered, retried on the schedule, stopped (410), or exhausted.
import { setMaxListeners } from 'node:events';
import { DelayedError, type Job } from 'bullmq';
import type { Dispatcher } from 'undici';
import { scrubSecrets, type Logger } from '../observability/logger.js';
import { endWebhookAttempt, startWebhookAttempt, traceFieldsOf, withTraceparent } from '../tracing/webhooks.js';
import { lowestPending, MAX_ATTEMPT_RECORDS, RESPONSE_EXCERPT_CHARS, type DeliveryAttempt, type DeliveryLedger } from './deliveries.js';
import { eventSchema, type Job as RelayJob } from '../jobs/schemas.js';
import { deliveryEvent, webhookEvent, type DeliveryEvent, type DeliveryRead, type SettleAction } from './delivery-scripts.js';
import { signDelivery } from './envelope.js';
import { queueFor } from '../redis/shard-queues.js';
import { DELIVERY_JOB_OPTIONS, deliveryId, type DeliveryJobData, type DeliveryQueueRef } from './queue.js';
import { nextRetryDelayMs } from './schedule.js';
import type { WebhookSecrets } from './secrets.js';
import { sendWebhook, type DeliveryOutcome } from './sender.js';

/** How an attempt ended, for metrics and its span: failed (to be retried) and exhausted (the last one) are apart. */
export type AttemptOutcome = 'delivered' | 'failed' | 'exhausted' | 'gone' | 'refused';

/** What the settle script records for an attempt, and the wait before the next one (failing only). */
interface SettleDecision {
  action: SettleAction;
  delayMs: number | null;
}

/** What an attempt leaves to do: nothing (settled), wait behind an earlier pending event, or try again after a delay. */
type AttemptResult = { kind: 'done' } | { kind: 'blocked' } | { kind: 'retry'; delayMs: number; aborted: boolean };

/** An attempt cut by a worker's shutdown is tried again this soon (by the next worker), outside the schedule. */
export const ABORTED_RETRY_MS = 1_000;

/** The next attempt's data: one attempt more; a cut one also counted apart, so it takes no slot of the schedule. */
function nextAttempt(data: DeliveryJobData, aborted: boolean): DeliveryJobData {
  return { ...data, attempt: data.attempt + 1, ...(aborted ? { aborted: (data.aborted ?? 0) + 1 } : {}) };
}
const DONE: AttemptResult = { kind: 'done' };

/** An attempt that failed before anything was sent (the delivery could not be signed): retried like a failed send. */
function notSent(error: string): DeliveryOutcome {
  return { ok: false, statusCode: null, responseBody: '', durationMs: 0, error, retryAfterMs: null, stop: false, refused: false };
}

export interface DeliveryProcessorDeps {
  ledger: DeliveryLedger;
  /** storedKey + signingSecretsFrom let the read script fetch the secrets too; without them they are read apart. */
  secrets: Pick<WebhookSecrets, 'signingSecrets'> & Partial<Pick<WebhookSecrets, 'storedKey' | 'signingSecretsFrom'>>;
  /** The webhooks queue(s): a job's deliveries are in its shard's queue. */
  queue: DeliveryQueueRef;
  httpDispatcher: Dispatcher;
  timeoutMs: number;
  schedule: number[];
  logger: Logger;
  onAttempt?: (outcome: AttemptOutcome, ms: number) => void;
  /**
   * The job as the API shows it now: a stored result gets a link minted afresh. A retry or a redelivery (hours or
   * days after the event) sends that one, so the receiver never gets a link that has expired since the job ended.
   */
  presentResult?: (job: RelayJob) => Promise<RelayJob>;
  /**
   * A first attempt later than this after its event (held behind an earlier one) renews the link too; default 1 s,
   * the shortest OUTPUT_URL_TTL_MS. The composition root gives half the configured TTL, at most a minute.
   */
  freshLinkAfterMs?: number;
}

/**
 * An event held back behind an earlier pending one is woken by that one's settling (wake); this long delay is
 * only the safety net should a wake-up ever be lost, so a blocked event does not poll Redis while it waits hours.
 */
const BLOCKED_RECHECK_MS = 60_000;
/** A first attempt later than this after its event renews the result link it carries (see attempt). */
const FRESH_LINK_AFTER_MS = 1_000;
/** However long links last, a first attempt this late renews its link (a parse of the event, rare at this age). */
export const MAX_FRESH_LINK_AFTER_MS = 60_000;

export class DeliveryProcessor {
  /** Aborted when the worker's grace period is over: the attempts still out end at once, and are retried later. */
  private readonly stopping = new AbortController();

  constructor(private readonly deps: DeliveryProcessorDeps) {
    // Every attempt out listens on it (a worker has WORKER_CONCURRENCY of them): no leak warning past 10.
    setMaxListeners(0, this.stopping.signal);
  }

  /**
   * Ends every attempt still out (a shutdown past its grace period): each is logged as failed and retried on the
   * schedule by the next worker, as a timeout is; without this one held the stop for up to WEBHOOK_TIMEOUT_MS more.
   */
  abortSends(): void {
    this.stopping.abort(new Error('the worker is shutting down'));
  }

  /**
   * The BullMQ processor of the webhooks queue. Two script calls of its own per delivery: one reads the record, the
   * event, its ledger state and the tenant's secrets; one settles the attempt (delivery-scripts.ts). Deliveries that
   * start or settle in the same turn of the event loop share those calls (one per shard for all of them).
   */
  async process(job: Job<DeliveryJobData>, token?: string): Promise<void> {
    const outcome = await this.attempt(job.data);
    if (outcome.kind === 'blocked') return this.waitBehindEarlier(job, token);
    if (outcome.kind === 'retry') {
      await job.updateData(nextAttempt(job.data, outcome.aborted));
      await job.moveToDelayed(Date.now() + outcome.delayMs, token);
      throw new DelayedError();
    }
  }

  /**
   * The first attempt of an event, made at once by the flow worker that wrote it (its job has just ended): no queue
   * entry at all when the receiver takes it, as most do. A retry, or an event held behind an earlier one still
   * pending, goes to the webhooks queue as any other delivery. A crash before the attempt is settled leaves the event
   * claimed and pending in the ledger: the job's next run (BullMQ hands a stalled flow job to another worker) finds
   * it ended and queues what is pending (EventEnqueuer.ensureQueued).
   */
  async deliverNow(data: DeliveryJobData, read?: DeliveryRead): Promise<void> {
    const outcome = await this.attempt(data, read);
    if (outcome.kind === 'done') return;
    const retry = outcome.kind === 'retry';
    await queueFor(this.deps.queue, data.jobId).add('deliver', retry ? nextAttempt(data, outcome.aborted) : data, {
      ...DELIVERY_JOB_OPTIONS,
      jobId: deliveryId(data.jobId, data.seq),
      delay: retry ? outcome.delayMs : BLOCKED_RECHECK_MS,
    });
  }

  /** One attempt: read, sign, send, settle. Answers what is left to do: nothing, wait behind an earlier event, or retry. */
  private async attempt(data: DeliveryJobData, known?: DeliveryRead): Promise<AttemptResult> {
    const { jobId, seq, attempt, redeliver = false, attemptOffset = 0, tenant } = data;
    const { ledger, secrets } = this.deps;
    const secretsKey = tenant && secrets.storedKey && secrets.signingSecretsFrom ? secrets.storedKey(tenant) : null;
    // What the flow worker that wrote the event already has (noteForDelivery claimed it) is not read again.
    const read = known ?? (await ledger.scripts.read(jobId, seq, redeliver, tenant ?? null, secretsKey));
    // Erased (its retention ran out, or DELETE) before this attempt: retention is absolute, the job's data is gone, and
    // nothing is sent. Logged, so an operator sees a retention shorter than the webhooks' backlog or retries.
    const erased = () => {
      this.deps.logger.warn({ jobId, seq, attempt }, 'webhook not sent: the job was erased before its delivery');
      return DONE;
    };
    // No ledger entry at all: the delivery log went with the job.
    if (!redeliver && read.state === null) return erased();
    if (!redeliver) {
      if (read.state !== 'pending') return DONE;
      if (read.blockedBy !== 0) return { kind: 'blocked' };
    }
    const record = read.record;
    if (record === null || read.event === null) return read.state === 'pending' ? erased() : DONE;
    const webhook = record.job.webhook;
    if (!webhook) return DONE;
    // A first attempt that follows its event at once carries the link minted with it; a later one (a retry, a
    // redelivery, or a first attempt held behind an earlier event of the job) gets a link minted now, so it never
    // hands out one that has expired meanwhile. Only a job.succeeded is parsed for that.
    const stored = deliveryEvent(read.event);
    const late = attempt > 1 || redeliver || Date.now() - Date.parse(stored.at) > (this.deps.freshLinkAfterMs ?? FRESH_LINK_AFTER_MS);
    const event = late && this.deps.presentResult ? await this.withFreshLink(read.event, stored) : stored;

    const span = startWebhookAttempt(record.trace, { jobId, eventType: event.type, seq, attempt: attemptOffset + attempt, redeliver });
    const outcome = await this.sign(record.tenant, secretsKey !== null && record.tenant === tenant ? read.secrets : undefined, event).then(
      (delivery) =>
        sendWebhook({
          url: webhook.url,
          body: delivery.bytes,
          headers: withTraceparent(delivery.headers, span),
          timeoutMs: this.deps.timeoutMs,
          dispatcher: this.deps.httpDispatcher,
          signal: this.stopping.signal,
        }),
      // Nothing was sent, but the attempt is logged, retried and finally exhausted like a failed send: thrown, it went
      // to BullMQ's own retries and was dropped after them, with no attempt in the delivery log and the job's webhook
      // status left pending for good.
      (err: unknown) => {
        const error = `not sent: ${scrubSecrets(err instanceof Error ? err.message : String(err))}`;
        this.deps.logger.error({ jobId, seq, attempt, error }, 'webhook not sent: it could not be signed');
        return notSent(error);
      },
    );
    const decision = this.decide(outcome, attempt - (data.aborted ?? 0));
    const kind: AttemptOutcome = outcome.ok
      ? 'delivered'
      : outcome.refused
        ? 'refused'
        : outcome.stop
          ? 'gone'
          : decision.action === 'exhausted'
            ? 'exhausted'
            : 'failed';
    endWebhookAttempt(span, { statusCode: outcome.statusCode, outcome: kind, error: outcome.error });
    const logged: DeliveryAttempt = {
      event_id: event.id,
      type: event.type,
      attempt: attemptOffset + attempt,
      status_code: outcome.statusCode,
      error: outcome.error,
      duration_ms: Math.round(outcome.durationMs),
      at: new Date().toISOString(),
      response_excerpt: outcome.responseBody.slice(0, RESPONSE_EXCERPT_CHARS),
    };
    this.deps.onAttempt?.(kind, outcome.durationMs);
    return this.settle(data, outcome, logged, decision, traceFieldsOf(span));
  }

  /**
   * 410 Gone: the receiver wants nothing more about this job. A target the SSRF policy refuses now (its name resolved
   * to an internal address since the job was created) is not retried either: retrying would only keep probing an
   * internal address. Both stop every pending and later event of the job. Retry-After is honoured on whatever failed
   * answer carries it (the contract's rule; 429 and 503 are where RFC 9110 defines it, and a receiver that sends it on
   * a 500 means the same): it stretches the wait, never shortens it.
   */
  /** `attempt`: its place in the retry schedule (attempts cut by a shutdown left out). */
  private decide(outcome: DeliveryOutcome, attempt: number): SettleDecision {
    if (outcome.ok) return { action: 'delivered', delayMs: null };
    if (outcome.stop || outcome.refused) return { action: 'stop', delayMs: null };
    // Cut by our own stop: the receiver did not fail, so this is never the last attempt.
    if (outcome.aborted) return { action: 'failing', delayMs: ABORTED_RETRY_MS };
    const delayMs = nextRetryDelayMs({ attempt, schedule: this.deps.schedule, retryAfterMs: outcome.retryAfterMs });
    return { action: delayMs === null ? 'exhausted' : 'failing', delayMs };
  }

  private async settle(
    data: DeliveryJobData,
    outcome: DeliveryOutcome,
    logged: DeliveryAttempt,
    { action, delayMs: delay }: SettleDecision,
    traceFields: { trace_id?: string } = {},
  ): Promise<AttemptResult> {
    const { jobId, seq, attempt, redeliver = false } = data;
    // Fields on the line rather than a child logger: a child redacts its bindings on creation, once per delivery.
    const logger = this.deps.logger;
    const fields = { jobId, seq, attempt, redeliver, ...traceFields };
    const stopReason = outcome.refused ? `refused: ${outcome.error ?? 'target refused'}` : 'receiver answered 410 Gone';
    const settled = await this.deps.ledger.scripts.settle(jobId, seq, {
      attemptJson: JSON.stringify(logged),
      maxRecords: MAX_ATTEMPT_RECORDS,
      action,
      redeliver,
      ...(action === 'stop' ? { stopReason } : {}),
      ...(action === 'failing' ? { retryAtMs: Date.now() + delay! } : {}),
    });
    if (settled.status === 'erased') {
      // Erased (retention, DELETE) while the attempt was out: nothing of it is kept, and nothing more is sent.
      logger.warn({ ...fields, statusCode: outcome.statusCode }, 'webhook attempt not recorded: the job was erased while it was out');
      return DONE;
    }

    if (action === 'delivered') {
      // Debug, not info: at thousands of deliveries/s a line each (redacted, written synchronously) cost about a fifth
      // of a delivery's CPU; every attempt is in the delivery log and the metrics anyway, and failures stay at warn.
      logger.debug({ ...fields, statusCode: outcome.statusCode, ms: Math.round(outcome.durationMs) }, 'webhook delivered');
      await this.wake(jobId, settled.next);
      return DONE;
    }
    if (action === 'stop') {
      logger.warn({ ...fields, error: outcome.error }, 'webhook delivery stopped for this job');
      return DONE;
    }
    if (action === 'exhausted') {
      logger.warn({ ...fields, error: outcome.error, statusCode: outcome.statusCode }, 'webhook retries exhausted');
      await this.wake(jobId, settled.next);
      return DONE;
    }
    // The job's retention ends before the retry would be due: the retry would find the job erased and send nothing
    // (retention is absolute), so the script gave the event up instead (a queued retry outlived the job's erasure).
    if (action === 'failing' && settled.status === 'exhausted') {
      logger.warn({ ...fields, error: outcome.error, statusCode: outcome.statusCode, retryInMs: delay }, "webhook attempt failed; no retry: the job's retention ends first");
      await this.wake(jobId, settled.next);
      return DONE;
    }
    logger.warn({ ...fields, error: outcome.error, statusCode: outcome.statusCode, retryInMs: delay }, 'webhook attempt failed');
    return { kind: 'retry', delayMs: delay!, aborted: outcome.aborted === true };
  }

  /** The delivery signed with the tenant's secrets (as the read script brought them, when it did). */
  private async sign(tenant: string, readSecrets: DeliveryRead['secrets'] | undefined, event: DeliveryEvent) {
    const { secrets } = this.deps;
    const signing = readSecrets !== undefined ? await secrets.signingSecretsFrom!(tenant, readSecrets) : await secrets.signingSecrets(tenant);
    return signDelivery(event.id, event.body, signing);
  }

  /** Parks an event behind an earlier pending one of the same job until that one is settled (see wake). */
  private async waitBehindEarlier(job: Job<DeliveryJobData>, token?: string): Promise<never> {
    const { jobId, seq } = job.data;
    await job.moveToDelayed(Date.now() + BLOCKED_RECHECK_MS, token);
    // The earlier event may have settled between our check and the move, when its wake found us not yet
    // delayed: look once more now that we are, so no wake-up falls between the two.
    if (lowestPending(await this.deps.ledger.states(jobId), (s) => s < seq) === null) await job.promote().catch(() => {});
    throw new DelayedError();
  }

  /** Only a job.succeeded is parsed (and re-serialized with its link renewed); any other event goes out as stored. */
  private async withFreshLink(raw: string, stored: DeliveryEvent): Promise<DeliveryEvent> {
    if (stored.type !== 'job.succeeded') return stored;
    const event = eventSchema.parse(JSON.parse(raw));
    if (!('result' in event.data)) return stored;
    return webhookEvent({ ...event, data: await this.deps.presentResult!(event.data) });
  }

  /**
   * Wakes the job's next pending event (the settle script names it) at once, instead of leaving it to its safety-net
   * delay. Only a first attempt is held back that way; promote refuses (harmlessly) an entry that is not delayed.
   */
  private async wake(jobId: string, next: number | null): Promise<void> {
    if (next === null) return;
    const waiting = await queueFor(this.deps.queue, jobId).getJob(deliveryId(jobId, next));
    if (waiting && waiting.data.attempt === 1) await waiting.promote().catch(() => {});
  }
}
