// The lifecycle hook that announces a batch's end: after its last item ends, batch.succeeded or batch.failed, once.
import type { BatchStore } from '../jobs/batch-store.js';
import { batchView } from '../jobs/batch-store.js';
import { isTerminal, TERMINAL_EVENTS, type EventType, type JobRecord } from '../jobs/schemas.js';
import type { JobStore } from '../jobs/store.js';
import type { Logger } from '../observability/logger.js';

export interface BatchEndDeps {
  store: JobStore;
  batches: BatchStore;
  /** How long the batch is kept once it has ended (its tenant's retention). */
  retentionOf: (tenant: string) => number | Promise<number>;
  /** Called for the appended batch event, as for any other event (queues its webhook delivery). */
  afterEvent: (jobId: string, type: EventType, seq: number) => Promise<void>;
  logger: Logger;
}

/**
 * The event goes on the stream of the item whose end ended the batch, right after that item's own terminal event:
 * per-job delivery order then brings it to the receiver after that item's job.* event. Delivery order holds per job
 * only: an earlier item's job.* still being retried may arrive after it.
 */
export function batchEndHook(deps: BatchEndDeps) {
  return async (jobId: string, type: EventType, record: JobRecord): Promise<void> => {
    if (!(TERMINAL_EVENTS as readonly string[]).includes(type)) return;
    try {
      const batchId = record.job.batch_id;
      if (!batchId) return;
      const batch = await deps.batches.get(batchId);
      if (!batch) return;
      const items = await deps.batches.itemsOf(batch, await deps.store.getMany(batch.items));
      const notLast = () => deps.batches.markNotLast(batchId, jobId, record.job.status);
      // Not the last item: said so, for its event stream to close at its own end.
      if (items.some((item) => item !== null && !isTerminal(item.status))) return await notLast();
      // The batch ended when its last item did: the time every read showed before this stamp, and shows after it.
      const view = batchView(batch, items);
      const at = view.finished_at ?? new Date().toISOString();
      const ended = { status: view.status, counts: view.counts };
      if (!(await deps.batches.claimEnd(batchId, at, await deps.retentionOf(batch.tenant), jobId, ended))) return await notLast();
      view.finished_at = at;
      const event: EventType = view.status === 'succeeded' ? 'batch.succeeded' : 'batch.failed';
      const seq = await deps.store.appendEvent(jobId, event, view);
      await deps.afterEvent(jobId, event, seq);
    } catch (err) {
      deps.logger.error({ jobId, err: String(err) }, 'could not announce the end of the batch');
    }
  };
}
