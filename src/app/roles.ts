// The server roles (api, worker, all, sim): start them on shared services and stop them gracefully on SIGTERM/SIGINT.
import type { FastifyInstance } from 'fastify';
import { compose, type Container } from './compose.js';
import { assertApiStartable, type Config } from './config.js';
import { startFlowWorker, type FlowWorker } from '../flow/processor.js';
import { settlesWithin, warnIfRedisUnsafe } from './graceful-stop.js';
import type { Logger } from '../observability/logger.js';
import { startOpsServer, type OpsServer } from '../observability/ops-server.js';
import { logRedisConnection } from '../observability/redis-events.js';
import { bullmqConnection, createRedisClient, waitReady } from '../redis/client.js';
import { startRetentionSweeper } from '../domain/retention-sweeper.js';
import { startUploadSweeper } from '../uploads/sweeper.js';
import { startDeliveryWorker } from '../webhooks/queue.js';

export const ROLES = ['api', 'worker', 'all', 'sim'] as const;
export type Role = (typeof ROLES)[number];

export interface RunningRoles {
  services: Container | null;
  api: FastifyInstance | null;
  apiUrl: string | null;
  stop(): Promise<void>;
}

/** How long an API waits for Redis before it listens anyway (a healthy Redis answers in milliseconds). */
const API_REDIS_WAIT_MS = 2_000;

export async function startApi(services: Container): Promise<{ app: FastifyInstance; url: string }> {
  const { config } = services;
  assertApiStartable(config);
  // Fastify, the routes, OpenAPI and the console load only here: a worker-only process never pays for them.
  const [{ buildApp }, { httpDepsFrom }] = await Promise.all([import('../http/app.js'), import('./http-deps.js')]);
  const app = await buildApp(httpDepsFrom(services));
  // The request connection fails fast instead of queueing: take traffic once it is up. Not for long though: while
  // Redis cannot be reached the probes must answer (/healthz 200, /readyz 503 with the reason), and /v1 says 503.
  await waitReady(services.redis, API_REDIS_WAIT_MS).catch(() => services.logger.warn('redis is not ready; API requests answer 503 until it is'));
  const url = await app.listen({ port: config.PORT, host: config.HOST });
  // PORT=0 picks the port now: result links guessed from the listen address (no PUBLIC_BASE_URL) take the real one.
  services.outputs.listeningOn(Number(new URL(url).port) || config.PORT);
  return { app, url };
}

export async function startWorker(services: Container): Promise<{ stop(): Promise<void> }> {
  const { config } = services;
  void warnIfRedisUnsafe(services.redis, services.logger);
  // Every connection comes from the factory (one node, Sentinel or Cluster alike); BullMQ shares this one and
  // duplicates it for each worker's blocking fetch, but never closes it: stop() does, after the workers.
  const subscriber = createRedisClient(config.redis, 'subscriber', 'nemo-relay:cancel-subscriber');
  const connection = bullmqConnection(config.redis, 'blocking', 'nemo-relay:bullmq-worker');
  logRedisConnection(subscriber, services.logger, 'cancel-subscriber');
  logRedisConnection(connection, services.logger, 'bullmq-worker');
  const flow: FlowWorker = await startFlowWorker(services.flowDeps, {
    connection,
    concurrency: config.WORKER_CONCURRENCY,
    lockMs: config.WORKER_LOCK_MS,
    subscriber,
  });
  // One delivery worker per queue shard, sharing the process's WORKER_CONCURRENCY as the flow workers do.
  const { tags } = services.keys;
  const deliveries = tags.map((prefix) =>
    startDeliveryWorker((job, token) => services.deliveries.process(job, token), {
      connection,
      prefix,
      concurrency: Math.max(1, Math.ceil(config.WORKER_CONCURRENCY / tags.length)),
      logger: services.logger,
      lockMs: config.WORKER_LOCK_MS,
    }),
  );
  const uploadSweeper = startUploadSweeper(services.uploads, services.logger, config.UPLOAD_SWEEP_INTERVAL_MS);
  // Stored outputs whose job is gone, and partial files of copies that died (outputs that last).
  const outputSweeper = services.outputs.startSweeper();
  const retentionSweeper = startRetentionSweeper({
    ...services.erase,
    sweepDeletedTenants: () => services.tenants.store.sweepDeleted(),
    intervalMs: services.settings.retention.sweepIntervalMs,
    logger: services.logger.child({ component: 'retention' }),
  });
  return {
    async stop() {
      // Running jobs hand themselves back at their next step boundary; BullMQ's close stops fetching and waits for them.
      flow.drain();
      retentionSweeper.stop();
      const closing = Promise.allSettled([flow.close(), ...deliveries.map((d) => d.close()), uploadSweeper.stop(), outputSweeper.stop()]);
      if (!(await settlesWithin(closing, config.SHUTDOWN_GRACE_MS))) {
        const runningJobs = flow.runningCount;
        if (runningJobs > 0) services.logger.warn({ graceMs: config.SHUTDOWN_GRACE_MS, runningJobs }, 'steps still running at the deadline; handing their jobs back');
        // Nothing running, yet the queues did not close: their connections wait for a Redis that does not answer.
        else services.logger.warn({ graceMs: config.SHUTDOWN_GRACE_MS }, 'the queues did not close within the grace period (Redis unreachable?); closing them');
        // Aborted runs save their checkpoint and return the job to the queue (delayed by 0), so the next worker resumes it.
        // Webhook attempts still out (a job's first one, sent by its flow worker; the webhooks queue's) end too: each
        // is retried later, as a timeout would be.
        flow.abortAll();
        services.deliveries.abortSends();
        // One ABORT_SETTLE_MS in all after the grace, the forced close included: README's "grace + 10 s" keeps 2 s for
        // closing the connections and exiting (with exactly 10 s here a stop with Redis gone took grace + 10.07 s).
        if (!(await settlesWithin(closing, ABORT_SETTLE_MS - FORCE_CLOSE_MS))) {
          // With nothing running there were no jobs to hand back: only connections waiting for Redis, already warned of.
          if (runningJobs > 0) services.logger.error('workers did not stop after the abort; closing anyway (their jobs return as stalled)');
          else services.logger.warn('the queues still did not close; closing them without Redis');
          await settlesWithin(Promise.allSettled([flow.forceClose(), ...deliveries.map((d) => d.close(true))]), FORCE_CLOSE_MS);
        }
      }
      subscriber.disconnect();
      connection.disconnect();
    },
  };
}

