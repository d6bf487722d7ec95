// normaliseRender on Remotion's raw getRenderProgress object (protocol §4), should the render proxy pass it through.
import { describe, expect, it } from 'vitest';
import { normaliseRender, renderWireSchema } from '../../src/nemo/render-status.js';

const URL = 'https://static1.nemovideo.ai/render-result/render_x.mp4';

/** A getRenderProgress() answer as Remotion documents it; `over` changes what the case needs. */
function progress(over: Record<string, unknown>) {
  return renderWireSchema.parse({
    overallProgress: 0.42,
    done: false,
    outputFile: null,
    outputSizeInBytes: null,
    errors: [],
    fatalErrorEncountered: false,
    framesRendered: 378,
    chunks: 19,
    lambdasInvoked: 45,
    timeToFinish: null,
    costs: { accruedSoFar: 0.0042, displayCost: '$0.004', currency: 'USD', disclaimer: 'estimate' },
    renderSize: 0,
    currentTime: 1773423620000,
    ...over,
  });
}

describe('normaliseRender: raw Remotion progress (§4)', () => {
  it('in progress: processing at round(overallProgress × 100), no url, no error', () => {
    expect(normaliseRender(progress({}), 'render_x')).toEqual({
      id: 'render_x', status: 'processing', progress: 42, url: null, error: null, durationMs: null, sizeBytes: null, renderMs: null,
    });
    expect(normaliseRender(progress({ overallProgress: 0.006 }), 'render_x')).toMatchObject({ status: 'processing', progress: 1 });
    // done without a file yet is not a result to copy.
    expect(normaliseRender(progress({ done: true, overallProgress: 1 }), 'render_x')).toMatchObject({ status: 'processing', url: null });
  });

  it('done with an outputFile: completed with that URL, its size and the render time', () => {
    const st = normaliseRender(
      progress({ overallProgress: 1, done: true, outputFile: URL, outputSizeInBytes: 15_728_640, timeToFinish: 27_606 }),
      'render_x',
    );
    expect(st).toEqual({
      id: 'render_x', status: 'completed', progress: 100, url: URL, error: null, durationMs: null, sizeBytes: 15_728_640, renderMs: 27_606,
    });
  });

  it('fatalErrorEncountered: failed with the fatal error’s message (errors[0] when none is marked)', () => {
    const fatal = progress({
      overallProgress: 0.31,
      fatalErrorEncountered: true,
      errors: [
        { message: 'chunk 3 timed out, retrying', isFatal: false, willRetry: true, chunk: 3, frame: null, attempt: 1, totalAttempts: 2, type: 'renderer' },
        { message: 'Lambda function timed out', isFatal: true, willRetry: false, chunk: 3, frame: null, attempt: 2, totalAttempts: 2, type: 'renderer' },
      ],
    });
    expect(normaliseRender(fatal, 'render_x')).toMatchObject({ status: 'failed', progress: 31, url: null, error: 'Lambda function timed out' });
    const unmarked = progress({ fatalErrorEncountered: true, errors: [{ message: 'invalid draft', name: 'Error', stack: 'Error: invalid draft' }] });
    expect(normaliseRender(unmarked, 'render_x')).toMatchObject({ status: 'failed', error: 'invalid draft' });
  });

  it('a body with a status is still read as shape a or b, whatever else it carries', () => {
    const a = renderWireSchema.parse({ id: 'render_x', status: 'processing', progress: 60, done: false, overallProgress: 0.1 });
    expect(normaliseRender(a, 'render_x')).toMatchObject({ status: 'processing', progress: 60 });
  });
});
