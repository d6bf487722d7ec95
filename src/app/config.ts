// The environment, validated once with zod into a frozen Config; nothing else reads process.env.
import { z } from 'zod';
import { redisEnvProblems, redisEnvShape, redisSettingsFrom, type RedisSettings } from '../redis/settings.js';
import { storageEnvShape } from '../storage/settings.js';
import { decodeSecretsKey } from '../tenants/secret-box.js';
import { PACKAGE_VERSION } from '../core/version.js';
import { workerV8FlagsSchema } from './v8-flags.js';
import { heapReleaseSchema } from '../observability/heap-release.js';
import { simScenarioEnvSchema } from '../sim/scenario.js';
import { WEBHOOK_SECRET_PATTERN, WEBHOOK_SECRET_RULE } from '../webhooks/signing.js';
import { MAX_RETENTION_MS, NEW_TENANT_ID_PATTERN } from '../tenants/schemas.js';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
/**
 * A setting that becomes a Node timer (setInterval, setTimeout, a socket timeout): Node turns anything past 2^31-1 ms
 * into 1 ms with only a warning, so a monthly sweep interval would run its sweep every millisecond.
 */
const MAX_TIMER_MS = 2_147_483_647;
const timerMs = (min: number) => int(min).max(MAX_TIMER_MS, `must be at most ${MAX_TIMER_MS} ms (about 24.8 days, the longest timer Node keeps)`);
// The upstream, its web app and the simulator's public address are fetched or linked over HTTP only (Redis URLs have
// their own check in redis/settings.ts).
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

/** Comma-separated `tenant:key` pairs → array; a key shorter than 16 characters is refused. */
const apiKeys = z
  .string()
  .transform((raw, ctx) => {
    const pairs: { tenant: string; key: string }[] = [];
    for (const item of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
      const at = item.indexOf(':');
      const tenant = at > 0 ? item.slice(0, at) : '';
      const key = at > 0 ? item.slice(at + 1) : '';
      if (!NEW_TENANT_ID_PATTERN.test(tenant) || key.length < 16) {
        ctx.addIssue({ code: 'custom', message: 'each entry must be tenant:key (tenant [A-Za-z0-9_.-], not . or .., key ≥ 16 chars)' });
        return z.NEVER;
      }
      const same = pairs.find((p) => p.key === key);
      if (same) {
        // Never echoed: the key is a secret. A shared key authenticates as its first tenant only.
        ctx.addIssue({ code: 'custom', message: `each key may appear once (tenants ${same.tenant} and ${tenant} were given the same key)` });
        return z.NEVER;
      }
      pairs.push({ tenant, key });
    }
    return pairs;
  });

/** The admin key must not also be a tenant's: anyone holding that tenant's key would be the operator. */
function adminKeyProblems(env: { API_KEYS?: { tenant: string; key: string }[] | undefined; ADMIN_API_KEY?: string | undefined }): Problem[] {
  const shared = env.ADMIN_API_KEY !== undefined ? env.API_KEYS?.find((p) => p.key === env.ADMIN_API_KEY) : undefined;
  return shared ? [{ path: 'ADMIN_API_KEY', message: `must differ from every key in API_KEYS (it is tenant ${shared.tenant}'s key)` }] : [];
}

interface Problem {
  path: string;
  message: string;
}

/** 32 random bytes in base64 (AES-256-GCM key for tenants' upstream tokens); checked by decoding, one line if wrong. */
const SECRETS_KEY_HINT = 'must be 32 random bytes in base64 (make one: openssl rand -base64 32)';
const secretsKeyText = (text: string) => decodeSecretsKey(text) !== null;
const secretsKey = z.string().refine(secretsKeyText, SECRETS_KEY_HINT);
/** Older keys, comma-separated, still accepted for opening (never for sealing) while records are re-sealed. */
const secretsKeyList = z
  .string()
  .transform((raw) => raw.split(',').map((s) => s.trim()).filter(Boolean))
  .refine((keys) => keys.every(secretsKeyText), `each key ${SECRETS_KEY_HINT}`);

/** A comma-separated list of durations in ms, e.g. the webhook retry schedule. */
const msList = z.string().transform((raw, ctx) => {
  const parts = raw.split(',').map((s) => s.trim());
  // Plain decimal integers only: Number('') is 0, so a stray comma added an immediate retry, and '0x10' or '1e3' passed.
  const values = parts.map((s) => (/^\d+$/.test(s) ? Number(s) : NaN));
  if (values.length === 0 || values.some((n) => !Number.isSafeInteger(n))) {
    ctx.addIssue({ code: 'custom', message: 'must be comma-separated non-negative milliseconds' });
    return z.NEVER;
  }
  return values;
});

