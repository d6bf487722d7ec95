// Revisions end to end with the simulator: a revision continues the parent's upstream session and renders again, in chains.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import { startStack, TENANTS, type Stack, waitForFinished } from '../helpers/stack.js';

let stack: Stack;

const finished = (id: string) => waitForFinished(stack, id);

async function revise(parentId: string, instruction: string) {
  return stack.api<Job & { code?: string; message?: string }>('POST', `/v1/jobs/${parentId}/revisions`, { instruction });
}

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => stack?.close());

describe('POST /v1/jobs/{id}/revisions', () => {
  it('continues the parent’s session: one more agent message and a second render there; a revision of a revision a third', async () => {
    const created = await stack.api<Job>('POST', '/v1/jobs', {
      instruction: 'make a 10-second promo video for a coffee shop opening, warm tones',
      metadata: { order_id: 'R-1' },
    });
    const parent = await finished(created.body.id);
    expect(parent.status).toBe('succeeded');
    const session = parent.upstream.session_id!;
    expect(stack.sim.log.count('run_sse', { sessionId: session })).toBe(1);
    expect(stack.sim.log.count('render_submit', { sessionId: session })).toBe(1);
    const sessionsBefore = stack.sim.log.count('create_session');

    const rev = await revise(parent.id, 'add lo-fi background music at 35%');
    expect(rev.status).toBe(202);
    expect(rev.body.parent_id).toBe(parent.id);
    expect(rev.body.id).not.toBe(parent.id);
    expect(rev.body.instruction).toBe('add lo-fi background music at 35%');
    expect(rev.body.metadata).toEqual({ order_id: 'R-1' });
    const child = await finished(rev.body.id);
    expect(child.status).toBe('succeeded');
    expect(child.upstream.session_id).toBe(session);
    expect(child.upstream.render_id).not.toBe(parent.upstream.render_id);
    expect(child.result?.url).toBeTruthy();
    expect(stack.sim.log.count('run_sse', { sessionId: session })).toBe(2);
    expect(stack.sim.log.count('render_submit', { sessionId: session })).toBe(2);
    expect(stack.sim.session(session)!.messages.at(-1)).toContain('add lo-fi background music at 35%');
    // The new instruction went to the parent's session; no new session and no re-upload.
    expect(stack.sim.log.count('create_session')).toBe(sessionsBefore);
    expect(stack.sim.log.count('upload', { sessionId: session })).toBe(0);

    const rev2 = await revise(child.id, 'title "Grand Opening" for the first 3 seconds');
    expect(rev2.status).toBe(202);
    expect(rev2.body.parent_id).toBe(child.id);
    const grandchild = await finished(rev2.body.id);
    expect(grandchild.status).toBe('succeeded');
    expect(grandchild.upstream.session_id).toBe(session);
    expect(stack.sim.log.count('run_sse', { sessionId: session })).toBe(3);
    expect(stack.sim.log.count('render_submit', { sessionId: session })).toBe(3);
    expect(stack.sim.log.count('create_session')).toBe(sessionsBefore);
  });

  it('fails SESSION_LOST, not retryable, when the upstream lost the parent’s session: a new session would hold none of its timeline', async () => {
    const created = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'make a 10-second promo video for a bakery', sources: [{ url: 'https://cdn.example.com/bread.jpg' }] });
    const parent = await finished(created.body.id);
    expect(parent.status).toBe('succeeded');
    const session = parent.upstream.session_id!;
    const sessionsBefore = stack.sim.log.count('create_session');
    const uploadsBefore = stack.sim.log.count('upload');
    stack.sim.injectFault({ kind: 'session_lost', endpoint: 'run_sse', sessionId: session });

    const rev = await revise(parent.id, 'make it square');
    expect(rev.status).toBe(202);
    const child = await finished(rev.body.id);
    // It used to "succeed" on a new, empty session: none of the parent's sources or messages, a video unrelated to it.
    expect(child.status).toBe('failed');
    expect(child.error).toMatchObject({ code: 'SESSION_LOST', retryable: false });
    expect(child.error!.message).toContain(parent.id);
    expect(stack.sim.log.count('create_session')).toBe(sessionsBefore);
    expect(stack.sim.log.count('upload')).toBe(uploadsBefore);
    expect(stack.sim.log.count('render_submit', { sessionId: session })).toBe(1);
  });

  it('answers 409 PARENT_NOT_SUCCEEDED for a parent that has not succeeded (queued, running or failed)', async () => {
    stack.sim.injectFault({ kind: 'render_failed' });
    const doomed = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a video that will fail to render' });
    const early = await revise(doomed.body.id, 'change the music');
    expect(early.status).toBe(409);
    expect(early.body.code).toBe('PARENT_NOT_SUCCEEDED');
    const failed = await finished(doomed.body.id);
    expect(failed.status).toBe('failed');
    const late = await revise(doomed.body.id, 'change the music');
    expect(late.status).toBe(409);
    expect(late.body.code).toBe('PARENT_NOT_SUCCEEDED');
    expect(late.body.message).toMatch(/failed/);
  });

  it('validates the body and hides other tenants’ jobs', async () => {
    const created = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'short clip' });
    const done = await finished(created.body.id);
    expect(done.status).toBe('succeeded');
    expect((await stack.api<{ message: string }>('POST', `/v1/jobs/${done.id}/revisions`, { instruction: '' })).body.message).toMatch(/^instruction: /);
    expect((await stack.api('POST', `/v1/jobs/${done.id}/revisions`, { instruction: 'x', sources: [] })).status).toBe(400);
    expect((await stack.api('POST', `/v1/jobs/${done.id}/revisions`, { instruction: 'x'.repeat(4001) })).status).toBe(400);
    const foreign = await stack.api<{ code: string }>('POST', `/v1/jobs/${done.id}/revisions`, { instruction: 'mine now' }, { key: TENANTS.globex });
    expect(foreign.status).toBe(404);
    expect(foreign.body.code).toBe('JOB_NOT_FOUND');
  });

  it('inherits the parent’s conformance and output when the revision does not name them, and takes its own when it does', async () => {
    const created = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a vertical teaser', output: { aspect_ratio: '9:16' }, conformance: 'correct' });
    const parent = await finished(created.body.id);
    expect(parent.status).toBe('succeeded');
    const inherited = await revise(parent.id, 'make it warmer');
    expect(inherited.status).toBe(202);
    expect(inherited.body.conformance).toBe('correct');
    expect(inherited.body.output.aspect_ratio).toBe('9:16');
    expect((await finished(inherited.body.id)).status).toBe('succeeded');
    const own = await stack.api<Job>('POST', `/v1/jobs/${parent.id}/revisions`, { instruction: 'only report this time', conformance: 'report' });
    expect(own.status).toBe(202);
    expect(own.body.conformance).toBe('report');
    expect((await finished(own.body.id)).status).toBe('succeeded');
  });

  it('a revision’s output changes the wishes it names; the others stand and are asked for and checked again, null drops one', async () => {
    const wishes = { resolution: '720p', aspect_ratio: '16:9', duration_s: 30, music: { style: 'upbeat electronic', volume: 0.4 }, title: 'Autumn Sale', transitions: 'crossfade' };
    const parent = await finished((await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a promo from these photos', output: wishes })).body.id);
    expect(parent.status).toBe('succeeded');
    const square = await stack.api<Job>('POST', `/v1/jobs/${parent.id}/revisions`, { instruction: 'make it square', output: { aspect_ratio: '1:1' } });
    expect(square.status).toBe(202);
    expect(square.body.output).toEqual({ format: 'mp4', quality: 'high', ...wishes, aspect_ratio: '1:1' });
    const done = await finished(square.body.id);
    expect(done.status).toBe('succeeded');
    expect(done.result!.checks.map((c) => c.name).sort()).toEqual(['aspect_ratio', 'duration', 'music', 'resolution', 'title'].sort());

    const untitled = await stack.api<Job>('POST', `/v1/jobs/${parent.id}/revisions`, { instruction: 'drop the title', output: { title: null } });
    expect(untitled.status).toBe(202);
    expect(untitled.body.output.title).toBeUndefined();
    expect(untitled.body.output.aspect_ratio).toBe('16:9');
    // A wish with a default cannot be dropped, only changed.
    const refused = await stack.api<{ message: string }>('POST', `/v1/jobs/${parent.id}/revisions`, { instruction: 'x', output: { resolution: null } });
    expect(refused.status).toBe(400);
    expect(refused.body.message).toMatch(/^output\.resolution: /);
  });

  it('a revision stored before its request failed is replayed to the retry with the same key, never made twice', async () => {
    const parent = await finished((await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a clip to revise once' })).body.id);
    expect(parent.status).toBe('succeeded');
    const key = { headers: { 'idempotency-key': `rev-fail-${Date.now()}` } };
    const body = { instruction: 'add a title "Once"' };
    // The request fails after the revision's record is written (a crash there, or Redis going away).
    const { groups } = stack.services;
    const join = groups.join.bind(groups);
    groups.join = async () => {
      throw new Error('died after the revision was stored');
    };
    let failed: { status: number };
    try {
      failed = await stack.api('POST', `/v1/jobs/${parent.id}/revisions`, body, key);
    } finally {
      groups.join = join;
    }
    expect(failed.status).toBe(500);
    // The claim was let go on the failure, so the retry made a second revision, paid for again.
    const retry = await stack.api<Job>('POST', `/v1/jobs/${parent.id}/revisions`, body, key);
    expect(retry.status).toBe(200);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    const list = await stack.api<{ data: Job[] }>('GET', '/v1/jobs?limit=100');
    expect(list.body.data.filter((j) => j.parent_id === parent.id).map((j) => j.id)).toEqual([retry.body.id]);
  });

  it('replays a revision retried with the same Idempotency-Key: one job, one more agent message, one more render', async () => {
    const created = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a short clip to revise twice' });
    const parent = await finished(created.body.id);
    expect(parent.status).toBe('succeeded');
    const session = parent.upstream.session_id!;
    const key = { headers: { 'idempotency-key': `rev-${Date.now()}` } };
    const body = { instruction: 'add a title "Again"' };
    const [a, b] = await Promise.all([
      stack.api<Job>('POST', `/v1/jobs/${parent.id}/revisions`, body, key),
      stack.api<Job>('POST', `/v1/jobs/${parent.id}/revisions`, body, key),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 202]);
    expect(a.body.id).toBe(b.body.id);
    expect((a.status === 200 ? a : b).headers['idempotent-replayed']).toBe('true');
    const child = await finished(a.body.id);
    expect(child.status).toBe('succeeded');
    const late = await stack.api<Job>('POST', `/v1/jobs/${parent.id}/revisions`, body, key);
    expect(late.status).toBe(200);
    expect(late.body.id).toBe(child.id);
    // An output of no changes is the same request as none (both keep the parent's wishes).
    const noChanges = await stack.api<Job>('POST', `/v1/jobs/${parent.id}/revisions`, { ...body, output: {} }, key);
    expect([noChanges.status, noChanges.body.id]).toEqual([200, child.id]);
    expect(stack.sim.log.count('run_sse', { sessionId: session })).toBe(2);
    expect(stack.sim.log.count('render_submit', { sessionId: session })).toBe(2);
    // Another body under that key, for this parent, is refused.
    const other = await stack.api<{ code: string }>('POST', `/v1/jobs/${parent.id}/revisions`, { instruction: 'something else' }, key);
    expect(other.status).toBe(422);
    expect(other.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    // The same key on a revision of another parent is another request (README): a revision of its own, replayed in turn.
    const elsewhere = await stack.api<Job>('POST', `/v1/jobs/${child.id}/revisions`, body, key);
    expect(elsewhere.status).toBe(202);
    expect(elsewhere.body.parent_id).toBe(child.id);
    const again = await stack.api<Job>('POST', `/v1/jobs/${child.id}/revisions`, body, key);
    expect([again.status, again.body.id]).toEqual([200, elsewhere.body.id]);
    expect((await finished(elsewhere.body.id)).status).toBe('succeeded');
    // The create route's keys are apart: the same key there creates a job.
    expect((await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a new job' }, key)).status).toBe(202);
  });
});
