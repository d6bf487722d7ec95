// runFlow over in-memory fakes: sending messages once, reconciling broken streams, silent edits and the one correction.
import { describe, expect, it } from 'vitest';
import { CORRECTION_HEADER } from '../../src/video/conformance.js';
import { NemoError, networkError } from '../../src/nemo/errors.js';
import { agentResult, createFakeFlow, draftWith, useFakeClock, type FakeFlow } from '../helpers/fake-flow.js';

useFakeClock();

const brokenStream = () => new NemoError('transient', 'run_sse', 'run_sse: stream reset mid-answer', { phase: 'in_stream' });
const messagesSent = (f: FakeFlow) => f.nemo.callsOf('runAgent').map((c) => c.args[2]);
const getStatesBy = (f: FakeFlow, step: string) => f.nemo.callsOf('getState').filter((c) => c.step === step).length;

describe('runFlow: a stream that breaks off', () => {
  it('reconciles from state: changed, then the same again → the message took effect → the next message', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob({ job: { followups: ['Add music'] } });
    f.nemo.script('runAgent', (_token, sessionId) => {
      f.nemo.agentEdits(sessionId); // the agent did its work; only the answer was lost
      throw brokenStream();
    });

    const results = await f.drive(jobId);

    expect(results.slice(0, 1)).toEqual([{ kind: 'wait', delayMs: 100, step: 'reconcile', reason: 'state changed; confirming' }]);
    expect(f.visited().slice(3, 8)).toEqual(['generate', 'reconcile', 'reconcile', 'generate', 'generate']);
    expect(getStatesBy(f, 'reconcile')).toBe(2);
    expect(messagesSent(f)).toEqual(['Make a short clip of the beach', 'Add music']);
    const job = (await f.record(jobId)).job;
    expect(job.status).toBe('succeeded');
    expect(job.messages).toEqual(['done: Add music']); // the first answer was lost with the stream
    expect(job.changes).toEqual([
      { message: 1, from_agent_text: false, summary: expect.any(String), answers: 0 },
      { message: 2, from_agent_text: true, summary: expect.any(String), answers: 1 },
    ]);
    expect(job.usage.messages_sent).toBe(2);
  });

  it('keeps what the agent said before the break: on the job once state shows the message took effect, even after a crash', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob({ job: { followups: ['Add music'] } });
    f.nemo.script('runAgent', (_token, sessionId) => {
      f.nemo.agentEdits(sessionId);
      throw new NemoError('transient', 'run_sse', 'run_sse: stream reset mid-answer', { phase: 'in_stream', agentTexts: ['Got it, generating a 10s video.'] });
    });

    // The first run ends at reconcile's first wait: what a worker killed then would leave stored.
    expect(await f.run(jobId)).toMatchObject({ kind: 'wait', step: 'reconcile' });
    expect((await f.flow(jobId)).inflight?.texts).toEqual(['Got it, generating a 10s video.']);
    expect((await f.record(jobId)).job.messages).toEqual([]);
    const results = await f.drive(jobId);

    expect(results.at(-1)).toEqual({ kind: 'finished' });
    const job = (await f.record(jobId)).job;
    expect(job.status).toBe('succeeded');
    expect(job.messages).toEqual(['Got it, generating a 10s video.', 'done: Add music']);
    expect(job.changes).toEqual([
      { message: 1, from_agent_text: true, summary: expect.any(String), answers: 1 },
      { message: 2, from_agent_text: true, summary: expect.any(String), answers: 1 },
    ]);
  });

  it('keeps what the agent said before the break on a job that then fails (state never changed, or the run timed out)', async () => {
    const said = { phase: 'in_stream' as const, agentTexts: ['Working on it.'] };
    const unchanged = createFakeFlow();
    const first = await unchanged.addJob();
    unchanged.nemo.script('runAgent', new NemoError('transient', 'run_sse', 'run_sse: stream reset', said));
    await unchanged.drive(first);
    expect((await unchanged.record(first)).job).toMatchObject({ status: 'failed', error: { code: 'UPSTREAM_TIMEOUT' }, messages: ['Working on it.'] });

    const timedOut = createFakeFlow();
    const second = await timedOut.addJob();
    timedOut.nemo.script('runAgent', new NemoError('timeout', 'run_sse', 'run_sse: only keep-alives for 1000 ms', said));
    await timedOut.drive(second);
    expect((await timedOut.record(second)).job).toMatchObject({ status: 'failed', error: { code: 'UPSTREAM_TIMEOUT' }, messages: ['Working on it.'] });
  });

  it('keeps those words once on a job whose worker died between giving the message up and failing the job', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.nemo.script('runAgent', new NemoError('transient', 'run_sse', 'run_sse: stream reset', { phase: 'in_stream', agentTexts: ['Working on it.'] }));
    // The first worker dies at its end-of-job balance read (it never answers); what it committed before stays.
    let died = false;
    const peek = f.balance.peek.bind(f.balance);
    f.balance.peek = async () => {
      if (!died) {
        died = true;
        return new Promise<never>(() => {});
      }
      return peek();
    };
    void f.drive(jobId);
    for (let i = 0; i < 200 && !died; i++) await new Promise((r) => setImmediate(r));
    expect(died).toBe(true);

    await f.drive(jobId); // the next worker

    const job = (await f.record(jobId)).job;
    expect(job).toMatchObject({ status: 'failed', error: { code: 'UPSTREAM_TIMEOUT' } });
    expect(job.messages).toEqual(['Working on it.']);
  });

  it('waits while the state keeps changing, and confirms once two reads agree', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.nemo.script('runAgent', (_t, sessionId) => {
      f.nemo.agentEdits(sessionId);
      throw brokenStream();
    });
    // Still working after the first read: one more segment shows at the second.
    const reads: number[] = [];
    const original = f.nemo.getState.bind(f.nemo);
    f.nemo.getState = async (token: string, sessionId: string) => {
      if (f.nemo.step === 'reconcile') {
        reads.push(reads.length + 1);
        if (reads.length === 2) f.nemo.agentEdits(sessionId);
      }
      return original(token, sessionId);
    };

    const results = await f.drive(jobId);

    expect(results.slice(0, 2).map((r) => r.kind === 'wait' && r.reason)).toEqual(['state changed; confirming', 'state changed; confirming']);
    expect(reads).toEqual([1, 2, 3]);
    expect((await f.record(jobId)).job.status).toBe('succeeded');
  });

  it('fails UPSTREAM_TIMEOUT (not retryable, not re-sent) when the state stays unchanged reconcileMaxUnchanged times', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob({ job: { followups: ['Add music'] } });
    f.nemo.script('runAgent', brokenStream());

    const results = await f.drive(jobId);

    expect(results).toEqual([
      { kind: 'wait', delayMs: 100, step: 'reconcile', reason: 'state unchanged' },
      { kind: 'wait', delayMs: 100, step: 'reconcile', reason: 'state unchanged' },
      { kind: 'finished' },
    ]);
    expect(getStatesBy(f, 'reconcile')).toBe(f.settings.reconcileMaxUnchanged);
    expect(messagesSent(f)).toEqual(['Make a short clip of the beach']);
    const job = (await f.record(jobId)).job;
    expect(job.status).toBe('failed');
    expect(job.error).toEqual({
      code: 'UPSTREAM_TIMEOUT',
      retryable: false,
      message:
        'the agent did not finish message 1: its answer was lost and the session state did not change after 3 reads; ' +
        'it was not sent again because the upstream charges for every send. The message was sent and may have been charged; ' +
        'submitting the job again may be charged again',
    });
  });

  it('fails UPSTREAM_AGENT_ERROR after two unchanged reads when the stream ended with the agent’s own error', async () => {
    const f = createFakeFlow({ settings: { reconcileMaxUnchanged: 5 } });
    const jobId = await f.addJob();
    f.nemo.script('runAgent', agentResult({ error: { message: 'tool crashed' } }));

    const results = await f.drive(jobId);

    expect(results.map((r) => r.kind)).toEqual(['wait', 'finished']);
    expect((await f.flow(jobId)).inflight?.agent_error).toBe('tool crashed');
    expect((await f.record(jobId)).job.error).toMatchObject({ code: 'UPSTREAM_AGENT_ERROR', retryable: false });
    expect((await f.record(jobId)).job.error!.message).toContain('the agent failed on message 1: tool crashed');
  });

  it('stores the agent’s error before reconciling, so a worker killed then still fails the job with it', async () => {
    const f = createFakeFlow({ settings: { reconcileMaxUnchanged: 5 } });
    const jobId = await f.addJob();
    f.nemo.script('runAgent', agentResult({ error: { message: 'Malformed function call: edit_multitrack' } }));
    // What a SIGKILL at reconcile's first read would leave: the checkpoint as stored at that moment.
    const storedAtFirstRead: (string | null | undefined)[] = [];
    const original = f.nemo.getState.bind(f.nemo);
    f.nemo.getState = async (token: string, sessionId: string) => {
      if (f.nemo.step === 'reconcile' && storedAtFirstRead.length === 0) storedAtFirstRead.push((await f.flow(jobId)).inflight?.agent_error);
      return original(token, sessionId);
    };

    await f.drive(jobId);

    expect(storedAtFirstRead).toEqual(['Malformed function call: edit_multitrack']);
    expect((await f.record(jobId)).job.error).toMatchObject({ code: 'UPSTREAM_AGENT_ERROR' });
  });

  it('reconciles after a 504 before the stream: the gateway gave up, the agent may still be running it', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.nemo.script('runAgent', (_t, sessionId) => {
      f.nemo.agentEdits(sessionId);
      throw new NemoError('transient', 'run_sse', 'run_sse: HTTP 504', { httpStatus: 504, phase: 'before_stream' });
    });

    await f.drive(jobId);

    expect(f.visited()).toContain('reconcile');
    expect(f.nemo.count('runAgent')).toBe(1);
    expect((await f.record(jobId)).job.status).toBe('succeeded');
  });

  it('sends again after a refusal before the stream (nothing ran): unmarked, uncounted, retried with backoff', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.nemo.script('runAgent', new NemoError('transient', 'run_sse', 'run_sse: HTTP 503', { httpStatus: 503, phase: 'before_stream' }));

    const first = await f.run(jobId);

    expect(first).toMatchObject({ kind: 'wait', step: 'generate', reason: 'run_sse: HTTP 503' });
    expect(first.kind === 'wait' && first.delayMs).toBeGreaterThanOrEqual(500);
    const flow = await f.flow(jobId);
    expect([flow.inflight, flow.retries, flow.usage.messages_sent]).toEqual([null, 1, 0]);
    // Not among the texts the agent was sent: it never got it.
    expect((await f.record(jobId)).job.messages_sent).toEqual([]);

    await f.drive(jobId);
    expect(messagesSent(f)).toEqual(['Make a short clip of the beach', 'Make a short clip of the beach']);
    expect((await f.record(jobId)).job.usage.messages_sent).toBe(1);
    expect((await f.record(jobId)).job.messages_sent).toEqual(['Make a short clip of the beach']);
  });

  it('sends again when /run_sse could not be connected to (nothing was sent): no reconcile, no "may have been charged"', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' });
    f.nemo.script('runAgent', networkError('run_sse', refused, 'before_stream'));

    const first = await f.run(jobId);

    expect(first).toMatchObject({ kind: 'wait', step: 'generate' });
    expect((await f.flow(jobId)).inflight).toBeNull();
    await f.drive(jobId);
    expect(f.visited()).not.toContain('reconcile');
    expect(messagesSent(f)).toEqual(['Make a short clip of the beach', 'Make a short clip of the beach']);
    const job = (await f.record(jobId)).job;
    expect(job.status).toBe('succeeded');
    expect(job.usage.messages_sent).toBe(1);
  });

  it('fails UPSTREAM_TIMEOUT at once, without reconciling, when the agent run itself timed out', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.nemo.script('runAgent', new NemoError('timeout', 'run_sse', 'run_sse: no event for 1000 ms', { phase: 'in_stream' }));

    expect(await f.drive(jobId)).toEqual([{ kind: 'finished' }]);

    expect(f.visited()).not.toContain('reconcile');
    const error = (await f.record(jobId)).job.error!;
    expect([error.code, error.retryable]).toEqual(['UPSTREAM_TIMEOUT', false]);
    expect(error.message).toContain('the agent did not finish message 1: run_sse: no event for 1000 ms');
  });

  it('a job that failed after sending a message shows that message in usage.messages_sent', async () => {
    // The job error says the message "was sent and may have been charged", yet job.usage is only synced from the
    // flow's counters on message outcome and finish, so a failed job reports the message as never sent.
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.nemo.script('runAgent', brokenStream());
    await f.drive(jobId);
    const job = (await f.record(jobId)).job;
    expect(job.error?.code).toBe('UPSTREAM_TIMEOUT');
    expect((await f.flow(jobId)).usage.messages_sent).toBe(1);
    expect(job.usage.messages_sent).toBe(1);
  });
});

