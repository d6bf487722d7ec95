// The Redis part of the configuration: where Redis is becomes config.redis; contradictions stop the start-up, one line each.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/app/config.js';

const problems = (env: Record<string, string>) => {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems;
  }
};

describe('config: where Redis is', () => {
  it('is one node by default, with the URL it always had', () => {
    const c = loadConfig({});
    expect(c.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(c.redis).toMatchObject({ mode: 'single', url: 'redis://127.0.0.1:6379', shards: 1, waitReplicas: 0 });
  });

  it('is Sentinel or Cluster from their variables (no REDIS_URL then), waiting for one replica by default', () => {
    const s = loadConfig({ REDIS_SENTINELS: 'a:26379,b:26379', REDIS_SENTINEL_NAME: 'nemo-relay' });
    expect(s.REDIS_URL).toBeUndefined();
    expect(s.redis).toMatchObject({ mode: 'sentinel', sentinelName: 'nemo-relay', waitReplicas: 1, waitTimeoutMs: 100 });
    const c = loadConfig({ REDIS_CLUSTER_NODES: 'n1:7000,n2:7001', QUEUE_SHARDS: '3', REDIS_WAIT_REPLICAS: '0' });
    expect(c.redis).toMatchObject({ mode: 'cluster', shards: 3, waitReplicas: 0 });
    expect(c.QUEUE_SHARDS).toBe(3);
    // An empty REDIS_URL (compose's sentinel profile) counts as unset.
    expect(loadConfig({ REDIS_URL: '', REDIS_SENTINELS: 'a:26379', REDIS_SENTINEL_NAME: 'm' }).redis.mode).toBe('sentinel');
  });

  it('refuses contradictions with one line naming the variable to fix', () => {
    expect(problems({ REDIS_URL: 'redis://r:6379', REDIS_CLUSTER_NODES: 'n1:7000', QUEUE_SHARDS: '2' })).toEqual([expect.stringMatching(/^REDIS_URL: unset it/)]);
    expect(problems({ REDIS_SENTINELS: 'a:26379' })).toEqual([expect.stringMatching(/^REDIS_SENTINEL_NAME: required/)]);
    // One shard on a cluster needs a {hash tag} prefix (its scripts and BullMQ's touch many keys at once).
    expect(problems({ REDIS_CLUSTER_NODES: 'n1:7000' })).toEqual([expect.stringMatching(/^QUEUE_PREFIX: on Redis Cluster wrap it/)]);
    expect(problems({ REDIS_CLUSTER_NODES: 'n1:7000', QUEUE_PREFIX: '{nemo-relay}' })).toEqual([]);
    expect(problems({ QUEUE_SHARDS: '33' })).toEqual([expect.stringMatching(/^QUEUE_SHARDS:/)]);
  });

  it('refuses sentinels and cluster nodes together with that one line, not the checks of either topology', () => {
    const both = 'REDIS_CLUSTER_NODES: set either REDIS_SENTINELS or REDIS_CLUSTER_NODES, not both';
    // QUEUE_PREFIX is the default nemo-relay here, which a cluster alone would refuse (no hash tag).
    expect(problems({ REDIS_SENTINELS: 'a:26379', REDIS_SENTINEL_NAME: 'm', REDIS_CLUSTER_NODES: 'n1:7000' })).toEqual([both]);
    expect(problems({ REDIS_SENTINELS: 'a:26379', REDIS_CLUSTER_NODES: 'n1:7000' })).toEqual([both]);
  });
});
