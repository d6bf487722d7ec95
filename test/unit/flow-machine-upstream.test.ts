// runFlow over in-memory fakes: lost sessions (1002), the credits gate (2001), rate limits (429) and refused tokens (1001).
import { describe, expect, it } from 'vitest';
import { MAX_SESSION_RESETS } from '../../src/flow/machine.js';
import { MAX_STEP_RETRIES, MAX_TOKEN_REFUSALS } from '../../src/flow/upstream-errors.js';
import { NemoError } from '../../src/nemo/errors.js';
import { createFakeFlow, renderStatus, useFakeClock, type FakeFlow } from '../helpers/fake-flow.js';
import { renderIdFor } from '../../src/flow/steps/render-submit.js';

useFakeClock();

const sessionLost = () =>
  new NemoError('session_missing', 'run_sse', 'run_sse: HTTP 404: Session not found', { httpStatus: 404, phase: 'before_stream' });
const outOfCredits = () =>
  new NemoError('no_credits', 'run_sse', 'run_sse: HTTP 200 code 2001: insufficient credits', { httpStatus: 200, upstreamCode: 2001, phase: 'before_stream' });
const rateLimited = (retryAfterMs?: number) =>
  new NemoError('rate_limited', 'create_session', 'create_session: HTTP 429', { httpStatus: 429, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
const serverError = () => new NemoError('transient', 'create_session', 'create_session: HTTP 503', { httpStatus: 503 });
const tokenRefused = () => new NemoError('auth', 'create_session', 'create_session: HTTP 200 code 1001: token expired', { upstreamCode: 1001 });
const messagesSent = (f: FakeFlow) => f.nemo.callsOf('runAgent').map((c) => c.args[2]);

describe('runFlow: the upstream lost the session (1002)', () => {
  it('starts a new session, uploads again and restarts the messages at 0; the group forgets the lost session', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob({
      group: 'grp_1',
      job: { sources: [{ url: 'https://media.example/beach.mp4' }], followups: ['Add music', 'Add a title'] },
    });
    f.nemo.failWhen('runAgent', (c) => c.args[2] === 'Add music', sessionLost);

    const results = await f.drive(jobId);

    expect(results.at(-1)).toEqual({ kind: 'finished' });
    expect(f.nemo.callsOf('createSession')).toHaveLength(2);
    expect(f.nemo.callsOf('uploadUrls').map((c) => c.args[1])).toEqual(['sess_1', 'sess_2']);
    expect(messagesSent(f)).toEqual([
      'Make a short clip of the beach',
      'Add music', // refused: the session is gone
      'Make a short clip of the beach',
      'Add music',
      'Add a title',
    ]);
    expect(f.nemo.callsOf('runAgent').map((c) => c.args[1])).toEqual(['sess_1', 'sess_1', 'sess_2', 'sess_2', 'sess_2']);
    expect(f.groups.forgotten).toEqual([['grp_1', 'sess_1']]);
    expect((await f.groups.session('grp_1'))?.session_id).toBe('sess_2'); // the new one, published by the re-upload
    const flow = await f.flow(jobId);
    expect(flow.session_resets).toBe(1);
    expect(flow.session).toEqual({ task_id: 'task_2', session_id: 'sess_2' });
    const job = (await f.record(jobId)).job;
    expect(job.status).toBe('succeeded');
    expect(job.upstream).toMatchObject({ task_id: 'task_2', session_id: 'sess_2' });
    // The refused send does not count; the re-sent first message does.
    expect(job.usage.messages_sent).toBe(4);
  });

  it('restarts the messages when the state read of the check step finds the session gone', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob({ job: { followups: ['Add music'] } });
    f.nemo.failWhen('getState', (c) => c.step === 'check', () => new NemoError('session_missing', 'state', 'state: code 1002', { upstreamCode: 1002 }));

    await f.drive(jobId);

    expect(f.nemo.count('createSession')).toBe(2);
    expect(messagesSent(f)).toEqual(['Make a short clip of the beach', 'Add music', 'Make a short clip of the beach', 'Add music']);
    expect(f.groups.forgotten).toEqual([]); // not in a group
    expect((await f.record(jobId)).job.status).toBe('succeeded');
  });

  it('renders the new session under an id the lost one cannot hold a render under, never adopting that render', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob({ job: { followups: ['Add music'] } });
    // The last message was marked sent in sess_1 (a render may follow from then on); the check step then finds sess_1
    // gone. Had a run submitted render 1 in sess_1 before dying, that id would answer "duplicate" in the new session.
    f.nemo.failWhen('getState', (c) => c.step === 'check', () => new NemoError('session_missing', 'state', 'state: code 1002', { upstreamCode: 1002 }));

    await f.drive(jobId);

    const submitted = f.nemo.callsOf('submitRender').map((c) => (c.args[1] as { id: string; sessionId: string }));
    expect(submitted.map((r) => [r.id, r.sessionId])).toEqual([[renderIdFor(jobId, 2), 'sess_2']]);
    expect(f.nemo.callsOf('getRender').map((c) => c.args[1])).not.toContain(renderIdFor(jobId, 1));
    const job = (await f.record(jobId)).job;
    expect(job.status).toBe('succeeded');
    expect(job.upstream).toMatchObject({ session_id: 'sess_2', render_id: renderIdFor(jobId, 2) });
    expect((await f.flow(jobId)).render_ids_before).toBe(1);
  });

  it('a session lost before its last message was marked sent keeps the first render id', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob({ job: { followups: ['Add music', 'Add a title'] } });
    f.nemo.failWhen('runAgent', (c) => c.args[2] === 'Add music', sessionLost);

    await f.drive(jobId);

    expect(f.nemo.callsOf('submitRender').map((c) => (c.args[1] as { id: string }).id)).toEqual([renderIdFor(jobId, 1)]);
  });

  it(`fails SESSION_LOST after more than MAX_SESSION_RESETS (${MAX_SESSION_RESETS}) new sessions`, async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.nemo.always('runAgent', sessionLost());

    expect(await f.drive(jobId)).toEqual([{ kind: 'finished' }]);

    expect(f.nemo.count('createSession')).toBe(MAX_SESSION_RESETS + 1);
    expect(f.nemo.count('runAgent')).toBe(MAX_SESSION_RESETS + 1);
    const job = (await f.record(jobId)).job;
    // The upstream's own words, not "(1002)" for what was a 404 "Session not found" (it said 1002 either way).
    expect(job.error).toEqual({
      code: 'SESSION_LOST',
      message: `the upstream kept losing the session (${MAX_SESSION_RESETS + 1} sessions): run_sse: HTTP 404: Session not found`,
      retryable: true,
    });
    expect((await f.flow(jobId)).session_resets).toBe(MAX_SESSION_RESETS + 1);
  });
});

