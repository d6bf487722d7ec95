// Fault test: every upstream failure rule of the flow, each shown against the simulator, plus all of them in one job.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Job, JobEvent } from '../../src/jobs/schemas.js';
import type { SimLogEntry } from '../../src/sim/index.js';
import { startStack, type Stack, waitForFinished } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const BASE_SCENARIO = { silentEdits: 'never', generateMs: 150_000, renderMs: 30_000 } as const;
const GENERATE = 'make a 10-second promo video for a coffee shop opening, warm tones';
const EDIT = 'add lo-fi background music at 35%';
const SOURCE = { url: 'https://example.com/shop/front.jpg' };

async function createJob(stack: Stack, body: Record<string, unknown>): Promise<string> {
  const res = await stack.api<Job>('POST', '/v1/jobs', { instruction: GENERATE, ...body });
  expect(res.status).toBe(202);
  return res.body.id;
}

const finished = (stack: Stack, id: string, timeoutMs = 30_000) => waitForFinished(stack, id, timeoutMs);

const entries = (stack: Stack, endpoint: string, sessionId?: string): SimLogEntry[] =>
  stack.sim.log.entries().filter((e) => e.endpoint === endpoint && (sessionId === undefined || e.sessionId === sessionId));
/** run_sse calls the agent actually ran (refusals before the stream have other statuses). */
const accepted = (stack: Stack, endpoint: string, sessionId: string) => entries(stack, endpoint, sessionId).filter((e) => e.status === 200);
const events = async (stack: Stack, id: string) =>
  (await stack.api<{ data: JobEvent[] }>('GET', `/v1/jobs/${id}/events`, undefined, { headers: { accept: 'application/json' } })).body.data;