describe('runFlow: a generation whose stream broke off between its two stages', () => {
  /** The raw video on the draft (stage 1), its stream cut; `stage2AtRead`: the reconcile read at which the music lands. */
  async function brokenGeneration(output: Record<string, unknown>, stage2AtRead: number | null) {
    const f = createFakeFlow();
    const jobId = await f.addJob({ job: { output: { format: 'mp4', quality: 'high', resolution: '1080p', ...output } } });
    f.nemo.script('runAgent', (_t, sessionId) => {
      f.nemo.setDraft(sessionId, draftWith(2));
      throw brokenStream();
    });
    let reads = 0;
    const original = f.nemo.getState.bind(f.nemo);
    f.nemo.getState = async (token: string, sessionId: string) => {
      if (f.nemo.step === 'reconcile' && ++reads === stage2AtRead) {
        f.nemo.setDraft(sessionId, { ...draftWith(2), t: [...draftWith(2).t!, { tt: 1, sg: [{ id: 'bgm', d: 4_000, src: 'https://cdn.invalid/bgm.mp3' }] }] });
      }
      return original(token, sessionId);
    };
    const results = await f.drive(jobId);
    const reasons = results.flatMap((r) => (r.kind === 'wait' && r.step === 'reconcile' ? [r.reason] : []));
    return { job: (await f.record(jobId)).job, reads: () => reads, reasons };
  }
  const SECOND_STAGE = 'raw video only so far; waiting for the music and title of the second stage';

  it('waits past two steady reads of the raw video for the music the backend adds, and renders the whole draft', async () => {
    const { job, reads, reasons } = await brokenGeneration({}, 4);
    expect(reasons).toEqual(['state changed; confirming', SECOND_STAGE, SECOND_STAGE, 'state changed; confirming']);
    expect(reads()).toBe(5);
    expect(job.status).toBe('succeeded');
    expect(job.result?.timeline).toMatch(/^Timeline \(2 tracks\): 1\. Video .* 2\. BGM/);
  });

  it('takes the raw video at once when the job asked for no music and no title (there is no second stage)', async () => {
    const { job, reads, reasons } = await brokenGeneration({ music: 'none' }, null);
    expect(reasons).toEqual(['state changed; confirming']);
    expect(reads()).toBe(2);
    expect(job.result?.timeline).toMatch(/^Timeline \(1 track\)/);
  });

  it('takes the raw video as the outcome after a few steady reads (at most RECONCILE_MAX_UNCHANGED, 3 here)', async () => {
    const { job, reads, reasons } = await brokenGeneration({ title: 'Autumn Sale' }, null);
    expect(reasons).toEqual(['state changed; confirming', SECOND_STAGE, SECOND_STAGE]);
    expect(reads()).toBe(4); // the change, then 3 (the test setting) steady reads
    expect(job.status).toBe('succeeded');
    expect(job.result?.timeline).toMatch(/^Timeline \(1 track\)/);
  });
});

