// Soak: 200+ jobs against the simulator with random faults and SIGKILLed worker processes; none lost, none run twice.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TERMINAL_EVENTS, type Job } from '../../src/jobs/schemas.js';
import type { FaultSpec, SimEndpoint } from '../../src/sim/index.js';
import { ProcessGroup, type RoleProcess } from '../helpers/processes.js';
import { TEST_REDIS_URL } from '../helpers/redis.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const JOBS = Number(process.env.SOAK_JOBS ?? 220);
const WORKERS = 3;
const KILL_EVERY_MS = 1_000;
/**
 * A kill waits until the workers made this many upstream calls since the last one. A worker takes one to two seconds
 * of CPU to start: on an idle machine the calls come far faster than this asks, but with two other test files running,
 * a kill every 1.5 s regardless kept the workers starting over while no job moved (a full suite run took 179 s and
 * its faults hit no call; with kills sparing young workers instead, a run stopped for good with 80 jobs held by
 * workers that were killed before they did anything).
 */
const CALLS_BETWEEN_KILLS = 30;
const FAULT_EVERY_MS = 250;
/**
 * Faults wait in the simulator's book until a call matches them; at most this many wait at once, so they land at the
 * pace calls are made (an unbounded book filled up while no worker was up yet, then was cleared having hit nothing).
 */
const FAULTS_PENDING_MAX = 4;
/** Faults go on after the jobs are in until this many have hit a call, while enough jobs are open to share them. */
const MIN_FAULT_HITS = Math.ceil(JOBS / 5);
const OPEN_JOBS_FOR_FAULTS = Math.min(40, Math.ceil(JOBS / 5));
/** When the two credit outages are injected (ms after the start). */
const OUTAGES = [4_000, 12_000];
const INSTRUCTIONS = [
  'make a 10-second promo video for a coffee shop opening, warm tones',
  'turn these images into a 15-second slideshow video',
  'create a 12-second product video for a desk lamp, 9:16 vertical',
];
const EDITS = ['add lo-fi background music at 35%', 'title "Grand Opening" for the first 3 seconds', 'add crossfade transitions'];
const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);

const pick = <T,>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
const between = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));

/** Weighted random faults: mostly ones the flow must survive, some that must end a job cleanly. */
function randomFault(): FaultSpec {
  const times = between(1, 3);
  const roll = Math.random();
  if (roll < 0.12) return { kind: 'token_expired', endpoint: pick(['state', 'create_session', 'render_poll'] as const), times: 1 };
  if (roll < 0.22) return { kind: 'session_lost', endpoint: pick(['upload', 'run_sse', 'state'] as const) };
  if (roll < 0.34) return { kind: 'rate_limited', endpoint: pick(['run_sse', 'state', 'render_submit', 'render_poll', 'create_session'] as const), retryAfterSec: between(0, 1), times };
  if (roll < 0.46) {
    const endpoint: SimEndpoint = pick(['create_session', 'upload', 'state', 'run_sse', 'render_submit', 'render_poll'] as const);
    return { kind: 'server_error', endpoint, status: pick([500, 502, 503]), times };
  }
  if (roll < 0.56) return { kind: 'network_drop', endpoint: pick(['create_session', 'state', 'render_submit', 'render_poll', 'upload'] as const), times };
  if (roll < 0.7) return { kind: 'stream_drop', times };
  if (roll < 0.78) return { kind: 'render_duplicate_id' };
  if (roll < 0.84) return { kind: 'slow', endpoint: pick(['state', 'render_poll', 'run_sse'] as const), delayMs: 300, times };
  return { kind: pick(['render_failed', 'stream_error', 'heartbeats_only', 'export_blocked', 'unsupported_file', 'agent_error_event'] as const) };
}