describe('resilience: upstream faults', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({
      scenario: { ...BASE_SCENARIO, tokenIpLimit: 1_000 },
      env: {
        NEMO_SSE_IDLE_MS: '1000',
        RECONCILE_INTERVAL_MS: '100',
        RECONCILE_MAX_UNCHANGED: '30',
        CREDITS_RECHECK_MS: '300',
        CREDITS_MAX_WAIT_MS: '120000',
      },
    });
  });
  afterAll(async () => {
    await stack?.close();
  });
  beforeEach(() => {
    stack.sim.clearFaults();
    stack.sim.setScenario(BASE_SCENARIO);
    stack.sim.setCredits(10_000);
    stack.sim.log.clear();
  });

  it('one job survives 1001, 1002, 429 and a dropped stream without duplicate upstream work', async () => {
    stack.sim.injectFault({ kind: 'session_lost', endpoint: 'upload' });
    stack.sim.injectFault({ kind: 'token_expired', endpoint: 'state' });
    stack.sim.injectFault({ kind: 'rate_limited', endpoint: 'run_sse', retryAfterSec: 1 });
    stack.sim.injectFault({ kind: 'stream_drop' });
    const started = Date.now();
    const id = await createJob(stack, { followups: [EDIT], sources: [SOURCE] });
    const job = await finished(stack, id);
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(stack.sim.faults()).toEqual([]);

    const log = stack.sim.log.entries();
    const faulted = (kind: string) => log.find((e) => e.fault === kind)!;
    // 1002: a second session, everything re-uploaded there; the lost one never saw a message.
    expect(entries(stack, 'create_session')).toHaveLength(2);
    const lost = faulted('session_lost').sessionId!;
    const final = job.upstream.session_id!;
    expect(final).not.toBe(lost);
    expect(entries(stack, 'run_sse', lost)).toHaveLength(0);
    expect(accepted(stack, 'upload', final)).toHaveLength(1);
    // 1001: exactly one anonymous-token acquisition after the token died.
    expect(log.filter((e) => e.endpoint === 'anonymous_token' && e.seq > faulted('token_expired').seq)).toHaveLength(1);
    // 429: waited Retry-After (1 s) before the next /run_sse.
    const limited = faulted('rate_limited');
    const nextRun = log.find((e) => e.endpoint === 'run_sse' && e.seq > limited.seq)!;
    expect(Date.parse(nextRun.at) - Date.parse(limited.at)).toBeGreaterThanOrEqual(900);
    // stream_drop: the message was reconciled from state, not sent again. One accepted /run_sse per message.
    expect(faulted('stream_drop').sessionId).toBe(final);
    const ran = accepted(stack, 'run_sse', final).map((e) => e.message);
    expect(ran).toHaveLength(2);
    expect(ran[0]).toContain(GENERATE);
    expect(ran[1]).toBe(EDIT);
    expect(accepted(stack, 'render_submit', final)).toHaveLength(1);
    console.log(`[resilience-faults] 1001+1002+429+stream_drop in one job: succeeded in ${Date.now() - started} ms`);
  });

  it('2001 pauses new starts: queued jobs wait (not fail) and both succeed once credits are back', async () => {
    await stack.services.tokens.get();
    stack.sim.setCredits(0);
    const first = await createJob(stack, {});
    // The first job runs into 2001 on /run_sse and shuts the gate for everyone.
    await waitFor(() => stack.services.redis.exists(stack.services.keys.creditsPause()), { what: 'the credits gate to close' });
    const second = await createJob(stack, {});
    const creditChecksBefore = entries(stack, 'credits').length;
    await waitFor(() => entries(stack, 'credits').length >= creditChecksBefore + 3, { what: 'three balance re-checks', timeoutMs: 20_000 });
    for (const id of [first, second]) {
      const job = (await stack.api<Job>('GET', `/v1/jobs/${id}`)).body;
      expect(job.status).toBe('running');
    }
    // The job that came while the gate was shut never even opened an upstream session.
    const waiting = (await stack.api<Job>('GET', `/v1/jobs/${second}`)).body;
    expect(waiting.stage).toBe('auth');
    expect(waiting.upstream.session_id).toBeNull();
    expect(entries(stack, 'create_session')).toHaveLength(1);

    stack.sim.setCredits(10_000);
    const [a, b] = [await finished(stack, first), await finished(stack, second)];
    expect(a.status, JSON.stringify(a.error)).toBe('succeeded');
    expect(b.status, JSON.stringify(b.error)).toBe('succeeded');
    expect(accepted(stack, 'run_sse', a.upstream.session_id!)).toHaveLength(1);
    expect(entries(stack, 'run_sse', a.upstream.session_id!).filter((e) => e.status === 403).length).toBeGreaterThanOrEqual(1);
    expect(await stack.services.redis.exists(stack.services.keys.creditsPause())).toBe(0);
  });

  it('402 on export → UPSTREAM_EXPORT_BLOCKED explaining the plan/attribution cause', async () => {
    stack.sim.injectFault({ kind: 'export_blocked' });
    const job = await finished(stack, await createJob(stack, {}));
    expect(job.status).toBe('failed');
    expect(job.error).toMatchObject({ code: 'UPSTREAM_EXPORT_BLOCKED', retryable: false });
    expect(job.error!.message).toMatch(/402/);
    expect(job.error!.message).toMatch(/plan/);
    expect(job.error!.message).toMatch(/X-Skill/);
  });

  it.each([
    { kind: 'unsupported_file', code: 'UNSUPPORTED_MEDIA', upstream: '4001' },
    { kind: 'file_too_large', code: 'MEDIA_TOO_LARGE', upstream: '4002' },
  ] as const)('$upstream on upload → $code', async ({ kind, code, upstream }) => {
    stack.sim.injectFault({ kind });
    const job = await finished(stack, await createJob(stack, { sources: [SOURCE] }));
    expect(job.status).toBe('failed');
    expect(job.error).toMatchObject({ code, retryable: false });
    expect(job.error!.message).toContain(upstream);
    // The upstream refuses the whole upload without naming the file: the error names what that upload carried.
    expect(job.error!.message).toContain(`(the refused upload carried sources.0 (${new URL(SOURCE.url).pathname.split('/').at(-1)}))`);
    expect(entries(stack, 'upload')).toHaveLength(1);
    expect(entries(stack, 'run_sse')).toHaveLength(0);
  });

  it('a refused upload names its presigned sources without their query (the signature reached the error, its webhook and the log)', async () => {
    stack.sim.injectFault({ kind: 'unsupported_file' });
    const sources = [{ url: 'https://files.example.com/download/?id=123&X-Amz-Signature=LEAKSIG999' }, { url: 'https://files.example.com?token=T0KEN' }];
    const job = await finished(stack, await createJob(stack, { sources }));
    expect(job.error).toMatchObject({ code: 'UNSUPPORTED_MEDIA' });
    expect(job.error!.message).toContain('(the refused upload carried sources.0 (https://files.example.com/download/), sources.1 (https://files.example.com/))');
    for (const secret of ['LEAKSIG999', 'X-Amz-Signature', 'T0KEN']) expect(job.error!.message).not.toContain(secret);
  });

  it('5xx then success: retried with backoff and jitter', async () => {
    stack.sim.injectFault({ kind: 'server_error', endpoint: 'create_session', status: 502, times: 2 });
    const job = await finished(stack, await createJob(stack, {}));
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    const calls = entries(stack, 'create_session');
    expect(calls.map((e) => e.status)).toEqual([502, 502, 200]);
    const gaps = [1, 2].map((i) => Date.parse(calls[i]!.at) - Date.parse(calls[i - 1]!.at));
    // Backoff ceilings 1 s then 2 s, jittered into their upper half.
    expect(gaps[0]).toBeGreaterThanOrEqual(450);
    expect(gaps[1]).toBeGreaterThanOrEqual(950);
  });

  it('render failed → RENDER_FAILED with the upstream reason', async () => {
    stack.sim.injectFault({ kind: 'render_failed' });
    const job = await finished(stack, await createJob(stack, {}));
    expect(job.status).toBe('failed');
    expect(job.error).toMatchObject({ code: 'RENDER_FAILED', retryable: false });
    expect(job.error!.message).toContain('Lambda function timed out');
    expect(entries(stack, 'render_submit')).toHaveLength(1);
  });

  it('URL uploads the upstream takes in later (session_state_applied: false): the instruction waits until state lists them', async () => {
    stack.sim.setScenario({ ...BASE_SCENARIO, urlUploadApplyMs: 3_000_000 }); // 3 s real
    const sources = [{ url: 'https://example.com/shop/front.jpg' }, { url: 'https://example.com/shop/counter.jpg' }];
    const id = await createJob(stack, { sources });
    await waitFor(async () => (await stack.api<Job>('GET', `/v1/jobs/${id}`)).body.waiting?.reason === 'upstream_uploads', { what: 'the job to wait for its uploads' });
    const job = await finished(stack, id);
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    const log = stack.sim.log.entries();
    const upload = log.find((e) => e.endpoint === 'upload')!;
    const instruction = log.find((e) => e.endpoint === 'run_sse')!;
    // Sent once the files were in state (3 s after the upload answered), and not before.
    expect(Date.parse(instruction.at) - Date.parse(upload.at)).toBeGreaterThanOrEqual(2_900);
    expect(log.filter((e) => e.endpoint === 'run_sse')).toHaveLength(1);
    // The agent placed the caller's photos: the video track's segments name them.
    const labels = job.timeline!.tracks.flatMap((t) => t.segments.map((g) => g.label));
    expect(labels).toEqual(expect.arrayContaining(['front.jpg', 'counter.jpg']));
    expect(job.waiting).toBeNull();
  });

  it('a silent edit (no text) is reconciled from state and the job succeeds', async () => {
    stack.sim.setScenario({ silentEdits: 'always' });
    const job = await finished(stack, await createJob(stack, { followups: [EDIT] }));
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    const log = stack.sim.log.entries();
    const editRun = log.find((e) => e.endpoint === 'run_sse' && e.message === EDIT)!;
    const submit = log.find((e) => e.endpoint === 'render_submit')!;
    // The stream's stateDelta said what the edit did: the one read before the render is the checks' own.
    expect(log.filter((e) => e.endpoint === 'state' && e.seq > editRun.seq && e.seq < submit.seq)).toHaveLength(1);
    expect(accepted(stack, 'run_sse', job.upstream.session_id!)).toHaveLength(2);
    expect(job.result?.timeline).toMatch(/BGM/);
    // The caller's only word of what the silent edit did: the relay's change note.
    expect(job.changes[1]).toMatchObject({ message: 2, from_agent_text: false, summary: expect.stringMatching(/BGM/) });
  });

  it('a silent edit whose stream carries no stateDelta (typed events) is read from state once', async () => {
    stack.sim.setScenario({ silentEdits: 'always', eventStyle: 'typed' });
    const job = await finished(stack, await createJob(stack, { followups: [EDIT] }));
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    const log = stack.sim.log.entries();
    const editRun = log.find((e) => e.endpoint === 'run_sse' && e.message === EDIT)!;
    const submit = log.find((e) => e.endpoint === 'render_submit')!;
    expect(log.filter((e) => e.endpoint === 'state' && e.seq > editRun.seq && e.seq < submit.seq)).toHaveLength(2);
    expect(job.changes[1]).toMatchObject({ message: 2, from_agent_text: false, summary: expect.stringMatching(/BGM/) });
  });

  it('a stream mixing typed and ADK events (§3): the state is read after a typed tool result, so an agent error on the next message is not taken for a change', async () => {
    // In a mixed stream the second stage's edit (the title) came as a typed result, without its state: the delta
    // alone missed it, the edit's "before" was stale, and the failed edit was credited with the title (succeeded).
    stack.sim.setScenario({ ...BASE_SCENARIO, eventStyle: 'mixed' });
    const body = { instruction: 'a 20-second promo of the city at night', output: { title: 'Urban Dreams' } };
    const control = await finished(stack, await createJob(stack, body));
    expect(control.status, JSON.stringify(control.error)).toBe('succeeded');
    expect(control.changes[0]!.summary).toMatch(/2 tracks/);
    expect(control.result?.timeline).toMatch(/^Timeline \(2 tracks\)/);

    stack.sim.injectFault({ kind: 'agent_error_event', after: 1 });
    const job = await finished(stack, await createJob(stack, { ...body, followups: [EDIT] }));
    expect(job.status).toBe('failed');
    expect(job.error).toMatchObject({ code: 'UPSTREAM_AGENT_ERROR', retryable: false });
    expect(job.error!.message).toMatch(/message 2/);
    expect(accepted(stack, 'run_sse', job.upstream.session_id!)).toHaveLength(2);
  });

  it('a stream dropped during generation is not reconciled as done on the raw video: the music and title of the second stage are waited for', async () => {
    // The second stage takes 250 ms here (RECONCILE_INTERVAL_MS 100): two reads of the raw video in a row used to settle
    // the message, and the job rendered a video without the music and title it asked for; four steady reads cover it.
    stack.sim.setScenario({ ...BASE_SCENARIO, secondStageMs: 250_000 });
    stack.sim.injectFault({ kind: 'stream_drop' });
    const id = await createJob(stack, { instruction: 'make a 20-second promo with lo-fi music and the title "Autumn Sale"' });
    const job = await finished(stack, id);
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(entries(stack, 'run_sse').filter((e) => e.fault === 'stream_drop')).toHaveLength(1);
    expect(accepted(stack, 'run_sse', job.upstream.session_id!)).toHaveLength(1);
    expect(job.result?.timeline).toMatch(/BGM/);
    expect(job.result?.timeline).toMatch(/Title|Text/);
  });

  it('a silent edit that closes after its tool call alone is read from state: a change is kept, no change is not a lost answer', async () => {
    stack.sim.setScenario({ ...BASE_SCENARIO, silentEdits: 'always', silentEditShape: 'calls_only', noopEdits: 'unchanged' });
    const changed = await finished(stack, await createJob(stack, { followups: [EDIT] }));
    expect(changed.status, JSON.stringify(changed.error)).toBe('succeeded');
    expect(changed.result?.timeline).toMatch(/BGM/);

    const nothing = await finished(stack, await createJob(stack, { followups: ['keep everything exactly as it is'] }));
    // It failed with UPSTREAM_TIMEOUT ("its answer was lost") after RECONCILE_MAX_UNCHANGED reads.
    expect(nothing.status, JSON.stringify(nothing.error)).toBe('succeeded');
    expect(nothing.changes[1]).toMatchObject({ message: 2, from_agent_text: false, summary: expect.stringMatching(/without changing the draft/) });
    expect(accepted(stack, 'run_sse', nothing.upstream.session_id!)).toHaveLength(2);
  });

  it('an answer whose state read fails (typed events: no stateDelta) keeps the agent texts through the retry', async () => {
    stack.sim.setScenario({ eventStyle: 'typed' });
    // The control job: how many state reads come before the instruction goes out, and what the agent says.
    const control = await finished(stack, await createJob(stack, {}));
    expect(control.status, JSON.stringify(control.error)).toBe('succeeded');
    const firstRun = entries(stack, 'run_sse', control.upstream.session_id!)[0]!;
    const readsBefore = entries(stack, 'state', control.upstream.session_id!).filter((e) => e.seq < firstRun.seq).length;
    expect(control.messages.length).toBeGreaterThan(0);

    stack.sim.log.clear();
    // The read right after the answer fails twice (a 5xx), then the step's retry reconciles the message.
    stack.sim.injectFault({ kind: 'server_error', endpoint: 'state', after: readsBefore, times: 2 });
    const job = await finished(stack, await createJob(stack, {}));
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(entries(stack, 'state').filter((e) => e.fault === 'server_error')).toHaveLength(2);
    expect(accepted(stack, 'run_sse', job.upstream.session_id!)).toHaveLength(1);
    expect(job.messages).toHaveLength(control.messages.length);
    expect(job.changes[0]).toMatchObject({ message: 1, from_agent_text: true });
  });

  it('heartbeats only past NEMO_SSE_IDLE_MS → UPSTREAM_TIMEOUT, the message is not sent again', async () => {
    stack.sim.injectFault({ kind: 'heartbeats_only' });
    const job = await finished(stack, await createJob(stack, {}));
    expect(job.status).toBe('failed');
    // The message was sent (and may have been charged): not retryable, and the message says why.
    expect(job.error).toMatchObject({ code: 'UPSTREAM_TIMEOUT', retryable: false });
    expect(job.error!.message).toMatch(/keep-alives for 1000 ms/);
    expect(job.error!.message).toMatch(/may be charged again/);
    expect(entries(stack, 'run_sse')).toHaveLength(1);
  });

  it('an in-stream error with broken JSON → reconciled, then UPSTREAM_AGENT_ERROR with the agent message; never re-sent', async () => {
    stack.sim.injectFault({ kind: 'stream_error' });
    const job = await finished(stack, await createJob(stack, {}));
    expect(job.status).toBe('failed');
    expect(job.error).toMatchObject({ code: 'UPSTREAM_AGENT_ERROR' });
    expect(job.error!.message).toContain('failed: boom');
    expect(entries(stack, 'run_sse')).toHaveLength(1);
    expect(entries(stack, 'state').length).toBeGreaterThanOrEqual(3);
  });

  it('an old-ADK error over several lines on an edit → UPSTREAM_AGENT_ERROR with its first line, not an edit that changed nothing', async () => {
    // Only the frame's first line is a data: line; the edit closed after its tool call, so the job succeeded with the
    // unedited draft and no word of the error.
    stack.sim.injectFault({ kind: 'stream_error', multiline: true, after: 1 });
    const job = await finished(stack, await createJob(stack, { followups: [EDIT] }));
    expect(job.status).toBe('failed');
    expect(job.error).toMatchObject({ code: 'UPSTREAM_AGENT_ERROR' });
    expect(job.error!.message).toContain('1 validation error for edit_multitrack…');
    expect(accepted(stack, 'run_sse', job.upstream.session_id!)).toHaveLength(2);
  });

  it('a duplicate render id is retried once under a new id: still one render', async () => {
    stack.sim.injectFault({ kind: 'render_duplicate_id' });
    const job = await finished(stack, await createJob(stack, {}));
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    const submits = entries(stack, 'render_submit');
    expect(submits.map((e) => e.status)).toEqual([409, 200]);
    expect(job.upstream.render_id).toBe(submits[1]!.renderId);
    expect(job.upstream.render_id).toMatch(/_2$/);
  });

  it('a session lost at render submit (404 session not found) gets a new session and still one accepted render', async () => {
    stack.sim.injectFault({ kind: 'session_lost', endpoint: 'render_submit' });
    const job = await finished(stack, await createJob(stack, {}));
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(entries(stack, 'create_session')).toHaveLength(2);
    const submits = entries(stack, 'render_submit');
    expect(submits.map((e) => e.status)).toEqual([404, 200]);
    expect(submits[1]!.sessionId).toBe(job.upstream.session_id);
    expect(submits[0]!.sessionId).not.toBe(job.upstream.session_id);
    // A fresh id in the new session: the lost one may hold a render under the first.
    expect(job.upstream.render_id).toBe(submits[1]!.renderId);
    expect(submits[1]!.renderId).not.toBe(submits[0]!.renderId);
  });

  it('cancel during a long /run_sse stops the stream; job.canceled; a second cancel is 409', async () => {
    stack.sim.setScenario({ generateMs: 120_000_000 });
    const id = await createJob(stack, {});
    await waitFor(() => stack.sim.log.entries().some((e) => e.endpoint === 'run_sse' && e.status === 0), { what: 'an open stream' });
    const canceled = await stack.api<Job>('POST', `/v1/jobs/${id}/cancel`);
    expect(canceled.status).toBe(200);
    // The answer waited for the worker to end it.
    expect(canceled.body.status).toBe('canceled');
    const job = await finished(stack, id, 10_000);
    expect(job.status).toBe('canceled');
    expect(job.error?.code).toBe('CANCELED');
    await waitFor(() => entries(stack, 'run_sse').every((e) => e.status !== 0), { what: 'the stream to be closed' });
    expect((await events(stack, id)).filter((e) => e.type === 'job.canceled')).toHaveLength(1);
    const again = await stack.api<{ code: string }>('POST', `/v1/jobs/${id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('JOB_FINISHED');
    expect(entries(stack, 'render_submit')).toHaveLength(0);
  });

  it('cancel during render polling cancels the upstream render; job.canceled; a second cancel is 409', async () => {
    stack.sim.setScenario({ renderMs: 600_000_000 });
    const id = await createJob(stack, {});
    await waitFor(() => entries(stack, 'render_poll').length > 0, { what: 'render polling', timeoutMs: 20_000 });
    const started = Date.now();
    const answer = await stack.api<Job>('POST', `/v1/jobs/${id}/cancel`);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ status: 'canceled', error: { code: 'CANCELED' } });
    const job = await finished(stack, id, 10_000);
    const cancelMs = Date.now() - started;
    expect(job.status).toBe('canceled');
    const cancels = entries(stack, 'render_cancel');
    expect(cancels).toHaveLength(1);
    expect(cancels[0]!.renderId).toBe(job.upstream.render_id);
    expect(cancels[0]!.status).toBe(200);
    expect((await events(stack, id)).filter((e) => e.type === 'job.canceled')).toHaveLength(1);
    expect((await stack.api<{ code: string }>('POST', `/v1/jobs/${id}/cancel`)).body.code).toBe('JOB_FINISHED');
    // The job was parked as a delayed poll; the cancel woke it instead of waiting for the next poll.
    expect(cancelMs).toBeLessThan(5_000);
  });
});

describe('resilience: credits never come back', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ env: { CREDITS_RECHECK_MS: '200', CREDITS_MAX_WAIT_MS: '1500' } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('fails UPSTREAM_OUT_OF_CREDITS after CREDITS_MAX_WAIT_MS', async () => {
    await stack.services.tokens.get();
    stack.sim.setCredits(0);
    const started = Date.now();
    const job = await finished(stack, await createJob(stack, {}));
    expect(job.status).toBe('failed');
    expect(job.error).toMatchObject({ code: 'UPSTREAM_OUT_OF_CREDITS', retryable: false });
    expect(job.error!.message).toMatch(/2001/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
    expect(entries(stack, 'run_sse').filter((e) => e.status === 200)).toHaveLength(0);
  });
});