describe('runFlow: the credits gate (2001)', () => {
  it('pauses the gate, learns the claim link of the anonymous account and waits; job.waiting says so', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.nemo.script('runAgent', outOfCredits());

    const result = await f.run(jobId);

    expect(result).toEqual({ kind: 'wait', delayMs: 1_000, step: 'generate', reason: 'upstream out of credits; waiting for the balance' });
    expect(await f.credits.state()).toEqual({ since: Date.now(), recheck_at: Date.now() + 1_000 });
    expect(f.nemo.callsOf('claimToken').map((c) => c.args.slice(1))).toEqual([['task_1', 'sess_1']]);
    expect(await f.claims.current()).toBe('https://nemo.example/workspace/claim?ct=clm_claim1');
    const job = (await f.record(jobId)).job;
    expect(job.waiting).toEqual({
      reason: 'upstream_credits',
      message:
        'waiting for credits: the upstream account is out of credits (2001): register at ' +
        'https://nemo.example/workspace/claim?ct=clm_claim1 or set NEMO_TOKEN to a funded key',
      since: new Date().toISOString(),
    });
    const flow = await f.flow(jobId);
    expect([flow.inflight, flow.usage.messages_sent, flow.credits_wait_since]).toEqual([null, 0, new Date().toISOString()]);
    // The upstream refused it before running anything: the job does not say the agent was sent it.
    expect(job.messages_sent).toEqual([]);
  });

  it('tells the event feed (and job.progress webhooks) that the job waits, once per reason or message, past the throttle', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.nemo.script('runAgent', outOfCredits());
    f.nemo.creditsAvailable = 0;

    await f.run(jobId); // the first 2001: job.waiting set
    await f.run(jobId); // re-checked, still empty: the same wait, no new event

    const events = await f.store.events(jobId);
    const waits = events.filter((e) => e.type === 'job.progress' && (e.data as { waiting: unknown }).waiting !== null);
    expect(waits).toHaveLength(1);
    expect((waits[0]!.data as { waiting: { reason: string } }).waiting.reason).toBe('upstream_credits');
  });

  it('fails UPSTREAM_OUT_OF_CREDITS once CREDITS_MAX_WAIT_MS has passed with the balance still empty', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.nemo.script('runAgent', outOfCredits());
    f.nemo.creditsAvailable = 0;
    const start = Date.now();

    const results = await f.drive(jobId);

    // One wait per re-check (1 s) until the 5 s of patience are spent.
    expect(results.map((r) => r.kind)).toEqual(['wait', 'wait', 'wait', 'wait', 'wait', 'finished']);
    expect(Date.now() - start).toBe(f.settings.creditsMaxWaitMs);
    expect(f.nemo.callsOf('getCredits').map((c) => c.step)).toEqual(['generate', 'generate', 'generate', 'generate', 'generate']);
    expect(f.nemo.count('runAgent')).toBe(1);
    const job = (await f.record(jobId)).job;
    expect(job.waiting).toBeNull();
    expect(job.error).toMatchObject({ code: 'UPSTREAM_OUT_OF_CREDITS', retryable: false });
    expect(job.error!.message).toContain('register at https://nemo.example/workspace/claim?ct=clm_claim1');
    expect(job.error!.message).toContain('no credits came back within 5 s');
    // The empty balance its re-checks read, not the one cached at its start (it read 1000).
    expect(job.usage.credits_after).toBe(0);
  });

  it('continues when the re-check finds credits: the gate opens and the message is sent', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.nemo.script('runAgent', outOfCredits());
    f.nemo.script('getCredits', { available: 500, frozen: 0, total: 500 });

    await f.run(jobId);
    const results = await f.drive(jobId);

    expect(results.at(-1)).toEqual({ kind: 'finished' });
    expect(await f.credits.state()).toBeNull();
    expect(messagesSent(f)).toEqual(['Make a short clip of the beach', 'Make a short clip of the beach']);
    const job = (await f.record(jobId)).job;
    expect(job.status).toBe('succeeded');
    expect(job.waiting).toBeNull();
    expect(job.usage.messages_sent).toBe(1);
    expect((await f.flow(jobId)).credits_wait_since).toBeNull();
  });

  it('out of credits at the render: submitted again at each re-check (the submit tells), the kept claim link reused, one render counted', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    const refused = () => new NemoError('no_credits', 'render_submit', 'render_submit: HTTP 403 code 2001: insufficient credits', { httpStatus: 403, upstreamCode: 2001 });
    f.nemo.script('submitRender', refused(), refused(), refused());
    // The look-ups before each new submit find nothing (the refused submits made nothing).
    f.nemo.failWhen('getRender', () => true, () => new NemoError('not_found', 'render_poll', 'render_poll: HTTP 404: render not found', { httpStatus: 404 }), 3);

    const results = await f.drive(jobId);

    expect(results.at(-1)).toEqual({ kind: 'finished' });
    const job = (await f.record(jobId)).job;
    expect(job.status).toBe('succeeded');
    expect(f.nemo.count('submitRender'), JSON.stringify(job.error)).toBe(4);
    // Asked for once, then reused from Redis (it was asked for at every 2001).
    expect(f.nemo.count('claimToken')).toBe(1);
    // A refused submit made nothing: not counted (it read 4 renders).
    expect(job.usage.renders).toBe(1);
  });

  it('holds a new job of the same account at auth while the gate is shut', async () => {
    const f = createFakeFlow();
    const first = await f.addJob();
    f.nemo.script('runAgent', outOfCredits());
    await f.run(first);

    const second = await f.addJob();
    const result = await f.run(second);

    expect(result).toEqual({ kind: 'wait', delayMs: 1_000, step: 'auth', reason: 'upstream out of credits; waiting for the balance' });
    expect(f.nemo.callsOf('createSession')).toHaveLength(1); // the first job's only
    expect((await f.record(second)).job.waiting?.reason).toBe('upstream_credits');
  });

  it('gives a configured NEMO_TOKEN’s owner the top-up advice, without asking for a claim link', async () => {
    const f = createFakeFlow({ staticToken: true });
    const jobId = await f.addJob();
    f.nemo.script('runAgent', outOfCredits());

    await f.run(jobId);

    expect(f.nemo.count('claimToken')).toBe(0);
    expect((await f.record(jobId)).job.waiting?.message).toBe(
      'waiting for credits: the upstream account is out of credits (2001): top up the NemoVideo account of the configured token',
    );
  });
});

