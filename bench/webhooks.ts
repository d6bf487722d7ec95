// Benchmark 6: signed webhook deliveries/s (direct, and through the BullMQ delivery queue) against an unsigned undici POST loop.
import { Agent, request, type Dispatcher } from 'undici';
import { createJobBodySchema, jobSchema, type Job, type JobEvent } from '../src/jobs/schemas.js';
import { newJobId } from '../src/jobs/ids.js';
import { buildDelivery } from '../src/webhooks/envelope.js';
import { startDeliveryWorker } from '../src/webhooks/queue.js';
import { sendWebhook } from '../src/webhooks/sender.js';
import { generateSecret } from '../src/webhooks/signing.js';
import { createGuardedDispatcher } from '../src/webhooks/ssrf.js';
import { spawnChild, type Child } from './lib/child.js';
import { BENCH_TENANT, benchPrefix, cleanup, inProcessServices, quietLogger, redisReady, serviceEnv } from './lib/env.js';
import { jobBody } from './lib/fixtures.js';
import type { Benchmark, BenchContext, BenchResult } from './lib/report.js';
import { median, until } from './lib/stats.js';

const CONCURRENCY = 50;
const GOAL_RATIO = 0.7;
const GOAL_RATE = 1_000;

type Count = { count: number; firstAt: number | null; lastAt: number | null };

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
  const queued = ctx.quick ? 500 : 5_000;
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
        const outcome = await sendWebhook({ url, body: d.body, headers: d.headers, timeoutMs: 15_000, dispatcher: guarded });
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
    /** n jobs whose job.started event waits in the webhooks queue, then one delivery worker drains it. */
    const throughQueue = async (): Promise<number> => {
      await receiver.call('reset');
      const body = createJobBodySchema.parse(jobBody(url, ['job.started']));
      let made = 0;
      const lane = async () => {
        while (made < queued) {
          made += 1;
          const record = await services.jobs.create(BENCH_TENANT, body);
          await services.lifecycle.start(record.job.id);
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, lane));
      const worker = startDeliveryWorker((job, token) => services.deliveries.process(job, token), {
        connection: { url: services.config.REDIS_URL, maxRetriesPerRequest: null },
        prefix,
        concurrency: CONCURRENCY,
        logger: quietLogger(services.config.LOG_LEVEL),
      });
      const started = Date.now();
      try {
        const done = await until(async () => {
          const c = await receiver.call<Count>('count');
          return c.count >= queued ? c : null;
        }, `${queued} queued deliveries`, 300_000, 20);
        return (queued / (done.lastAt! - started)) * 1000;
      } finally {
        await worker.close();
      }
    };

    ctx.log('warming up');
    await unsigned();
    await signed();
    const runs: { signed: number; unsigned: number; queue: number }[] = [];
    for (let i = 0; i < ctx.runs; i++) {
      const first = i % 2 === 0 ? await unsigned() : await signed();
      const second = i % 2 === 0 ? await signed() : await unsigned();
      const r = { unsigned: i % 2 === 0 ? first : second, signed: i % 2 === 0 ? second : first, queue: await throughQueue() };
      runs.push(r);
      ctx.log(`run ${i + 1}: signed ${r.signed.toFixed(0)}/s, unsigned ${r.unsigned.toFixed(0)}/s, through the queue ${r.queue.toFixed(0)}/s`);
    }
    const base = median(runs.map((r) => r.unsigned));
    const signedRate = median(runs.map((r) => r.signed));
    const queueRate = median(runs.map((r) => r.queue));
    const signedRatio = median(runs.map((r) => r.signed / r.unsigned));
    const queueRatio = median(runs.map((r) => r.queue / r.unsigned));
    const goal = `≥ ${GOAL_RATIO} × baseline and ≥ ${GOAL_RATE.toLocaleString('en-US')}/s`;
    return {
      name: 'webhooks',
      title: webhooks.title,
      rows: [
        { metric: 'signed deliveries/s (buildDelivery + sendWebhook)', unit: '/s', value: signedRate, baseline: base, ratio: signedRatio, goal, met: signedRatio >= GOAL_RATIO && signedRate >= GOAL_RATE },
        { metric: 'deliveries/s through the BullMQ queue + dispatcher', unit: '/s', value: queueRate, baseline: base, ratio: queueRatio, goal, met: queueRatio >= GOAL_RATIO && queueRate >= GOAL_RATE },
      ],
      notes: [
        `Receiver: a plain Node HTTP server in a child process answering 204. ${CONCURRENCY} deliveries in flight; ${n} per direct run, ${queued} per queue run; ${ctx.runs} run(s), direct order alternated; medians.`,
        'Direct: buildDelivery (JSON + HMAC-SHA256) and sendWebhook through the SSRF-guarded undici dispatcher. Baseline: the same JSON POSTed unsigned with undici and a plain Agent.',
        `Queue: ${queued} jobs' job.started events wait in the webhooks queue; one delivery worker (concurrency ${CONCURRENCY}) drains it through DeliveryProcessor.process (record, ledger, ordering check, secrets, signing, attempt log); timed from the worker's start to the last arrival.`,
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

export const webhooks: Benchmark = { name: 'webhooks', title: '6. Webhook delivery: signed deliveries/s vs an unsigned POST loop', run };