/** After the abort, how long aborted runs get to save their checkpoint and hand their job back, a forced close included. */
const ABORT_SETTLE_MS = 8_000;
/** Of ABORT_SETTLE_MS, what a forced close of the workers may take at the end. */
const FORCE_CLOSE_MS = 2_000;

/** Closes the API: new connections are refused at once; open requests (uploads, event streams) get the grace period. */
async function closeApi(app: FastifyInstance, graceMs: number): Promise<void> {
  const closing = app.close();
  if (!(await settlesWithin(closing, graceMs))) {
    app.server.closeAllConnections();
    await settlesWithin(closing, ABORT_SETTLE_MS);
  }
}

export async function startRoles(role: Role, config: Config, logger: Logger): Promise<RunningRoles> {
  if (role === 'sim') {
    const { runSimulatorFromEnv } = await import('../sim/index.js');
    const sim = await runSimulatorFromEnv(
      {
        SIM_PORT: config.SIM_PORT,
        SIM_TIME_SCALE: config.SIM_TIME_SCALE,
        HOST: config.HOST,
        ...(config.SIM_SCENARIO ? { SIM_SCENARIO: config.SIM_SCENARIO } : {}),
        ...(config.SIM_PUBLIC_URL ? { SIM_PUBLIC_URL: config.SIM_PUBLIC_URL } : {}),
      },
      logger,
    );
    const running: RunningRoles = { services: null, api: null, apiUrl: null, stop: () => sim.close() };
    installSignals(running, logger);
    return running;
  }
  const services = compose(config, logger);
  let ops: OpsServer | null = null;
  let worker: Awaited<ReturnType<typeof startWorker>> | null = null;
  let api: Awaited<ReturnType<typeof startApi>> | null = null;
  // Stop taking requests and new jobs at once; in-flight work finishes or is handed back; then close Redis.
  const stop = async () => {
    await Promise.allSettled([api ? closeApi(api.app, config.SHUTDOWN_GRACE_MS) : null, worker?.stop()]);
    await services.close();
    await ops?.close();
  };
  // Start-up waits for Redis (a worker until it answers): a stop asked meanwhile stops what is up and exits 0.
  const startUp = stopDuringStartUp(logger, config.SHUTDOWN_GRACE_MS, stop);
  try {
    // A worker-only process has no API port, so it gets a small ops server for probes and /metrics (before Redis is awaited).
    ops =
      role === 'worker' && config.METRICS_PORT > 0
        ? await startOpsServer({
            port: config.METRICS_PORT,
            host: config.HOST,
            redis: services.redis,
            metrics: services.metrics,
            logger,
            // The worker is the role that writes outputs: its /readyz fails too when storage cannot be written.
            alsoReady: () => services.outputs.readiness(),
          })
        : null;
    if (role === 'worker' || role === 'all') worker = await startWorker(services);
    if (role === 'api' || role === 'all') api = await startApi(services);
  } catch (err) {
    // Start-up cut short by the stop (Redis closed under it): the stop exits the process, not this failure.
    if (!startUp.stopping()) throw err;
  }
  if (startUp.stopping()) return new Promise<never>(() => {});
  logger.info({ role, api: api?.url ?? null, worker: worker !== null, ops: ops?.url ?? null }, 'nemo-relay started');
  const running: RunningRoles = { services, api: api?.app ?? null, apiUrl: api?.url ?? null, stop };
  startUp.disarm();
  installSignals(running, logger);
  return running;
}

/**
 * SIGTERM/SIGINT before the roles are up: `close` what start-up has opened (bounded by the grace period) and exit 0,
 * as a stop of a running process does. Returns the function that hands the signals over to the running roles.
 */
function stopDuringStartUp(logger: Logger, graceMs: number, close: () => Promise<void>): { disarm: () => void; stopping: () => boolean } {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    // Still listening: a second signal is ignored, not Node's default (an exit at once, nothing handed back).
    if (stopping) return void logger.info({ signal }, 'already shutting down');
    stopping = true;
    logger.info({ signal }, 'shutting down before start-up finished');
    // The grace period, then as long again for what was handed back: as bounded as the stop of a running process.
    void settlesWithin(close(), 2 * graceMs + ABORT_SETTLE_MS).then(() => process.exit(0));
  };
  const disarm = () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return { disarm, stopping: () => stopping };
}

function installSignals(running: RunningRoles, logger: Logger): void {
  let stopping = false;
  const onSignal = (signal: string) => {
    // A second SIGTERM (compose, an impatient operator) or SIGINT (Ctrl-C twice) must not cut the hand-over short: with
    // `once`, Node's default action killed the process at once, its jobs left held until their locks ran out.
    if (stopping) return void logger.info({ signal }, 'already shutting down');
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
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
}
