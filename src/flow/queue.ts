// The flow queue: one BullMQ job per nemo-relay job, with the job id as BullMQ id so enqueueing twice is harmless.
import { Queue, type ConnectionOptions } from 'bullmq';
import { QUEUE_NAMES, type Keys } from '../redis/keys.js';
import { queueFor, ShardQueues, type QueueRef } from '../redis/shard-queues.js';

export interface FlowJobData {
  jobId: string;
}

/** The custom backoff type of flow jobs (its strategy is registered on the worker, processor.ts). */
export const CAPPED_BACKOFF = 'capped';
const BACKOFF_BASE_MS = 2_000;
const BACKOFF_CAP_MS = 60_000;

/**
 * Only unexpected crashes (a bug, Redis trouble) use BullMQ retries; upstream failures are handled in the flow.
 * Plain exponential would reach days by attempt 20; capped at a minute, 20 attempts take about a quarter hour.
 */
export function cappedBackoffMs(attemptsMade: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * A finished run leaves nothing in BullMQ: the job record holds the outcome, and retention erases that later. (A
 * duplicate add cannot happen after the end: only queued jobs are ever offered to the queue again.)
 */
export const FLOW_JOB_OPTIONS = {
  attempts: 20,
  backoff: { type: CAPPED_BACKOFF },
  removeOnComplete: true,
  removeOnFail: true,
} as const;

/**
 * BullMQ's event stream (for QueueEvents listeners, which nothing here uses) is kept short: bounded, and a few KB
 * instead of BullMQ's default 10,000 entries.
 */
export const QUEUE_EVENTS_MAX_LEN = 100;

export function createFlowQueue(connection: ConnectionOptions, prefix: string): Queue<FlowJobData> {
  return new Queue<FlowJobData>(QUEUE_NAMES.flow, { connection, prefix, streams: { events: { maxLen: QUEUE_EVENTS_MAX_LEN } } });
}

/** The flow queue of every shard (QUEUE_SHARDS; one queue under QUEUE_PREFIX when there is one shard). */
export function createFlowQueues(connection: ConnectionOptions, keys: Keys): ShardQueues<FlowJobData> {
  return new ShardQueues(keys.tags.map((tag) => createFlowQueue(connection, tag)), keys.shardOfId);
}

export type FlowQueueRef = QueueRef<FlowJobData>;

export async function enqueueFlow(queue: FlowQueueRef, jobId: string): Promise<void> {
  await queueFor(queue, jobId).add('run', { jobId }, { ...FLOW_JOB_OPTIONS, jobId });
}

/** Wakes a job that is waiting (delayed) so a worker sees a cancel at once; false when it is not delayed. */
export async function promoteIfDelayed(queue: FlowQueueRef, jobId: string): Promise<boolean> {
  const job = await queueFor(queue, jobId).getJob(jobId);
  if (!job) return false;
  if ((await job.getState()) !== 'delayed') return false;
  try {
    await job.promote();
    return true;
  } catch {
    return false;
  }
}

/**
 * Removes a job nobody has started yet. True when no worker can run it any more: removed here, or never in the
 * queue at all (a crash between writing the record and enqueueing); false when a worker holds it.
 */
export async function removeIfWaiting(queue: FlowQueueRef, jobId: string): Promise<boolean> {
  const job = await queueFor(queue, jobId).getJob(jobId);
  if (!job) return true;
  const state = await job.getState();
  if (state !== 'waiting' && state !== 'prioritized') return false;
  try {
    await job.remove();
    return true;
  } catch {
    return false;
  }
}
