// The roles a benchmark child process can play: the simulator, the real API or worker, and the baselines.
// Each role loads only its own modules (dynamic imports): a worker child must not carry Fastify or the simulator, or
// its idle RSS would measure the harness instead of the worker.
import type { SimScenario } from '../../src/sim/index.js';
import type { StraightLineRun } from './straight-line.js';

export type ChildRole = 'sim' | 'api' | 'worker' | 'accept-baseline' | 'receiver' | 'straight-line';

export interface RoleHandle {
  url: string | null;
  ops: Record<string, (args: unknown) => Promise<unknown>>;
}

export interface SimSpec {
  timeScale: number;
  scenario: Partial<SimScenario>;
}

export async function startRole(role: ChildRole, spec: unknown): Promise<RoleHandle> {
  switch (role) {
    case 'sim': {
      const { createSimulator, SIM_ENDPOINTS } = await import('../../src/sim/index.js');
      const s = spec as SimSpec;
      const sim = createSimulator({ timeScale: s.timeScale, scenario: s.scenario });
      // How long each upload request took as the simulator saw it (headers in → answer sent), whoever sent it.
      const uploads: { ms: number; bytes: number }[] = [];
      const started = new WeakMap<object, number>();
      sim.app.addHook('onRequest', async (req) => void (req.url.startsWith('/api/upload-video/') && started.set(req, performance.now())));
      sim.app.addHook('onResponse', async (req) => {
        const at = started.get(req);
        if (at !== undefined) uploads.push({ ms: performance.now() - at, bytes: Number(req.headers['content-length'] ?? 0) });
      });
      const url = await sim.listen(0, '127.0.0.1');
      return {
        url,
        ops: {
          counts: async () => Object.fromEntries(SIM_ENDPOINTS.map((e) => [e, sim.log.count(e)])),
          setScenario: async (patch) => void sim.setScenario(patch as Partial<SimScenario>),
          /** The upload requests timed since the last call (and forgets them). */
          uploadTimings: async () => uploads.splice(0),
        },
      };
    }
    case 'api': {
      const [{ inProcessServices, redisReady }, { startApi }] = await Promise.all([import('./env.js'), import('../../src/app/roles.js')]);
      const services = inProcessServices((spec as { env: Record<string, string> }).env);
      await redisReady(services);
      const { url } = await startApi(services);
      return { url, ops: {} };
    }
    case 'worker': {
      // As src/main.ts does for `worker`: the opt-in V8 flags before the worker's modules load, and the heap release loop.
      (await import('../../src/app/v8-flags.js')).applyWorkerV8Flags();
      (await import('../../src/observability/heap-release.js')).startWorkerHeapRelease(process.env, ({ rssBefore, rssAfter, ms }) =>
        process.stderr.write(`[worker] heap released: RSS ${(rssBefore / 2 ** 20).toFixed(0)} -> ${(rssAfter / 2 ** 20).toFixed(0)} MB, ${ms.toFixed(0)} ms\n`),
      );
      const [{ inProcessServices }, { startWorker }] = await Promise.all([import('./env.js'), import('../../src/app/roles.js')]);
      const services = inProcessServices((spec as { env: Record<string, string> }).env);
      await startWorker(services);
      return { url: null, ops: {} };
    }
    case 'accept-baseline':
      return startAcceptBaseline(spec as { redisUrl: string; prefix: string });
    case 'receiver': {
      const { startCountingReceiver } = await import('./receiver.js');
      const receiver = await startCountingReceiver({ parse: false });
      return { url: receiver.url, ops: { count: async () => receiver.summary(), reset: async () => void receiver.reset() } };
    }
    case 'straight-line': {
      const { runStraightLine } = await import('./straight-line.js');
      const { simUrl } = spec as { simUrl: string };
      return { url: null, ops: { run: (args) => runStraightLine(simUrl, args as StraightLineRun) } };
    }
  }
}

/** The accept baseline: Fastify with one route that does nothing but put a job on the same BullMQ queue. */
async function startAcceptBaseline(spec: { redisUrl: string; prefix: string }): Promise<RoleHandle> {
  const [{ default: Fastify }, { createFlowQueue, enqueueFlow }, { newJobId }] = await Promise.all([
    import('fastify'),
    import('../../src/flow/queue.js'),
    import('../../src/jobs/ids.js'),
  ]);
  const queue = createFlowQueue({ url: spec.redisUrl, maxRetriesPerRequest: null }, spec.prefix);
  const app = Fastify({ logger: false });
  app.post('/v1/jobs', async (_request, reply) => {
    const id = newJobId();
    await enqueueFlow(queue, id);
    return reply.status(202).send({ id });
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, ops: {} };
}
