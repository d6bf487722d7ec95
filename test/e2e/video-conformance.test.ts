// Conformance "correct" and "report" against a simulator told to ignore the aspect ratio once.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import { startStack, waitForFinished, type Stack } from '../helpers/stack.js';

describe('conformance', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.close();
  });
  beforeEach(() => {
    stack.sim.clearFaults();
    stack.sim.log.clear();
  });

  const runsOf = (job: Job) => stack.sim.log.entries().filter((e) => e.endpoint === 'run_sse' && e.sessionId === job.upstream.session_id && e.status === 200);

  async function submit(conformance: 'report' | 'correct'): Promise<Job> {
    stack.sim.injectFault({ kind: 'ignore_aspect_once' });
    const res = await stack.api<Job>('POST', '/v1/jobs', {
      instruction: 'a product teaser from the catalogue',
      output: { aspect_ratio: '9:16', duration_s: 10 },
      conformance,
    });
    expect(res.status).toBe(202);
    return waitForFinished(stack, res.body.id);
  }

  it('"correct": exactly one corrective message naming the failed check, then a conformant result', async () => {
    const job = await submit('correct');
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    const runs = runsOf(job);
    expect(runs).toHaveLength(2);
    expect(job.messages_sent).toHaveLength(2);
    expect(job.messages_sent[1]).toMatch(/^Please correct the video so that it matches these requirements exactly:\n- Aspect ratio must be 9:16, 1080x1920 pixels \(vertical\); it is 1920x1080 now\.$/);
    expect(runs[1]!.message).toBe(job.messages_sent[1]);
    expect(job.result?.conformant).toBe(true);
    expect(job.result?.checks.find((c) => c.name === 'aspect_ratio')).toMatchObject({ got: '1080x1920', ok: true });
    // The correction is counted in the job's usage, and its change note says what it did.
    expect(job.usage.messages_sent).toBe(2);
    expect(job.changes[1]).toMatchObject({ message: 2, summary: expect.stringMatching(/canvas 1920x1080 → 1080x1920/) });
    expect(stack.sim.log.count('render_submit')).toBe(1);
  });

  it('"correct" whose correction the agent fails on: the draft is rendered and reported as it is, not lost', async () => {
    // The second /run_sse (the correction) ends with the agent's error and changes nothing.
    stack.sim.injectFault({ kind: 'agent_error_event', times: 1, after: 1 });
    const job = await submit('correct');
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(job.messages_sent).toHaveLength(2);
    expect(runsOf(job)).toHaveLength(2);
    expect(job.result?.conformant).toBe(false);
    expect(job.result?.checks.find((c) => c.name === 'aspect_ratio')).toMatchObject({ got: '1920x1080', ok: false });
    expect(job.changes[1]).toMatchObject({ message: 2, summary: expect.stringMatching(/the correction did not take effect: the agent failed on it/) });
    expect(job.usage).toMatchObject({ messages_sent: 2, renders: 1 });
    expect(stack.sim.log.count('render_submit')).toBe(1);
  });

  it('"correct" whose correction closes cleanly after an edit call and changes nothing: its note says so, not a lost answer', async () => {
    const before = stack.sim.scenario();
    // The agent leaves the title out, ignores the correction, and answers it with a tool call alone (protocol §3).
    stack.sim.setScenario({ missRequirements: ['title'], fixOnCorrection: false, silentEdits: 'always', silentEditShape: 'calls_only', noopEdits: 'unchanged' });
    try {
      const res = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a promo of the product', output: { title: 'Big Sale' }, conformance: 'correct' });
      expect(res.status).toBe(202);
      const job = await waitForFinished(stack, res.body.id);
      expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
      expect(job.messages_sent).toHaveLength(2);
      expect(job.result?.conformant).toBe(false);
      expect(job.result?.checks.find((c) => c.name === 'title')).toMatchObject({ ok: false });
      // It read "its answer was lost and the state did not change".
      expect(job.changes[1]).toMatchObject({ message: 2, summary: expect.stringMatching(/the correction did not take effect: the agent ended its turn after \S+ without changing the draft/) });
      expect(job.usage).toMatchObject({ messages_sent: 2, renders: 1 });
    } finally {
      stack.sim.setScenario(before);
    }
  });

  it('"report": no extra message; the failed check is named and the result is not conformant', async () => {
    const job = await submit('report');
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(runsOf(job)).toHaveLength(1);
    expect(job.messages_sent).toHaveLength(1);
    expect(job.result?.conformant).toBe(false);
    const failed = job.result!.checks.filter((c) => c.ok === false);
    expect(failed.map((c) => c.name)).toEqual(['aspect_ratio']);
    expect(failed[0]).toMatchObject({ wanted: '9:16 (1080x1920)', got: '1920x1080' });
    expect(job.usage.messages_sent).toBe(1);
  });
});
