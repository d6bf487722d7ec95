// Benchmark 5: a 200 MB file through POST /v1/uploads (leg 1) and from the worker to the simulator (leg 2), each against curl straight to the simulator.
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { NemoClient } from '../src/nemo/client.js';
import { isTerminal } from '../src/jobs/schemas.js';
import { postJob } from './lib/api-client.js';
import { cpuMsBetween, spawnChild, type Child } from './lib/child.js';
import { BENCH_KEY, benchPrefix, cleanup, inProcessServices, quietLogger, redisReady, serviceEnv } from './lib/env.js';
import { BENCH_SCENARIO, INSTRUCTION } from './lib/fixtures.js';
import type { Benchmark, BenchContext, BenchResult } from './lib/report.js';
import { MB, median, until } from './lib/stats.js';

/** Issue 14: each leg at least this fraction of curl's speed straight to the simulator. */
const GOAL_RATIO = 0.85;
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
  /** POST /v1/jobs to the job leaving the upload step (queue pickup, session, leg 2). */
  onwardMs: number;
  /** Leg 2 alone: the worker's upload request as the simulator timed it. */
  leg2Ms: number;
  apiGrowth: number;
  workerGrowth: number;
  /** CPU the API spent from curl starting to its answer (leg 1), and the worker from job create to leaving the upload step. */
  apiCpuMs: number;
  /** Of which in the kernel (socket reads, writes to the page cache). */
  apiSysMs: number;
  workerCpuMs: number;
}

interface Direct {
  /** curl's wall time. */
  ms: number;
  /** The same request as the simulator timed it. */
  simMs: number;
}

interface Pair {
  curlMs: number;
  curlSimMs: number;
  relay: RelayRun;
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

    // BENCH_CPU_PROFILE=<dir>: the last run profiles the API during leg 1, the worker and the simulator from job create
    // to leg 2's end, and the simulator during curl's upload.
    const profileDir = process.env.BENCH_CPU_PROFILE ? resolve(process.env.BENCH_CPU_PROFILE) : null;
    if (profileDir) await mkdir(profileDir, { recursive: true });
    /** One upload request's time at the simulator (a leg-2 run sends exactly one). */
    const simUploadMs = async (): Promise<number> => {
      const timings = await sim.call<{ ms: number; bytes: number }[]>('uploadTimings');
      if (timings.length !== 1 || timings[0]!.bytes < size) throw new Error(`expected one ${size}-byte upload at the simulator, saw ${JSON.stringify(timings)}`);
      return timings[0]!.ms;
    };
    const direct = async (profile = false): Promise<Direct> => {
      const { sessionId } = await nemo.createSession(token, { language: 'en' });
      const url = `${sim.url}/api/upload-video/nemo_agent/me/${sessionId}`;
      await sim.call('uploadTimings');
      if (profile) await sim.call('cpuProfileStart');
      const r = await curl(['-o', '/dev/null', '-H', `authorization: Bearer ${token}`, '-F', `files=@${file};type=video/mp4`, url]);
      if (profile) await sim.call('cpuProfileStop', { path: join(profileDir!, 'uploads-sim-curl.cpuprofile') });
      return { ms: r.ms, simMs: await simUploadMs() };
    };
    const relay = async (profile = false): Promise<RelayRun> => {
      await sim.call('uploadTimings');
      await Promise.all([api.call('resetPeak'), worker.call('resetPeak')]);
      const [apiBefore, workerBefore] = await Promise.all([api.stats(), worker.stats()]);
      if (profile) await Promise.all([api.call('cpuProfileStart'), worker.call('cpuProfileStart')]);
      const started = performance.now();
      const up = await curl(['-H', `authorization: Bearer ${BENCH_KEY}`, '-F', `file=@${file};type=video/mp4`, `${api.url}/v1/uploads`]);
      const intakeMs = performance.now() - started;
      if (profile) await Promise.all([api.call('cpuProfileStop', { path: join(profileDir!, 'uploads-api-leg1.cpuprofile') }), sim.call('cpuProfileStart')]);
      const uploadId = (JSON.parse(up.stdout) as { id: string }).id;
      const jobId = await postJob(api.url!, { instruction: INSTRUCTION, sources: [{ upload_id: uploadId }] });
      await until(async () => {
        const job = (await services.store.get(jobId))?.job;
        if (job && isTerminal(job.status) && job.status !== 'succeeded') throw new Error(`upload job ${job.status}: ${job.error?.message}`);
        return job && STAGES_AFTER_UPLOAD.has(job.stage);
      }, 'the staged file to reach the simulator', 300_000, 10);
      const totalMs = performance.now() - started;
      if (profile) {
        await worker.call('cpuProfileStop', { path: join(profileDir!, 'uploads-worker-leg2.cpuprofile') });
        await sim.call('cpuProfileStop', { path: join(profileDir!, 'uploads-sim-leg2.cpuprofile') });
      }
      const leg2Ms = await simUploadMs();
      const [apiPeak, workerPeak] = await Promise.all([api.call<number>('peak'), worker.call<number>('peak')]);
      const [apiAfter, workerAfter] = await Promise.all([api.stats(), worker.stats()]);
      return {
        totalMs,
        intakeMs,
        onwardMs: totalMs - intakeMs,
        leg2Ms,
        apiGrowth: apiPeak - apiBefore.rss,
        workerGrowth: workerPeak - workerBefore.rss,
        apiCpuMs: cpuMsBetween(apiBefore, apiAfter),
        apiSysMs: (apiAfter.cpuSystemUs - apiBefore.cpuSystemUs) / 1000,
        workerCpuMs: cpuMsBetween(workerBefore, workerAfter),
      };
    };

