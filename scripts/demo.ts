// npm run demo: all-in-one service + simulator + a webhook receiver in one process; submits the sample photos, saves the MP4.
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Redis } from 'ioredis';
import { ApiClient } from '../src/cli/api-client.js';
import { EXIT, type CliIo } from '../src/cli/io.js';
import { submitCommand } from '../src/cli/submit.js';
import { waitAndSave } from '../src/cli/wait.js';
import { loadConfig } from '../src/app/config.js';
import { createLogger } from '../src/observability/logger.js';
import { startApi, startWorker } from '../src/app/roles.js';
import { compose as createServices } from '../src/app/compose.js';
import { createSimulator } from '../src/sim/index.js';
import { startDemoReceiver } from './demo-receiver.js';

const ROOT = new URL('..', import.meta.url).pathname;
const SAMPLES = join(ROOT, 'assets/samples');
const OUT_DIR = join(process.cwd(), 'data/demo');
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
/** 0.05: the simulated agent and render take about 5% of their real time (a 30 s render takes 1.5 s). */
const TIME_SCALE = Number(process.env.DEMO_TIME_SCALE || 0.05);
const INSTRUCTION = 'turn these product photos into a 20-second promo video with upbeat background music and smooth transitions';
const FOLLOWUPS = ['add the title "Autumn Collection" for the first 3 seconds', 'end with the text "Shop now" on the last photo'];

async function checkRedis(): Promise<void> {
  const probe = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await probe.connect();
    await probe.ping();
  } catch (err) {
    console.error(`demo: Redis does not answer at ${REDIS_URL} (${(err as Error).message}).`);
    console.error('      start one (e.g. `redis-server` or `docker run -p 6379:6379 redis:7`) or set REDIS_URL.');
    process.exit(EXIT.usage);
  } finally {
    probe.disconnect();
  }
}

const say = (text: string) => process.stderr.write(`\n== ${text}\n`);

await checkRedis();
const prefix = `nemo-relay-demo-${randomBytes(3).toString('hex')}`;
const apiKey = `demo-${randomBytes(16).toString('hex')}`;

const sim = createSimulator({ timeScale: TIME_SCALE });
const simUrl = await sim.listen(0, '127.0.0.1');
const receiver = await startDemoReceiver((d) =>
  process.stderr.write(`   webhook ${d.type.padEnd(13)} ${String(d.progress).padStart(3)}%  signature ${d.verified ? 'verified' : 'INVALID'}\n`),
);
const config = loadConfig({
  REDIS_URL,
  QUEUE_PREFIX: prefix,
  NEMO_BASE_URL: simUrl,
  API_KEYS: `demo:${apiKey}`,
  PORT: '0',
  HOST: '127.0.0.1',
  WEBHOOK_ALLOW_PRIVATE: 'true',
  UPLOAD_DIR: join(OUT_DIR, 'uploads'),
  RECONCILE_INTERVAL_MS: '1000',
  LOG_LEVEL: process.env.LOG_LEVEL || 'warn',
});
const services = createServices(config, createLogger(config.LOG_LEVEL));
const worker = await startWorker(services);
const { app, url } = await startApi(services);
receiver.setSecret(await services.secrets.current('demo'));

say(`nemo-relay ${url} (worker in-process) · simulator ${simUrl} · webhook receiver ${receiver.url}`);
const io: CliIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: {} };
let jobId = '';
const captured: CliIo = { ...io, stdout: { write: (text: string) => (jobId = text.trim()) } };
const samples = readdirSync(SAMPLES)
  .filter((f) => /\.(jpe?g|png|webp)$/i.test(f))
  .sort()
  .map((f) => relative(process.cwd(), join(SAMPLES, f)));
say(`$ nemo-relay submit ${samples.length} photos -m "${INSTRUCTION}" --followup … --webhook ${receiver.url}`);

let code: number = EXIT.usage;
try {
  code = await submitCommand(
    ['--url', url, '--key', apiKey, ...samples, '-m', INSTRUCTION, ...FOLLOWUPS.flatMap((f) => ['--followup', f]), '--webhook', receiver.url],
    captured,
  );
  if (code === EXIT.ok) {
    say(`job ${jobId}: following its event feed`);
    code = await waitAndSave(new ApiClient(url, apiKey), jobId, join(OUT_DIR, `${jobId}.mp4`), io);
    // The terminal webhook is sent right after the terminal event; give it a moment to arrive.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !receiver.deliveries.some((d) => d.jobId === jobId && /succeeded|failed|canceled/.test(d.type))) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const verified = receiver.deliveries.filter((d) => d.jobId === jobId && d.verified).length;
    say(`webhooks received for the job: ${receiver.deliveries.filter((d) => d.jobId === jobId).length}, signatures verified: ${verified}`);
    if (code === EXIT.ok) say(`MP4 saved to ${relative(process.cwd(), join(OUT_DIR, `${jobId}.mp4`))}`);
  }
} catch (err) {
  console.error(`demo: ${(err as Error).message}`);
} finally {
  await app.close();
  await worker.stop();
  // The demo's Redis keys are its own (a random prefix); the MP4 stays.
  let cursor = '0';
  do {
    const [next, keys] = await services.blocking.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await services.blocking.unlink(...keys);
  } while (cursor !== '0');
  await services.close();
  await receiver.close();
  await sim.close();
}
process.exit(code);
