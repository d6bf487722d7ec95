// Benchmark 5: a 200 MB file through POST /v1/uploads and on to the simulator, against curl sending it straight to the simulator.
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NemoClient } from '../src/nemo/client.js';
import { isTerminal } from '../src/jobs/schemas.js';
import { postJob } from './lib/api-client.js';
import { spawnChild, type Child } from './lib/child.js';
import { BENCH_KEY, benchPrefix, cleanup, inProcessServices, quietLogger, redisReady, serviceEnv } from './lib/env.js';
import { BENCH_SCENARIO, INSTRUCTION } from './lib/fixtures.js';
import type { Benchmark, BenchContext, BenchResult } from './lib/report.js';
import { MB, median, until } from './lib/stats.js';

const GOAL_RATIO = 0.7;
const GOAL_GROWTH_MB = 64;
const STAGES_AFTER_UPLOAD = new Set(['generate', 'reconcile', 'render', 'deliver', 'done']);

/** An MP4 by its first bytes (an ftyp box), then incompressible filler. */
async function writeSampleMp4(path: string, size: number): Promise<void> {
  const out = createWriteStream(path);
  const ftyp = Buffer.from('00000018667479706973736f6d0000020069736f6d69736f32', 'hex');
  const block = randomBytes(1024 * 1024);
  out.write(ftyp);
  for (let written = ftyp.length; written < size; ) {
    const chunk = block.subarray(0, Math.min(block.length, size - written));
    written += chunk.length;
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

async function curl(args: string[]): Promise<{ ms: number; stdout: string }> {
  const started = performance.now();
  const proc = spawn('curl', ['-sS', '--fail-with-body', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  proc.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  const [code] = (await once(proc, 'exit')) as [number];
  if (code !== 0) throw new Error(`curl exited ${code}: ${stdout.slice(0, 300)}`);
  return { ms: performance.now() - started, stdout };
}

interface RelayRun {
  totalMs: number;
  intakeMs: number;
  onwardMs: number;
  apiGrowth: number;
  workerGrowth: number;
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const size = ctx.quick ? 50_000_000 : 200_000_000;
  const prefix = benchPrefix('uploads');
  const file = join(tmpdir(), `nemo-relay-bench-${randomUUID()}.mp4`);
  const children: Child[] = [];
  const services = inProcessServices(serviceEnv(prefix));
  try {
    await writeSampleMp4(file, size);
    const sim = await spawnChild('sim', { timeScale: 0, scenario: BENCH_SCENARIO });
    children.push(sim);
    const env = serviceEnv(prefix, { NEMO_BASE_URL: sim.url! });
    const api = await spawnChild('api', { env });
    const worker = await spawnChild('worker', { env });
    children.push(api, worker);
    await redisReady(services);
    const nemo = new NemoClient({ baseUrl: sim.url!, skill: { source: 'bench', version: '0', platform: 'bench' }, logger: quietLogger('warn') });
    const { token } = await nemo.anonymousToken(randomUUID());

    const direct = async (): Promise<number> => {
      const { sessionId } = await nemo.createSession(token, { language: 'en' });
      const url = `${sim.url}/api/upload-video/nemo_agent/me/${sessionId}`;
      const r = await curl(['-o', '/dev/null', '-H', `authorization: Bearer ${token}`, '-F', `files=@${file};type=video/mp4`, url]);
      return r.ms;
    };
    const relay = async (): Promise<RelayRun> => {
      await Promise.all([api.call('resetPeak'), worker.call('resetPeak')]);
      const [apiBefore, workerBefore] = await Promise.all([api.stats(), worker.stats()]);
      const started = performance.now();
      const up = await curl(['-H', `authorization: Bearer ${BENCH_KEY}`, '-F', `file=@${file};type=video/mp4`, `${api.url}/v1/uploads`]);
      const intakeMs = performance.now() - started;
      const uploadId = (JSON.parse(up.stdout) as { id: string }).id;
      const jobId = await postJob(api.url!, { instruction: INSTRUCTION, sources: [{ upload_id: uploadId }] });
      await until(async () => {
        const job = (await services.store.get(jobId))?.job;
        if (job && isTerminal(job.status) && job.status !== 'succeeded') throw new Error(`upload job ${job.status}: ${job.error?.message}`);
        return job && STAGES_AFTER_UPLOAD.has(job.stage);
      }, 'the staged file to reach the simulator', 300_000, 10);
      const totalMs = performance.now() - started;
      const [apiPeak, workerPeak] = await Promise.all([api.call<number>('peak'), worker.call<number>('peak')]);
      return { totalMs, intakeMs, onwardMs: totalMs - intakeMs, apiGrowth: apiPeak - apiBefore.rss, workerGrowth: workerPeak - workerBefore.rss };
    };

    ctx.log(`${size / 1e6} MB file ready; warming up both paths`);
    await direct();
    await relay();
    const runs: { curlMs: number; relay: RelayRun }[] = [];
    for (let i = 0; i < ctx.runs; i++) {
      const first = i % 2 === 0 ? await direct() : null;
      const r = await relay();
      const pair = { curlMs: first ?? (await direct()), relay: r };
      runs.push(pair);
      ctx.log(`run ${i + 1}: curl ${pair.curlMs.toFixed(0)} ms; relay ${r.totalMs.toFixed(0)} ms (intake ${r.intakeMs.toFixed(0)}, onward ${r.onwardMs.toFixed(0)}), API +${(r.apiGrowth / MB).toFixed(1)} MB`);
    }
    const mbps = (ms: number) => size / 1e6 / (ms / 1000);
    const m = (pick: (r: { curlMs: number; relay: RelayRun }) => number) => median(runs.map(pick));
    const curlRate = m((r) => mbps(r.curlMs));
    const ratio = m((r) => r.curlMs / r.relay.totalMs);
    const growth = m((r) => r.relay.apiGrowth / MB);
    return {
      name: 'uploads',
      title: uploads.title,
      rows: [
        { metric: 'end-to-end throughput (client → API → sim)', unit: 'MB/s', value: m((r) => mbps(r.relay.totalMs)), baseline: curlRate, ratio, goal: `≥ ${GOAL_RATIO} × curl`, met: ratio >= GOAL_RATIO, digits: 1 },
        { metric: 'leg 1: POST /v1/uploads (staged to disk)', unit: 'MB/s', value: m((r) => mbps(r.relay.intakeMs)), baseline: curlRate, ratio: m((r) => r.curlMs / r.relay.intakeMs), digits: 1 },
        { metric: 'leg 2: job → worker streams it to the sim', unit: 'MB/s', value: m((r) => mbps(r.relay.onwardMs)), baseline: curlRate, ratio: m((r) => r.curlMs / r.relay.onwardMs), digits: 1 },
        { metric: 'API peak RSS growth', unit: 'MB', value: growth, goal: `< ${GOAL_GROWTH_MB} MB`, met: growth < GOAL_GROWTH_MB, digits: 1 },
        { metric: 'worker peak RSS growth', unit: 'MB', value: m((r) => r.relay.workerGrowth / MB), digits: 1 },
      ],
      notes: [
        `${size / 1e6} MB MP4-typed file of random bytes; ${ctx.runs} run(s) after one warm-up each, order alternated; medians. MB = 10^6 bytes.`,
        'nemo-relay: curl → POST /v1/uploads (API child process, staged to disk with sha256 and type sniffing) → POST /v1/jobs with the upload_id → worker child streams it as multipart to the simulator (child, time scale 0); timed from curl starting to the job leaving the upload step.',
        'Baseline: the same curl sending the file as multipart straight to the simulator\'s upload endpoint.',
        'Peak RSS growth = VmHWM (reset through /proc/<pid>/clear_refs before each run) minus RSS before the run.',
      ],
      runs,
    };
  } finally {
    await Promise.allSettled(children.map((c) => c.kill()));
    await services.close();
    await rm(file, { force: true });
    await cleanup(prefix);
  }
}

export const uploads: Benchmark = { name: 'uploads', title: '5. Uploads: 200 MB through POST /v1/uploads and on, vs curl straight to the simulator', run };
