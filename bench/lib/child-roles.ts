// The roles a benchmark child process can play: the simulator, the real API or worker, and the baselines.
import Fastify from 'fastify';
import { createFlowQueue, enqueueFlow } from '../../src/flow/queue.js';
import { newJobId } from '../../src/jobs/ids.js';
import { startApi, startWorker } from '../../src/roles.js';
import { createSimulator, SIM_ENDPOINTS, type SimScenario } from '../../src/sim/index.js';
import { inProcessServices, redisReady } from './env.js';
import { startCountingReceiver } from './receiver.js';
import { runStraightLine, type StraightLineRun } from './straight-line.js';

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
      const s = spec as SimSpec;
      const sim = createSimulator({ timeScale: s.timeScale, scenario: s.scenario });
      const url = await sim.listen(0, '127.0.0.1');
      return {
        url,
        ops: {
          counts: async () => Object.fromEntries(SIM_ENDPOINTS.map((e) => [e, sim.log.count(e)])),
          setScenario: async (patch) => void sim.setScenario(patch as Partial<SimScenario>),
        },
      };
    }
    case 'api': {
      const services = inProcessServices((spec as { env: Record<string, string> }).env);
      await redisReady(services);
      const { url } = await startApi(services);
      return { url, ops: {} };
    }
    case 'worker': {
      const services = inProcessServices((spec as { env: Record<string, string> }).env);
      await startWorker(services);
      return { url: null, ops: {} };
    }
    case 'accept-baseline':
      return startAcceptBaseline(spec as { redisUrl: string; prefix: string });
    case 'receiver': {
      const receiver = await startCountingReceiver({ parse: false });
      return { url: receiver.url, ops: { count: async () => receiver.summary(), reset: async () => void receiver.reset() } };
    }
    case 'straight-line': {
      const { simUrl } = spec as { simUrl: string };
      return { url: null, ops: { run: (args) => runStraightLine(simUrl, args as StraightLineRun) } };
    }
  }
}

/** The accept baseline: Fastify with one route that does nothing but put a job on the same BullMQ queue. */
async function startAcceptBaseline(spec: { redisUrl: string; prefix: string }): Promise<RoleHandle> {
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
