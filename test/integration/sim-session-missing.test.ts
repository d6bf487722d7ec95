// /run_sse's "session not found" in each form protocol §3 names (older/newer ADK detail, gateway 1002): the client and a whole job.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import type { SimScenario } from '../../src/sim/index.js';
import { newSession, runSse, simSuite } from '../fixtures/sim/sim-client.js';
import { startStack, waitForFinished, type Stack } from '../helpers/stack.js';
import { caught, makeClient } from '../unit/nemo-test-server.js';

const suite = simSuite();
const RUN = { idleMs: 5_000, maxMs: 10_000 };

const FORMS: { name: string; scenario: Partial<SimScenario>; status: number; body: (id: string) => unknown }[] = [
  { name: 'older ADK detail', scenario: { sessionMissingForm: 'detail' }, status: 404, body: () => ({ detail: 'Session not found' }) },
  { name: 'newer ADK detail', scenario: { sessionMissingForm: 'detail_id' }, status: 404, body: (id) => ({ detail: `Session not found: ${id}` }) },
  {
    name: 'gateway 1002 (mapped)',
    scenario: { sessionMissingForm: 'envelope' },
    status: 404,
    body: () => ({ code: 1002, message: 'session not found', data: null }),
  },
  {
    name: 'gateway 1002 on HTTP 200 with msg',
    scenario: { sessionMissingForm: 'envelope', errorHttpStatus: 'always200', errorMessageKey: 'msg' },
    status: 200,
    body: () => ({ code: 1002, msg: 'session not found', data: null }),
  },
];

describe('sim /run_sse session missing: every form, and the client reads each as session_missing', () => {
  it('the default is still the newer detail', () => {
    expect(suite.sim.scenario().sessionMissingForm).toBe('detail_id');
  });

  it.each(FORMS)('$name: an unknown session and the session_lost fault', async ({ scenario, status, body }) => {
    suite.sim.setScenario(scenario);
    const { token, sessionId } = await newSession(suite.base);
    const client = makeClient(suite.base);

    const unknownId = '1234567890123456789';
    const raw = await runSse(suite.base, token, unknownId, 'make a video');
    expect(raw.status).toBe(status);
    expect(JSON.parse(raw.text)).toEqual(body(unknownId));
    const missing = await caught(() => client.runAgent(token, unknownId, 'make a video', RUN));
    expect(missing).toMatchObject({ kind: 'session_missing', endpoint: 'run_sse', phase: 'before_stream' });

    suite.sim.injectFault({ kind: 'session_lost', endpoint: 'run_sse', sessionId });
    const lost = await caught(() => client.runAgent(token, sessionId, 'make a video', RUN));
    expect(lost).toMatchObject({ kind: 'session_missing', endpoint: 'run_sse' });
    expect(suite.sim.session(sessionId)).toBeUndefined();
    const entry = suite.sim.log.entries().find((e) => e.endpoint === 'run_sse' && e.fault === 'session_lost')!;
    expect(entry.status).toBe(status);
  });
});

describe('a relay job recovers from session_lost answered as the gateway 1002', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ scenario: { silentEdits: 'never', sessionMissingForm: 'envelope', tokenIpLimit: 1_000 } });
  });
  afterAll(async () => {
    await stack?.close();
  });
  beforeEach(() => stack.sim.log.clear());

  it.each([{ errorHttpStatus: 'mapped' }, { errorHttpStatus: 'always200' }] as const)(
    'errorHttpStatus $errorHttpStatus: a new session, the message sent there, the job succeeds',
    async ({ errorHttpStatus }) => {
      stack.sim.setScenario({ errorHttpStatus });
      stack.sim.injectFault({ kind: 'session_lost', endpoint: 'run_sse' });
      const created = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'make a 10-second promo video for a bakery' });
      expect(created.status).toBe(202);
      const job = await waitForFinished(stack, created.body.id, 30_000);
      expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
      const log = stack.sim.log.entries();
      const lost = log.find((e) => e.fault === 'session_lost')!;
      expect(lost).toMatchObject({ endpoint: 'run_sse', status: errorHttpStatus === 'mapped' ? 404 : 200 });
      expect(log.filter((e) => e.endpoint === 'create_session')).toHaveLength(2);
      expect(job.upstream.session_id).not.toBe(lost.sessionId);
      const ran = log.filter((e) => e.endpoint === 'run_sse' && e.sessionId === job.upstream.session_id && e.status === 200);
      expect(ran).toHaveLength(1);
    },
  );
});