describe('runFlow: a stream that closed cleanly after tool calls alone', () => {
  async function closedAfter(tool: string, settings: { reconcileMaxUnchanged: number }) {
    const f = createFakeFlow({ settings });
    const jobId = await f.addJob({ job: { followups: ['keep everything as it is'] } });
    f.nemo.script('runAgent', (_t, sessionId) => {
      f.nemo.agentEdits(sessionId);
      return agentResult({ texts: ['done'] });
    });
    // The follow-up: a call, then the stream ends; the state does not change.
    f.nemo.script('runAgent', agentResult({ texts: [], toolCalls: [tool], toolResults: [] }));
    await f.drive(jobId);
    return { job: (await f.record(jobId)).job, reads: getStatesBy(f, 'reconcile') };
  }

  it('takes an edit tool that changed nothing as a no-op after three unchanged reads, and goes on', async () => {
    const { job, reads } = await closedAfter('edit_multitrack', { reconcileMaxUnchanged: 10 });
    expect(reads).toBe(3);
    expect(job.status).toBe('succeeded');
    expect(job.changes[1]!.summary).toMatch(/the agent ended its turn after edit_multitrack without changing the draft/);
  });

  it('gives a generation tool the whole RECONCILE_MAX_UNCHANGED, and a state that never changes still fails the job', async () => {
    const { job, reads } = await closedAfter('generate_video_with_seedance', { reconcileMaxUnchanged: 6 });
    expect(reads).toBe(6);
    expect(job.status).toBe('failed');
    expect(job.error?.code).toBe('UPSTREAM_TIMEOUT');
  });
});

