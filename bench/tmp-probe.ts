// temporary probe (deleted after use)
import { createJobBodySchema } from '../src/jobs/schemas.js';
import { spawnChild } from './lib/child.js';
import { BENCH_TENANT, benchPrefix, cleanup, inProcessServices, serviceEnv } from './lib/env.js';
import { BENCH_SCENARIO, FOLLOWUPS, INSTRUCTION, SOURCE_URLS } from './lib/fixtures.js';
import { MB, sleep, until } from './lib/stats.js';
const jobs = Number(process.argv[2] ?? 2000);
const prefix = benchPrefix('probe');
const sim = await spawnChild('sim', { timeScale: 1, scenario: { ...BENCH_SCENARIO, generateMs: 600_000, renderMs: 1_800_000 } });
const env = serviceEnv(prefix, { NEMO_BASE_URL: sim.url!, WORKER_CONCURRENCY: String(jobs + 100), ...(process.env.PROBE_LOG ? { LOG_LEVEL: process.env.PROBE_LOG } : {}) });
const worker = await spawnChild('worker', { env });
const api = inProcessServices(env);
const body = createJobBodySchema.parse({ instruction: INSTRUCTION, followups: FOLLOWUPS, sources: SOURCE_URLS.map((url) => ({ url })) });
const show = async (label: string) => { const s = await worker.stats(); console.log(label, (s.rss/MB).toFixed(0), 'heapTotal', (s.heapTotal/MB).toFixed(0), 'used', (s.heapUsed/MB).toFixed(0), 'ext', (s.external/MB).toFixed(0), 'lag99', s.lagP99Ms.toFixed(1), 'max', s.lagMaxMs.toFixed(0)); await worker.call('resetLag'); };
await sleep(3000); await show('idle');
let created = 0;
await Promise.all(Array.from({ length: 50 }, async () => { while (created < jobs) { created++; await api.jobs.create(BENCH_TENANT, body); } }));
await until(async () => (await sim.call<Record<string, number>>('counts')).run_sse! >= jobs, 'streams', 300_000, 500);
for (let i = 0; i < 10; i++) { await sleep(5000); await show(`t+${(i + 1) * 5}s`); }
await worker.kill(); await sim.kill(); await api.close(); await cleanup(prefix);
