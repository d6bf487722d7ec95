// Where Redis is (one node, Sentinel or Cluster), validated from the environment into one RedisSettings value.
import { z } from 'zod';
import { MAX_SHARDS } from './shard-ids.js';

export const REDIS_MODES = ['single', 'sentinel', 'cluster'] as const;
export type RedisMode = (typeof REDIS_MODES)[number];

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
/** Job ids carry their shard in one Crockford base32 character (see shard-ids.ts), so 32 shards at most. */
export const MAX_QUEUE_SHARDS = MAX_SHARDS;

export interface HostPort {
  host: string;
  port: number;
}

interface CommonSettings {
  /** Password of the data nodes (REDIS_PASSWORD; for a single node it may also come inside REDIS_URL). */
  password?: string;
  /** TLS to the data nodes: rediss:// for a single node, REDIS_TLS=true for Sentinel and Cluster. */
  tls: boolean;
  /** How many hash-tagged shards the queues are split into (QUEUE_SHARDS). */
  shards: number;
  /** Replicas that WAIT asks for after a checkpoint that must survive a failover (0 = do not wait). */
  waitReplicas: number;
  waitTimeoutMs: number;
}

export type RedisSettings =
  | (CommonSettings & { mode: 'single'; url: string })
  | (CommonSettings & { mode: 'sentinel'; sentinels: HostPort[]; sentinelName: string; sentinelPassword?: string })
  | (CommonSettings & { mode: 'cluster'; nodes: HostPort[] });

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** `host:port,host:port` (IPv6 as `[::1]:port`) → list; one bad entry fails the whole variable. */
const hostPortList = z.string().transform((raw, ctx) => {
  const out: HostPort[] = [];
  for (const item of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/.exec(item);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) {
      ctx.addIssue({ code: 'custom', message: `"${item}" is not host:port` });
      return z.NEVER;
    }
    out.push({ host: m[1]!.replace(/^\[|\]$/g, ''), port });
  }
  if (out.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'needs at least one host:port' });
    return z.NEVER;
  }
  return out;
});

/**
 * The Redis part of the environment schema, to spread into config.ts's z.object (together with `redisEnvRefine`).
 * REDIS_URL has no default here on purpose: a REDIS_URL set next to sentinels or cluster nodes is an error, and only an
 * unset value can be told apart from the default. `redisSettingsFrom` applies the default.
 */
export const redisEnvShape = {
  REDIS_URL: z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' }).optional(),
  REDIS_PASSWORD: z.string().min(1).optional(),
  REDIS_TLS: bool.optional(),
  REDIS_SENTINELS: hostPortList.optional(),
  REDIS_SENTINEL_NAME: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ - . only').optional(),
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
  REDIS_CLUSTER_NODES: hostPortList.optional(),
  QUEUE_SHARDS: int(1, MAX_QUEUE_SHARDS).default(1),
  REDIS_WAIT_REPLICAS: int(0, 64).optional(),
  REDIS_WAIT_TIMEOUT_MS: int(0, 60_000).default(100),
};

const redisEnvObject = z.object(redisEnvShape);
export type RedisEnv = z.infer<typeof redisEnvObject>;

/** The checks across variables; each problem is one issue on the variable to fix (so one line in ConfigError). */
export function redisEnvProblems(env: Partial<RedisEnv> & { QUEUE_PREFIX?: string | undefined }): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  const sentinel = env.REDIS_SENTINELS !== undefined;
  const cluster = env.REDIS_CLUSTER_NODES !== undefined;
  // Two places for the data is ambiguous: refusing to start beats writing jobs to a store nobody is watching. Which
  // one was meant is then unknown, so the checks of one topology only (below) would be noise next to this line.
  const ambiguous = sentinel && cluster;
  if (ambiguous) problems.push({ path: 'REDIS_CLUSTER_NODES', message: 'set either REDIS_SENTINELS or REDIS_CLUSTER_NODES, not both' });
  if (env.REDIS_URL !== undefined && (sentinel || cluster)) {
    problems.push({ path: 'REDIS_URL', message: `unset it: ${sentinel ? 'REDIS_SENTINELS' : 'REDIS_CLUSTER_NODES'} already says where Redis is` });
  }
  if (sentinel && !ambiguous && env.REDIS_SENTINEL_NAME === undefined) problems.push({ path: 'REDIS_SENTINEL_NAME', message: 'required with REDIS_SENTINELS' });
  if (!sentinel && env.REDIS_SENTINEL_NAME !== undefined) problems.push({ path: 'REDIS_SENTINEL_NAME', message: 'only used with REDIS_SENTINELS' });
  if (!sentinel && env.REDIS_SENTINEL_PASSWORD !== undefined) problems.push({ path: 'REDIS_SENTINEL_PASSWORD', message: 'only used with REDIS_SENTINELS' });
  if (env.REDIS_URL !== undefined && env.REDIS_PASSWORD !== undefined && new URL(env.REDIS_URL).password !== '') {
    problems.push({ path: 'REDIS_PASSWORD', message: 'REDIS_URL already carries a password; set it in one place' });
  }
  if (env.REDIS_URL !== undefined && env.REDIS_TLS !== undefined) problems.push({ path: 'REDIS_TLS', message: 'for one node use a rediss:// REDIS_URL instead' });
  // Cluster refuses scripts and MULTI across slots: every key of a queue must share one {hash tag}.
  if (cluster && !ambiguous && env.QUEUE_SHARDS === 1 && env.QUEUE_PREFIX !== undefined && !/\{[^}]+\}/.test(env.QUEUE_PREFIX)) {
    problems.push({ path: 'QUEUE_PREFIX', message: `on Redis Cluster wrap it in a hash tag (e.g. {${env.QUEUE_PREFIX}}) or set QUEUE_SHARDS ≥ 2` });
  }
  return problems;
}

