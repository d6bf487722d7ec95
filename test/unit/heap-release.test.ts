// HeapRelease: when a worker gives its heap pages back (after a burst, once quiet, spaced out while it stays busy).
import { describe, expect, it } from 'vitest';
import { HeapRelease, releaseHeap, startWorkerHeapRelease } from '../../src/observability/heap-release.js';

const MB = 2 ** 20;

/** A HeapRelease driven by hand: RSS, clock and event-loop use are set by the test; the release drops RSS to `after`. */
function harness(after = 100 * MB) {
  const state = { rss: 100 * MB, now: 0, busy: 0.1, releases: 0, fail: false };
  const infos: { rssBefore: number; rssAfter: number }[] = [];
  const hr = new HeapRelease({
    slackBytes: 48 * MB,
    settledBytes: 4 * MB,
    maxUtilization: 0.9,
    minGapMs: 30_000,
    maxGapMs: 120_000,
    rss: () => state.rss,
    now: () => state.now,
    utilization: () => state.busy,
    release: async () => {
      if (state.fail) return false;
      state.releases += 1;
      state.rss = after;
      return true;
    },
    onRelease: (info) => void infos.push(info),
  });
  const at = async (ms: number, rssMb: number, busy = 0.1) => {
    state.now = ms;
    state.rss = rssMb * MB;
    state.busy = busy;
    return hr.tick();
  };
  return { hr, state, at, infos };
}

describe('HeapRelease', () => {
  it('releases the start-up garbage once, at the first quiet check', async () => {
    const { at, infos } = harness(90 * MB);
    expect(await at(2_000, 150, 0.95)).toBe(false); // still starting
    expect(await at(4_000, 150)).toBe(true);
    expect(infos).toEqual([{ rssBefore: 150 * MB, rssAfter: 90 * MB, ms: 0 }]);
    expect(await at(40_000, 120)).toBe(false); // within the slack of the new floor
  });

  it('waits for a burst to be over (RSS no longer growing, loop not saturated), then releases', async () => {
    const { at, state } = harness(100 * MB);
    await at(0, 150);
    expect(state.releases).toBe(1);
    expect(await at(40_000, 300)).toBe(false); // grew 200 MB since the last check: the burst is on
    expect(await at(42_000, 400)).toBe(false);
    expect(await at(44_000, 402, 0.95)).toBe(false); // loop saturated
    expect(await at(46_000, 402)).toBe(true);
    expect(state.rss).toBe(100 * MB);
  });

  it('spaces releases out, doubling the gap while RSS keeps coming back, and resets once it stays low', async () => {
    const { at, state } = harness(100 * MB);
    await at(0, 200);
    await at(2_000, 200);
    expect(state.releases).toBe(1);
    // Busy worker: RSS back above the slack every time.
    expect(await at(20_000, 200)).toBe(false); // < 30 s since the last release
    expect(await at(31_000, 200)).toBe(true); // gap 30 s, then 60 s
    expect(await at(80_000, 200)).toBe(false);
    expect(await at(92_000, 200)).toBe(true); // gap now 120 s (the cap)
    expect(await at(200_000, 200)).toBe(false);
    expect(await at(213_000, 200)).toBe(true);
    // Quiet for a while: RSS stays near the floor, so the gap goes back to 30 s.
    await at(220_000, 110);
    expect(await at(250_000, 200)).toBe(false); // grew 90 MB in one check
    expect(state.releases).toBe(4);
    expect(await at(252_000, 200)).toBe(true); // 39 s after the last one: within the old 120 s gap, past the reset 30 s
    expect(state.releases).toBe(5);
  });

  it('does not count a release that did not happen', async () => {
    const { at, state, hr } = harness();
    state.fail = true;
    expect(await at(0, 200)).toBe(false);
    expect(hr.count).toBe(0);
    state.fail = false;
    expect(await at(2_000, 200)).toBe(true);
    expect(hr.count).toBe(1);
  });

  it('releaseHeap gives pooled pages back (a real memory-reducing GC)', async () => {
    const make = () => Array.from({ length: 400_000 }, (_, i) => ({ i, s: `x${i}` })).length;
    expect(make()).toBe(400_000); // garbage as soon as it is counted
    const before = process.memoryUsage().heapTotal;
    expect(await releaseHeap()).toBe(true);
    expect(process.memoryUsage().heapTotal).toBeLessThan(before);
  });
});

describe('NEMO_WORKER_HEAP_RELEASE', () => {
  it('set but empty is unset (the default, on), as every other setting; 0 turns it off; anything else is refused', () => {
    for (const on of [{}, { NEMO_WORKER_HEAP_RELEASE: '' }, { NEMO_WORKER_HEAP_RELEASE: '1' }]) {
      const loop = startWorkerHeapRelease(on);
      expect(loop, JSON.stringify(on)).not.toBeNull();
      loop!.stop();
    }
    expect(startWorkerHeapRelease({ NEMO_WORKER_HEAP_RELEASE: '0' })).toBeNull();
    expect(() => startWorkerHeapRelease({ NEMO_WORKER_HEAP_RELEASE: '2' })).toThrow('NEMO_WORKER_HEAP_RELEASE: 1 (default) or 0');
  });
});
