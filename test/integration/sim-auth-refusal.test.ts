// Scenario authErrorCode: the newer mega-x gateway's 1010/1011 with HTTP 401 (protocol §1), read by the client as `auth`.
import { describe, expect, it } from 'vitest';
import { call, getState, newSession, runSse, simSuite } from '../fixtures/sim/sim-client.js';
import { caught, makeClient } from '../unit/nemo-test-server.js';

const suite = simSuite();
const RUN = { idleMs: 5_000, maxMs: 10_000 };

describe('sim token refusals', () => {
  it('1001 stays the default', async () => {
    expect(suite.sim.scenario().authErrorCode).toBe(1001);
    const r = await call(suite.base, 'GET', '/api/credits/balance/simple', { token: 'nmv_usr_bogus' });
    expect([r.status, r.json]).toEqual([401, { code: 1001, message: 'token invalid or expired', data: null }]);
  });

  it.each([
    { authErrorCode: 1010, message: 'invalid token' },
    { authErrorCode: 1011, message: 'token expired' },
  ] as const)('$authErrorCode with HTTP 401 (even under always200), on every refusal; the client reads auth', async ({ authErrorCode, message }) => {
    suite.sim.setScenario({ authErrorCode, errorHttpStatus: 'always200' });
    const client = makeClient(suite.base);
    const { token, sessionId } = await newSession(suite.base);

    const bogus = await call(suite.base, 'GET', '/api/credits/balance/simple', { token: 'nmv_usr_bogus' });
    expect([bogus.status, bogus.json]).toEqual([401, { code: authErrorCode, message, data: null }]);
    expect((await runSse(suite.base, 'nmv_usr_bogus', sessionId, 'hi')).status).toBe(401);

    for (const refused of [
      () => client.getCredits('nmv_usr_bogus'),
      () => client.getState('nmv_usr_bogus', sessionId),
      () => client.runAgent('nmv_usr_bogus', sessionId, 'make a video', RUN),
      () => client.createSession('', { language: 'en' }),
    ]) {
      expect(await caught(refused)).toMatchObject({ kind: 'auth', httpStatus: 401, upstreamCode: authErrorCode });
    }

    // A token killed by the token_expired fault is refused the same way, there and afterwards.
    suite.sim.injectFault({ kind: 'token_expired', endpoint: 'state' });
    expect(await caught(() => client.getState(token, sessionId))).toMatchObject({ kind: 'auth', upstreamCode: authErrorCode });
    expect((await getState(suite.base, token, sessionId)).json).toMatchObject({ code: authErrorCode });
  });

  it('only 1001, 1010 and 1011 are accepted', async () => {
    const res = await call(suite.base, 'POST', '/_sim/scenario', { body: { authErrorCode: 1002 } });
    expect(res.status).toBe(400);
  });
});
