// One BullMQ queue per shard (prefix = the shard's tag), and the router that finds the queue holding a job's entries.
import type { Queue } from 'bullmq';

/**
 * The queues of one kind (flow or webhooks), one per shard, routed by the nemo-relay job id their entries belong to.
 * With one shard it is a single queue under QUEUE_PREFIX, exactly as before sharding.
 */
export class ShardQueues<T> {
  constructor(
    readonly all: readonly Queue<T>[],
    private readonly shardOfId: (jobId: string) => number,
  ) {
    if (all.length === 0) throw new RangeError('ShardQueues needs at least one queue');
  }

  /** The queue of the shard `jobId` (a `job_…` id) lives in. */
  forJob(jobId: string): Queue<T> {
    return this.all.length === 1 ? this.all[0]! : this.all[this.shardOfId(jobId)]!;
  }

  shard(index: number): Queue<T> {
    return this.all[index]!;
  }

  /** Removes an entry whose BullMQ id is the job id (a flow entry); 0 when there was none. */
  remove(jobId: string): Promise<number> {
    return this.forJob(jobId).remove(jobId);
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((q) => q.close()));
  }
}

/** One queue, or the shard router: call sites (and tests holding a plain Queue) work with either. */
export type QueueRef<T> = Queue<T> | ShardQueues<T>;

export function queueFor<T>(ref: QueueRef<T>, jobId: string): Queue<T> {
  return ref instanceof ShardQueues ? ref.forJob(jobId) : ref;
}
