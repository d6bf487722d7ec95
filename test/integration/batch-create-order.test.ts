// A batch's items are queued only once every one of them is listed on it, and a batch seen before its first item is queued.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchStatusOf } from '../../src/jobs/batch-store.js';
import type { Batch } from '../../src/jobs/schemas.js';
import { startStack, type Stack } from '../helpers/stack.js';

type Enqueue = (jobId: string, ...rest: unknown[]) => Promise<void>;

describe('creating a batch', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ worker: false });
  });
  afterAll(async () => stack?.close());

  it('queues no item before the last one is listed on the batch (an early item must not look like the last)', async () => {
    // The job commands' queue port, watched: how many items the batch lists when each item is queued.
    const queue = (stack.services.jobs as unknown as { deps: { queue: { enqueue: Enqueue } } }).deps.queue;
    const enqueue = queue.enqueue.bind(queue);
    const listed: number[] = [];
    queue.enqueue = async (jobId, ...rest) => {
      const item = await stack.services.store.get(jobId);
      const batch = await stack.services.batches.get('acme', item!.job.batch_id!);
      listed.push(batch.items.length);
      return enqueue(jobId, ...rest);
    };
    try {
      const items = Array.from({ length: 5 }, (_, i) => ({ instruction: `variant ${i + 1}` }));
      const res = await stack.api<Batch>('POST', '/v1/batches', { sources: [{ url: 'https://example.com/a.jpg' }], items });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      expect(listed).toEqual([5, 5, 5, 5, 5]);
    } finally {
      queue.enqueue = enqueue;
    }
  });

  it('shows a batch with no item yet (being created) as queued, not succeeded', () => {
    expect(batchStatusOf([]).status).toBe('queued');
  });
});
