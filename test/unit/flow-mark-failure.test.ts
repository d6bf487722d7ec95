// A "message sent" mark whose save fails (a failover cuts a pipelined batch off): the message still goes out, once.
import { expect, it } from 'vitest';
import type { FlowRunResult } from '../../src/flow/machine.js';
import type { FlowState } from '../../src/flow/state.js';
import type { CommitSpec } from '../../src/jobs/store.js';
import { advanceClock, createFakeFlow, useFakeClock } from '../helpers/fake-flow.js';

useFakeClock();

it('does not reconcile a message whose mark could not be saved: the next run sends it, once', async () => {
  const f = createFakeFlow();
  const jobId = await f.addJob({ job: { followups: ['Add music'] } });
  const commit = f.store.commit.bind(f.store);
  let failed = 0;
  f.store.commit = async (spec: CommitSpec) => {
    const state = spec.flowJson ? (JSON.parse(spec.flowJson) as FlowState) : null;
    if (spec.durable && state?.inflight?.index === 1 && failed === 0) {
      failed += 1;
      // What ioredis answers for the rest of an auto-pipelined batch when the master dies mid-batch.
      throw new Error('Command aborted due to connection close');
    }
    return commit(spec);
  };

  // As BullMQ runs it: a run that throws is retried from the checkpoint; a wait comes back after its delay.
  const outcomes: (FlowRunResult | 'crashed')[] = [];
  for (let i = 0; i < 50; i++) {
    const result = await f.run(jobId).catch(() => 'crashed' as const);
    outcomes.push(result);
    if (result !== 'crashed' && result.kind !== 'wait') break;
    if (result !== 'crashed') advanceClock(result.delayMs);
  }

  expect(failed).toBe(1);
  expect(outcomes).toContain('crashed');
  expect(f.nemo.callsOf('runAgent').map((c) => c.args[2])).toEqual(['Make a short clip of the beach', 'Add music']);
  const job = (await f.record(jobId)).job;
  expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
  expect(job.usage.messages_sent).toBe(2);
});
