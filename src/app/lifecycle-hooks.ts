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

export function lifecycleHooks(parts: LifecycleHookParts): AfterEvent {
  /** The job's slot is free: the next waiting job (of any tenant, fairly chosen) starts now, not at the next sweep. */
  const releaseSlot = async (jobId: string, record: JobRecord) => {
    try {
      await queueAdmitted(parts.flowQueue, await parts.admission.release(jobId, record.tenant));
    } catch (err) {
      parts.logger.warn({ jobId, err: String(err) }, 'could not free the job’s slot; the sweeper will');
    }
  };
  return async (jobId, type, seq, record) => {
    try {
      await parts.enqueuer.onEvent(jobId, type, seq, record);
    } finally {
      if (isEnd(type)) {
        // Uploads are freed, the slot and the shared session handed on even when queueing the webhook failed.
        await Promise.all([parts.releaseUploads(jobId, type, record), parts.leaveGroup(jobId, type, record), releaseSlot(jobId, record)]);
        // After this item's own event: a batch's end is announced behind its last item's end.
        await parts.announceBatchEnd(jobId, type, record);
      }
    }
  };
}