describe('runFlow: an answer without a stateDelta', () => {
  it('writes the agent texts into the in-flight mark before the state read, so a worker killed during the read loses nothing', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    let storedAtRead: unknown = 'no read after the answer';
    f.nemo.failWhen(
      'getState',
      (call) => {
        if (call.step === 'generate' && f.nemo.count('runAgent') === 1) storedAtRead = JSON.parse(f.flows.raw(jobId)!).inflight?.texts;
        return false;
      },
      () => new Error('unused'),
    );
    await f.drive(jobId);
    expect(storedAtRead).toEqual([expect.stringMatching(/^done: /)]);
    expect((await f.record(jobId)).job.status).toBe('succeeded');
  });
});

describe('runFlow: silent edits', () => {
  async function silentEdit(stateDelta: Record<string, unknown>) {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.nemo.script('runAgent', (_t, sessionId) => {
      f.nemo.setDraft(sessionId, draftWith(3));
      return agentResult({ texts: [], toolCalls: ['edit_draft'], toolResults: ['edit_draft'], stateDelta });
    });
    await f.drive(jobId);
    return { f, job: (await f.record(jobId)).job };
  }

  it('takes the state after the message from the stream’s stateDelta: no state read after the send', async () => {
    const { f, job } = await silentEdit({ draft: draftWith(3) });
    const generate = f.journal.slice(f.journal.indexOf('nemo:runAgent'));
    expect(generate.indexOf('nemo:getState')).toBeGreaterThan(generate.indexOf('flow:save:check')); // only check reads it
    expect(getStatesBy(f, 'generate')).toBe(1); // the state before the first message, on a new session
    expect(job.messages).toEqual([]);
    expect(job.changes).toEqual([{ message: 1, from_agent_text: false, summary: expect.stringMatching(/.+/), answers: 0 }]);
    expect(job.timeline).not.toBeNull();
    expect(job.status).toBe('succeeded');
  });

  it('reads the state once after a silent edit whose stream said nothing about the draft', async () => {
    const { f, job } = await silentEdit({ unrelated: 1 });
    expect(getStatesBy(f, 'generate')).toBe(2);
    expect(job.changes).toHaveLength(1);
    expect(job.changes[0]!.from_agent_text).toBe(false);
  });

  it('reconciles a stream that closed empty (no answer, no finished tool)', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.nemo.script('runAgent', (_t, sessionId) => {
      f.nemo.agentEdits(sessionId);
      return agentResult({ texts: [] });
    });
    await f.drive(jobId);
    expect(f.visited().filter((s) => s === 'reconcile')).toHaveLength(2);
    expect((await f.record(jobId)).job.status).toBe('succeeded');
  });
});

