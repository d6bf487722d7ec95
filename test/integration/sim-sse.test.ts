// NemoVideo simulator: /run_sse wire details — pre-stream errors, heartbeat forms, casings, typed events, partials.
import { describe, expect, it } from 'vitest';
import { adkEvents, events, frames, newSession, postSse, runSse, simSuite } from '../fixtures/sim/sim-client.js';

const suite = simSuite();

describe('sim: /run_sse before the stream', () => {
  it('answers 404 with a detail for an unknown session, 422 for an invalid body or app name', async () => {
    const { token, sessionId } = await newSession(suite.base);
    const missing = await runSse(suite.base, token, '1234567890123456789', 'hello');
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.text)).toEqual({ detail: 'Session not found: 1234567890123456789' });
    const invalid = await postSse(suite.base, token, { app_name: 'nemo_agent', session_id: sessionId });
    expect(invalid.status).toBe(422);
    const detail = (JSON.parse(invalid.text) as { detail: { loc: string[]; msg: string; type: string }[] }).detail;
    expect(detail).toEqual(expect.arrayContaining([{ type: 'missing', loc: ['body', 'user_id'], msg: 'Field required' }]));
    const badApp = await postSse(suite.base, token, { app_name: 'nemo-agent', user_id: 'me', session_id: sessionId, new_message: { parts: [{ text: 'x' }] } });
    expect(badApp.status).toBe(422);
    expect(suite.sim.log.count('run_sse')).toBe(3);
    expect(suite.sim.session(sessionId)!.messages).toEqual([]);
  });

  it('accepts camelCase aliases (RunAgentRequest populate_by_name)', async () => {
    const { token, sessionId } = await newSession(suite.base);
    const s = await postSse(suite.base, token, { appName: 'nemo_agent', userId: 'me', sessionId, newMessage: { role: 'user', parts: [{ text: 'make a video' }] } });
    expect(s.status).toBe(200);
    expect(adkEvents(s.text).some((e) => e.content?.parts.some((p) => p.functionCall?.name === 'generate_video_with_seedance'))).toBe(true);
  });
});

describe('sim: heartbeat forms', () => {
  it.each([
    ['json', 'data: {"type":"heartbeat"}\n\n'],
    ['empty', 'data: \n\n'],
    ['comment', ': keep-alive\n\n'],
    ['word', 'data: heartbeat\n\n'],
  ] as const)('%s', async (form, frame) => {
    suite.sim.setScenario({ heartbeat: form });
    const { token, sessionId } = await newSession(suite.base);
    const s = await runSse(suite.base, token, sessionId, 'make a video');
    expect(s.text).toContain(frame);
    expect(s.text).not.toMatch(/^(event|id):/m);
  });

  it('mixed rotates through all four', async () => {
    suite.sim.setScenario({ heartbeat: 'mixed' });
    const { token, sessionId } = await newSession(suite.base);
    const s = await runSse(suite.base, token, sessionId, 'make a video');
    for (const frame of ['data: {"type":"heartbeat"}', 'data: ', ': keep-alive', 'data: heartbeat']) expect(frames(s.text)).toContain(frame);
  });
});

describe('sim: event shapes', () => {
  it('snake casing renames ADK keys but not the payloads', async () => {
    suite.sim.setScenario({ eventCasing: 'snake' });
    const { token, sessionId } = await newSession(suite.base);
    const s = await runSse(suite.base, token, sessionId, 'make a video with a title');
    const evs = events(s.text).filter((e) => e.type === undefined);
    expect(evs[0]).toHaveProperty('invocation_id');
    expect(evs[0]).toHaveProperty('long_running_tool_ids');
    expect(evs[0]).not.toHaveProperty('invocationId');
    expect(String(evs[0]!.id)).toMatch(/^[A-Za-z0-9]{8}$/);
    const withDelta = evs.find((e) => Object.keys((e.actions as { state_delta: object }).state_delta).length > 0)!;
    expect((withDelta.actions as Record<string, unknown>).artifact_delta).toBeDefined();
    const parts = (withDelta.content as { parts: Record<string, unknown>[] }).parts;
    expect(parts[0]).toHaveProperty('function_response');
    expect((withDelta.actions as { state_delta: { draft: { t: unknown[] } } }).state_delta.draft.t).toBeDefined();
    expect(JSON.stringify(evs)).not.toMatch(/"(stateDelta|functionCall|functionResponse|invocationId)"/);
  });

  it('typed style emits text / tool_call / tool_result', async () => {
    suite.sim.setScenario({ eventStyle: 'typed' });
    const { token, sessionId } = await newSession(suite.base);
    const s = await runSse(suite.base, token, sessionId, 'make a video with music');
    const types = events(s.text).map((e) => e.type).filter((t) => t !== 'heartbeat');
    expect(types).toEqual(['text', 'tool_call', 'tool_result', 'tool_call', 'tool_result', 'text']);
    expect(events(s.text).find((e) => e.type === 'tool_call')).toMatchObject({ name: 'generate_video_with_seedance' });
  });

  it('splits content+delta events and appends the trailing temporary issue', async () => {
    suite.sim.setScenario({ splitArtifactEvents: true, trailingTemporaryIssue: true });
    const { token, sessionId } = await newSession(suite.base);
    const evs = adkEvents((await runSse(suite.base, token, sessionId, 'make a video')).text);
    const response = evs.findIndex((e) => e.content?.parts[0]?.functionResponse);
    expect(evs[response]!.actions!.stateDelta).toEqual({});
    expect(evs[response + 1]!.content).toBeUndefined();
    expect(evs[response + 1]!.actions!.stateDelta.draft).toBeDefined();
    expect(evs.at(-1)!.content!.parts[0]!.text).toMatch(/^I encountered a temporary issue/);
    expect(evs.at(-2)!.content!.parts[0]!.text).toMatch(/Your video is ready/);
  });

  it('streaming:true sends partial chunks before the aggregated text', async () => {
    const { token, sessionId } = await newSession(suite.base);
    const s = await runSse(suite.base, token, sessionId, 'what can you do?', { streaming: true });
    const evs = adkEvents(s.text);
    const partial = evs.filter((e) => e.partial === true).map((e) => e.content!.parts[0]!.text).join('');
    const full = evs.filter((e) => !e.partial).at(-1)!.content!.parts[0]!.text;
    expect(evs.filter((e) => e.partial).length).toBeGreaterThan(1);
    expect(partial).toBe(full);
    const plain = adkEvents((await runSse(suite.base, token, sessionId, 'and now?')).text);
    expect(plain.some((e) => e.partial)).toBe(false);
  });

  it('silent edits have tool events only; questions are text-only and free', async () => {
    const { token, sessionId } = await newSession(suite.base);
    await runSse(suite.base, token, sessionId, 'make a video');
    suite.sim.setScenario({ silentEdits: 'always' });
    const edit = adkEvents((await runSse(suite.base, token, sessionId, 'add music')).text);
    expect(edit.flatMap((e) => e.content?.parts ?? []).some((p) => p.text)).toBe(false);
    expect(edit.map((e) => Object.keys(e.content!.parts[0]!)[0])).toEqual(['functionCall', 'functionResponse']);
    const q = adkEvents((await runSse(suite.base, token, sessionId, 'how long is it?')).text);
    expect(q).toHaveLength(1);
    expect(suite.sim.session(sessionId)!.credits.available).toBe(10_000 - 150);
  });
});
