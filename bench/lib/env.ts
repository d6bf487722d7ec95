// Shared benchmark setup: Redis URL, a unique key prefix per benchmark, the service environment and cleanup.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { pino } from 'pino';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { loadConfig, type Config } from '../../src/app/config.js';
import { createLogger, type Logger } from '../../src/observability/logger.js';
import { compose as createServices, type Container as Services } from '../../src/app/compose.js';
import { cleanupPrefix } from '../../test/helpers/redis.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const BENCH_TENANT = 'bench';
export const BENCH_KEY = 'bench-key-0123456789abcdef';
/**
 * The production default is info; logs go to /dev/null (children's stdout is discarded), so their cost is counted
 * but they do not flood the terminal. BENCH_LOG_LEVEL=warn shows what logging costs.
 */
export const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'info';

export function benchPrefix(label: string): string {
  return `nrbench-${label}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export function uploadDirFor(prefix: string): string {
  return `./data/bench-uploads/${prefix}`;
}

/** Where a benchmark's finished videos are stored (the file driver, as by default), removed by cleanup. */
export function outputDirFor(prefix: string): string {
  return `./data/bench-outputs/${prefix}`;
}

/**
 * The service environment every benchmark starts from (the same one for in-process and child-process roles).
 * `redisEnv` says where Redis is: the shared REDIS_URL by default, or a topology's own env (redis-topology.ts), which
 * for a cluster has no REDIS_URL at all (config refuses one next to REDIS_CLUSTER_NODES).
 */
export function serviceEnv(prefix: string, overrides: Record<string, string> = {}, redisEnv: Record<string, string> = { REDIS_URL }): Record<string, string> {
  return {
    ...redisEnv,
    QUEUE_PREFIX: prefix,
    API_KEYS: `${BENCH_TENANT}:${BENCH_KEY}`,
    PORT: '0',
    HOST: '127.0.0.1',
    WEBHOOK_ALLOW_PRIVATE: 'true',
    UPLOAD_DIR: uploadDirFor(prefix),
    STORAGE_URL: `file://${outputDirFor(prefix)}`,
    LOG_LEVEL,
    ...overrides,
    ...BENCH_SERVICE_ENV,
  };
}

/**
 * BENCH_SERVICE_ENV: a JSON object of settings laid over every benchmark's service environment, to measure what one
 * feature costs (`{"STORAGE_URL":"none"}`: no output mirror). Such runs are not the production configuration.
 */
export const BENCH_SERVICE_ENV = z.record(z.string(), z.string()).parse(JSON.parse(process.env.BENCH_SERVICE_ENV ?? '{}'));

/**
 * A logger that formats as in production but writes to /dev/null, or with BENCH_LOG_DIR to `<dir>/<pid>.log` (to see
 * what a job logs; the writes then cost what a file's do).
 */
export function quietLogger(level: string): Logger {
  const dir = z.string().min(1).optional().parse(process.env.BENCH_LOG_DIR);
  const dest = dir ? `${dir}/${process.pid}.log` : '/dev/null';
  return createLogger(level, 'nemo-relay', pino.destination({ dest, sync: true }));
}

export function configFrom(env: Record<string, string>): Config {
  return loadConfig(env);
}

export function inProcessServices(env: Record<string, string>): Services {
  const config = loadConfig(env);
  return createServices(config, quietLogger(config.LOG_LEVEL));
}

/**
 * The request connection has no offline queue (it fails fast), so a request that arrives before it has connected
 * gets a 500; benchmarks wait for it before sending traffic.
 */
export async function redisReady(services: Services): Promise<void> {
  for (const conn of [services.redis, services.blocking]) {
    if (conn.status !== 'ready') await once(conn, 'ready');
  }
}

/** Deletes every key of the benchmark's prefix (on `redisUrl`), its staged upload files and its stored outputs. */
export async function cleanup(prefix: string, redisUrl: string | null = REDIS_URL): Promise<void> {
  if (redisUrl) {
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
    try {
      await cleanupPrefix(redis, prefix);
    } finally {
      redis.disconnect();
    }
  }
  await rm(uploadDirFor(prefix), { recursive: true, force: true });
  await rm(outputDirFor(prefix), { recursive: true, force: true });
}
