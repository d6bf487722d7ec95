// NemoVideo simulator: anonymous tokens, bearer checks, error dialect knobs, claim tokens and the /_sim control routes.
import { describe, expect, it } from 'vitest';
import type { SimLogEntry } from '../../src/sim/index.js';
import { runSimulatorFromEnv } from '../../src/sim/index.js';
import { waitFor } from '../helpers/wait.js';
import { call, getState, newSession, runSse, simSuite } from '../fixtures/sim/sim-client.js';

const suite = simSuite();

type TokenReply = { code: number; data: { token: string; user_id: string; expires_at: string; credits: number } };

describe('sim: anonymous tokens and auth', () => {
  it('one token per client id; X-Client-Id required and ≤ 64 chars; per-IP limit', async () => {
    suite.sim.setScenario({ tokenIpLimit: 2 });
    const a = await call<TokenReply>(suite.base, 'POST', '/api/auth/anonymous-token', { headers: { 'x-client-id': 'c1' } });
    expect(a.json.data.token).toMatch(/^nmv_usr_/);
    expect(a.json.data.user_id).toMatch(/^anon_/);
    expect(a.json.data.credits).toBe(10_000);
    const week = Date.parse(a.json.data.expires_at) - Date.now();
    expect(week).toBeGreaterThan(6.9 * 86_400_000);
    const again = await call<TokenReply>(suite.base, 'POST', '/api/auth/anonymous-token', { headers: { 'x-client-id': 'c1' } });
    expect(again.json.data.token).toBe(a.json.data.token);
    expect((await call(suite.base, 'POST', '/api/auth/anonymous-token')).status).toBe(400);
    expect((await call(suite.base, 'POST', '/api/auth/anonymous-token', { headers: { 'x-client-id': 'x'.repeat(65) } })).status).toBe(400);
    expect((await call(suite.base, 'POST', '/api/auth/anonymous-token', { headers: { 'x-client-id': 'c2' } })).status).toBe(200);
    const limited = await call(suite.base, 'POST', '/api/auth/anonymous-token', { headers: { 'x-client-id': 'c3' } });
    expect(limited.status).toBe(429);
    expect(limited.json).toMatchObject({ code: 429 });
  });

  it('every other route needs a known bearer: 1001, mapped or always HTTP 200, message or msg', async () => {
    const { sessionId } = await newSession(suite.base);
    const none = await getState(suite.base, '', sessionId);
    expect(none.status).toBe(401);
    expect(none.json).toEqual({ code: 1001, message: 'token invalid or expired', data: null });
    suite.sim.setScenario({ errorHttpStatus: 'always200', errorMessageKey: 'msg' });
    const bogus = await call(suite.base, 'GET', '/api/credits/balance/simple', { token: 'nmv_usr_bogus' });
    expect(bogus.status).toBe(200);
    expect(bogus.json).toEqual({ code: 1001, msg: 'token invalid or expired', data: null });
    const run = await runSse(suite.base, 'nmv_usr_bogus', sessionId, 'hi');
    expect(JSON.parse(run.text)).toMatchObject({ code: 1001 });
  });

  it('tokens expire after tokenTtlMs; sessions belong to their user; static tokens are paid users', async () => {
    suite.sim.setScenario({ tokenTtlMs: 100, staticTokens: ['nmv_usr_configured_token_1234'] });
    const { token, sessionId } = await newSession(suite.base);
    await waitFor(async () => (await call(suite.base, 'GET', '/api/credits/balance/simple', { token })).status === 401);
    const paid = 'nmv_usr_configured_token_1234';
    expect((await call(suite.base, 'GET', '/api/credits/balance/simple', { token: paid })).status).toBe(200);
    expect((await getState(suite.base, paid, sessionId)).json.code).toBe(1002);
  });

  it('claim tokens are reusable per session', async () => {
    const { token, sessionId, taskId } = await newSession(suite.base);
    const c1 = await call<{ data: { claim_token: string; expires_in: number } }>(suite.base, 'POST', '/api/auth/claim-token', { token, body: { task_id: taskId, session_id: sessionId } });
    expect(c1.json.data.claim_token).toMatch(/^clm_/);
    expect(c1.json.data.expires_in).toBe(604_800);
    const c2 = await call<{ data: { claim_token: string } }>(suite.base, 'POST', '/api/auth/claim-token', { token, body: { task_id: taskId, session_id: sessionId } });
    expect(c2.json.data.claim_token).toBe(c1.json.data.claim_token);
    expect((await call(suite.base, 'POST', '/api/auth/claim-token', { token, body: { task_id: 'task_x', session_id: sessionId } })).json).toMatchObject({ code: 1002 });
  });
});