describe('runFlow: rate limits (429)', () => {
  it('waits as long as the Retry-After says, shows why, and carries on', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.nemo.script('createSession', rateLimited(4_000));

    const first = await f.run(jobId);

    expect(first).toEqual({ kind: 'wait', delayMs: 4_000, step: 'session', reason: 'upstream rate limit' });
    expect((await f.record(jobId)).job.waiting).toMatchObject({ reason: 'upstream_rate_limit', since: new Date().toISOString() });
    expect((await f.flow(jobId)).rate_limited_since).toBe(new Date().toISOString());

    const rest = await f.drive(jobId);

    expect(rest.at(-1)).toEqual({ kind: 'finished' });
    expect(f.nemo.count('createSession')).toBe(2);
    expect((await f.flow(jobId)).rate_limited_since).toBeNull();
    expect((await f.record(jobId)).job.status).toBe('succeeded');
  });

  it('waits the default 30 s when the 429 does not say', async () => {
    const f = createFakeFlow({ settings: { rateLimitMaxWaitMs: 60_000 } });
    const jobId = await f.addJob();
    f.nemo.script('createSession', rateLimited());
    expect(await f.run(jobId)).toMatchObject({ kind: 'wait', delayMs: 30_000, step: 'session' });
  });

  it('fails UPSTREAM_RATE_LIMITED once the next wait would pass rateLimitMaxWaitMs', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.nemo.always('createSession', rateLimited(4_000));

    const results = await f.drive(jobId);

    // 0 s → 4 s → 8 s; a third wait would end at 12 s, past the 10 s of patience.
    expect(results).toEqual([
      { kind: 'wait', delayMs: 4_000, step: 'session', reason: 'upstream rate limit' },
      { kind: 'wait', delayMs: 4_000, step: 'session', reason: 'upstream rate limit' },
      { kind: 'finished' },
    ]);
    const job = (await f.record(jobId)).job;
    expect(job.error).toEqual({
      code: 'UPSTREAM_RATE_LIMITED',
      retryable: true,
      message:
        'the upstream kept answering 429 (rate limit) to create_session for 8 s; the next try would pass UPSTREAM_RATE_LIMIT_MAX_WAIT_MS (10 s)',
    });
    expect(job.waiting).toBeNull();
  });

  it('a first 429 asking for more than the patience says so (not "kept answering for 0 s"), and names the way out when it was the anonymous token endpoint', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.nemo.script('createSession', new NemoError('rate_limited', 'anonymous_token', 'anonymous_token: HTTP 429', { httpStatus: 429, retryAfterMs: 3_600_000 }));

    expect(await f.drive(jobId)).toEqual([{ kind: 'finished' }]);

    expect((await f.record(jobId)).job.error).toEqual({
      code: 'UPSTREAM_RATE_LIMITED',
      retryable: true,
      message:
        'the upstream answered 429 (rate limit) to anonymous_token asking to wait 3600 s; the next try would pass UPSTREAM_RATE_LIMIT_MAX_WAIT_MS (10 s). ' +
        'It was the anonymous token endpoint, which limits the tokens one IP address gets: set NEMO_TOKEN (or give the tenant a token of its own) to use a key instead',
    });
  });

  it('a job rate limited while polling its render no longer shows "waiting" once a poll goes through', async () => {
    // job.waiting is cleared only by auth, session and generate (and by the job's end): a 429 on a later step leaves
    // "waiting: upstream_rate_limit" on a job that is running normally again, until it finishes.
    const f = createFakeFlow();
    const jobId = await f.addJob();
    const renderId = renderIdFor(jobId, 1);
    f.nemo.script('getRender', new NemoError('rate_limited', 'render_poll', 'render_poll: HTTP 429', { httpStatus: 429, retryAfterMs: 1_000 }));
    f.nemo.script('getRender', renderStatus({ id: renderId, status: 'processing', progress: 50 }));

    await f.run(jobId); // to the first poll wait
    await f.run(jobId); // 429
    expect((await f.record(jobId)).job.waiting?.reason).toBe('upstream_rate_limit');
    const polled = await f.run(jobId); // the poll goes through: the render is at 50 %
    expect(polled).toMatchObject({ kind: 'wait', step: 'render_poll', reason: 'render processing at 50%' });
    expect((await f.record(jobId)).job.waiting).toBeNull();
  });
});