/** For config.ts: `z.object({...base, ...redisEnvShape}).superRefine(redisEnvRefine)`. */
export function redisEnvRefine(env: RedisEnv & { QUEUE_PREFIX?: string }, ctx: z.RefinementCtx): void {
  for (const p of redisEnvProblems(env)) ctx.addIssue({ code: 'custom', path: [p.path], message: p.message });
}

/** The validated environment → settings (assumes redisEnvProblems found nothing). */
export function redisSettingsFrom(env: RedisEnv): RedisSettings {
  const common = {
    ...(env.REDIS_PASSWORD !== undefined ? { password: env.REDIS_PASSWORD } : {}),
    shards: env.QUEUE_SHARDS,
    waitTimeoutMs: env.REDIS_WAIT_TIMEOUT_MS,
  };
  // Replicated topologies wait for one replica by default, so an acknowledged checkpoint survives a failover.
  if (env.REDIS_SENTINELS) {
    return {
      ...common,
      mode: 'sentinel',
      sentinels: env.REDIS_SENTINELS,
      sentinelName: env.REDIS_SENTINEL_NAME ?? '',
      ...(env.REDIS_SENTINEL_PASSWORD !== undefined ? { sentinelPassword: env.REDIS_SENTINEL_PASSWORD } : {}),
      tls: env.REDIS_TLS ?? false,
      waitReplicas: env.REDIS_WAIT_REPLICAS ?? 1,
    };
  }
  if (env.REDIS_CLUSTER_NODES) {
    return { ...common, mode: 'cluster', nodes: env.REDIS_CLUSTER_NODES, tls: env.REDIS_TLS ?? false, waitReplicas: env.REDIS_WAIT_REPLICAS ?? 1 };
  }
  const url = env.REDIS_URL ?? DEFAULT_REDIS_URL;
  return { ...common, mode: 'single', url, tls: url.startsWith('rediss:'), waitReplicas: env.REDIS_WAIT_REPLICAS ?? 0 };
}

export class RedisSettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid redis configuration:\n${problems.join('\n')}`);
    this.name = 'RedisSettingsError';
  }
}

/** Standalone parse (tests, tools): raw env → settings, or RedisSettingsError with one line per problem. */
export function parseRedisSettings(raw: Record<string, string | undefined>): RedisSettings {
  const cleaned = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = redisEnvObject.safeParse(cleaned);
  if (!parsed.success) throw new RedisSettingsError(parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  const problems = redisEnvProblems({ ...parsed.data, ...(raw.QUEUE_PREFIX ? { QUEUE_PREFIX: raw.QUEUE_PREFIX } : {}) });
  if (problems.length > 0) throw new RedisSettingsError(problems.map((p) => `${p.path}: ${p.message}`));
  return redisSettingsFrom(parsed.data);
}

/** The environment that describes `settings` (test helpers hand it to child processes). */
export function redisEnvOf(settings: RedisSettings): Record<string, string> {
  const list = (hs: HostPort[]) => hs.map((h) => (h.host.includes(':') ? `[${h.host}]:${h.port}` : `${h.host}:${h.port}`)).join(',');
  const env: Record<string, string> = {
    QUEUE_SHARDS: String(settings.shards),
    REDIS_WAIT_REPLICAS: String(settings.waitReplicas),
    REDIS_WAIT_TIMEOUT_MS: String(settings.waitTimeoutMs),
  };
  if (settings.password !== undefined) env.REDIS_PASSWORD = settings.password;
  if (settings.mode === 'single') env.REDIS_URL = settings.url;
  else if (settings.tls) env.REDIS_TLS = 'true';
  if (settings.mode === 'sentinel') {
    env.REDIS_SENTINELS = list(settings.sentinels);
    env.REDIS_SENTINEL_NAME = settings.sentinelName;
    if (settings.sentinelPassword !== undefined) env.REDIS_SENTINEL_PASSWORD = settings.sentinelPassword;
  }
  if (settings.mode === 'cluster') env.REDIS_CLUSTER_NODES = list(settings.nodes);
  return env;
}
