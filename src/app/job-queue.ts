// The job queue as the domain sees it: fair admission first (flow/admission.ts), then the BullMQ flow queue.
import type { RedisClient } from '../redis/client.js';
import type { JobQueuePort } from '../domain/job-commands.js';
import type { Admission, TenantLimits } from '../flow/admission.js';
import { enqueueFlow, promoteIfDelayed, removeIfWaiting, type FlowQueueRef } from '../flow/queue.js';
import type { Keys } from '../redis/keys.js';

export interface JobQueueDeps {
  admission: Admission;
  /** The flow queue(s): a job goes to its shard's (flow/queue.ts routes by its id). */
  flowQueue: FlowQueueRef;
  /** Publishes cancels to the worker holding a job. */
  redis: RedisClient;
  keys: Keys;
  limitsOf: (tenant: string) => Promise<TenantLimits>;
  /**
   * MAX_RUNNING_JOBS (Admission's per-account cap): given, a create's own script offers the job to admission (as
   * Admission.add), so a create is that script, plus the queue add when the job (or another) may start now.
   */
  maxPerAccount?: number;
}

/** Admitted jobs go to the flow queue (adding an id BullMQ already holds is a no-op, so a repeat is harmless). */
export async function queueAdmitted(flowQueue: FlowQueueRef, admitted: readonly string[]): Promise<void> {
  for (const id of admitted) await enqueueFlow(flowQueue, id);
}

export function jobQueuePort(deps: JobQueueDeps): JobQueuePort {
  const { admission, flowQueue, maxPerAccount } = deps;
  return {
    async enqueue(jobId, tenant, started) {
      if (started) return queueAdmitted(flowQueue, started);
      await queueAdmitted(flowQueue, await admission.add(jobId, tenant, await deps.limitsOf(tenant)));
    },
    ...(maxPerAccount === undefined
      ? {}
      : {
          async admissionFor(tenant: string) {
            const { maxConcurrent, weight, account } = await deps.limitsOf(tenant);
            return { base: deps.keys.admission(deps.keys.shardOfTenant(tenant)), maxConcurrent, weight, account, maxPerAccount };
          },
        }),
    async removeIfWaiting(jobId, tenant) {
      // Still waiting for admission: it never reached a worker. Admitted but not started: taken off the queue.
      if (await admission.withdraw(jobId, tenant)) return true;
      return removeIfWaiting(flowQueue, jobId);
    },
    wake: async (jobId) => void (await promoteIfDelayed(flowQueue, jobId)),
    publishCancel: async (jobId) => void (await deps.redis.publish(deps.keys.jobCancelChannel(), jobId)),
  };
}