describe('sim: control routes', () => {
  it('drive scenario, faults, log, sessions and reset over HTTP without being logged', async () => {
    const put = await call(suite.base, 'POST', '/_sim/scenario', { body: { heartbeat: 'word', renderShape: 'b' } });
    expect(put.json).toMatchObject({ scenario: { heartbeat: 'word', renderShape: 'b' } });
    expect((await call(suite.base, 'POST', '/_sim/scenario', { body: { nope: 1 } })).status).toBe(400);
    expect((await call(suite.base, 'POST', '/_sim/faults', { body: { kind: 'bogus' } })).status).toBe(400);
    await call(suite.base, 'POST', '/_sim/faults', { body: { kind: 'rate_limited', endpoint: 'credits' } });
    const { token, sessionId } = await newSession(suite.base);
    expect((await call(suite.base, 'GET', '/api/credits/balance/simple', { token })).status).toBe(429);
    await call(suite.base, 'POST', '/_sim/faults', { body: { kind: 'rate_limited', endpoint: 'credits' } });
    await call(suite.base, 'DELETE', '/_sim/faults');
    expect((await call(suite.base, 'GET', '/api/credits/balance/simple', { token })).status).toBe(200);
    const s = await runSse(suite.base, token, sessionId, 'make a video');
    expect(s.text).toContain('data: heartbeat\n\n');

    const sessions = await call<{ sessions: { sessionId: string; messages: string[]; credits: { available: number } }[] }>(suite.base, 'GET', '/_sim/sessions');
    expect(sessions.json.sessions).toEqual([expect.objectContaining({ sessionId, messages: ['make a video'], credits: expect.objectContaining({ available: 9900 }) })]);
    const log = await call<{ entries: SimLogEntry[] }>(suite.base, 'GET', '/_sim/log');
    expect(log.json.entries.map((e) => e.endpoint)).toEqual(['anonymous_token', 'create_session', 'credits', 'credits', 'run_sse']);
    expect(log.json.entries[2]).toMatchObject({ status: 429, fault: 'rate_limited' });

    await call(suite.base, 'POST', '/_sim/reset');
    expect(suite.sim.sessions()).toEqual([]);
    expect(suite.sim.log.entries()).toEqual([]);
    expect(suite.sim.scenario().heartbeat).toBe('json');
    expect((await call(suite.base, 'GET', '/api/credits/balance/simple', { token })).status).toBe(401);
  });

  it('runSimulatorFromEnv starts one with a scenario from SIM_SCENARIO', async () => {
    const other = await runSimulatorFromEnv({ SIM_PORT: 0, SIM_TIME_SCALE: 0, HOST: '127.0.0.1', SIM_SCENARIO: '{"renderShape":"b","eventCasing":"snake"}' });
    try {
      expect(other.scenario()).toMatchObject({ renderShape: 'b', eventCasing: 'snake' });
      const { token, sessionId } = await newSession(other.url);
      const s = await runSse(other.url, token, sessionId, 'make a video');
      expect(s.text).toContain('"invocation_id"');
      await other.idle();
      expect(other.session(sessionId)!.state.draft).not.toBeNull();
    } finally {
      await other.close();
    }
    await expect(runSimulatorFromEnv({ SIM_PORT: 0, SIM_TIME_SCALE: 1, SIM_SCENARIO: '{"typo":true}' })).rejects.toThrow();
  });
});