export const envSchema = z.object({
  PORT: int(0, 65535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  HTTP_IDLE_TIMEOUT_MS: timerMs(1000).default(60_000),
  HTTP_REQUEST_TIMEOUT_MS: timerMs(1000).default(3_600_000),
  EVENT_STREAMS_PER_TENANT: int(1).default(500),
  // Where Redis is (src/redis/settings.ts: one node, Sentinel or Cluster), one line each so .ci/check-compose.sh sees
  // every name. REDIS_URL has no default here: set next to sentinels or cluster nodes it is an error (loadConfig).
  REDIS_URL: redisEnvShape.REDIS_URL,
  REDIS_PASSWORD: redisEnvShape.REDIS_PASSWORD,
  REDIS_TLS: redisEnvShape.REDIS_TLS,
  REDIS_SENTINELS: redisEnvShape.REDIS_SENTINELS,
  REDIS_SENTINEL_NAME: redisEnvShape.REDIS_SENTINEL_NAME,
  REDIS_SENTINEL_PASSWORD: redisEnvShape.REDIS_SENTINEL_PASSWORD,
  REDIS_CLUSTER_NODES: redisEnvShape.REDIS_CLUSTER_NODES,
  QUEUE_SHARDS: redisEnvShape.QUEUE_SHARDS,
  REDIS_WAIT_REPLICAS: redisEnvShape.REDIS_WAIT_REPLICAS,
  REDIS_WAIT_TIMEOUT_MS: redisEnvShape.REDIS_WAIT_TIMEOUT_MS,
  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_{}:.-]{1,64}$/, 'letters, digits, _ - . : and {} only').default('nemo-relay'),
  NEMO_BASE_URL: httpUrl.default('https://mega-api-prod.nemovideo.ai'),
  NEMO_TOKEN: z.string().min(8).optional(),
  NEMO_CLIENT_ID: z.string().min(1).max(64).optional(),
  NEMO_SKILL_SOURCE: z.string().min(1).max(64).default('nemo-relay'),
  NEMO_SKILL_VERSION: z.string().min(1).max(32).default(PACKAGE_VERSION),
  NEMO_SKILL_PLATFORM: z.string().min(1).max(32).default('unknown'),
  NEMO_SSE_IDLE_MS: timerMs(1000).default(600_000),
  NEMO_SSE_MAX_MS: timerMs(1000).default(900_000),
  NEMO_WEB_URL: httpUrl.default('https://nemovideo.com'),
  UPSTREAM_RATE_LIMIT_MAX_WAIT_MS: int(0).default(600_000),
  API_KEYS: apiKeys.optional(),
  ADMIN_API_KEY: z.string().min(16).optional(),
  AUTH_DISABLED: bool.default(false),
  SECRETS_KEY: secretsKey.optional(),
  SECRETS_KEY_PREVIOUS: secretsKeyList.optional(),
  WEBHOOK_SECRET: z.string().regex(WEBHOOK_SECRET_PATTERN, WEBHOOK_SECRET_RULE).optional(),
  WEBHOOK_ALLOW_PRIVATE: bool.default(false),
  WEBHOOK_TIMEOUT_MS: timerMs(100).default(15_000),
  WEBHOOK_RETRY_SCHEDULE_MS: msList.default([5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]),
  WEBHOOK_SECRET_GRACE_MS: int(0).default(86_400_000),
  WORKER_CONCURRENCY: int(1, 100_000).default(50),
  MAX_RUNNING_JOBS: int(1, 1_000_000).default(100),
  JOB_RETENTION_MS: int(1000, MAX_RETENTION_MS).default(30 * 24 * 3600 * 1000),
  RETENTION_SWEEP_INTERVAL_MS: timerMs(10).default(60_000),
  WORKER_LOCK_MS: timerMs(1000).default(30_000),
  RECONCILE_INTERVAL_MS: timerMs(10).default(30_000),
  RECONCILE_MAX_UNCHANGED: int(1, 100).default(10),
  CREDITS_RECHECK_MS: timerMs(10).default(60_000),
  CREDITS_MAX_WAIT_MS: int(0).default(21_600_000),
  QUEUED_SWEEP_INTERVAL_MS: timerMs(10).default(60_000),
  QUEUED_SWEEP_AGE_MS: int(0).default(60_000),
  UPLOAD_DIR: z.string().min(1).default('./data/uploads'),
  UPLOAD_MAX_BYTES: int(1).default(209_715_200),
  UPLOAD_SWEEP_INTERVAL_MS: timerMs(1000).default(600_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // Read by the worker before anything else loads (src/v8-flags.ts, observability/heap-release.ts); checked here too.
  NEMO_WORKER_V8_FLAGS: workerV8FlagsSchema,
  NEMO_WORKER_HEAP_RELEASE: heapReleaseSchema,
  SIM_PORT: int(0, 65535).default(4010),
  SIM_TIME_SCALE: z.coerce.number().min(0).max(1000).default(1),
  SIM_PUBLIC_URL: httpUrl.optional(),
  SIM_SCENARIO: simScenarioEnvSchema.optional(),
  METRICS_PORT: int(0, 65535).default(9090),
  SHUTDOWN_GRACE_MS: int(0, 3_600_000).default(25_000),
  // Output storage (src/storage/settings.ts), one line each so .ci/check-compose.sh sees every name.
  STORAGE_URL: storageEnvShape.STORAGE_URL,
  S3_ENDPOINT: storageEnvShape.S3_ENDPOINT,
  S3_REGION: storageEnvShape.S3_REGION,
  S3_FORCE_PATH_STYLE: storageEnvShape.S3_FORCE_PATH_STYLE,
  OUTPUT_URL_TTL_MS: storageEnvShape.OUTPUT_URL_TTL_MS,
  PUBLIC_BASE_URL: storageEnvShape.PUBLIC_BASE_URL,
});