describe('runFlow: a refused token (1001)', () => {
  it('invalidates an anonymous token and carries on with a fresh one in the same run', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.nemo.script('createSession', tokenRefused());

    const result = await f.run(jobId);

    expect(result).toMatchObject({ kind: 'wait', step: 'render_poll' });
    expect(f.tokens.invalidated).toEqual(['nmv_usr_anon1']);
    expect(f.nemo.callsOf('createSession').map((c) => c.token)).toEqual(['nmv_usr_anon1', 'nmv_usr_anon2']);
    expect(new Set(f.nemo.calls.slice(1).map((c) => c.token))).toEqual(new Set(['nmv_usr_anon2']));
    expect(f.visited().slice(0, 3)).toEqual(['auth', 'session', 'session']);
    expect((await f.flow(jobId)).retries).toBe(0);
  });

  it('fails UPSTREAM_AUTH_FAILED when fresh tokens keep being refused, waiting longer after each refusal in a row', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.nemo.always('createSession', tokenRefused());

    const results = await f.drive(jobId);

    expect(results.at(-1)).toEqual({ kind: 'finished' });
    // The second, third and fourth refusals wait 0.25-0.5, 0.5-1 and 1-2 s (the first is retried at once).
    const waits = results.flatMap((r) => (r.kind === 'wait' ? [r.delayMs] : []));
    expect(waits).toHaveLength(MAX_TOKEN_REFUSALS - 1);
    waits.forEach((ms, i) => {
      expect(ms).toBeGreaterThanOrEqual(250 * 2 ** i);
      expect(ms).toBeLessThanOrEqual(500 * 2 ** i);
    });
    expect(f.nemo.count('createSession')).toBe(MAX_TOKEN_REFUSALS + 1);
    expect(f.tokens.invalidated).toHaveLength(MAX_TOKEN_REFUSALS);
    expect((await f.record(jobId)).job.error).toEqual({
      code: 'UPSTREAM_AUTH_FAILED',
      message: `the upstream kept refusing fresh tokens (${MAX_TOKEN_REFUSALS + 1} in a row)`,
      retryable: false,
    });
  });

  it('rides out a burst of refused tokens: every token refused for 1.5 s, and the job still succeeds', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    // Without the waits between refusals, five fresh tokens are refused within the burst and the job fails.
    const burstEnd = Date.now() + 1_500;
    f.nemo.failWhen('createSession', () => Date.now() < burstEnd, tokenRefused, Infinity);

    const results = await f.drive(jobId);

    expect(results.at(-1)).toEqual({ kind: 'finished' });
    expect((await f.record(jobId)).job.status).toBe('succeeded');
    expect(f.tokens.invalidated.length).toBeGreaterThanOrEqual(3);
    expect(f.tokens.invalidated.length).toBeLessThanOrEqual(MAX_TOKEN_REFUSALS);
    expect((await f.flow(jobId)).token_refusals).toBe(0);
  });

  it('counts a token expiring amid transient failures apart from them: neither budget is spent by the other', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    // One short of the transient budget, a refusal, then the budget's last retry: the step still goes through.
    const transients = Array.from({ length: MAX_STEP_RETRIES - 1 }, () => serverError());
    f.nemo.script('createSession', ...transients, tokenRefused(), serverError());

    const results = await f.drive(jobId);

    expect(results.at(-1)).toEqual({ kind: 'finished' });
    expect((await f.record(jobId)).job.status).toBe('succeeded');
    expect(f.tokens.invalidated).toEqual(['nmv_usr_anon1']);
    expect(f.nemo.count('createSession')).toBe(MAX_STEP_RETRIES + 2);
  });

  it('fails the step on its transient budget, not earlier, when a refusal came in between', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.nemo.script('createSession', tokenRefused(), ...Array.from({ length: MAX_STEP_RETRIES + 1 }, () => serverError()));

    const results = await f.drive(jobId);

    expect(results.at(-1)).toEqual({ kind: 'finished' });
    expect((await f.record(jobId)).job.error?.code).toBe('UPSTREAM_ERROR');
    expect(f.nemo.count('createSession')).toBe(MAX_STEP_RETRIES + 2);
  });

  it('a failure worth retrying after messages were sent is not retryable, and says what was sent (submitting again may be charged again)', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob({ job: { followups: ['Add music'] } });
    f.nemo.always('getRender', new NemoError('transient', 'render_poll', 'render_poll: HTTP 502', { httpStatus: 502 }));

    expect((await f.drive(jobId)).at(-1)).toEqual({ kind: 'finished' });

    expect((await f.record(jobId)).job.error).toEqual({
      code: 'UPSTREAM_ERROR',
      retryable: false,
      message: `the upstream kept failing (${MAX_STEP_RETRIES + 1} attempts): render_poll: HTTP 502. 2 messages were sent to the agent and may have been charged, so submitting the job again may be charged again`,
    });
  });

  it('fails UPSTREAM_AUTH_FAILED at once when the refused token is the configured NEMO_TOKEN', async () => {
    const f = createFakeFlow({ staticToken: true });
    const jobId = await f.addJob();
    f.nemo.script('createSession', tokenRefused());

    expect(await f.run(jobId)).toEqual({ kind: 'finished' });

    expect(f.tokens.invalidated).toEqual([]);
    expect(f.nemo.count('createSession')).toBe(1);
    expect((await f.record(jobId)).job.error).toEqual({
      code: 'UPSTREAM_AUTH_FAILED',
      retryable: false,
      message: 'the configured NEMO_TOKEN was refused by the upstream (create_session: HTTP 200 code 1001: token expired)',
    });
  });

  it("names the tenant's own token, not NEMO_TOKEN, when a tenant's fixed token is refused", async () => {
    const f = createFakeFlow();
    f.tenantAccounts.set('globex', f.makeAccount('tenant-globex', { staticToken: true, tokenPrefix: 'nmv_usr_globex' }));
    const jobId = await f.addJob({ tenant: 'globex' });
    f.nemo.script('createSession', tokenRefused());

    expect(await f.run(jobId)).toEqual({ kind: 'finished' });

    expect(f.nemo.count('createSession')).toBe(1);
    expect((await f.record(jobId)).job.error).toEqual({
      code: 'UPSTREAM_AUTH_FAILED',
      retryable: false,
      message: "the tenant's own upstream token (set through /admin/tenants) was refused by the upstream (create_session: HTTP 200 code 1001: token expired)",
    });
  });
});
