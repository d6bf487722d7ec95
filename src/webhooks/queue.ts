// The webhooks queue: one BullMQ job per (job, event seq), its options, and the worker that runs deliveries.
import { Queue, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { scrubSecrets, type Logger } from '../observability/logger.js';
import { limitedErrorLog } from '../observability/repeat-limit.js';
import { QUEUE_NAMES, type Keys } from '../redis/keys.js';
import { ShardQueues, type QueueRef } from '../redis/shard-queues.js';

export interface DeliveryJobData {
  jobId: string;
  seq: number;
  /** 1-based attempt within this delivery run; indexes the retry schedule. */
  attempt: number;
  /** A manual redelivery: sent once more whatever the event's state, with the same webhook-id. */
  redeliver?: boolean;
  /** Attempts already logged for this event before a redelivery, so the log keeps counting up. */
  attemptOffset?: number;
  /** Attempts of this run cut by a worker's shutdown: they take no place in the retry schedule. */
  aborted?: number;
  /** The job's tenant, so the read script fetches its secrets in the same call (absent on entries from before). */
  tenant?: string;
}

/**
 * BullMQ-level retries for infrastructure errors (Redis blips); receiver failures never throw. A settled delivery
 * leaves nothing in BullMQ: the delivery log (erased with the job) keeps its attempts.
 */
export const DELIVERY_JOB_OPTIONS = {
  removeOnComplete: true,
  removeOnFail: true,
  attempts: 10,
  backoff: { type: 'exponential', delay: 1_000 },
} as const;

/** The BullMQ id of an event's delivery: adding it twice is a no-op, which makes every enqueue idempotent. */
export const deliveryId = (jobId: string, seq: number) => `${jobId}-${seq}`;

export function createDeliveryQueue(connection: ConnectionOptions, prefix: string): Queue<DeliveryJobData> {
  // The event stream is kept short, as the flow queue's (flow/queue.ts QUEUE_EVENTS_MAX_LEN: nothing reads it).
  return new Queue<DeliveryJobData>(QUEUE_NAMES.webhooks, { connection, prefix, streams: { events: { maxLen: 100 } } });
}

/** The webhooks queue of every shard; a delivery goes to the shard of the job whose event it carries. */
export function createDeliveryQueues(connection: ConnectionOptions, keys: Keys): ShardQueues<DeliveryJobData> {
  return new ShardQueues(keys.tags.map((tag) => createDeliveryQueue(connection, tag)), keys.shardOfId);
}

export type DeliveryQueueRef = QueueRef<DeliveryJobData>;

export function startDeliveryWorker(
  process: (job: Job<DeliveryJobData>, token?: string) => Promise<void>,
  opts: { connection: ConnectionOptions; prefix: string; concurrency: number; logger: Logger; lockMs?: number },
): Worker<DeliveryJobData> {
  const worker = new Worker<DeliveryJobData>(QUEUE_NAMES.webhooks, process, {
    connection: opts.connection,
    prefix: opts.prefix,
    concurrency: opts.concurrency,
    // The same takeover time as flow jobs: a delivery held by a dead worker is not delayed by BullMQ's 30 s default.
    ...(opts.lockMs ? { lockDuration: opts.lockMs, stalledInterval: Math.max(1_000, Math.floor(opts.lockMs / 2)) } : {}),
    maxStalledCount: 1_000,
  });
  worker.on('error', limitedErrorLog(opts.logger, 'webhook worker error'));
  // A delivery that throws (Redis away, say) is retried by BullMQ and, after its last try, removed: say so, loudly then.
  worker.on('failed', (job, err) => {
    if (!job) return;
    const last = job.attemptsMade >= (job.opts.attempts ?? 1);
    const fields = { jobId: job.data.jobId, seq: job.data.seq, tries: job.attemptsMade, err: scrubSecrets(err.message) };
    if (last) opts.logger.error(fields, 'webhook delivery dropped: it failed before its attempt could be settled, on every try');
    else opts.logger.warn(fields, 'webhook delivery failed before its attempt could be settled; retried');
  });
  return worker;
}
