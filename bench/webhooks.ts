// Benchmark 6: signed webhook sends vs an unsigned undici POST loop; queued deliveries vs a bare BullMQ worker POSTing.
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Queue, Worker } from 'bullmq';
import { Agent, request, type Dispatcher } from 'undici';
import { createJobBodySchema, jobSchema, type Job, type JobEvent } from '../src/jobs/schemas.js';
import { newJobId } from '../src/jobs/ids.js';
import { buildDelivery } from '../src/webhooks/envelope.js';
import { startDeliveryWorker } from '../src/webhooks/queue.js';
import { sendWebhook } from '../src/webhooks/sender.js';
import { generateSecret } from '../src/webhooks/signing.js';
import { createGuardedDispatcher } from '../src/webhooks/ssrf.js';
import { spawnChild, type Child } from './lib/child.js';
import { startCpuProfile } from './lib/cpu-profile.js';
import { BENCH_TENANT, benchPrefix, cleanup, inProcessServices, quietLogger, redisReady, serviceEnv } from './lib/env.js';
import { jobBody } from './lib/fixtures.js';
import { processTicks } from './lib/machine.js';
import type { Benchmark, BenchContext, BenchResult } from './lib/report.js';
import { median, until } from './lib/stats.js';

const CONCURRENCY = 50;
const GOAL_RATIO = 0.7;
/** The bare baseline's queue, next to ours under the same prefix (and removed with it). */
const BARE_QUEUE = 'bare-webhooks';
/** Deliveries each queue path drains once, untimed, before the runs. */
const WARMUP_QUEUED = 500;

type Count = { count: number; firstAt: number | null; lastAt: number | null };

const µs = (v: number) => (Number.isNaN(v) ? '?' : `${v.toFixed(0)} µs`);

/** BENCH_CPU_PROFILE=<dir>: the last run profiles this process while each queue path drains (both workers run here). */
async function profiled<T>(path: string | null, body: () => Promise<T>): Promise<T> {
  if (path === null) return body();
  const stop = await startCpuProfile(200);
  try {
    return await body();
  } finally {
    await stop(path);
  }
}