describe('runFlow: conformance', () => {
  const nineBySixteen = { format: 'mp4' as const, quality: 'high' as const, resolution: '1080p' as const, aspect_ratio: '9:16' as const };

  it('"correct": a failing check adds exactly one corrective message, checked again and reported as it is', async () => {
    const f = createFakeFlow();
    f.nemo.canvas = { width: 1920, height: 1080 }; // the agent keeps drawing landscape
    const jobId = await f.addJob({ job: { output: nineBySixteen, conformance: 'correct' } });

    await f.drive(jobId);

    const sent = messagesSent(f);
    expect(sent).toHaveLength(2);
    expect(String(sent[1]).startsWith(CORRECTION_HEADER)).toBe(true);
    expect(String(sent[1])).toContain('Aspect ratio must be');
    expect(f.visited().filter((s) => s === 'check')).toHaveLength(2);
    const job = (await f.record(jobId)).job;
    expect(job.messages_sent).toEqual(sent);
    expect(job.status).toBe('succeeded');
    expect(job.result!.conformant).toBe(false);
    expect(job.result!.checks.find((c) => c.name === 'aspect_ratio')).toMatchObject({ ok: false, got: '1920x1080' });
    expect((await f.flow(jobId)).corrected).toBe(true);
  });

  it('"correct": the corrected draft is reported conformant when the correction worked', async () => {
    const f = createFakeFlow();
    f.nemo.canvas = { width: 1920, height: 1080 };
    const jobId = await f.addJob({ job: { output: nineBySixteen, conformance: 'correct' } });
    f.nemo.script('runAgent', (_t, sessionId, text) => {
      f.nemo.agentEdits(sessionId);
      return agentResult({ texts: [`drew ${text.length} chars`] });
    });
    f.nemo.script('runAgent', (_t, sessionId) => {
      f.nemo.canvas = { width: 1080, height: 1920 };
      f.nemo.agentEdits(sessionId);
      return agentResult({ texts: ['fixed'] });
    });

    await f.drive(jobId);

    expect(f.nemo.count('runAgent')).toBe(2);
    expect((await f.record(jobId)).job.result).toMatchObject({ conformant: true });
  });

  it('"report": no corrective message; the failed check is on the result', async () => {
    const f = createFakeFlow();
    f.nemo.canvas = { width: 1920, height: 1080 };
    const jobId = await f.addJob({ job: { output: nineBySixteen, conformance: 'report' } });

    await f.drive(jobId);

    expect(f.nemo.count('runAgent')).toBe(1);
    expect(f.visited().filter((s) => s === 'check')).toHaveLength(1);
    const job = (await f.record(jobId)).job;
    expect(job.result!.conformant).toBe(false);
    expect(job.result!.checks.map((c) => [c.name, c.ok])).toEqual([
      ['aspect_ratio', false],
      ['resolution', true],
    ]);
  });

  it('fails NOTHING_TO_RENDER when the agent left no timeline', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.nemo.script('runAgent', agentResult({ texts: ['I could not do that'] }));

    await f.drive(jobId);

    expect((await f.record(jobId)).job.error).toMatchObject({ code: 'NOTHING_TO_RENDER', retryable: false });
    expect(f.nemo.count('submitRender')).toBe(0);
  });
});
