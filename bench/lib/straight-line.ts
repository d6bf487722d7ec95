// The orchestration baseline: the same upstream calls as a job, made in a straight line with NemoClient (no queue, no Redis).
import { randomUUID } from 'node:crypto';
import { NemoClient } from '../../src/nemo/client.js';
import { PACKAGE_VERSION } from '../../src/core/version.js';
import { quietLogger } from './env.js';
import { sleep } from './stats.js';

export interface StraightLineRun {
  n: number;
  concurrency: number;
  messages: string[];
  sources: string[];
}

export interface StraightLineResult {
  ms: number;
  completed: number;
  failed: number;
  firstError: string | null;
}

/** The worker's shortest wait between render polls (poll-cadence MIN_POLL_MS); the script polls at once, then this often. */
const POLL_MS = 250;

let token: string | null = null;

async function oneJob(client: NemoClient, t: string, run: StraightLineRun): Promise<void> {
  const { sessionId } = await client.createSession(t, { language: 'en' });
  if (run.sources.length > 0) await client.uploadUrls(t, sessionId, run.sources);
  for (const text of run.messages) await client.runAgent(t, sessionId, text, { idleMs: 600_000, maxMs: 900_000 });
  const state = await client.getState(t, sessionId);
  if (!state.draft) throw new Error('no draft to render');
  const id = `render_bench_${randomUUID()}`;
  await client.submitRender(t, { id, sessionId, draft: state.draft, output: { format: 'mp4', quality: 'high', resolution: '1080p' } });
  for (;;) {
    const status = await client.getRender(t, id);
    if (status.status === 'completed') return;
    if (status.status === 'failed') throw new Error(`render failed: ${status.error ?? '?'}`);
    await sleep(POLL_MS);
  }
}

export async function runStraightLine(simUrl: string, run: StraightLineRun): Promise<StraightLineResult> {
  const client = new NemoClient({
    baseUrl: simUrl,
    skill: { source: 'nemo-relay', version: PACKAGE_VERSION, platform: 'unknown' },
    logger: quietLogger(process.env.BENCH_LOG_LEVEL ?? 'info'),
  });
  const started = performance.now();
  // One anonymous token for the whole process, as the worker shares one through Redis.
  token ??= (await client.anonymousToken(randomUUID())).token;
  let next = 0;
  let completed = 0;
  let failed = 0;
  let firstError: string | null = null;
  const lane = async () => {
    while (next < run.n) {
      next += 1;
      try {
        await oneJob(client, token!, run);
        completed += 1;
      } catch (err) {
        failed += 1;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(run.concurrency, run.n) }, lane));
  return { ms: performance.now() - started, completed, failed, firstError };
}