    ctx.log(`${size / 1e6} MB file ready; warming up both paths`);
    await direct();
    await relay();
    const runs: Pair[] = [];
    for (let i = 0; i < ctx.runs; i++) {
      const profile = profileDir !== null && i === ctx.runs - 1;
      const first = i % 2 === 0 ? await direct(profile) : null;
      const r = await relay(profile);
      const d = first ?? (await direct(profile));
      const pair = { curlMs: d.ms, curlSimMs: d.simMs, relay: r };
      runs.push(pair);
      ctx.log(
        `run ${i + 1}: curl ${d.ms.toFixed(0)} ms (${d.simMs.toFixed(0)} at the sim); relay ${r.totalMs.toFixed(0)} ms ` +
          `(leg 1 ${r.intakeMs.toFixed(0)}, onward ${r.onwardMs.toFixed(0)} of which leg 2 ${r.leg2Ms.toFixed(0)} at the sim), API +${(r.apiGrowth / MB).toFixed(1)} MB; CPU API ${r.apiCpuMs.toFixed(0)} ms (${r.apiSysMs.toFixed(0)} in the kernel), worker ${r.workerCpuMs.toFixed(0)} ms`,
      );
    }
    const mbps = (ms: number) => size / 1e6 / (ms / 1000);
    const m = (pick: (r: Pair) => number) => median(runs.map(pick));
    const curlRate = m((r) => mbps(r.curlMs));
    const leg1 = m((r) => r.curlMs / r.relay.intakeMs);
    const leg2 = m((r) => r.curlSimMs / r.relay.leg2Ms);
    const growth = m((r) => r.relay.apiGrowth / MB);
    return {
      name: 'uploads',
      title: uploads.title,
      rows: [
        { metric: 'uploads leg 1: POST /v1/uploads (staged to disk)', unit: 'MB/s', value: m((r) => mbps(r.relay.intakeMs)), baseline: curlRate, ratio: leg1, goal: `≥ ${GOAL_RATIO} × curl`, met: leg1 >= GOAL_RATIO, digits: 1 },
        { metric: 'uploads leg 2: worker → upstream (from disk)', unit: 'MB/s', value: m((r) => mbps(r.relay.leg2Ms)), baseline: m((r) => mbps(r.curlSimMs)), ratio: leg2, goal: `≥ ${GOAL_RATIO} × curl`, met: leg2 >= GOAL_RATIO, digits: 1 },
        { metric: 'end-to-end throughput (client → API → job → sim)', unit: 'MB/s', value: m((r) => mbps(r.relay.totalMs)), baseline: curlRate, ratio: m((r) => r.curlMs / r.relay.totalMs), digits: 1 },
        { metric: 'API peak RSS growth', unit: 'MB', value: growth, goal: `< ${GOAL_GROWTH_MB} MB`, met: growth < GOAL_GROWTH_MB, digits: 1 },
        { metric: 'worker peak RSS growth', unit: 'MB', value: m((r) => r.relay.workerGrowth / MB), digits: 1 },
        { metric: 'API CPU per upload (whole run, leg 1 its bulk)', unit: 'ms', value: m((r) => r.relay.apiCpuMs) },
        { metric: 'worker CPU per upload (whole run, leg 2 its bulk)', unit: 'ms', value: m((r) => r.relay.workerCpuMs) },
      ],
      notes: [
        `${size / 1e6} MB MP4-typed file of random bytes; ${ctx.runs} run(s) after one warm-up each, order alternated; medians. MB = 10^6 bytes.`,
        'Leg 1: curl → POST /v1/uploads (API child process, staged to disk with sha256 and type sniffing), timed around the curl process; baseline: the same curl sending the file as multipart straight to the simulator\'s upload endpoint, timed the same way.',
        'Leg 2: the worker child streaming the staged file as multipart to the simulator (child, time scale 0), timed by the simulator from the request\'s headers to its answer; baseline: curl\'s request timed the same way at the simulator (so curl\'s process start is in neither figure).',
        'End to end (no goal: the legs run one after the other): curl starting → POST /v1/jobs with the upload_id → the job leaving the upload step.',
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

export const uploads: Benchmark = { name: 'uploads', title: '5. Uploads: 200 MB, leg 1 (POST /v1/uploads) and leg 2 (worker → upstream), each vs curl straight to the simulator', run };
