// TtlCache: concurrent loads are shared within a lane only (a waiting read never gets a fail-fast load's failure); answers fill one cache.
import { describe, expect, it } from 'vitest';
import { TtlCache } from '../../src/tenants/cache.js';

/** A load the test settles by hand, counting how often it was started. */
function manualLoads() {
  const started: { resolve: (v: string) => void; reject: (e: Error) => void }[] = [];
  const load = () => new Promise<string>((resolve, reject) => started.push({ resolve, reject }));
  return { load, started };
}

describe('TtlCache lanes', () => {
  it('shares a load within its lane, not across lanes; a fail-fast failure does not reach the waiting read', async () => {
    const cache = new TtlCache<string>(5_000);
    const { load, started } = manualLoads();
    const fast1 = cache.get('acme', load, { enabled: true });
    const fast2 = cache.get('acme', load, { enabled: true });
    const waiting = cache.get('acme', load, { enabled: true, lane: 'waiting' });
    expect(started).toHaveLength(2);
    started[0]!.reject(new Error("Stream isn't writeable"));
    await expect(fast1).rejects.toThrow(/writeable/);
    await expect(fast2).rejects.toThrow(/writeable/);
    started[1]!.resolve('record');
    expect(await waiting).toBe('record');
    // The waiting lane's answer serves every lane from the cache.
    expect(await cache.get('acme', load, { enabled: true })).toBe('record');
    expect(started).toHaveLength(2);
  });

  it('a change drops the loads under way in every lane: their answers are not kept', async () => {
    const cache = new TtlCache<string>(5_000);
    const { load, started } = manualLoads();
    const waiting = cache.get('acme', load, { enabled: true, lane: 'waiting' });
    cache.delete('acme');
    const after = cache.get('acme', load, { enabled: true, lane: 'waiting' });
    expect(started).toHaveLength(2);
    started[0]!.resolve('stale');
    started[1]!.resolve('fresh');
    expect([await waiting, await after]).toEqual(['stale', 'fresh']);
    expect(cache.peek('acme')).toBe('fresh');
  });
});
