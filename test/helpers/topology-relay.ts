// nemo-relay on a real Redis topology (redis-topology.ts): tenants on every shard, worker children, exactly-once checks.
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import type { Job } from '../../src/jobs/schemas.js';
import { isTerminal } from '../../src/jobs/schemas.js';
import { shardOfTenant } from '../../src/redis/shard-ids.js';
import type { SimScenario } from '../../src/sim/index.js';
import type { Topology } from './redis-topology.js';
import { startStack, TENANTS, type Stack } from './stack.js';
import { waitFor } from './wait.js';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.js';

/** One tenant per shard of a 3-shard deployment (`acme` first: the stack's default caller), picked by their hash. */
export function tenantsOnEveryShard(shards = 3): { name: string; key: string }[] {
  const picked = new Map<number, string>();
  for (const name of ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark', 'wayne', 'tyrell', 'soylent', 'cyberdyne']) {
    const shard = shardOfTenant(name, shards);
    if (!picked.has(shard)) picked.set(shard, name);
    if (picked.size === shards) break;
  }
  if (picked.size < shards) throw new Error('the candidate tenant names do not cover every shard');
  return [...picked.values()].map((name) => ({ name, key: name === 'acme' ? TENANTS.acme : `${name}-key-0123456789abcdef` }));
}

export interface RelayOnTopology {
  stack: Stack;
  receiver: WebhookReceiver;
  tenants: { name: string; key: string }[];
  /** The environment of a worker child of this deployment (same Redis, prefix, upstream, storage, secret). */
  childEnv: Record<string, string>;
  close(): Promise<void>;
}

/** The whole service in this process on `topology` (its own worker or none), plus a verifying webhook receiver. */
export async function startRelay(
  topology: Topology,
  opts: { scenario: Partial<SimScenario>; worker: boolean; env?: Record<string, string> },
): Promise<RelayOnTopology> {
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  const tenants = tenantsOnEveryShard();
  const apiKeys = tenants.map((t) => `${t.name}:${t.key}`).join(',');
  const shared = {
    API_KEYS: apiKeys,
    WEBHOOK_SECRET: secret,
    WEBHOOK_ALLOW_PRIVATE: 'true',
    WEBHOOK_RETRY_SCHEDULE_MS: '50,100,200',
    RECONCILE_INTERVAL_MS: '300',
    RECONCILE_MAX_UNCHANGED: '40',
    ...opts.env,
  };
  const stack = await startStack({ timeScale: 1, scenario: opts.scenario, worker: opts.worker, env: { ...topology.env, ...shared } });
  const receiver = await startWebhookReceiver([secret]);
  const { config } = stack.services;
  const childEnv: Record<string, string> = {
    ...topology.env,
    ...shared,
    QUEUE_PREFIX: config.QUEUE_PREFIX,
    NEMO_BASE_URL: config.NEMO_BASE_URL,
    UPLOAD_DIR: config.UPLOAD_DIR,
    ...(config.STORAGE_URL ? { STORAGE_URL: config.STORAGE_URL } : {}),
    WORKER_LOCK_MS: String(config.WORKER_LOCK_MS),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    // Several workers on one host: no per-process ops port (it would collide).
    METRICS_PORT: '0',
  };
  return {
    stack,
    receiver,
    tenants,
    childEnv,
    async close() {
      await receiver.close();
      await stack.close();
    },
  };
}

/** What one job did, as the store, the upstream and the webhook receiver saw it. */
export interface JobAccount {
  id: string;
  tenant: string;
  status: string;
  /** The job's error, when it failed: code and message. */
  error: string | null;
  session: string | null;
  /** Terminal events (job.succeeded/failed/canceled) stored for the job: exactly one when it ended once. */
  storedEnds: number;
  /** Terminal webhooks received, by distinct webhook-id (the same event re-sent keeps its id). */
  deliveredEnds: number;
  verified: boolean;
  messages: number;
  runSse: number;
  /** Render submits the upstream accepted (a re-submit of the same render id is refused as a duplicate). */
  renders: number;
  renderCalls: number;
}

const TERMINAL_TYPES = new Set(['job.succeeded', 'job.failed', 'job.canceled']);

export async function accountFor(relay: RelayOnTopology, id: string, tenantKey: string, messages: number): Promise<JobAccount> {
  const { stack, receiver } = relay;
  const job = (await stack.api<Job>('GET', `/v1/jobs/${id}`, undefined, { key: tenantKey })).body;
  const events = await stack.services.store.events(id);
  const ends = receiver.deliveries.filter((d) => d.payload.data.id === id && TERMINAL_TYPES.has(d.payload.type));
  const session = job.upstream.session_id;
  const calls = session ? stack.sim.log.entries().filter((e) => e.sessionId === session) : [];
  const submits = calls.filter((e) => e.endpoint === 'render_submit');
  return {
    id,
    tenant: relay.tenants.find((t) => t.key === tenantKey)?.name ?? '?',
    status: job.status,
    error: job.error ? `${job.error.code}: ${job.error.message}` : null,
    session,
    storedEnds: events.filter((e) => TERMINAL_TYPES.has(e.type)).length,
    deliveredEnds: new Set(ends.map((d) => String(d.headers['webhook-id']))).size,
    verified: ends.length > 0 && ends.every((d) => d.verified),
    messages,
    runSse: calls.filter((e) => e.endpoint === 'run_sse').length,
    renders: submits.filter((e) => e.status >= 200 && e.status < 300).length,
    renderCalls: submits.length,
  };
}

/** Waits until the job has ended and its terminal webhook arrived; answers the job. */
export async function waitForEnd(relay: RelayOnTopology, id: string, tenantKey: string, timeoutMs = 60_000): Promise<Job> {
  const job = await waitFor(
    async () => {
      const res = await relay.stack.api<Job>('GET', `/v1/jobs/${id}`, undefined, { key: tenantKey });
      return res.status === 200 && isTerminal(res.body.status) ? res.body : null;
    },
    { what: `job ${id} to end`, timeoutMs, intervalMs: 100 },
  ).catch(async (err: Error) => {
    throw new Error(`${err.message}; where it is: ${await whereIs(relay, id)}`);
  });
  await waitFor(() => relay.receiver.deliveries.some((d) => d.payload.data.id === id && TERMINAL_TYPES.has(d.payload.type)), {
    what: `the terminal webhook of ${id}`,
    timeoutMs: 15_000,
  });
  return job;
}

/** A stuck job's record, checkpoint, BullMQ entry and scheduler state, for the failure message. */
async function whereIs(relay: RelayOnTopology, id: string): Promise<string> {
  const { services } = relay.stack;
  const record = await services.store.get(id).catch(() => null);
  const flow = await services.flows.load(id).catch(() => null);
  const queued = await services.flowQueues.forJob(id).getJobState(id).catch((e: Error) => `error ${e.message}`);
  const admission = record ? await services.admission.state(id, record.tenant).catch(() => '?') : '?';
  return JSON.stringify({
    status: record?.job.status,
    stage: record?.job.stage,
    waiting: record?.job.waiting,
    step: flow?.step,
    inflight: flow?.inflight,
    render: flow?.render && { attempted: flow.render.attempted, submitted: flow.render.submitted, polls: flow.render.polls },
    bullmq: queued,
    admission,
  });
}

/** The MP4 behind result.url (the API's signed link to stored output) is real. */
export async function fetchesMp4(url: string): Promise<boolean> {
  const res = await request(url);
  const bytes = Buffer.from(await res.body.arrayBuffer());
  return res.statusCode === 200 && bytes.subarray(4, 8).toString('latin1') === 'ftyp';
}