/** Runs `n` sends in CONCURRENCY lanes; deliveries/s over the whole loop. */
async function loop(n: number, send: (i: number) => Promise<boolean>): Promise<number> {
  let next = 0;
  let failed = 0;
  const started = performance.now();
  const lane = async () => {
    while (next < n) {
      const i = next++;
      if (!(await send(i))) failed += 1;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
  if (failed > 0) throw new Error(`${failed} of ${n} POSTs failed`);
  return (n / (performance.now() - started)) * 1000;
}

function sampleJob(receiverUrl: string): Job {
  const body = createJobBodySchema.parse(jobBody(receiverUrl));
  const now = new Date().toISOString();
  return jobSchema.parse({
    id: newJobId(), status: 'succeeded', stage: 'done', progress: 100, conformance: body.conformance,
    instruction: body.instruction, followups: body.followups, sources: body.sources, output: body.output, language: body.language, metadata: body.metadata,
    messages: ['Your video is ready.', 'Added lo-fi background music at 35%.', 'Added the title "Urban Dreams".'],
    result: { url: 'https://static1.nemovideo.ai/render-result/render_01j.mp4', timeline: 'Timeline (3 tracks): 1. Video (6 segments, 30.0s)', duration_ms: 30_000, size_bytes: 1_048_576 },
    error: null,
    upstream: { task_id: '7312345678901234567', session_id: '7312345678901234568', render_id: 'render_01j_1' },
    webhook: { url: receiverUrl, events: ['job.succeeded'], status: 'pending', attempts: 0 },
    parent_id: null, created_at: now, started_at: now, finished_at: now,
  });
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const n = ctx.quick ? 1_000 : 20_000;
  // BENCH_QUEUED_DELIVERIES: more deliveries per queue run (a CPU profile of 5,000 is mostly the profiler's own start).
  const queued = Number(process.env.BENCH_QUEUED_DELIVERIES) || (ctx.quick ? 500 : 5_000);
  const prefix = benchPrefix('webhooks');
  const children: Child[] = [];
  const dispatchers: Dispatcher[] = [];
  const services = inProcessServices(serviceEnv(prefix));
  try {
    await redisReady(services);
    const receiver = await spawnChild('receiver');
    children.push(receiver);
    const url = receiver.url!;
    const job = sampleJob(url);
    const secrets = [generateSecret()];
    const guarded = createGuardedDispatcher({ allowPrivate: true });
    const plain = new Agent();
    dispatchers.push(guarded, plain);
    const event = (i: number): JobEvent => ({ id: `evt_bench${i}`, seq: 1, type: 'job.succeeded', at: job.finished_at!, data: job });

    const signed = () =>
      loop(n, async (i) => {
        const d = buildDelivery(event(i), secrets);
        const outcome = await sendWebhook({ url, body: d.bytes, headers: d.headers, timeoutMs: 15_000, dispatcher: guarded });
        return outcome.ok;
      });
    const unsigned = () =>
      loop(n, async (i) => {
        const e = event(i);
        const res = await request(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ type: e.type, timestamp: e.at, data: e.data }),
          dispatcher: plain,
        });
        await res.body.dump();
        return res.statusCode === 204;
      });
    const connection = { url: services.config.REDIS_URL, maxRetriesPerRequest: null };
    // Redis's own CPU is read off /proc when it runs on this machine (its pid from INFO), to see what each path costs it.
    const redisPid = /^redis:\/\/(127\.0\.0\.1|localhost)[:/]/.test(services.config.REDIS_URL ?? '')
      ? Number(/process_id:(\d+)/.exec(await services.redis.info('server'))?.[1] ?? NaN)
      : NaN;
    /** CPU µs per delivery while each path drained: this process (the worker's) and Redis's, for the log. */
    const cpu: Record<string, { self: number[]; redis: number[] }> = {};
    const drained = async (what: string, started: number, count = queued): Promise<number> => {
      const [self0, redis0] = await Promise.all([processTicks('self'), Number.isNaN(redisPid) ? null : processTicks(redisPid)]);
      const done = await until(async () => {
        const c = await receiver.call<Count>('count');
        return c.count >= count ? c : null;
      }, `${count} ${what}`, 300_000, 20);
      const [self1, redis1] = await Promise.all([processTicks('self'), Number.isNaN(redisPid) ? null : processTicks(redisPid)]);
      const perDelivery = (a: number | null, b: number | null) => (a === null || b === null ? NaN : ((b - a) * 10_000) / count);
      const c = (cpu[what] ??= { self: [], redis: [] });
      c.self.push(perDelivery(self0, self1));
      c.redis.push(perDelivery(redis0, redis1));
      return (count / (done.lastAt! - started)) * 1000;
    };
    /** The body our path sends for a job.started event, for the baseline to POST as its jobs' payload. */
    let payload = '';
    /** n jobs whose job.started event waits in the webhooks queue, then one delivery worker drains it. */
    const throughQueue = async (count = queued, profile: string | null = null): Promise<number> => {
      await receiver.call('reset');
      const body = createJobBodySchema.parse(jobBody(url, ['job.started']));
      let made = 0;
      const lane = async () => {
        while (made < count) {
          made += 1;
          const record = await services.jobs.create(BENCH_TENANT, body);
          await services.lifecycle.start(record.job.id);
          if (payload === '') {
            const [event] = await services.store.events(record.job.id, 0, 1);
            payload = JSON.stringify({ type: event!.type, timestamp: event!.at, data: event!.data });
          }
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, lane));
      return profiled(profile, async () => {
        const worker = startDeliveryWorker((job, token) => services.deliveries.process(job, token), {
          connection,
          prefix,
          concurrency: CONCURRENCY,
          logger: quietLogger(services.config.LOG_LEVEL),
        });
        const started = Date.now();
        try {
          return await drained('queued deliveries', started, count);
        } finally {
          await worker.close();
        }
      });
    };
    /** The baseline: as many BullMQ jobs carrying that payload on the same Redis; a bare Worker POSTs each, unsigned. */
    const bareQueue = async (count = queued, profile: string | null = null): Promise<number> => {
      await receiver.call('reset');
      const queue = new Queue<{ body: string }>(BARE_QUEUE, { connection, prefix });
      try {
        for (let i = 0; i < count; i += 500) {
          const n = Math.min(500, count - i);
          await queue.addBulk(Array.from({ length: n }, () => ({ name: 'post', data: { body: payload }, opts: { removeOnComplete: true, removeOnFail: true } })));
        }
        return await profiled(profile, async () => {
          const worker = new Worker<{ body: string }>(
            BARE_QUEUE,
            async (job) => {
              const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: job.data.body, dispatcher: plain });
              await res.body.dump();
              if (res.statusCode !== 204) throw new Error(`receiver answered ${res.statusCode}`);
            },
            { connection, prefix, concurrency: CONCURRENCY },
          );
          const started = Date.now();
          try {
            return await drained('bare BullMQ POSTs', started, count);
          } finally {
            await worker.close();
          }
        });
      } finally {
        await queue.close();
      }
    };

    const profileDir = process.env.BENCH_CPU_PROFILE ? resolve(process.env.BENCH_CPU_PROFILE) : null;
    if (profileDir) await mkdir(profileDir, { recursive: true });

    ctx.log('warming up');
    await unsigned();
    await signed();
    // Both queue paths too (ours first: it makes the payload the baseline posts): otherwise the first run timed its
    // cold worker code (JIT, first scripts loaded) against a bare worker that ran second on code ours had warmed.
    await throughQueue(WARMUP_QUEUED);
    await bareQueue(WARMUP_QUEUED);
    for (const what of Object.keys(cpu)) delete cpu[what];
    const runs: { signed: number; unsigned: number; queue: number; bare: number }[] = [];
    for (let i = 0; i < ctx.runs; i++) {
      const even = i % 2 === 0;
      const first = even ? await unsigned() : await signed();
      const second = even ? await signed() : await unsigned();
      const last = profileDir !== null && i === ctx.runs - 1;
      const ours = () => throughQueue(queued, last ? join(profileDir, 'webhooks-queue.cpuprofile') : null);
      const bare = () => bareQueue(queued, last ? join(profileDir, 'webhooks-bare.cpuprofile') : null);
      const q1 = even ? await ours() : await bare();
      const q2 = even ? await bare() : await ours();
      const r = {
        unsigned: even ? first : second,
        signed: even ? second : first,
        queue: even ? q1 : q2,
        bare: even ? q2 : q1,
      };
      runs.push(r);
      const cpuOf = (what: string) => {
        const c = cpu[what];
        return c ? `${µs(c.self.at(-1)!)} + Redis ${µs(c.redis.at(-1)!)}` : '?';
      };
      ctx.log(
        `run ${i + 1}: signed ${r.signed.toFixed(0)}/s, unsigned ${r.unsigned.toFixed(0)}/s, ` +
          `through the queue ${r.queue.toFixed(0)}/s (${cpuOf('queued deliveries')}), bare BullMQ worker ${r.bare.toFixed(0)}/s (${cpuOf('bare BullMQ POSTs')}) CPU per delivery`,
      );
    }
    const cpuLine = (what: string) => {
      const c = cpu[what];
      return c ? `${µs(median(c.self))} + Redis ${µs(median(c.redis))}` : 'not measured';
    };
    const signedRatio = median(runs.map((r) => r.signed / r.unsigned));
    const queueRatio = median(runs.map((r) => r.queue / r.bare));
    const goal = `≥ ${GOAL_RATIO} × baseline`;
    return {
      name: 'webhooks',
      title: webhooks.title,
      rows: [
        {
          metric: 'signed webhook send',
          unit: '/s',
          value: median(runs.map((r) => r.signed)),
          baseline: median(runs.map((r) => r.unsigned)),
          ratio: signedRatio,
          goal,
          met: signedRatio >= GOAL_RATIO,
        },
        {
          metric: 'webhooks through the queue',
          unit: '/s',
          value: median(runs.map((r) => r.queue)),
          baseline: median(runs.map((r) => r.bare)),
          ratio: queueRatio,
          goal,
          met: queueRatio >= GOAL_RATIO,
        },
      ],
      notes: [
        `Receiver: a plain Node HTTP server in a child process answering 204. ${CONCURRENCY} deliveries in flight; ${n} per direct run, ${queued} per queue run; ${ctx.runs} run(s) after an untimed warm-up of every path (${WARMUP_QUEUED} deliveries per queue path), orders alternated; ratios are medians of the per-run ratios.`,
        'signed webhook send: buildDelivery (JSON + HMAC-SHA256) and sendWebhook through the SSRF-guarded undici dispatcher. Baseline: the same JSON POSTed unsigned with undici request() and a plain Agent.',
        `webhooks through the queue: ${queued} jobs' job.started events wait in the webhooks queue; one delivery worker (concurrency ${CONCURRENCY}) drains it through DeliveryProcessor.process (read script, ordering check, secrets, signing, send, settle script). Baseline: ${queued} BullMQ jobs carrying the same body on the same Redis, drained by a bare Worker (same concurrency, same removeOnComplete) POSTing each unsigned. Both timed from the worker's start to the last arrival.`,
        `CPU per queued delivery while draining (medians; this process runs the worker, Redis read off /proc when local): ` +
          `through the queue ${cpuLine('queued deliveries')}, bare BullMQ worker ${cpuLine('bare BullMQ POSTs')}. On 2 cores the ` +
          'worker, Redis and the receiver share the CPU, so the throughput ratio follows the ratio of these sums.',
      ],
      runs,
    };
  } finally {
    await Promise.allSettled(children.map((c) => c.kill()));
    await Promise.allSettled(dispatchers.map((d) => d.close()));
    await services.close();
    await cleanup(prefix);
  }
}

export const webhooks: Benchmark = { name: 'webhooks', title: '6. Webhook delivery: signed sends vs an unsigned POST loop; queued deliveries vs a bare BullMQ worker', run };
