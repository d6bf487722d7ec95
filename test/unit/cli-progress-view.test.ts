// ProgressView: one line per stage or 10 points off a terminal; a finished job's replayed feed never draws it backwards.
import { describe, expect, it } from 'vitest';
import { ProgressView } from '../../src/cli/progress.js';
import type { CliIo } from '../../src/cli/io.js';
import { makeJob } from '../helpers/jobs.js';

function plainStderr(): { out: CliIo['stderr']; lines: () => string[] } {
  let text = '';
  const out = { isTTY: false, write: (chunk: string) => ((text += chunk), true) } as unknown as CliIo['stderr'];
  return { out, lines: () => text.split('\n').filter(Boolean) };
}

describe('ProgressView', () => {
  it('prints a line per stage change and per 10 points', () => {
    const { out, lines } = plainStderr();
    const view = new ProgressView(out, 'job_1');
    view.show(makeJob({ status: 'running', stage: 'generate', progress: 10 }));
    view.show(makeJob({ status: 'running', stage: 'generate', progress: 15 }));
    view.show(makeJob({ status: 'running', stage: 'generate', progress: 20 }));
    view.show(makeJob({ status: 'running', stage: 'render', progress: 70 }));
    view.finish();
    expect(lines().map((l) => l.match(/(\d+)%\s+(\w+)/)!.slice(1).join(' '))).toEqual(['10 generate', '20 generate', '70 render']);
  });

  it('keeps a finished job finished while its feed is replayed from the start (wait on a job that already ended)', () => {
    const { out, lines } = plainStderr();
    const view = new ProgressView(out, 'job_2');
    view.show(makeJob({ status: 'succeeded', stage: 'done', progress: 100 }));
    for (const [stage, progress] of [['generate', 10], ['render', 70], ['deliver', 94]] as const) view.show(makeJob({ status: 'running', stage, progress }));
    view.show(makeJob({ status: 'succeeded', stage: 'done', progress: 100 }));
    view.finish();
    // It printed 100% done, then 10% generate, 70%, 94% and 100% again.
    expect(lines()).toHaveLength(1);
    expect(lines()[0]).toMatch(/100%\s+done/);
  });

  it('keeps a running job where it is while its feed replays older events (wait on a job already under way)', () => {
    const { out, lines } = plainStderr();
    const view = new ProgressView(out, 'job_3');
    view.show(makeJob({ status: 'running', stage: 'generate', progress: 40 }));
    // The replay: the session stage and a wait that is long over.
    view.show(makeJob({ status: 'running', stage: 'session', progress: 2, waiting: { reason: 'admission', message: 'waiting for the jobs before it', since: new Date(0).toISOString() } }));
    view.show(makeJob({ status: 'running', stage: 'generate', progress: 10 }));
    view.show(makeJob({ status: 'running', stage: 'render', progress: 70 }));
    view.finish();
    // It printed 2% session, the old wait, and 10% generate between 40 % and 70 %.
    expect(lines().map((l) => l.match(/(\d+)%\s+(\w+)/)?.slice(1).join(' ') ?? l)).toEqual(['40 generate', '70 render']);
  });
});
