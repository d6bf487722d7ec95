// Config: defaults from the contract, one line per problem, API start-up refused without keys.
import { describe, expect, it } from 'vitest';
import { assertApiStartable, ConfigError, loadConfig } from '../../src/app/config.js';

describe('loadConfig', () => {
  it('applies the contract defaults', () => {
    const c = loadConfig({});
    expect(c.PORT).toBe(8080);
    expect(c.HOST).toBe('0.0.0.0');
    expect(c.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(c.QUEUE_PREFIX).toBe('nemo-relay');
    expect(c.NEMO_BASE_URL).toBe('https://mega-api-prod.nemovideo.ai');
    expect(c.WORKER_CONCURRENCY).toBe(50);
    expect(c.WORKER_LOCK_MS).toBe(30_000);
    expect(c.RECONCILE_INTERVAL_MS).toBe(30_000);
    expect(c.UPLOAD_MAX_BYTES).toBe(209_715_200);
    expect(c.WEBHOOK_RETRY_SCHEDULE_MS).toEqual([5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]);
    expect(c.SIM_TIME_SCALE).toBe(1);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reports one line per invalid variable', () => {
    try {
      // A retention past ten years: now + it may be no date (a deleted tenant's purge date).
      loadConfig({ PORT: 'eighty', WORKER_CONCURRENCY: '0', WEBHOOK_SECRET: 'plain', API_KEYS: 'nokey', JOB_RETENTION_MS: '9000000000000000' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems;
      expect(problems).toHaveLength(5);
      expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['API_KEYS', 'JOB_RETENTION_MS', 'PORT', 'WEBHOOK_SECRET', 'WORKER_CONCURRENCY']);
      // The invalid secret value itself is never echoed; the rule is said whole (a short one was told 'base64').
      expect(problems.join('\n')).not.toContain('plain');
      expect(problems.find((p) => p.startsWith('WEBHOOK_SECRET'))).toMatch(/whsec_ followed by at least 16 base64 characters/);
    }
  });

  it("names the problems across variables and the api role's keys in the same start-up as a bad variable", () => {
    const problems = (env: Record<string, string>, role?: string) => {
      try {
        loadConfig(env, role ? { role } : {});
        return [];
      } catch (err) {
        return (err as ConfigError).problems.map((p) => p.split(':')[0]);
      }
    };
    const key = 'same-secret-key-00001';
    const crossed = { API_KEYS: `acme:${key}`, ADMIN_API_KEY: key, REDIS_SENTINELS: 'a:1', REDIS_URL: 'redis://127.0.0.1:1' };
    expect(problems(crossed).sort()).toEqual(['ADMIN_API_KEY', 'REDIS_SENTINEL_NAME', 'REDIS_URL']);
    expect(problems({ ...crossed, LOG_LEVEL: 'loud' }).sort()).toEqual(['ADMIN_API_KEY', 'LOG_LEVEL', 'REDIS_SENTINEL_NAME', 'REDIS_URL']);
    // No key at all: the api role says so with the rest, a worker has no need of one.
    expect(problems({ PORT: '-1' }, 'api').sort()).toEqual(['API_KEYS', 'PORT']);
    expect(problems({ PORT: '-1' }, 'worker')).toEqual(['PORT']);
    expect(problems({}, 'all')).toEqual(['API_KEYS']);
    // A bad variable is named once, for what is wrong with it, not again by a check across variables.
    expect(problems({ REDIS_SENTINELS: 'not a host list', REDIS_SENTINEL_NAME: 'm' })).toEqual(['REDIS_SENTINELS']);
  });

  it('refuses a key given to two tenants, or shared by a tenant and ADMIN_API_KEY, without echoing it', () => {
    const problemsOf = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return [];
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).problems;
      }
    };
    const key = 'samekey-0123456789';
    const twice = problemsOf({ API_KEYS: `a:${key},b:${key}` });
    expect(twice).toEqual(['API_KEYS: each key may appear once (tenants a and b were given the same key)']);
    const admin = problemsOf({ API_KEYS: `a:${key},b:otherkey-0123456789`, ADMIN_API_KEY: key });
    expect(admin).toEqual(["ADMIN_API_KEY: must differ from every key in API_KEYS (it is tenant a's key)"]);
    expect([...twice, ...admin].join('\n')).not.toContain(key);
    expect(problemsOf({ API_KEYS: `a:${key},b:otherkey-0123456789`, ADMIN_API_KEY: 'adminkey-0123456789' })).toEqual([]);
  });

  it('refuses a tenant named . or .. in API_KEYS (no storage key may hold such a segment)', () => {
    for (const tenant of ['.', '..']) {
      expect(() => loadConfig({ API_KEYS: `${tenant}:dotkey-0123456789abc` })).toThrow(/API_KEYS: .*not \. or \.\./);
    }
    expect(loadConfig({ API_KEYS: '...:dotkey-0123456789abc,a.b:dotkey2-0123456789abc' }).API_KEYS?.map((p) => p.tenant)).toEqual(['...', 'a.b']);
  });

  it('refuses a timer setting past 2^31-1 ms (Node would run it every millisecond), naming each', () => {
    const month = '2592000000';
    const timers = ['UPLOAD_SWEEP_INTERVAL_MS', 'RETENTION_SWEEP_INTERVAL_MS', 'QUEUED_SWEEP_INTERVAL_MS', 'RECONCILE_INTERVAL_MS', 'HTTP_IDLE_TIMEOUT_MS'];
    const err = (() => {
      try {
        loadConfig(Object.fromEntries(timers.map((name) => [name, month])));
      } catch (e) {
        return e as ConfigError;
      }
      return expect.unreachable();
    })();
    expect(err.problems.map((p) => p.split(':')[0]).sort()).toEqual([...timers].sort());
    expect(err.problems[0]).toMatch(/must be at most 2147483647 ms/);
    // The longest one Node keeps is fine.
    expect(loadConfig({ UPLOAD_SWEEP_INTERVAL_MS: '2147483647' }).UPLOAD_SWEEP_INTERVAL_MS).toBe(2_147_483_647);
  });

  it('takes a retry schedule of plain whole milliseconds only: an empty entry (a stray comma) is refused, not a 0 ms retry', () => {
    for (const bad of ['5000,', '5000,,300000', ' ,5000', '0x10,1e3', '1.5', ',']) {
      expect(() => loadConfig({ WEBHOOK_RETRY_SCHEDULE_MS: bad }), bad).toThrow(/\nWEBHOOK_RETRY_SCHEDULE_MS: must be comma-separated non-negative milliseconds$/);
    }
    expect(loadConfig({ WEBHOOK_RETRY_SCHEDULE_MS: ' 0, 5000 ,300000' }).WEBHOOK_RETRY_SCHEDULE_MS).toEqual([0, 5000, 300000]);
  });

  it('says which schemes REDIS_URL takes', () => {
    expect(() => loadConfig({ REDIS_URL: 'http://foo' })).toThrow('REDIS_URL: must be a redis:// or rediss:// URL');
  });

  it('checks SIM_SCENARIO: one line per bad setting, or one saying it is not JSON; a good one is kept as given', () => {
    const problemsOf = (value: string) => {
      try {
        loadConfig({ SIM_SCENARIO: value });
        return [];
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).problems;
      }
    };
    const bad = problemsOf('{"renderShape":"zzz","heartbeatIntervalMs":-5}');
    expect(bad).toHaveLength(2);
    expect(bad.map((p) => p.split(':')[0]).sort()).toEqual(['SIM_SCENARIO.heartbeatIntervalMs', 'SIM_SCENARIO.renderShape']);
    expect(problemsOf('{"typo":true}')).toEqual([expect.stringMatching(/^SIM_SCENARIO: .*typo/)]);
    expect(problemsOf('{bad')).toEqual([expect.stringMatching(/^SIM_SCENARIO: must be a JSON object of scenario settings/)]);
    expect(loadConfig({ SIM_SCENARIO: '{"renderShape":"b"}' }).SIM_SCENARIO).toBe('{"renderShape":"b"}');
  });

  it('takes only http(s) URLs for the upstream, its web app and the simulator, while REDIS_URL keeps redis(s)://', () => {
    for (const name of ['NEMO_BASE_URL', 'NEMO_WEB_URL', 'SIM_PUBLIC_URL'] as const) {
      for (const value of ['redis://127.0.0.1:6379', 'rediss://cache.example:6380', 'ftp://files.example']) {
        try {
          loadConfig({ [name]: value });
          expect.unreachable(`${name}=${value} was accepted`);
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          expect((err as ConfigError).problems).toEqual([`${name}: must be an http(s) URL`]);
        }
      }
      expect(loadConfig({ [name]: 'http://127.0.0.1:4010' })[name]).toBe('http://127.0.0.1:4010');
    }
    expect(loadConfig({ REDIS_URL: 'redis://r:6379' }).REDIS_URL).toBe('redis://r:6379');
    expect(loadConfig({ REDIS_URL: 'rediss://r:6380' }).redis).toMatchObject({ mode: 'single', tls: true });
  });

  it('parses tenant:key pairs and hash-tagged prefixes', () => {
    const c = loadConfig({ API_KEYS: 'acme:0123456789abcdef, globex:fedcba9876543210', QUEUE_PREFIX: '{nemo-relay}' });
    expect(c.API_KEYS).toEqual([
      { tenant: 'acme', key: '0123456789abcdef' },
      { tenant: 'globex', key: 'fedcba9876543210' },
    ]);
    expect(c.QUEUE_PREFIX).toBe('{nemo-relay}');
  });

  it('refuses to start the API without keys unless auth is disabled', () => {
    expect(() => assertApiStartable(loadConfig({}))).toThrow(/API_KEYS/);
    expect(() => assertApiStartable(loadConfig({ AUTH_DISABLED: 'true' }))).not.toThrow();
  });
});
