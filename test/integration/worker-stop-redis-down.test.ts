// A worker stopped while its Redis is gone, with no job running: its log says the queues could not close, not that steps ran.
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { compose as createServices } from '../../src/app/compose.js';
import { loadConfig } from '../../src/app/config.js';
import { startWorker } from '../../src/app/roles.js';
import { createLogger } from '../../src/observability/logger.js';
import { freePort } from '../helpers/ops-process.js';
import { uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

describe('worker stop with Redis gone', () => {
  const cleanups: (() => unknown)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('warns that the queues did not close (nothing was running), and stops', async () => {
    const port = await freePort();
    const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    cleanups.push(() => server.kill('SIGKILL'));
    const probe = new Redis(`redis://127.0.0.1:${port}`, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    await waitFor(async () => (await probe.connect().then(() => probe.ping(), () => null)) === 'PONG', { what: 'redis-server', timeoutMs: 10_000, intervalMs: 100 });
    probe.disconnect();

    const lines: { level: number; msg: string }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as { level: number; msg: string });
        done();
      },
    });
    const config = loadConfig({
      REDIS_URL: `redis://127.0.0.1:${port}`,
      QUEUE_PREFIX: uniquePrefix('stop-down'),
      METRICS_PORT: '0',
      SHUTDOWN_GRACE_MS: '300',
      NEMO_BASE_URL: 'http://127.0.0.1:9',
      UPLOAD_DIR: './data/test-uploads/stop-down',
      STORAGE_URL: 'none',
    });
    const services = createServices(config, createLogger('warn', 'nemo-relay', sink));
    cleanups.push(() => services.close());
    const worker = await startWorker(services);
    server.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 300));

    const stopping = Date.now();
    await worker.stop();
    // README: give containers grace + 10 s. The stop keeps clear of that line (it took grace + 10.07 s in a container
    // whose Redis was gone, one that would have been killed).
    expect(Date.now() - stopping).toBeLessThan(300 + 9_500);

    const warnings = lines.filter((l) => l.level >= 40).map((l) => l.msg);
    expect(warnings).toContain('the queues did not close within the grace period (Redis unreachable?); closing them');
    expect(warnings).not.toContain('steps still running at the deadline; handing their jobs back');
    // No job was running, so none returns as stalled: nothing for an error line to report.
    expect(warnings).not.toContain('workers did not stop after the abort; closing anyway (their jobs return as stalled)');
    // BullMQ reports each failed reconnect: one line per queue and error text, not one per retry (there were 60-70).
    expect(lines.filter((l) => l.msg === 'flow worker error').length).toBeLessThanOrEqual(3);
  });
});
