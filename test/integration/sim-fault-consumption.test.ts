// When a one-shot fault is used up (src/sim/README.md): gateway faults by any call, route faults only by an authenticated one.
import { describe, expect, it } from 'vitest';
import { call, getState, newSession, runSse, simSuite } from '../fixtures/sim/sim-client.js';

const suite = simSuite();

describe('sim fault consumption', () => {
  it('a call refused for its token neither uses nor counts a route fault: the next authenticated caller gets it', async () => {
    const a = await newSession(suite.base);
    suite.sim.injectFault({ kind: 'session_lost', endpoint: 'state' });
    suite.sim.injectFault({ kind: 'no_credits', after: 1 });
    expect((await getState(suite.base, 'nmv_usr_bogus', a.sessionId)).json).toMatchObject({ code: 1001 });
    expect((await runSse(suite.base, 'nmv_usr_bogus', a.sessionId, 'make a video')).status).toBe(401);
    expect(suite.sim.faults()).toMatchObject([
      { kind: 'session_lost', times: 1 },
      { kind: 'no_credits', times: 1, after: 1 },
    ]);
    const b = await newSession(suite.base);
    expect((await getState(suite.base, b.token, b.sessionId)).json).toMatchObject({ code: 1002 });
    expect(suite.sim.session(b.sessionId)).toBeUndefined();
  });

  it('a gateway fault (rate_limited, server_error, network_drop, slow) is used by any call, a bad token included', async () => {
    const a = await newSession(suite.base);
    suite.sim.injectFault({ kind: 'rate_limited', endpoint: 'credits' });
    expect((await call(suite.base, 'GET', '/api/credits/balance/simple', { token: 'nmv_usr_bogus' })).status).toBe(429);
    expect(suite.sim.faults()).toEqual([]);
    expect((await call(suite.base, 'GET', '/api/credits/balance/simple', { token: a.token })).status).toBe(200);
  });

  it('a run_sse route fault is used by an authenticated call even when the route then refuses it (422, missing session)', async () => {
    const a = await newSession(suite.base);
    suite.sim.injectFault({ kind: 'stream_drop' });
    expect((await runSse(suite.base, a.token, '1234567890123456789', 'make a video')).status).toBe(404);
    expect(suite.sim.faults()).toEqual([]);
    const s = await runSse(suite.base, a.token, a.sessionId, 'make a video');
    expect(s.error).toBeUndefined();
  });
});