describe('resilience soak', () => {
  const procs = new ProcessGroup();
  let stack: Stack;
  let receiver: WebhookReceiver;
  let workerEnv: Record<string, string>;

  beforeAll(async () => {
    const env = {
      WORKER_LOCK_MS: '2000',
      WORKER_CONCURRENCY: '40',
      RECONCILE_INTERVAL_MS: '150',
      RECONCILE_MAX_UNCHANGED: '20',
      NEMO_SSE_IDLE_MS: '3000',
      CREDITS_RECHECK_MS: '300',
      CREDITS_MAX_WAIT_MS: '60000',
      WEBHOOK_RETRY_SCHEDULE_MS: '100,200,400,800,1600,3200',
      // Workers live ~4.5 s here: the safety net for jobs admitted by a worker killed before it queued them must run.
      QUEUED_SWEEP_INTERVAL_MS: '2000',
      QUEUED_SWEEP_AGE_MS: '3000',
    };
    stack = await startStack({
      worker: false,
      timeScale: 0.004,
      scenario: { tokenIpLimit: 100_000, anonCredits: 100_000_000, heartbeatIntervalMs: 50_000, silentEdits: 0.3 },
      env,
    });
    const secret = (await stack.api<{ secret: string }>('GET', '/v1/webhook-secret')).body.secret;
    receiver = await startWebhookReceiver([secret]);
    workerEnv = {
      ...env,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: stack.prefix,
      NEMO_BASE_URL: stack.sim.url,
      HOST: '127.0.0.1',
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_TIMEOUT_MS: '2000',
      UPLOAD_DIR: `./data/test-uploads/${stack.prefix}`,
      LOG_LEVEL: 'warn',
      // Several workers on one host: no per-process ops port (it would collide).
      METRICS_PORT: '0',
    };
  });
  afterAll(async () => {
    await procs.stopAll();
    await receiver?.close();
    await stack?.close();
  });

  it(`runs ${JOBS} jobs through random faults and worker SIGKILLs: every job ends once, nothing is sent twice`, async () => {
    const started = Date.now();
    const workers: RoleProcess[] = Array.from({ length: WORKERS }, () => procs.spawn('worker', workerEnv));
    const ids: string[] = [];
    const messagesOf = new Map<string, string[]>();
    const faults = new Map<string, number>();
    /** Uses of the injected faults: what hit a call is this minus what still waits in the simulator's book. */
    let faultUses = 0;
    const faultHits = () => faultUses - stack.sim.faults().reduce((n, f) => n + (f.times ?? 1), 0);
    let openJobs = JOBS;
    let kills = 0;
    const killLog: string[] = [];
    let cancels = 0;
    let creditOutages = 0;
    let submitting = true;

    // Fault injector: random faults while jobs arrive and after, until enough have hit calls (while enough jobs are
    // open that the last ones do not get them all), plus two short credit outages.
    let faultsDone = false;
    const faultTimer = setInterval(() => {
      if (faultsDone) return;
      if (!submitting && (faultHits() >= MIN_FAULT_HITS || openJobs <= OPEN_JOBS_FOR_FAULTS)) {
        // Faults still pending would all land on the last few jobs (e.g. eight 5xx on one upload → minutes of backoff).
        faultsDone = true;
        stack.sim.clearFaults();
        return;
      }
      if (stack.sim.faults().length >= FAULTS_PENDING_MAX) return;
      const f = randomFault();
      stack.sim.injectFault(f);
      faultUses += f.times ?? 1;
      faults.set(f.kind, (faults.get(f.kind) ?? 0) + (f.times ?? 1));
    }, FAULT_EVERY_MS);
    // Two short credit outages. A no_credits fault zeroes the balance when it lands, not when it is injected, and it
    // waits behind the run_sse faults injected before it: on a loaded machine the first can land after the second is
    // injected. So the balance comes back 1.5 s after each landing, counted one by one (a count taken at injection
    // let one landing answer both outages, and the other then left the balance at 0 for good).
    let noCreditLandings = 0;
    const restores: NodeJS.Timeout[] = [];
    const creditWatch = setInterval(() => {
      const landed = stack.sim.log.entries().filter((e) => e.fault === 'no_credits').length;
      for (; noCreditLandings < landed; noCreditLandings++) restores.push(setTimeout(() => stack.sim.setCredits(100_000_000), 1_500));
      // Both landed: stop copying the simulator's whole log every 200 ms (this process hosts the simulator).
      if (noCreditLandings >= OUTAGES.length) clearInterval(creditWatch);
    }, 200);
    const outage = (at: number) =>
      setTimeout(() => {
        creditOutages += 1;
        stack.sim.injectFault({ kind: 'no_credits' });
      }, at);
    const outages = OUTAGES.map(outage);
    // Killer: SIGKILL a random worker up to once a second, once the workers got on with the jobs since the last kill,
    // and start a replacement at once.
    let callsAtKill = 0;
    const killTimer = setInterval(() => {
      if (stack.sim.log.size() - callsAtKill < CALLS_BETWEEN_KILLS) return;
      callsAtKill = stack.sim.log.size();
      const victim = between(0, workers.length - 1);
      const old = workers[victim]!;
      workers[victim] = procs.spawn('worker', workerEnv);
      kills += 1;
      killLog.push(`${new Date().toISOString()} pid ${old.pid}`);
      void old.kill9();
    }, KILL_EVERY_MS);

    try {
      for (let i = 0; i < JOBS; i++) {
        const followups = Array.from({ length: between(0, 2) }, (_, k) => EDITS[(i + k) % EDITS.length]!);
        const instruction = pick(INSTRUCTIONS);
        const res = await stack.api<Job>('POST', '/v1/jobs', {
          instruction,
          followups,
          sources: Math.random() < 0.5 ? [{ url: `https://example.com/soak/${i}.jpg` }] : [],
          webhook: { url: receiver.url },
        });
        expect(res.status).toBe(202);
        ids.push(res.body.id);
        messagesOf.set(res.body.id, [instruction, ...followups]);
        if (i % 25 === 7) {
          cancels += 1;
          const target = pick(ids);
          setTimeout(() => void stack.api('POST', `/v1/jobs/${target}/cancel`), between(100, 2_000));
        }
        if (i % 10 === 9) await new Promise((r) => setTimeout(r, 800));
      }
      submitting = false;

      // Polled straight from Redis: the test process also hosts the simulator, so it keeps its own load low.
      await waitFor(
        async () => {
          const records = await Promise.all(ids.map((id) => stack.services.store.get(id)));
          openJobs = records.filter((r) => !r || !TERMINAL.has(r.job.status)).length;
          return openJobs === 0;
        },
        { what: 'every job to reach a terminal state', timeoutMs: 200_000, intervalMs: 1_000 },
      ).catch(async (err: unknown) => {
        // Which jobs are stuck, and where: status, stage, what they wait for, their checkpoint and admission state.
        const stuck = (await Promise.all(ids.map((id) => stack.services.store.get(id)))).filter((r) => r && !TERMINAL.has(r.job.status));
        for (const r of stuck.slice(0, 10)) {
          const flow = await stack.services.flows.load(r!.job.id);
          console.error(
            `stuck ${r!.job.id} ${r!.job.status}/${r!.job.stage} waiting=${JSON.stringify(r!.job.waiting)} step=${flow?.step} ` +
              `inflight=${JSON.stringify(flow?.inflight)} admission=${await stack.services.admission.state(r!.job.id, r!.tenant)} ` +
              `queue=${await (await stack.services.flowQueue.getJob(r!.job.id))?.getState()}`,
          );
        }
        throw err;
      });
      const jobs = await Promise.all(ids.map(async (id) => (await stack.api<Job>('GET', `/v1/jobs/${id}`)).body));
      clearInterval(killTimer);
      clearInterval(faultTimer);
      const settledMs = Date.now() - started;

      // None lost, each ended exactly once (one terminal event in its event list).
      expect(jobs).toHaveLength(JOBS);
      for (const job of jobs) {
        const terminal = (await stack.services.store.events(job.id)).filter((e) => (TERMINAL_EVENTS as readonly string[]).includes(e.type));
        expect(terminal, job.id).toHaveLength(1);
      }

      // No session got a message twice or two renders; a succeeded job sent each message exactly once in its final session.
      const log = stack.sim.log.entries();
      // A call counts as reaching the agent when the simulator answered 200, or when the caller vanished (a SIGKILLed
      // worker) before any answer was written: the simulator still runs that message, as the real backend would.
      const reached = (e: (typeof log)[number]) => e.status === 200 || (e.status === 0 && e.fault !== 'network_drop');
      const runs = new Map<string, number>();
      const renders = new Map<string, number>();
      for (const e of log) {
        if (!reached(e) || !e.sessionId) continue;
        if (e.endpoint === 'run_sse') runs.set(`${e.sessionId}|${e.message}`, (runs.get(`${e.sessionId}|${e.message}`) ?? 0) + 1);
        if (e.endpoint === 'render_submit') renders.set(e.sessionId, (renders.get(e.sessionId) ?? 0) + 1);
      }
      expect([...runs.entries()].filter(([, n]) => n > 1)).toEqual([]);
      expect([...renders.entries()].filter(([, n]) => n > 1)).toEqual([]);
      const sessionResets = log.filter((e) => e.fault === 'session_lost').length;
      for (const job of jobs.filter((j) => j.status === 'succeeded')) {
        const session = job.upstream.session_id!;
        const sent = log.filter((e) => e.endpoint === 'run_sse' && reached(e) && e.sessionId === session).map((e) => e.message);
        expect(sent.length, job.id).toBe(messagesOf.get(job.id)!.length);
        // On a miss, what the simulator saw of the job: every call in its sessions and on its renders.
        const trail = () =>
          `${job.id} session ${session} render ${job.upstream.render_id}: ` +
          log
            .filter((e) => e.sessionId === session || (job.upstream.render_id && e.renderId === job.upstream.render_id))
            .map((e) => `${e.endpoint}:${e.status}${e.fault ? `:${e.fault}` : ''}${e.sessionId === session ? '' : `@${e.sessionId}`}`)
            .join(' ');
        if (renders.get(session) !== 1) expect(renders.get(session), trail()).toBe(1);
      }

      // Webhooks: each job's terminal event reached the receiver under a single event id.
      await waitFor(
        () => ids.every((id) => receiver.deliveries.some((d) => d.payload.data.id === id && TERMINAL.has(d.payload.data.status))),
        { what: 'a terminal webhook for every job', timeoutMs: 90_000, intervalMs: 500 },
      );
      for (const id of ids) {
        const terminalIds = new Set(
          receiver.deliveries.filter((d) => d.payload.data.id === id && TERMINAL.has(d.payload.data.status)).map((d) => d.headers['webhook-id']),
        );
        expect(terminalIds.size, id).toBe(1);
      }
      expect(receiver.deliveries.every((d) => d.verified)).toBe(true);

      const byStatus: Record<string, number> = {};
      const failedByCode: Record<string, number> = {};
      for (const j of jobs) {
        byStatus[j.status] = (byStatus[j.status] ?? 0) + 1;
        if (j.status === 'failed') failedByCode[j.error!.code] = (failedByCode[j.error!.code] ?? 0) + 1;
      }
      const hits: Record<string, number> = {};
      for (const e of log) if (e.fault) hits[e.fault] = (hits[e.fault] ?? 0) + 1;
      // What became of the jobs whose accepted agent stream was faulted (by the job's final session; reset sessions aside).
      const jobBySession = new Map(jobs.map((j) => [j.upstream.session_id, j]));
      const streamOutcomes: Record<string, number> = {};
      for (const e of log.filter((x) => x.endpoint === 'run_sse' && x.fault && x.status === 200)) {
        const job = jobBySession.get(e.sessionId ?? null);
        const key = `${e.fault}->${job ? (job.error?.code ?? job.status) : 'session replaced'}`;
        streamOutcomes[key] = (streamOutcomes[key] ?? 0) + 1;
      }
      console.log(
        [
          `[resilience-soak] jobs ${JOBS}: ${JSON.stringify(byStatus)}; failed by code ${JSON.stringify(failedByCode)}`,
          `  worker SIGKILLs ${kills} (${WORKERS} workers, lock 2000 ms); cancels requested ${cancels}; credit outages ${creditOutages}`,
          `  faults injected ${JSON.stringify(Object.fromEntries(faults))}`,
          `  faults that hit a call ${JSON.stringify(hits)} (session resets ${sessionResets})`,
          `  faulted agent streams → job outcome ${JSON.stringify(streamOutcomes)}`,
          `  upstream calls ${log.length}; accepted run_sse ${[...runs.values()].reduce((a, b) => a + b, 0)}; renders ${renders.size}`,
          `  all terminal after ${settledMs} ms; webhooks settled after ${Date.now() - started} ms`,
          ...jobs
            .filter((j) => j.error?.code === 'UPSTREAM_TIMEOUT' || j.error?.code === 'UPSTREAM_ERROR')
            .map((j) => `  ${j.error!.code} ${j.id}: ${j.error!.message.slice(0, 160)} | ${log.filter((e) => e.sessionId === j.upstream.session_id).map((e) => `${e.endpoint}:${e.status}${e.fault ? `:${e.fault}` : ''}`).join(' ')}`),
        ].join('\n'),
      );
      if (process.env.SOAK_DEBUG) {
        const odd = jobs.filter((j) => ['UPSTREAM_TIMEOUT', 'UPSTREAM_ERROR', 'UPSTREAM_AUTH_FAILED'].includes(j.error?.code ?? '')).map((j) => j.id);
        console.log(procs.dump().split('\n').filter((l) => odd.some((id) => l.includes(id))).join('\n'));
        console.log('run_sse without session', JSON.stringify(log.filter((e) => e.endpoint === 'run_sse' && !e.sessionId)));
        console.log('kills', killLog.join(', '));
        for (const id of odd) console.log('inflight', id, JSON.stringify((await stack.services.flows.load(id))?.inflight));
      }
      // Not a pass by default: the faults and the kills met running jobs.
      const hitCount = Object.values(hits).reduce((a, b) => a + b, 0);
      expect(hitCount, `faults that hit a call: ${JSON.stringify(hits)}`).toBeGreaterThanOrEqual(Math.min(MIN_FAULT_HITS, JOBS / 10));
      expect(kills).toBeGreaterThanOrEqual(Math.min(10, Math.ceil(JOBS / 20)));
      // The outcome in the message: a failing CI run shows only the tail of its output.
      expect(byStatus.succeeded ?? 0, `${JSON.stringify(byStatus)}; failed by code ${JSON.stringify(failedByCode)}`).toBeGreaterThan(JOBS / 2);
    } catch (err) {
      console.error(procs.dump().slice(-20_000));
      console.error('credits gate', await stack.services.redis.get(stack.services.keys.creditsPause()));
      console.error('sim users', JSON.stringify(stack.sim.sessions().slice(0, 1).map((s) => s.credits)));
      throw err;
    } finally {
      clearInterval(killTimer);
      clearInterval(faultTimer);
      outages.forEach(clearTimeout);
      clearInterval(creditWatch);
      restores.forEach(clearTimeout);
    }
  }, 300_000);
});
