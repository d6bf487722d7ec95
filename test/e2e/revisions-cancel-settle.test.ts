// A revision canceled mid-generation hands its parent's session on only once the agent's work on it has landed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import { startStack, type Stack, waitForFinished } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

let stack: Stack;

beforeAll(async () => {
  // A generation takes 1.5 s here; reads every 100 ms, and an unchanged state is waited on for 4 s.
  stack = await startStack({ scenario: { silentEdits: 'never', generateMs: 1_500_000 }, env: { RECONCILE_INTERVAL_MS: '100', RECONCILE_MAX_UNCHANGED: '40' } });
});
afterAll(async () => stack?.close());

const revise = async (parentId: string, instruction: string) =>
  (await stack.api<Job>('POST', `/v1/jobs/${parentId}/revisions`, { instruction })).body;

describe('a canceled revision and the next one on the same session', () => {
  it('the next revision starts once the canceled message has landed, and its changes are its own', async () => {
    const created = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'make a 10-second promo video for a coffee shop opening, warm tones' });
    const parent = await waitForFinished(stack, created.body.id, 30_000);
    expect(parent.status).toBe('succeeded');

    const canceled = await revise(parent.id, 'make a completely new 20-second video of the sea');
    const next = await revise(parent.id, 'title "After"');
    await waitFor(async () => (await stack.api<Job>('GET', `/v1/jobs/${canceled.id}`)).body.stage === 'generate', { what: 'the first revision generating' });
    await new Promise((r) => setTimeout(r, 300));
    expect((await stack.api<Job>('POST', `/v1/jobs/${canceled.id}/cancel`)).body.status).toBe('canceled');

    const after = await waitForFinished(stack, next.id, 30_000);
    expect(after.status, JSON.stringify(after.error)).toBe('succeeded');
    // The canceled generation went on upstream (20 s of sea); the next revision's change note is only its title. It
    // used to read "duration 10.0 s → 20.0 s, …, title changed": its "before" was read while the other message worked.
    expect(after.changes).toHaveLength(1);
    expect(after.changes[0]!.summary).toMatch(/title/i);
    expect(after.changes[0]!.summary).not.toMatch(/duration|canvas|new timeline/i);
    expect(after.result?.duration_ms).toBe(20_000);
    // One message each; nothing sent twice.
    const session = parent.upstream.session_id!;
    expect(stack.sim.log.count('run_sse', { sessionId: session })).toBe(3);
  });

  it('a revision canceled before its message went out counts none, and the next one does not wait for it to land', async () => {
    const created = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'make a 10-second promo video for a bakery, soft light' });
    const parent = await waitForFinished(stack, created.body.id, 30_000);
    expect(parent.status).toBe('succeeded');
    const session = parent.upstream.session_id!;
    // The revision's read of the state before its message takes 1.5 s; it is canceled meanwhile.
    stack.sim.injectFault({ kind: 'slow', endpoint: 'state', sessionId: session, delayMs: 1_500 });
    const canceled = await revise(parent.id, 'make it black and white');
    await new Promise((r) => setTimeout(r, 500));
    await stack.api('POST', `/v1/jobs/${canceled.id}/cancel`);
    const ended = await waitForFinished(stack, canceled.id, 30_000);
    expect(ended.status).toBe('canceled');
    // It said one message was sent (the mark was written after the cancel, and the send refused): none reached the
    // upstream, and the next revision read state RECONCILE_MAX_UNCHANGED times waiting for it to land.
    expect(ended.usage.messages_sent).toBe(0);
    expect(ended.messages_sent).toEqual([]);
    const readsBefore = stack.sim.log.count('state', { sessionId: session });
    const next = await waitForFinished(stack, (await revise(parent.id, 'title "Fresh"')).id, 30_000);
    expect(next.status, JSON.stringify(next.error)).toBe('succeeded');
    expect(stack.sim.log.count('state', { sessionId: session }) - readsBefore).toBeLessThan(10);
    expect(stack.sim.log.count('run_sse', { sessionId: session })).toBe(2);
  });
});
