// Prometheus metrics on an own Registry: flow steps, upstream calls, webhook attempts, and Redis-backed gauges read on scrape.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The queue states shown as depth; the names BullMQ's getJobCounts uses. */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'paused', 'completed', 'failed'] as const;

export interface CountableQueue {
  name: string;
  getJobCounts(...states: string[]): Promise<Record<string, number>>;
}

/** One row of the jobs gauge. */
export interface JobCountRow {
  tenant: string;
  status: string;
  count: number;
}

export interface MetricsSources {
  /** Job counts per tenant and status, read at scrape time (through a fail-fast connection: a scrape never hangs). */
  jobCounts: () => Promise<JobCountRow[]>;
  queues: readonly CountableQueue[];
  version: string;
}

/** Label values, declared here so this module depends on nothing of the domain (the callers' names fit them). */
export type StepLabel = string;
export type EndpointLabel = string;
/** 'ok' or the upstream error kind. */
export type UpstreamOutcome = string;
export type WebhookOutcome = 'delivered' | 'failed' | 'exhausted' | 'gone' | 'refused';

export interface Metrics {
  registry: Registry;
  onStep(step: StepLabel, outcome: string, ms: number): void;
  onUpstreamCall(endpoint: EndpointLabel, outcome: UpstreamOutcome, ms: number): void;
  onWebhookAttempt(outcome: WebhookOutcome, ms: number): void;
  /** The exposition text and its content type. */
  render(): Promise<{ contentType: string; body: string }>;
}

/** Redis reads on scrape get this long; a slow Redis shows as nemo_relay_redis_up 0 rather than a hung scrape. */
const SCRAPE_TIMEOUT_MS = 1_500;

export function createMetrics(sources: MetricsSources): Metrics {
  const registry = new Registry();
  // Event-loop lag (nodejs_eventloop_lag_*), heap, GC, CPU and file descriptors, with prom-client's standard names.
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  new Gauge({ name: 'nemo_relay_build_info', help: 'Always 1; the version label says which build runs', labelNames: ['version'], registers }).set(
    { version: sources.version },
    1,
  );
  const stepDuration = new Histogram({
    name: 'nemo_relay_flow_step_duration_seconds',
    help: 'Duration of one flow step run (outcome ok, error, or aborted by a cancel or a shutdown); _count is the number of step runs',
    labelNames: ['step', 'outcome'],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900],
    registers,
  });
  const upstreamCalls = new Counter({
    name: 'nemo_relay_upstream_requests_total',
    help: 'Calls to the NemoVideo API by endpoint and outcome (ok or the error kind)',
    labelNames: ['endpoint', 'outcome'],
    registers,
  });
  const upstreamDuration = new Histogram({
    name: 'nemo_relay_upstream_request_duration_seconds',
    help: 'Latency of calls to the NemoVideo API (agent streams: until the stream ended)',
    labelNames: ['endpoint', 'outcome'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120, 600],
    registers,
  });
  const webhookAttempts = new Counter({
    name: 'nemo_relay_webhook_attempts_total',
    help: 'Webhook delivery attempts by outcome: delivered (2xx), failed (retried), exhausted (failed, no retry left), gone (410, stops), refused (target not allowed)',
    labelNames: ['outcome'],
    registers,
  });
  const webhookDuration = new Histogram({
    name: 'nemo_relay_webhook_attempt_duration_seconds',
    help: 'Duration of webhook delivery attempts',
    labelNames: ['outcome'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15],
    registers,
  });

  const scrape = scrapeOnce(sources);
  new Gauge({
    name: 'nemo_relay_redis_up',
    help: '1 when the Redis reads of the last scrape succeeded, else 0',
    registers,
    async collect() {
      this.set((await scrape()).ok ? 1 : 0);
    },
  });
  new Gauge({
    name: 'nemo_relay_jobs',
    help: 'Jobs by tenant and status, read from the per-tenant status sets in Redis at scrape time',
    labelNames: ['tenant', 'status'],
    registers,
    async collect() {
      const snapshot = await scrape();
      this.reset();
      for (const row of snapshot.jobs) this.set({ tenant: row.tenant, status: row.status }, row.count);
    },
  });
  new Gauge({
    name: 'nemo_relay_queue_jobs',
    help: 'BullMQ queue depth by queue (flow, webhooks) and state, read at scrape time',
    labelNames: ['queue', 'state'],
    registers,
    async collect() {
      const snapshot = await scrape();
      this.reset();
      for (const row of snapshot.queues) this.set({ queue: row.queue, state: row.state }, row.count);
    },
  });

  return {
    registry,
    onStep(step, outcome, ms) {
      stepDuration.observe({ step, outcome }, ms / 1000);
    },
    onUpstreamCall(endpoint, outcome, ms) {
      upstreamCalls.inc({ endpoint, outcome });
      upstreamDuration.observe({ endpoint, outcome }, ms / 1000);
    },
    onWebhookAttempt(outcome, ms) {
      webhookAttempts.inc({ outcome });
      webhookDuration.observe({ outcome }, ms / 1000);
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

/** One queue name and state with its depth, every shard of that queue added up. */
export interface QueueDepthRow {
  queue: string;
  state: (typeof QUEUE_STATES)[number];
  count: number;
}

interface Snapshot {
  ok: boolean;
  jobs: { tenant: string; status: string; count: number }[];
  queues: QueueDepthRow[];
}

/** One Redis read per scrape, shared by every gauge that needs it (prom-client collects all gauges at once). */
function scrapeOnce(sources: MetricsSources): () => Promise<Snapshot> {
  let current: { at: number; promise: Promise<Snapshot> } | null = null;
  return () => {
    if (!current || Date.now() - current.at > 250) current = { at: Date.now(), promise: readSnapshot(sources) };
    return current.promise;
  };
}

async function readSnapshot(sources: MetricsSources): Promise<Snapshot> {
  const [jobs, queues] = await Promise.allSettled([
    withTimeout(sources.jobCounts(), SCRAPE_TIMEOUT_MS),
    withTimeout(readQueueDepths(sources.queues), SCRAPE_TIMEOUT_MS),
  ]);
  return {
    ok: jobs.status === 'fulfilled' && queues.status === 'fulfilled',
    jobs: jobs.status === 'fulfilled' ? jobs.value : [],
    queues: queues.status === 'fulfilled' ? queues.value : [],
  };
}

/**
 * Per queue name and state: the shards of one queue (QUEUE_SHARDS, same name under each shard's prefix) add up. One
 * getJobCounts (one Redis round trip) per queue and shard; the operator overview reads the same rows.
 */
export async function readQueueDepths(queues: readonly CountableQueue[]): Promise<QueueDepthRow[]> {
  const rows = new Map<string, QueueDepthRow>();
  for (const queue of queues) {
    const counts = await queue.getJobCounts(...QUEUE_STATES);
    for (const state of QUEUE_STATES) {
      const key = `${queue.name}\u0000${state}`;
      const row = rows.get(key) ?? { queue: queue.name, state, count: 0 };
      row.count += counts[state] ?? 0;
      rows.set(key, row);
    }
  }
  return [...rows.values()];
}

/** The promise, or a rejection once `ms` have passed (the promise itself is not stopped). */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  // A late rejection of the losing promise must not become an unhandled rejection.
  promise.catch(() => {});
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
