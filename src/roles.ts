// The server roles (api, worker, all, sim): start them on shared services and stop them gracefully on SIGTERM/SIGINT.
import type { FastifyInstance } from 'fastify';
import { assertApiStartable, type Config } from './config.js';
import { startFlowWorker, type FlowWorker } from './flow/processor.js';
import { ApiKeys } from './http/auth.js';
import { buildApp } from './http/app.js';
import type { Logger } from './observability/logger.js';
import { createRedis } from './redis/connection.js';
import { createServices, type Services } from './services.js';
import { startDeliveryWorker } from './webhooks/dispatcher.js';
import { apiPlugins } from './http/plugins.js';

export const ROLES = ['api', 'worker', 'all', 'sim'] as const;
export type Role = (typeof ROLES)[number];

export interface RunningRoles {
  services: Services | null;
  api: FastifyInstance | null;
  apiUrl: string | null;
  stop(): Promise<void>;
}

export async function startApi(services: Services): Promise<{ app: FastifyInstance; url: string }> {
  const { config } = services;
  assertApiStartable(config);
  const app = await buildApp({
    config,
    logger: services.logger,
    redis: services.redis,
    keys: services.keys,
    apiKeys: new ApiKeys(config.API_KEYS ?? [], config.AUTH_DISABLED, config.ADMIN_API_KEY),
    store: services.store,
    jobs: services.jobs,
    plugins: apiPlugins(services),
  });
  const url = await app.listen({ port: config.PORT, host: config.HOST });
  return { app, url };
}

export async function startWorker(services: Services): Promise<{ stop(): Promise<void> }> {
  const { config } = services;
  const subscriber = createRedis(config.REDIS_URL, 'blocking', 'nemo-relay:cancel-subscriber');
  const connection = { url: config.REDIS_URL, maxRetriesPerRequest: null };
  const flow: FlowWorker = await startFlowWorker(services.flowDeps, {
    connection,
    prefix: config.QUEUE_PREFIX,
    concurrency: config.WORKER_CONCURRENCY,
    lockMs: config.WORKER_LOCK_MS,
    subscriber,
  });
  const deliveries = startDeliveryWorker(services.webhooks, {
    connection,
    prefix: config.QUEUE_PREFIX,
    concurrency: config.WORKER_CONCURRENCY,
    logger: services.logger,
  });
  return {
    async stop() {
      await Promise.allSettled([flow.close(), deliveries.close()]);
      subscriber.disconnect();
    },
  };
}

export async function startRoles(role: Role, config: Config, logger: Logger): Promise<RunningRoles> {
  if (role === 'sim') {
    const { runSimulatorFromEnv } = await import('./sim/index.js');
    const sim = await runSimulatorFromEnv({ SIM_PORT: config.SIM_PORT, SIM_TIME_SCALE: config.SIM_TIME_SCALE, HOST: config.HOST, SIM_SCENARIO: process.env.SIM_SCENARIO }, logger);
    logger.info({ url: sim.url }, 'NemoVideo simulator listening');
    const running: RunningRoles = { services: null, api: null, apiUrl: null, stop: () => sim.close() };
    installSignals(running, logger);
    return running;
  }
  const services = createServices(config, logger);
  const worker = role === 'worker' || role === 'all' ? await startWorker(services) : null;
  const api = role === 'api' || role === 'all' ? await startApi(services) : null;
  logger.info({ role, api: api?.url ?? null, worker: worker !== null }, 'nemo-relay started');
  const running: RunningRoles = {
    services,
    api: api?.app ?? null,
    apiUrl: api?.url ?? null,
    async stop() {
      // Stop taking requests first, then let workers finish or hand back their jobs, then close Redis.
      await api?.app.close();
      await worker?.stop();
      await services.close();
    },
  };
  installSignals(running, logger);
  return running;
}

function installSignals(running: RunningRoles, logger: Logger): void {
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    running.stop().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
}