export type Env = z.infer<typeof envSchema>;

/**
 * The validated environment, plus where Redis is as one value (every connection is built from `redis` by
 * redis/client.ts). REDIS_URL is the one-node URL (its default included), undefined under Sentinel or Cluster.
 */
export type Config = Readonly<Env & { redis: RedisSettings }>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** The variables that parse on their own (each with its default): what the checks across variables look at. */
function partialEnv(cleaned: Record<string, string | undefined>): Partial<Env> {
  const values: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(envSchema.shape)) {
    const one = (field as z.ZodType).safeParse(cleaned[name]);
    if (one.success) values[name] = one.data;
  }
  return values as Partial<Env>;
}

/**
 * Parses an environment record; throws ConfigError listing one line per problem: every variable's own, and those
 * across variables (REDIS_URL next to sentinels, the admin key equal to a tenant's…) even when some variable is bad
 * too, so a start-up names everything to fix at once. `role`: an API role (api, all) adds its own requirement.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env, opts: { role?: string } = {}): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  const values = parsed.success ? parsed.data : partialEnv(cleaned);
  const own: Problem[] = parsed.success ? [] : parsed.error.issues.map((i) => ({ path: i.path.join('.') || '(env)', message: i.message }));
  // A check across variables runs when each variable it reads is good on its own: a bad one is named once, for what
  // is wrong with it, and its absence would only make the check say something beside the point.
  const bad = new Set(own.map((o) => o.path.split('.')[0]));
  const good = (names: readonly string[]) => names.every((n) => !bad.has(n));
  const across = [
    ...(good(Object.keys(redisEnvShape).concat('QUEUE_PREFIX')) ? redisEnvProblems(values) : []),
    ...(good(['API_KEYS', 'ADMIN_API_KEY']) ? adminKeyProblems(values) : []),
    ...(isApiRole(opts.role) && good(['API_KEYS', 'ADMIN_API_KEY', 'AUTH_DISABLED']) ? apiStartProblems(values) : []),
  ];
  const problems = [...own, ...across];
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems.map((p) => `${p.path}: ${p.message}`));
  const redis = redisSettingsFrom(parsed.data);
  return Object.freeze({ ...parsed.data, REDIS_URL: redis.mode === 'single' ? redis.url : undefined, redis });
}

const isApiRole = (role: string | undefined) => role === 'api' || role === 'all';

/**
 * The API refuses to start without keys unless auth is explicitly disabled (contract §1). With ADMIN_API_KEY alone it
 * starts: tenants and their keys can then be made through /admin/tenants.
 */
function apiStartProblems(env: Pick<Partial<Env>, 'AUTH_DISABLED' | 'API_KEYS' | 'ADMIN_API_KEY'>): Problem[] {
  if (!env.AUTH_DISABLED && (!env.API_KEYS || env.API_KEYS.length === 0) && !env.ADMIN_API_KEY) {
    return [{ path: 'API_KEYS', message: 'required for the api role unless ADMIN_API_KEY is set (tenants made through /admin/tenants) or AUTH_DISABLED=true' }];
  }
  return [];
}

export function assertApiStartable(config: Config): void {
  const problems = apiStartProblems(config);
  if (problems.length > 0) throw new ConfigError(problems.map((p) => `${p.path}: ${p.message}`));
}
