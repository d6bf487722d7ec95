// What happens after a job's event is stored: its webhook queued, then on its end uploads freed, slots and sessions handed on.
import type { Logger } from '../observability/logger.js';
import type { Admission } from '../flow/admission.js';
import type { FlowQueueRef } from '../flow/queue.js';
import type { AfterEvent } from '../jobs/lifecycle.js';
import { TERMINAL_EVENTS, type EventType, type JobRecord } from '../jobs/schemas.js';
import type { EventEnqueuer } from '../webhooks/event-enqueuer.js';
import { queueAdmitted } from './job-queue.js';

export interface LifecycleHookParts {
  enqueuer: Pick<EventEnqueuer, 'onEvent'>;
  releaseUploads: (jobId: string, type: EventType, record: JobRecord) => Promise<void>;
  leaveGroup: (jobId: string, type: EventType, record: JobRecord) => Promise<void>;
  announceBatchEnd: (jobId: string, type: EventType, record: JobRecord) => Promise<void>;
  admission: Admission;
  flowQueue: FlowQueueRef;
  logger: Logger;
}

const isEnd = (type: EventType) => (TERMINAL_EVENTS as readonly string[]).includes(type);

/** The job's slot is free: the next waiting job (of any tenant, fairly chosen) starts now, not at the next sweep. */
function slotRelease(parts: LifecycleHookParts) {
  return async (jobId: string, record: JobRecord) => {
    try {
      await queueAdmitted(parts.flowQueue, await parts.admission.release(jobId, record.tenant));
    } catch (err) {
      parts.logger.warn({ jobId, err: String(err) }, 'could not free the job’s slot; the sweeper will');
    }
  };
}

/**
 * What follows a job's end, once more, for a run that finds its job already ended: the run that ended it may have died
 * between its end's write and these (a worker killed), leaving its place at the head of its group's queue (the group's
 * next jobs waited for ever), its uploads held or its batch's end unannounced. Each of them is idempotent.
 */
export function endedAgainHooks(parts: LifecycleHookParts): (jobId: string, type: EventType, record: JobRecord) => Promise<void> {
  const releaseSlot = slotRelease(parts);
  return async (jobId, type, record) => {
    if (!isEnd(type)) return;
    await Promise.all([parts.releaseUploads(jobId, type, record), parts.leaveGroup(jobId, type, record), releaseSlot(jobId, record)]);
    await parts.announceBatchEnd(jobId, type, record);
  };
}

export function lifecycleHooks(parts: LifecycleHookParts): AfterEvent {
  const releaseSlot = slotRelease(parts);
  return async (jobId, type, seq, record, extra) => {
    // A flow worker sends the webhook of its own event itself (its first attempt; the queue only for what is left).
    const webhook = parts.enqueuer.onEvent(jobId, type, seq, record, extra?.worker && extra.stored ? { stored: extra.stored } : {});
    if (!isEnd(type)) return webhook;
    // Uploads are freed, the slot and the shared session handed on while the webhook goes out, and even when it failed.
    const [sent, released] = await Promise.allSettled([
      webhook,
      Promise.all([parts.releaseUploads(jobId, type, record), parts.leaveGroup(jobId, type, record), releaseSlot(jobId, record)]),
    ]);
    // After this item's own event (claimed above, so a batch's end is always delivered after it).
    await parts.announceBatchEnd(jobId, type, record);
    if (sent.status === 'rejected') throw sent.reason;
    if (released.status === 'rejected') throw released.reason;
  };
}
