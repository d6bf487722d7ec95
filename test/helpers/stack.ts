// The whole service in one test process: simulator, API and worker on port 0, on real Redis under a unique prefix.
import { rm } from 'node:fs/promises';
import { request } from 'undici';
import { isTerminal, type Job } from '../../src/jobs/schemas.js';
import { loadConfig } from '../../src/app/config.js';
import { createLogger, type Logger } from '../../src/observability/logger.js';
import { startApi, startWorker } from '../../src/app/roles.js';
import { compose as createServices, type Container as Services } from '../../src/app/compose.js';
import { createSimulator, type SimScenario, type Simulator } from '../../src/sim/index.js';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from './redis.js';
import { waitFor } from './wait.js';

export const TENANTS = {
  acme: 'acme-key-0123456789abcdef',
  globex: 'globex-key-0123456789abcdef',
} as const;

export interface Stack {
  sim: Simulator;
  services: Services;
  apiUrl: string;
  prefix: string;
  api<T = unknown>(method: string, path: string, body?: unknown, opts?: { key?: string; headers?: Record<string, string> }): Promise<{ status: number; body: T; headers: Record<string, string | string[] | undefined> }>;
  close(): Promise<void>;
}

export async function startStack(
  opts: {
    scenario?: Partial<SimScenario>;
    timeScale?: number;
    env?: Record<string, string>;
    worker?: boolean;
    /** The service's logger (e.g. one writing to a test's own stream); default: a pino logger at LOG_LEVEL. */
    logger?: Logger;
  } = {},
): Promise<Stack> {
  const sim = createSimulator({ timeScale: opts.timeScale ?? 0.001, scenario: opts.scenario });
  const simUrl = await sim.listen(0, '127.0.0.1');
  const prefix = uniquePrefix('stack');
  // Sentinel or Cluster in opts.env (test/helpers/redis-topology.ts `env`) replace the one-node REDIS_URL.
  const elsewhere = opts.env?.REDIS_SENTINELS !== undefined || opts.env?.REDIS_CLUSTER_NODES !== undefined;
  const config = loadConfig({
    ...(elsewhere ? {} : { REDIS_URL: TEST_REDIS_URL }),
    QUEUE_PREFIX: prefix,
    NEMO_BASE_URL: simUrl,
    API_KEYS: `acme:${TENANTS.acme},globex:${TENANTS.globex}`,
    PORT: '0',
    HOST: '127.0.0.1',
    WEBHOOK_ALLOW_PRIVATE: 'true',
    WEBHOOK_RETRY_SCHEDULE_MS: '50,100,200',
    WEBHOOK_TIMEOUT_MS: '2000',
    RECONCILE_INTERVAL_MS: '50',
    WORKER_LOCK_MS: '5000',
    UPLOAD_DIR: `./data/test-uploads/${prefix}`,
    // Output storage: the file driver in a directory of this stack's own, removed by close().
    STORAGE_URL: `file://./data/test-outputs/${prefix}`,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...opts.env,
  });
  const logger = opts.logger ?? createLogger(config.LOG_LEVEL);
  const services = createServices(config, logger);
  const worker = opts.worker === false ? null : await startWorker(services);
  const { app, url } = await startApi(services);
  return {
    sim,
    services,
    apiUrl: url,
    prefix,
    async api(method, path, body, o = {}) {
      const res = await request(url + path, {
        method: method as 'GET',
        headers: {
          authorization: `Bearer ${o.key ?? TENANTS.acme}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...o.headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.body.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      return { status: res.statusCode, body: parsed as never, headers: res.headers };
    },
    async close() {
      await app.close();
      await worker?.stop();
      await cleanupPrefix(services.blocking, config.QUEUE_PREFIX);
      await services.close();
      await sim.close();
      await rm(`./data/test-outputs/${prefix}`, { recursive: true, force: true });
    },
  };
}

/** Polls GET /v1/jobs/{id} until the job is succeeded, failed or canceled, and returns it. */
export async function waitForFinished(stack: Pick<Stack, 'api'>, id: string, timeoutMs = 45_000): Promise<Job> {
  return waitFor(
    async () => {
      const job = (await stack.api<Job>('GET', `/v1/jobs/${id}`)).body;
      return isTerminal(job.status) ? job : null;
    },
    { what: `job ${id} to finish`, timeoutMs },
  );
}
