// Redis settings: one mode from the environment, one line per problem, and the fragment config.ts merges.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseRedisSettings, redisEnvOf, redisEnvRefine, redisEnvShape, redisSettingsFrom, RedisSettingsError } from '../../src/redis/settings.js';

function problems(env: Record<string, string>): string[] {
  try {
    parseRedisSettings(env);
  } catch (err) {
    expect(err).toBeInstanceOf(RedisSettingsError);
    return (err as RedisSettingsError).problems;
  }
  return [];
}

describe('redis settings', () => {
  it('defaults to the local single node, no sharding, no WAIT', () => {
    expect(parseRedisSettings({})).toEqual({ mode: 'single', url: 'redis://127.0.0.1:6379', tls: false, shards: 1, waitReplicas: 0, waitTimeoutMs: 100 });
    expect(parseRedisSettings({ REDIS_URL: 'rediss://u:p@redis.example:6380/2' })).toMatchObject({ mode: 'single', tls: true });
  });

  it('reads Sentinel and Cluster, waiting for one replica by default', () => {
    expect(
      parseRedisSettings({ REDIS_SENTINELS: 's1:26379, [::1]:26380', REDIS_SENTINEL_NAME: 'mymaster', REDIS_SENTINEL_PASSWORD: 'sp', REDIS_PASSWORD: 'dp' }),
    ).toEqual({
      mode: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      sentinelName: 'mymaster',
      sentinelPassword: 'sp',
      password: 'dp',
      tls: false,
      shards: 1,
      waitReplicas: 1,
      waitTimeoutMs: 100,
    });
    const cluster = parseRedisSettings({ REDIS_CLUSTER_NODES: 'a:7000,b:7001', QUEUE_SHARDS: '3', REDIS_WAIT_REPLICAS: '0', REDIS_TLS: 'true' });
    expect(cluster).toMatchObject({ mode: 'cluster', nodes: [{ host: 'a', port: 7000 }, { host: 'b', port: 7001 }], shards: 3, waitReplicas: 0, tls: true });
  });

  it('refuses ambiguous or incomplete topologies, one line each', () => {
    expect(problems({ REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_NAME: 'm', REDIS_CLUSTER_NODES: 'b:2' })).toEqual([
      'REDIS_CLUSTER_NODES: set either REDIS_SENTINELS or REDIS_CLUSTER_NODES, not both',
    ]);
    expect(problems({ REDIS_URL: 'redis://x:6379', REDIS_CLUSTER_NODES: 'b:2' })).toEqual(['REDIS_URL: unset it: REDIS_CLUSTER_NODES already says where Redis is']);
    expect(problems({ REDIS_SENTINELS: 'a:1' })).toEqual(['REDIS_SENTINEL_NAME: required with REDIS_SENTINELS']);
    expect(problems({ REDIS_SENTINEL_NAME: 'm', REDIS_SENTINEL_PASSWORD: 'p' })).toHaveLength(2);
    expect(problems({ REDIS_CLUSTER_NODES: 'b:2', QUEUE_PREFIX: 'nemo-relay' })).toEqual([
      'QUEUE_PREFIX: on Redis Cluster wrap it in a hash tag (e.g. {nemo-relay}) or set QUEUE_SHARDS ≥ 2',
    ]);
    expect(problems({ REDIS_CLUSTER_NODES: 'b:2', QUEUE_PREFIX: '{nemo-relay}' })).toEqual([]);
  });

  it('rejects bad values without echoing secrets', () => {
    const lines = problems({ REDIS_CLUSTER_NODES: 'a:7000,nope', QUEUE_SHARDS: '33', REDIS_WAIT_TIMEOUT_MS: '-1', REDIS_URL: 'http://x', REDIS_PASSWORD: 'hunter2-secret' });
    expect(lines.map((l) => l.split(':')[0]).sort()).toEqual(['QUEUE_SHARDS', 'REDIS_CLUSTER_NODES', 'REDIS_URL', 'REDIS_WAIT_TIMEOUT_MS']);
    expect(lines.join('\n')).not.toContain('hunter2');
    expect(problems({ REDIS_URL: 'redis://:a@x:6379', REDIS_PASSWORD: 'b' })).toEqual(['REDIS_PASSWORD: REDIS_URL already carries a password; set it in one place']);
  });

  it('round-trips through the environment it describes', () => {
    for (const env of [{}, { REDIS_SENTINELS: '[::1]:1,h:2', REDIS_SENTINEL_NAME: 'm', REDIS_PASSWORD: 'x' }, { REDIS_CLUSTER_NODES: 'a:1', QUEUE_SHARDS: '4' }]) {
      const settings = parseRedisSettings(env);
      expect(parseRedisSettings(redisEnvOf(settings))).toEqual(settings);
    }
  });

  it('merges into a larger env schema the way config.ts would', () => {
    const schema = z.object({ QUEUE_PREFIX: z.string().default('nemo-relay'), ...redisEnvShape }).superRefine(redisEnvRefine);
    const ok = schema.parse({ REDIS_CLUSTER_NODES: 'a:1', QUEUE_PREFIX: '{q}' });
    expect(redisSettingsFrom(ok).mode).toBe('cluster');
    const bad = schema.safeParse({ REDIS_CLUSTER_NODES: 'a:1' });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues.map((i) => i.path.join('.'))).toEqual(['QUEUE_PREFIX']);
  });
});
