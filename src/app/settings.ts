// The configuration cut into small per-part settings objects: each collaborator gets only the part it uses.
import type { Config } from './config.js';
import { INLINE_WAIT_MAX_MS, type FlowSettings } from '../flow/context.js';
import type { RedisSettings } from '../redis/settings.js';

export interface Settings {
  flow: FlowSettings;
  api: { port: number; host: string; bodyLimit: number; uploadMaxBytes: number; idleTimeoutMs: number; requestTimeoutMs: number };
  worker: { concurrency: number; lockMs: number; shutdownGraceMs: number; metricsPort: number };
  webhooks: { allowPrivate: boolean; timeoutMs: number; schedule: number[]; fixedSecret: string | undefined; secretGraceMs: number };
  uploads: { dir: string; maxBytes: number; sweepIntervalMs: number };
  /** How long ended jobs are kept (a tenant may set its own) and how often the sweeper erases the expired ones. */
  retention: { jobMs: number; sweepIntervalMs: number };
  upstream: {
    baseUrl: string;
    skill: { source: string; version: string; platform: string };
    staticToken: string | undefined;
    clientId: string | undefined;
    /** NemoVideo's web app, where claim (registration) links point. */
    webUrl: string;
  };
  /** Where Redis is (one node, Sentinel or Cluster) and the key prefix its QUEUE_SHARDS tags derive from. */
  redis: { connection: RedisSettings; prefix: string };
}

/** The JSON body limit of the API (contract: a body over 1 MiB is 413 PAYLOAD_TOO_LARGE). */
export const BODY_LIMIT_BYTES = 1_048_576;

export function settingsFrom(config: Config): Settings {
  return {
    flow: {
      sseIdleMs: config.NEMO_SSE_IDLE_MS,
      sseMaxMs: config.NEMO_SSE_MAX_MS,
      reconcileIntervalMs: config.RECONCILE_INTERVAL_MS,
      reconcileMaxUnchanged: config.RECONCILE_MAX_UNCHANGED,
      creditsRecheckMs: config.CREDITS_RECHECK_MS,
      creditsMaxWaitMs: config.CREDITS_MAX_WAIT_MS,
      queuedSweepIntervalMs: config.QUEUED_SWEEP_INTERVAL_MS,
      queuedSweepAgeMs: config.QUEUED_SWEEP_AGE_MS,
      rateLimitMaxWaitMs: config.UPSTREAM_RATE_LIMIT_MAX_WAIT_MS,
      inlineWaitMaxMs: INLINE_WAIT_MAX_MS,
    },
    api: { port: config.PORT, host: config.HOST, bodyLimit: BODY_LIMIT_BYTES, uploadMaxBytes: config.UPLOAD_MAX_BYTES, idleTimeoutMs: config.HTTP_IDLE_TIMEOUT_MS, requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT_MS },
    worker: {
      concurrency: config.WORKER_CONCURRENCY,
      lockMs: config.WORKER_LOCK_MS,
      shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
      metricsPort: config.METRICS_PORT,
    },
    webhooks: {
      allowPrivate: config.WEBHOOK_ALLOW_PRIVATE,
      timeoutMs: config.WEBHOOK_TIMEOUT_MS,
      schedule: config.WEBHOOK_RETRY_SCHEDULE_MS,
      fixedSecret: config.WEBHOOK_SECRET,
      secretGraceMs: config.WEBHOOK_SECRET_GRACE_MS,
    },
    uploads: { dir: config.UPLOAD_DIR, maxBytes: config.UPLOAD_MAX_BYTES, sweepIntervalMs: config.UPLOAD_SWEEP_INTERVAL_MS },
    retention: { jobMs: config.JOB_RETENTION_MS, sweepIntervalMs: config.RETENTION_SWEEP_INTERVAL_MS },
    upstream: {
      baseUrl: config.NEMO_BASE_URL,
      skill: { source: config.NEMO_SKILL_SOURCE, version: config.NEMO_SKILL_VERSION, platform: config.NEMO_SKILL_PLATFORM },
      staticToken: config.NEMO_TOKEN,
      clientId: config.NEMO_CLIENT_ID,
      webUrl: config.NEMO_WEB_URL,
    },
    redis: { connection: config.redis, prefix: config.QUEUE_PREFIX },
  };
}
