// TickBatcher: calls of one event-loop turn become one call per group; a failed batch is retried alone only for reads.
import { describe, expect, it } from 'vitest';
import { TickBatcher } from '../../src/redis/tick-batch.js';

function recorder(opts: { failMany?: boolean; failOne?: (n: number) => boolean } = {}) {
  const calls: { kind: 'one' | 'many'; group: number; inputs: number[] }[] = [];
  const one = async (group: number, n: number) => {
    calls.push({ kind: 'one', group, inputs: [n] });
    if (opts.failOne?.(n)) throw new Error(`bad ${n}`);
    return n * 10;
  };
  const many = async (group: number, ns: number[]) => {
    calls.push({ kind: 'many', group, inputs: ns });
    if (opts.failMany) throw new Error('batch failed');
    return ns.map((n) => n * 10);
  };
  return { calls, one, many };
}

describe('TickBatcher', () => {
  it('sends the calls of one turn as one call per group, in order, and a lone call as it is', async () => {
    const r = recorder();
    const batcher = new TickBatcher(r.one, r.many, true);
    const answers = await Promise.all([batcher.call(0, 1), batcher.call(1, 2), batcher.call(0, 3), batcher.call(0, 4)]);
    expect(answers).toEqual([10, 20, 30, 40]);
    expect(r.calls).toEqual([
      { kind: 'many', group: 0, inputs: [1, 3, 4] },
      { kind: 'one', group: 1, inputs: [2] },
    ]);
    // A later turn starts afresh.
    expect(await batcher.call(0, 5)).toBe(50);
    expect(r.calls.at(-1)).toEqual({ kind: 'one', group: 0, inputs: [5] });
  });

  it('gathers calls made by I/O callbacks of the same turn, not only synchronous ones', async () => {
    const r = recorder();
    const batcher = new TickBatcher(r.one, r.many, true);
    // Two promise chains that each await a microtask before calling: still the same turn.
    const late = async (n: number) => {
      await Promise.resolve();
      return batcher.call(0, n);
    };
    expect(await Promise.all([late(1), late(2)])).toEqual([10, 20]);
    expect(r.calls).toEqual([{ kind: 'many', group: 0, inputs: [1, 2] }]);
  });

  it('retries each input alone when a batch of reads fails: only the bad one fails', async () => {
    const r = recorder({ failMany: true, failOne: (n) => n === 2 });
    const batcher = new TickBatcher(r.one, r.many, true);
    const settled = await Promise.allSettled([batcher.call(0, 1), batcher.call(0, 2), batcher.call(0, 3)]);
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message))).toEqual([10, 'bad 2', 30]);
    expect(r.calls.map((c) => c.kind)).toEqual(['many', 'one', 'one', 'one']);
  });

  it('fails every caller of a failed batch of writes, trying none again (a failed script may have done part of it)', async () => {
    const r = recorder({ failMany: true });
    const batcher = new TickBatcher(r.one, r.many, false);
    const settled = await Promise.allSettled([batcher.call(0, 1), batcher.call(0, 2)]);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected']);
    expect(r.calls.map((c) => c.kind)).toEqual(['many']);
  });

  it('treats a batch answering the wrong number of results as failed', async () => {
    const r = recorder();
    const batcher = new TickBatcher(r.one, async (group, ns) => (await r.many(group, ns)).slice(1), true);
    expect(await Promise.all([batcher.call(0, 1), batcher.call(0, 2)])).toEqual([10, 20]);
    expect(r.calls.map((c) => c.kind)).toEqual(['many', 'one', 'one']);
  });
});
